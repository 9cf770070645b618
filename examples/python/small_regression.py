#!/usr/bin/python3
"""Regression on a synthetic linear problem, y = x.w + 0.1 noise, with only 100 training rows: first
a plain 10-10-1 network, then the same network with an L2 weight penalty and early stopping on the
validation loss, which keeps the weights of its best epoch."""
import argparse

import numpy as np

from myelin.callbacks import EarlyStopping
from myelin.layers import Dense
from myelin.models import Sequential
from myelin.regularizers import l2
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="A 10-10-1 regression, plain and with L2 + early stopping.")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=10)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)

# One true weight vector; training, validation and test rows all drawn from the same problem.
features = 10
w = np.random.normal(size=features)


def make_data(rows):
    x = np.random.normal(size=(rows, features))
    return x, x @ w + 0.1 * np.random.normal(size=rows)


x_train, y_train = make_data(100)
x_val, y_val = make_data(100)
x_test, y_test = make_data(500)

# 1. The plain network.
model = Sequential([
    Dense(10, activation="relu", input_shape=(features,)),
    Dense(1, activation="linear"),
])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, validation_data=(x_val, y_val),
          verbose=args.verbose)
print(f"test_mae={model.evaluate(x_test, y_test, verbose=0)[1]:.4f}")

# 2. L2(0.01) on the kernels, and stop once val_loss has not improved for 10 epochs, allowing 10x the
# epochs and letting early stopping decide how many are worth running.
l2_model = Sequential([
    Dense(10, activation="relu", input_shape=(features,), kernel_regularizer=l2(0.01)),
    Dense(1, activation="linear", kernel_regularizer=l2(0.01)),
])
l2_model.compile(optimizer="adam", loss="mse", metrics=["mae"])
early_stopping = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
history = l2_model.fit(x_train, y_train, epochs=10 * args.epochs, batch_size=args.batch_size,
                       validation_data=(x_val, y_val), callbacks=[early_stopping], verbose=args.verbose)
print(f"l2_test_mae={l2_model.evaluate(x_test, y_test, verbose=0)[1]:.4f}")
# As Keras's "Epoch N: early stopping": the 1-based epoch it stopped after, 0 when it ran them all.
print(f"stopped_epoch={early_stopping.stopped_epoch + 1}")
print(f"best_epoch={early_stopping.best_epoch + 1}")
print(f"epochs_run={len(history.epoch)}")
