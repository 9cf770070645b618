#!/usr/bin/python3
"""A binary classifier (sigmoid output, binary cross-entropy), first on random data, then on a real
question: will a diabetes patient's disease progress more than the median one year on?

Random labels hold nothing to learn, so on fresh random rows the accuracy is a coin's, about 0.5.
On the diabetes data the same network learns something real."""
import argparse

import numpy as np

from myelin.datasets import diabetes
from myelin.layers import Dense
from myelin.models import Sequential
from myelin.preprocessing import StandardScaler, train_test_split
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="A 10-10-1 sigmoid classifier on random and on real data.")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the diabetes files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)


def make_model(inputs):
    """The same network for both problems; only the number of inputs differs."""
    model = Sequential([
        Dense(10, input_dim=inputs, activation="relu"),
        Dense(10, activation="relu"),
        Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "precision", "recall", "auc"])
    return model


# 1. Random inputs in [0, 1) and random 0/1 labels.
x_random_train, y_random_train = np.random.random((1000, 8)), np.random.randint(2, size=(1000, 1))
x_random_test, y_random_test = np.random.random((1000, 8)), np.random.randint(2, size=(1000, 1))
random_model = make_model(8)
random_model.fit(x_random_train, y_random_train, epochs=args.epochs, batch_size=args.batch_size,
                 verbose=args.verbose)
print(f"random_accuracy={random_model.evaluate(x_random_test, y_random_test, verbose=0)[1]:.4f}")

# 2. Diabetes (442 patients, 10 features): label 1 when progression is above the median.
x, progression = diabetes.load_data(args.data)
y = (progression > np.median(progression)).astype(int)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=args.seed, stratify=y)
scaler = StandardScaler()  # fitted on the training patients only
x_train = scaler.fit_transform(x_train)
x_test = scaler.transform(x_test)

# Few rows (353) make few steps per epoch, so this part trains for more epochs.
model = make_model(x.shape[1])
model.fit(x_train, y_train, epochs=5 * args.epochs, batch_size=args.batch_size, verbose=args.verbose)
loss, accuracy, precision, recall, auc = model.evaluate(x_test, y_test, verbose=0)
print(f"real_test_accuracy={accuracy:.4f}")
print(f"precision={precision:.4f}")
print(f"recall={recall:.4f}")
print(f"auc={auc:.4f}")
