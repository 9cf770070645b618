#!/usr/bin/python3
"""Transfer learning on Fashion-MNIST, with myelin: the Python twin of examples/transfer_learning.cpp.

A CNN trained on the classes 0-4 (T-shirt, trouser, pullover, dress, coat) lends its convolutional
base, frozen, to a new head that learns the classes 5-9 (sandal, shirt, sneaker, bag, ankle boot)
from only 500 images; the same network trained from scratch on those 500 images is the comparison.

    base:     Conv2D(32, 3x3, relu) -> MaxPooling2D -> Conv2D(64, 3x3, relu) -> MaxPooling2D
              -> Flatten ("features") -> Dense(64, relu) -> Dense(5, softmax), on 30,000 images
    transfer: myelin.Model(base.input, base.get_layer("features").output), frozen, called as a
              layer, then a new head Dense(64, relu) -> Dense(5, softmax)
    scratch:  the same architecture with fresh weights, every layer trained

--epochs sets the base's epochs; the two small models train for 30 epochs of batch 32 each.
"""
import argparse

import numpy as np

import myelin
from myelin import layers
from myelin.datasets import fashion_mnist
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed, set_winograd_convolutions

HEAD_EPOCHS = 30
FEW_IMAGES = 500

parser = argparse.ArgumentParser(description="Transfer learning from Fashion-MNIST classes 0-4 to 5-9.")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the IDX files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
parser.add_argument("--winograd", type=int, default=1, choices=[0, 1],
                    help="1: Winograd convolutions where they are faster (default); 0: direct ones")
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)
set_winograd_convolutions(bool(args.winograd))

(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
x_train = np.expand_dims(x_train, -1).astype("float32") / 255.0
x_test = np.expand_dims(x_test, -1).astype("float32") / 255.0


def five_classes(x, y, first, limit=None):
    """The images whose label is in [first, first + 5), the first `limit` of them; labels shifted to 0..4."""
    rows = np.flatnonzero((y >= first) & (y < first + 5))[:limit]
    return x[rows], (y[rows] - first).astype("float32")


def cnn():
    return myelin.Sequential([
        myelin.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(name="features"),
        layers.Dense(64, activation="relu"),
        layers.Dense(5, activation="softmax"),
    ])


def with_new_head(base):
    """`base` (the convolutional part) called as a layer on a new input, under a new Dense head."""
    inputs = myelin.Input(shape=(28, 28, 1))
    x = layers.Dense(64, activation="relu")(base(inputs))
    model = myelin.Model(inputs, layers.Dense(5, activation="softmax")(x))
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


old_train, old_test = five_classes(x_train, y_train, 0), five_classes(x_test, y_test, 0)
new_train, new_test = five_classes(x_train, y_train, 5, FEW_IMAGES), five_classes(x_test, y_test, 5)

# 1. The base network learns the first five classes.
base = cnn()
base.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
base.fit(*old_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
print(f"base_test_accuracy={base.evaluate(*old_test, batch_size=256, verbose=0)[1]:.4f}")

# 2. Its convolutional part, frozen, under a new head fitted on 500 images of the other five.
features = myelin.Model(base.input, base.get_layer("features").output, name="features")
features.trainable = False
frozen_before = [w.copy() for w in features.get_weights()]
transfer = with_new_head(features)
transfer.fit(*new_train, epochs=HEAD_EPOCHS, batch_size=32, verbose=args.verbose)
transfer_accuracy = transfer.evaluate(*new_test, batch_size=256, verbose=0)[1]
frozen_after = features.get_weights()
changed = sum(int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32))) for a, b in zip(frozen_before, frozen_after))

# 3. The same architecture from scratch on the same 500 images.
fresh = cnn()
scratch = with_new_head(myelin.Model(fresh.input, fresh.get_layer("features").output, name="fresh_features"))
scratch.fit(*new_train, epochs=HEAD_EPOCHS, batch_size=32, verbose=args.verbose)
scratch_accuracy = scratch.evaluate(*new_test, batch_size=256, verbose=0)[1]

print(f"new_train_images={len(new_train[0])}")
print(f"new_test_images={len(new_test[0])}")
print(f"transfer_test_accuracy={transfer_accuracy:.4f}")
print(f"scratch_test_accuracy={scratch_accuracy:.4f}")
print(f"transfer_gain={transfer_accuracy - scratch_accuracy:.4f}")
print(f"frozen_values={sum(w.size for w in frozen_before)}")
print(f"frozen_values_changed={changed}")
