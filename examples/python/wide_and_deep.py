#!/usr/bin/python3
"""Wide & deep on a real, unbalanced question: will a diabetes patient's disease progression one year
on be in the top quarter? Two inputs: a wide, linear path over the features and their squares, and
a deep path (two hidden layers) over the features; their logits are added and squashed. One in four
patients is positive, so a second run weighs that class by 3 (class_weight) and catches more of them."""
import argparse

import numpy as np

import myelin
from myelin import layers
from myelin.datasets import diabetes
from myelin.preprocessing import StandardScaler, train_test_split
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="A two-input wide & deep classifier, with and without class weights.")
parser.add_argument("--epochs", type=int, default=60)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="folder holding the diabetes files")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)


def make_model():
    wide = myelin.Input(shape=(20,), name="wide")
    deep = myelin.Input(shape=(10,), name="deep")
    w = layers.Dense(1, name="wide_logit")(wide)
    d = layers.Dense(32, activation="relu")(deep)
    d = layers.Dense(16, activation="relu")(d)
    d = layers.Dense(1, name="deep_logit")(d)
    risk = layers.Activation("sigmoid")(layers.Add()([w, d]))
    model = myelin.Model([wide, deep], risk, name="wide_and_deep")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "recall", "auc"])
    return model


def wide_features(x):
    """The wide input: the standardised features and their squares."""
    return np.concatenate([x, x * x], axis=1).astype(np.float32)


# Diabetes (442 patients, 10 features): label 1 when progression is in the top quarter.
x, progression = diabetes.load_data(args.data)
progression = np.asarray(progression, dtype=np.float32).reshape(-1)
threshold = np.sort(progression)[len(progression) * 3 // 4]
y = (progression >= threshold).astype(int)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed, stratify=y)
scaler = StandardScaler()  # fitted on the training patients only
x_train = scaler.fit_transform(x_train)
x_test = scaler.transform(x_test)
print(f"positive_fraction={np.mean(y_train):.4f}")

# The same network and seed twice: the second run weighs the rare class by 3.
for weighted in (False, True):
    set_random_seed(args.seed)
    model = make_model()
    model.fit([wide_features(x_train), x_train], y_train, epochs=args.epochs, batch_size=args.batch_size,
              verbose=args.verbose, class_weight={0: 1.0, 1: 3.0} if weighted else None)
    _, accuracy, recall, auc = model.evaluate([wide_features(x_test), x_test], y_test, verbose=0)
    prefix = "weighted_" if weighted else ""
    print(f"{prefix}test_accuracy={accuracy:.4f}")
    print(f"{prefix}test_recall={recall:.4f}")
    print(f"{prefix}test_auc={auc:.4f}")
