#!/usr/bin/python3
"""Forecasting a real series: weekly atmospheric CO2 at Mauna Loa, March 1958 - December 2001
(data/co2.csv, from Debian's python3-statsmodels; see data/README.md; --data PATH reads another copy).
From the past 52 weeks, a Conv1D/GRU network forecasts the next 4 weeks. The Python twin of
examples/sequence_regression.cpp: the same windows, network and figures.

The 59 weeks without a measurement are filled by straight-line interpolation between the nearest
measured weeks before and after them. The split is chronological: the first 80% of the weeks train,
and the test windows are those whose forecast weeks all lie in the last 20% (1993-2001).
Each window is taken relative to its last value: inputs (x_t - x_last) / s, targets
(x_future - x_last) / s, with s the standard deviation of the training targets' offsets.
Conv1D(16, 5, causal, relu) -> GRU(32) -> Dense(4), mean squared error, Adam.

Figures (ppm, mean absolute error over the test windows and the 4 forecast weeks): test_mae, beside
last_value_mae (every future week = the last week seen) and seasonal_naive_mae (the same week a year
earlier). --precision bf16 trains and forecasts under Keras's mixed_bfloat16 policy (Conv1D, GRU and
Dense multiply in bfloat16), --precision auto under it only where it runs faster than float32."""
import argparse
import math
import os
from pathlib import Path

import numpy as np

from myelin import mixed_precision
from myelin.layers import GRU, Conv1D, Dense
from myelin.models import Sequential
from myelin.optimizers import Adam
from myelin.utils import set_num_threads, set_random_seed

default_data = Path(os.environ.get("MYELIN_DATA_DIR") or Path(__file__).resolve().parents[2] / "data") / "co2.csv"
parser = argparse.ArgumentParser(
    description="A Conv1D/GRU forecaster of weekly Mauna Loa CO2, against last-value and seasonal baselines.")
parser.add_argument("--epochs", type=int, default=40)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--data", default=str(default_data), help="the co2.csv file")
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--verbose", type=int, default=0, choices=[0, 1, 2])
parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                    help="bf16: Keras's mixed_bfloat16 policy; auto: bf16 where it runs faster than float32")
args = parser.parse_args()
set_num_threads(args.threads)
if args.precision != "fp32":
    mixed_precision.set_global_policy("mixed_bfloat16" if args.precision == "bf16" else "auto")
print(f"mixed_bfloat16={int(mixed_precision.global_policy().name == 'mixed_bfloat16')}")

WINDOW, HORIZON = 52, 4

try:
    with open(args.data) as f:
        rows = f.read().splitlines()[1:]  # after date,co2
except OSError as e:
    raise SystemExit(f"cannot read {args.data}: {e}")
co2 = [float(r.split(",", 1)[1]) if r.split(",", 1)[1] else math.nan for r in rows]
missing = [i for i, v in enumerate(co2) if math.isnan(v)]
for i in missing:  # straight lines between the nearest measured weeks
    a, b = i, i
    while a > 0 and math.isnan(co2[a]):
        a -= 1
    while b + 1 < len(co2) and math.isnan(co2[b]):
        b += 1
    if math.isnan(co2[a]):
        co2[i] = co2[b]
    elif math.isnan(co2[b]):
        co2[i] = co2[a]
    else:
        co2[i] = co2[a] + (co2[b] - co2[a]) * (i - a) / (b - a)
print(f"weeks={len(co2)}\nfilled_weeks={len(missing)}")

weeks = len(co2)
split = weeks * 8 // 10  # first test week
train_starts = [i for i in range(weeks - WINDOW - HORIZON + 1) if i + WINDOW + HORIZON <= split]
test_starts = [i for i in range(weeks - WINDOW - HORIZON + 1) if i + WINDOW >= split]
total = total_sq = 0.0
count = 0
for i in train_starts:
    for h in range(HORIZON):
        d = co2[i + WINDOW + h] - co2[i + WINDOW - 1]
        total += d
        total_sq += d * d
        count += 1
mean = total / count
scale = math.sqrt(total_sq / count - mean * mean)


def windows(starts):
    x = np.array([[(co2[i + t] - co2[i + WINDOW - 1]) / scale for t in range(WINDOW)] for i in starts])
    y = np.array([[(co2[i + WINDOW + h] - co2[i + WINDOW - 1]) / scale for h in range(HORIZON)] for i in starts])
    return x.astype(np.float32)[:, :, None], y.astype(np.float32)


(x_train, y_train), (x_test, y_test) = windows(train_starts), windows(test_starts)

set_random_seed(args.seed)
model = Sequential([Conv1D(16, 5, padding="causal", activation="relu", input_shape=(WINDOW, 1)), GRU(32),
                    Dense(HORIZON)])
model.compile(optimizer=Adam(learning_rate=0.003), loss="mse")
model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
forecast = model.predict(x_test, verbose=0)

net = last_value = seasonal = 0.0
for r, i in enumerate(test_starts):
    last = co2[i + WINDOW - 1]
    for h in range(HORIZON):
        t = i + WINDOW + h
        net += abs(last + float(forecast[r, h]) * scale - co2[t])
        last_value += abs(last - co2[t])
        seasonal += abs(co2[t - 52] - co2[t])
n = len(test_starts) * HORIZON
print(f"train_windows={len(train_starts)}\ntest_windows={len(test_starts)}")
print(f"test_mae={net / n:.4f}\nlast_value_mae={last_value / n:.4f}\nseasonal_naive_mae={seasonal / n:.4f}")
