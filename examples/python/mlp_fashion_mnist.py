#!/usr/bin/python3
"""A small multilayer perceptron on Fashion-MNIST: the "hello world" of Keras, with myelin.

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given with
--data or $MYELIN_FASHION_MNIST_DIR. Prints Keras's one line per epoch, then its figures.
"""
import argparse
import time

from myelin.datasets import fashion_mnist
from myelin.layers import Dense, Flatten
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="Fashion-MNIST with a 784-32-10 perceptron.")
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the IDX files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)

# 60,000 training and 10,000 test images of 28x28 bytes; labels 0..9.
(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
x_train, x_test = x_train / 255.0, x_test / 255.0

model = Sequential([
    Flatten(input_shape=(28, 28)),
    Dense(32, activation="relu"),
    Dense(10, activation="softmax"),
])
# Integer labels, so the sparse form of the cross-entropy; no one-hot encoding needed.
model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

start = time.perf_counter()
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
train_seconds = time.perf_counter() - start

test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test_accuracy={test_accuracy:.4f}")
print(f"test_loss={test_loss:.4f}")
print(f"train_seconds={train_seconds:.2f}")
