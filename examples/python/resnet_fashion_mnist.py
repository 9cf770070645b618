#!/usr/bin/python3
"""A small residual network with batch normalisation on Fashion-MNIST, with myelin's functional API.

The network of examples/resnet_fashion_mnist.cpp: a Conv-BN-relu stem with 2x2 max pooling, a
residual block of 32 filters, a downsampling block of 64 (its shortcut a strided 1x1 Conv-BN
projection), GlobalAveragePooling2D and Dense(10, softmax); Adam from 2e-3 with a cosine decay
to 0 over 10 epochs.

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or the folder given with
--data or $MYELIN_FASHION_MNIST_DIR. Prints its figures as name=value lines.
"""
import argparse
import math
import time

import numpy as np

import myelin
from myelin import layers
from myelin.datasets import fashion_mnist
from myelin.optimizers import Adam
from myelin.optimizers.schedules import CosineDecay
from myelin.utils import set_num_threads, set_random_seed, set_winograd_convolutions

parser = argparse.ArgumentParser(description="Fashion-MNIST with a small residual network.")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the IDX files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
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

(x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
if args.train_samples is not None:
    x_train, y_train = x_train[:args.train_samples], y_train[:args.train_samples]
x_train = np.expand_dims(x_train, -1).astype("float32") / 255.0
x_test = np.expand_dims(x_test, -1).astype("float32") / 255.0


def conv_bn(x, filters, kernel_size, strides=1):
    """Conv2D without bias (the batch normalisation's beta takes its place), then BatchNormalization."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
    return layers.BatchNormalization()(x)


def residual_block(x, filters, strides=1):
    y = layers.Activation("relu")(conv_bn(x, filters, 3, strides))
    y = conv_bn(y, filters, 3)
    shortcut = x if strides == 1 else conv_bn(x, filters, 1, strides)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


inputs = myelin.Input(shape=(28, 28, 1))
x = layers.Activation("relu")(conv_bn(inputs, 32, 3))
x = layers.MaxPooling2D((2, 2))(x)
x = residual_block(x, 32)
x = residual_block(x, 64, strides=2)
x = layers.GlobalAveragePooling2D()(x)
model = myelin.Model(inputs, layers.Dense(10, activation="softmax")(x))

steps = args.epochs * math.ceil(len(x_train) / args.batch_size)
model.compile(optimizer=Adam(learning_rate=CosineDecay(2e-3, max(steps, 1))),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
if args.verbose > 0:
    model.summary()

start = time.perf_counter()
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
train_seconds = time.perf_counter() - start

test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
print(f"test_accuracy={test_accuracy:.4f}")
print(f"test_loss={test_loss:.4f}")
print(f"params={model.count_params()}")
print(f"train_seconds={train_seconds:.2f}")
print(f"train_seconds_per_epoch={train_seconds / max(args.epochs, 1):.2f}")
