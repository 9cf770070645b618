"""Keras's side of keras_roundtrip.py, run by it in a Keras 3 interpreter (never with myelin):

    keras_timing.py MODEL X.npy Y.npy CALLS

loads MODEL with keras.models.load_model, prints keras_accuracy= on X, Y (the share of rows whose
arg-max output, or one sigmoid output > 0.5, is the label) and keras_batch1_latency_us_median=:
the median of CALLS timed calls of model(x[:1], training=False), the result fetched as numpy.
"""
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def accuracy(probabilities, labels):
    p = probabilities.reshape(len(probabilities), -1)
    predicted = (p[:, 0] > 0.5).astype(np.int64) if p.shape[1] == 1 else p.argmax(axis=1)
    return float(np.mean(predicted == labels.reshape(-1).astype(np.int64)))


def main(model_path, x_path, y_path, calls):
    model = keras.models.load_model(model_path)
    x, y = np.load(x_path), np.load(y_path)
    print(f"keras_accuracy={accuracy(model.predict(x, batch_size=32, verbose=0), y):.4f}")
    one = x[:1]
    for _ in range(10):  # the first calls trace and compile
        np.asarray(model(one, training=False))
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        np.asarray(model(one, training=False))  # JAX dispatches asynchronously: wait for the numbers
        times.append((time.perf_counter() - start) * 1e6)
    print(f"keras_batch1_latency_us_median={np.median(times):.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
