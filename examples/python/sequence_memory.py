#!/usr/bin/python3
"""A sequence task that needs memory: 30 noisy steps, labelled by the sign of the first two steps' sum.
A forward LSTM must carry those two values through 28 steps of noise; a Bidirectional LSTM's backward
direction reads them last. Both see the same data, seed and training."""
import argparse

import numpy as np

from myelin.layers import LSTM, Bidirectional, Dense
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(
    description="An LSTM and a Bidirectional LSTM on a task that needs the first steps of a sequence.")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)

steps = 30
rng = np.random.default_rng(args.seed)


def make_data(rows):
    x = rng.normal(size=(rows, steps, 1)).astype(np.float32)
    return x, (x[:, 0, 0] + x[:, 1, 0] > 0).astype(np.float32)


(x_train, y_train), (x_test, y_test) = make_data(1000), make_data(500)


def test_accuracy(model):
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    return model.evaluate(x_test, y_test, verbose=0)[1]


set_random_seed(args.seed)
forward = Sequential([LSTM(8, input_shape=(steps, 1)), Dense(1, activation="sigmoid")])
print(f"lstm_test_accuracy={test_accuracy(forward):.4f}")

set_random_seed(args.seed)
both = Sequential([Bidirectional(LSTM(8), input_shape=(steps, 1)), Dense(1, activation="sigmoid")])
print(f"bidirectional_test_accuracy={test_accuracy(both):.4f}")
