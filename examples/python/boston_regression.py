#!/usr/bin/python3
"""Regression on the Boston housing prices: standardise the features, fit a small network with the
mean squared error, then score its predictions on held-out houses as scikit-learn users do."""
import argparse

from myelin.datasets import boston_housing
from myelin.layers import Dense
from myelin.metrics import mean_squared_error
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.preprocessing import StandardScaler
from myelin.utils import set_num_threads, set_random_seed

parser = argparse.ArgumentParser(description="Boston housing prices with a 13-10-1 network.")
parser.add_argument("--epochs", type=int, default=100)
parser.add_argument("--batch-size", type=int, default=10)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=None, help="boston_house_prices.csv or its folder")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
args = parser.parse_args()
set_num_threads(args.threads)
set_random_seed(args.seed)

# 506 houses, 13 features, target = median value in k$; 20% held out for testing.
(x_train, y_train), (x_test, y_test) = boston_housing.load_data(args.data, test_split=0.2, seed=42)

# Scale with statistics of the training rows only, so nothing leaks from the test houses.
scaler = StandardScaler()
x_train = scaler.fit_transform(x_train)
x_test = scaler.transform(x_test)

model = Sequential([
    Dense(10, activation="relu", input_shape=(13,)),
    Dense(1),
])
model.compile(optimizer=Adam(learning_rate=1e-3), loss="mse", metrics=["mse"])
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)

y_pred = model.predict(x_test)
print(f"test_mse={mean_squared_error(y_test, y_pred):.4f}")
