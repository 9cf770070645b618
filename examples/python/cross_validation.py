#!/usr/bin/python3
"""5-fold stratified cross-validation of a perceptron on the 8x8 handwritten digits: a fresh model is
trained on four folds and scored on the fifth, five times over."""
import argparse

import numpy as np

from myelin.datasets import digits
from myelin.layers import Dense
from myelin.model_selection import StratifiedKFold
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="5-fold cross-validation of a 64-64-10 perceptron on digits.")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="digits.csv.gz or its folder")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)

# 1797 images of 64 pixels valued 0..16; scale them to [0, 1].
x, y = digits.load_data(args.data)
x = x / 16.0


def make_model():
    """Each fold gets a new, untrained model."""
    model = Sequential([
        Dense(64, activation="relu", input_shape=(64,)),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


accuracies = []
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.seed)
for fold, (train, test) in enumerate(folds.split(x, y), start=1):
    model = make_model()
    model.fit(x[train], y[train], epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
    _, accuracy = model.evaluate(x[test], y[test], verbose=0)
    accuracies.append(accuracy)
    print(f"fold_{fold}_accuracy={accuracy:.4f}")
print(f"mean_accuracy={np.mean(accuracies):.4f}")
print(f"std_accuracy={np.std(accuracies):.4f}")
