#!/usr/bin/python3
"""Runs a model saved by Keras with myelin, and beside Keras itself: loads a Keras 3 .keras file (a
Keras 2 .h5 or a myelin .safetensors file works too), prints its summary, scores it on labelled
data, saves it again as .keras and checks the copy predicts the same, and times batch-1 inference.

    keras_roundtrip.py MODEL --images IMAGES --labels LABELS [--scale S]   IDX files, as Fashion-MNIST's
    keras_roundtrip.py MODEL --csv PATH                                    a numeric CSV, label last

IDX images (gzip or raw) are multiplied by --scale (default 1/255) and reshaped to the model's input
shape; a CSV has a header line and its last column holds the label. Labels are class indices.

Keras's own timing needs a Keras 3 interpreter: --keras-python PATH, or the environment
$MYELIN_REFERENCE_ENV_DIR names (scripts/reference_env.sh interop makes one). There
keras_timing.py loads the same file, scores the same data and times model(x, training=False) on one
sample the same way; without one the line keras_timing_skipped= says why. C++ twin:
examples/run_keras_model.cpp.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from myelin.data import read_idx
from myelin.models import load_model
from myelin.utils import set_num_threads

parser = argparse.ArgumentParser(description="Runs a .keras (or Keras 2 .h5) model with myelin and with Keras.")
parser.add_argument("model", help=".keras, .h5 or .safetensors file")
parser.add_argument("--images", help="IDX images (gzip or raw)")
parser.add_argument("--labels", help="IDX labels, class indices")
parser.add_argument("--scale", type=float, default=1 / 255, help="factor applied to the images (default 1/255)")
parser.add_argument("--csv", help="numeric CSV with a header line, the label in the last column")
parser.add_argument("--calls", type=int, default=200, help="batch-1 predictions timed (default 200)")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--threads", type=int, default=0, help="0: all cores")
parser.add_argument("--keras-python", help="a Python with Keras 3, to time Keras on the same file")
args = parser.parse_args()
if bool(args.csv) == bool(args.images or args.labels):
    parser.error("give either --images and --labels, or --csv")
if not args.csv and not (args.images and args.labels):
    parser.error("--images and --labels go together")
if args.calls < 1:
    parser.error("--calls must be at least 1")
set_num_threads(args.threads)


def accuracy(probabilities, labels):
    """Share of rows whose arg-max output (one sigmoid output: > 0.5) is the label."""
    p = probabilities.reshape(len(probabilities), -1)
    predicted = (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else p.argmax(axis=1)
    return float(np.mean(predicted == labels.reshape(-1).astype(np.int64)))


def median_us(fn, calls):
    for _ in range(10):  # untimed: the first call sizes the buffers
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e6)
    return float(np.median(times))


def keras_interpreter():
    """(path, None) of a Python with Keras 3, or (None, why there is none)."""
    if args.keras_python:
        return (args.keras_python, None) if os.access(args.keras_python, os.X_OK) else \
            (None, f"--keras-python {args.keras_python} is not an executable")
    env_dir = os.environ.get("MYELIN_REFERENCE_ENV_DIR")
    if not env_dir:
        return None, "no Keras 3 interpreter (give --keras-python PATH or set MYELIN_REFERENCE_ENV_DIR)"
    python = Path(env_dir) / "bin" / "python"
    return (str(python), None) if python.exists() else (None, f"{python} does not exist")


model = load_model(args.model)
if args.csv:
    table = np.loadtxt(args.csv, delimiter=",", skiprows=1, ndmin=2, dtype=np.float32)
    x, y = table[:, :-1], table[:, -1]
else:
    x, y = read_idx(args.images) * np.float32(args.scale), read_idx(args.labels)
if len(x) != len(y):
    sys.exit(f"{args.csv or args.images}: {len(x)} samples but {len(y)} labels")
want = (len(x),) + tuple(model.input_shape[1:])
if int(np.prod(want)) != x.size:
    sys.exit(f"{args.csv or args.images}: samples of shape {x.shape[1:]} cannot feed the model's input {want[1:]}")
x = x.reshape(want).astype(np.float32)

model.summary()
predictions = model.predict(x, batch_size=args.batch_size, verbose=0)
print(f"samples={len(x)}")
print(f"accuracy={accuracy(predictions, y):.4f}")
if model.optimizer is not None:  # the file's compile settings: Keras's evaluate() figures
    for name, value in model.evaluate(x, y, batch_size=args.batch_size, verbose=0, return_dict=True).items():
        print(f"evaluate_{name}={value:.4f}")

with tempfile.TemporaryDirectory() as tmp:
    # The Keras round trip: myelin writes .keras again and reads it back.
    copy = Path(tmp) / "copy.keras"
    model.save(copy)
    difference = np.max(np.abs(load_model(copy).predict(x, batch_size=args.batch_size, verbose=0) - predictions))
    print(f"resaved_prediction_max_difference={difference:.3g}")

    one = x[:1]
    latency = median_us(lambda: model(one, training=False), args.calls)
    print(f"batch1_calls={args.calls}")
    print(f"batch1_latency_us_median={latency:.1f}")

    python, why_not = keras_interpreter()
    if python is None:
        print(f"keras_timing_skipped={why_not}")
    else:
        np.save(Path(tmp) / "x.npy", x)
        np.save(Path(tmp) / "y.npy", y)
        env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("PYTHONPATH", None)  # the Keras interpreter never sees myelin or this Python's packages
        child = subprocess.run([python, str(Path(__file__).with_name("keras_timing.py")), str(args.model),
                                str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy"), str(args.calls)],
                               capture_output=True, text=True, env=env)
        if child.returncode != 0:
            print(f"keras_timing_skipped=Keras failed (exit {child.returncode}): "
                  f"{child.stderr.strip().splitlines()[-1] if child.stderr.strip() else 'no message'}")
        else:
            figures = dict(line.split("=", 1) for line in child.stdout.splitlines() if "=" in line)
            print(f"keras_accuracy={figures['keras_accuracy']}")
            keras_latency = float(figures["keras_batch1_latency_us_median"])
            print(f"keras_batch1_latency_us_median={keras_latency:.1f}")
            print(f"keras_over_myelin_latency_ratio={keras_latency / latency:.2f}")
