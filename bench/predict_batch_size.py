#!/usr/bin/python3
"""predict()'s throughput by batch size for the seed CNN, the seed MLP and the residual CNN,
each size alternated with the others five times in one process (random weights: only the time
matters; 10,000 images).

    PYTHONPATH=build/python /usr/bin/python3 bench/predict_batch_size.py cnn 1024 256 128 64
"""
import argparse
import time

import numpy as np
from myelin import Input, Model
from myelin.models import Sequential
from myelin.layers import (Activation, Add, BatchNormalization, Conv2D, Dense, Flatten,
                           GlobalAveragePooling2D, MaxPooling2D)
from myelin.utils import set_num_threads


def seed_cnn():
    return Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                       Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)),
                       Conv2D(64, (3, 3), activation="relu"), Flatten(), Dense(64, activation="relu"),
                       Dense(10, activation="softmax")])


def seed_mlp():
    return Sequential([Flatten(input_shape=(28, 28, 1)), Dense(32, activation="relu"),
                       Dense(10, activation="softmax")])


def residual_cnn():
    def conv_bn(x, filters, kernel, stride):
        y = Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
        return BatchNormalization()(y)

    def block(x, filters, stride):
        y = Activation("relu")(conv_bn(x, filters, (3, 3), stride))
        y = conv_bn(y, filters, (3, 3), 1)
        shortcut = x if stride == 1 else conv_bn(x, filters, (1, 1), stride)
        return Activation("relu")(Add()([y, shortcut]))

    inputs = Input((28, 28, 1))
    x = MaxPooling2D((2, 2))(Activation("relu")(conv_bn(inputs, 32, (3, 3), 1)))
    x = GlobalAveragePooling2D()(block(block(x, 32, 1), 64, 2))
    return Model(inputs, Dense(10, activation="softmax")(x))


parser = argparse.ArgumentParser()
parser.add_argument("model", choices=["cnn", "mlp", "resnet"])
parser.add_argument("sizes", type=int, nargs="+")
parser.add_argument("--rounds", type=int, default=5)
args = parser.parse_args()
set_num_threads(2)
m = {"cnn": seed_cnn, "mlp": seed_mlp, "resnet": residual_cnn}[args.model]()
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).random((10000, 28, 28, 1), dtype=np.float32)
for b in args.sizes:  # warm-up: primitives made, buffers sized
    m.predict(x, batch_size=b, verbose=0)
res = {b: [] for b in args.sizes}
for r in range(args.rounds):
    for b in res:
        t = time.perf_counter()
        m.predict(x, batch_size=b, verbose=0)
        res[b].append(time.perf_counter() - t)
for b, v in res.items():
    print(f"{args.model}_batch_{b}_samples_per_sec={10000 / np.median(v):.0f}")
