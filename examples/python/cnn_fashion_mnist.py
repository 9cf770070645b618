#!/usr/bin/python3
"""The Keras tutorial's convolutional network on Fashion-MNIST, with myelin.

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given with
--data or $MYELIN_FASHION_MNIST_DIR. Prints Keras's one line per epoch, then its figures, as
examples/cnn_fashion_mnist does.
"""
import argparse
import time

import numpy as np

from myelin.datasets import fashion_mnist
from myelin.layers import Conv2D, Dense, Flatten, MaxPooling2D
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed, set_winograd_convolutions

parser = argparse.ArgumentParser(description="Fashion-MNIST with a three-convolution network.")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the IDX files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
parser.add_argument("--train-samples", type=int, default=None,
                    help="train on the first N training images only (default: all 60,000), for a quick run")
parser.add_argument("--winograd", type=int, default=1, choices=[0, 1],
                    help="1: Winograd convolutions where they are faster (default); 0: direct ones")
args = parser.parse_args()
if args.train_samples is not None and args.train_samples < 1:
    parser.error("--train-samples must be at least 1")
set_num_threads(args.threads)
set_random_seed(args.seed)
set_winograd_convolutions(bool(args.winograd))

# 28x28 grey images with a channel axis added (NHWC, Keras's channels_last), scaled to [0, 1].
(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
if args.train_samples is not None:
    x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
x_train = np.expand_dims(x_train, -1).astype("float32") / 255.0
x_test = np.expand_dims(x_test, -1).astype("float32") / 255.0

model = Sequential([
    Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
    MaxPooling2D((2, 2)),
    Conv2D(64, (3, 3), activation="relu"),
    MaxPooling2D((2, 2)),
    Conv2D(64, (3, 3), activation="relu"),
    Flatten(),
    Dense(64, activation="relu"),
    Dense(10, activation="softmax"),
])
model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

start = time.perf_counter()
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
train_seconds = time.perf_counter() - start

test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
print(f"test_accuracy={test_accuracy:.4f}")
print(f"test_loss={test_loss:.4f}")
print(f"train_seconds={train_seconds:.2f}")
print(f"train_seconds_per_epoch={train_seconds / max(args.epochs, 1):.2f}")
