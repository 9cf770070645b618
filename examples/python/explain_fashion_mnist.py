#!/usr/bin/python3
"""Why did the model say that? cnn_fashion_mnist.py's network trained on Fashion-MNIST, then four
explanations of its predictions side by side, and Integrated Gradients of a Boston housing
regression as a table, with myelin.explain, as examples/explain_fashion_mnist does.

Writes a grid picture (--output, default attributions.png): 8 test images, one per row, and in the
columns the image, saliency, SmoothGrad, Integrated Gradients and Grad-CAM, each laid over the image
in the jet colour map (blue: nothing, red: the most). Prints:
  completeness_error  mean over the 8 images of |sum(IG) - (f(x) - f(0))| / |f(x) - f(0)|, f the
                      predicted class's logit: Integrated Gradients add up to the score's change
  in_item_fraction    of 1000 test images, the share whose Grad-CAM map (at the picture's layer)
                      lies more than half on the item's pixels (those not zero)
  in_item_fraction_uniform  the same share for a map that is the same everywhere: the images whose
                      item covers more than half of them. The seed CNN does no better than that:
                      its convolutions' biases make the empty background a constant, non-zero
                      activation that Grad-CAM weighs like any other, and the network recognises
                      items partly by their outline, whose evidence lies on both sides of it
                      (trousers by the gap between the legs: see the picture)
  in_item_fraction_bias_free  the same share for the seed CNN's layers trained without convolution
                      biases, whose maps are zero wherever the image is empty, at its first
                      convolution (3 x 3 receptive fields)
then one Boston test house's predicted price, the average house's, and the table of what each
feature added to or took from the price.

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given with
--data or $MYELIN_FASHION_MNIST_DIR.
"""
import argparse

import numpy as np

from myelin import explain
from myelin.datasets import boston_housing, fashion_mnist
from myelin.layers import Conv2D, Dense, Flatten, MaxPooling2D
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.preprocessing import StandardScaler
from myelin.utils import set_num_threads, set_random_seed, set_winograd_convolutions

# boston_house_prices.csv's header: the features' names, in order.
BOSTON_FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT"]

parser = argparse.ArgumentParser(description="Explanations of a Fashion-MNIST CNN and a Boston housing regression.")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the Fashion-MNIST IDX files")
parser.add_argument("--output", default="attributions.png", help="where the picture is written")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
parser.add_argument("--winograd", type=int, default=1, choices=[0, 1],
                    help="1: Winograd convolutions where they are faster (default); 0: direct ones")
parser.add_argument("--train-samples", type=int, default=None,
                    help="train on the first N training images only (default: all 60,000), for a quick run")
args = parser.parse_args()
if args.train_samples is not None and args.train_samples < 1:
    parser.error("--train-samples must be at least 1")
set_num_threads(args.threads)
set_random_seed(args.seed)
set_winograd_convolutions(bool(args.winograd))

(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
if args.train_samples is not None:
    x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
x_train = np.expand_dims(x_train, -1).astype("float32") / 255.0
x_test = np.expand_dims(x_test, -1).astype("float32") / 255.0



def seed_cnn(bias=True):
    """The seed CNN; bias=False drops its convolutions' biases."""
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", use_bias=bias, input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu", use_bias=bias),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu", use_bias=bias),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def in_item_fraction(maps, images):
    """The share of images whose map lies more than half on the item's pixels (those not zero); an
    all-zero map points at nothing and counts as not on the item."""
    maps = maps.astype(np.float64)
    on_item = images[..., 0] > 0
    mass = maps.sum(axis=(1, 2))
    return ((mass > 0) & ((maps * on_item).sum(axis=(1, 2)) > 0.5 * mass)).mean()


cnn = seed_cnn()
cnn.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
cnn.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
_, test_accuracy = cnn.evaluate(x_test, y_test, batch_size=256, verbose=0)
print(f"test_accuracy={test_accuracy:.4f}")

# Eight test images, each explained for the class the model predicts (target=None), from its logit.
images = x_test[:8]
# The middle convolution (11 x 11) locates more finely than the last (3 x 3).
middle_conv = cnn.layers[2].name
saliency = explain.saliency(cnn, images)
smooth = explain.smooth_grad(cnn, images, samples=50, noise=0.15)
ig = explain.integrated_gradients(cnn, images, steps=64)
cam = explain.grad_cam(cnn, images, layer=middle_conv)
explain.save_heatmap_grid(args.output, images, [saliency, smooth, ig, cam], scale=4)

# Completeness: the attributions add up to f(x) - f(baseline), the baseline a black image.
fx = explain.scores(cnn, images).astype(np.float64)
f0 = explain.scores(cnn, np.zeros_like(images), target=explain.target_units(cnn, images))
sums = ig.reshape(len(images), -1).sum(axis=1, dtype=np.float64)
print(f"completeness_error={np.mean(np.abs(sums - (fx - f0)) / np.abs(fx - f0)):.5f}")

# Where Grad-CAM's mass lies: on the item's pixels or on the background (exactly 0 in Fashion-MNIST).
many = x_test[:1000]
maps = explain.grad_cam(cnn, many, layer=middle_conv)
print(f"in_item_fraction={in_item_fraction(maps, many):.4f}")
on_item = many[..., 0] > 0
print(f"in_item_fraction_uniform={(on_item.sum(axis=(1, 2)) > 0.5 * on_item[0].size).mean():.4f}")
bias_free = seed_cnn(bias=False)
bias_free.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
bias_free.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
print(f"bias_free_test_accuracy={bias_free.evaluate(x_test, y_test, batch_size=256, verbose=0)[1]:.4f}")
cam_first = explain.grad_cam(bias_free, many, layer=bias_free.layers[0].name)
print(f"in_item_fraction_bias_free={in_item_fraction(cam_first, many):.4f}")

# A tabular model: which features raised or lowered one house's predicted price.
(xb_train, yb_train), (xb_test, yb_test) = boston_housing.load_data(test_split=0.2, seed=42)
raw_test = xb_test.copy()  # the table shows the house's own figures
scaler = StandardScaler()
xb_train = scaler.fit_transform(xb_train)
xb_test = scaler.transform(xb_test)
regression = Sequential([Dense(10, activation="relu", input_shape=(13,)), Dense(1)])
regression.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
regression.fit(xb_train, yb_train, epochs=100, batch_size=10, verbose=0)
# Baseline zero: the average house, since the features are standardised.
house = xb_test[:1]
attributions = explain.integrated_gradients(regression, house, target=0, steps=64)
print(f"house_price_predicted={regression.predict(house)[0, 0]:.2f}")
print(f"house_price_average={explain.scores(regression, np.zeros_like(house), target=0)[0]:.2f}")
explain.print_feature_table(explain.feature_table(raw_test[:1], attributions, 0, names=BOSTON_FEATURES))
