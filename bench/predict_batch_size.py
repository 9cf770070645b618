#!/usr/bin/python3
"""The seed CNN's inference throughput through predict() at batch sizes 1024, 256, 128 and 64,
alternated five times in one process (random weights: only the time matters).

    PYTHONPATH=build/python /usr/bin/python3 bench/predict_batch_size.py
"""
import time

import numpy as np
from myelin.models import Sequential
from myelin.layers import Conv2D, MaxPooling2D, Flatten, Dense
from myelin.utils import set_num_threads
set_num_threads(2)
m = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
                Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Conv2D(64, (3, 3), activation="relu"),
                Flatten(), Dense(64, activation="relu"), Dense(10, activation="softmax")])
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x = np.random.default_rng(0).random((10000, 28, 28, 1), dtype=np.float32)
for b in (1024, 128):  # warm-up: primitives made, buffers sized
    m.predict(x, batch_size=b, verbose=0)
res = {b: [] for b in (1024, 256, 128, 64)}
for r in range(5):
    for b in res:
        t = time.perf_counter()
        m.predict(x, batch_size=b, verbose=0)
        res[b].append(time.perf_counter() - t)
for b, v in res.items():
    print(f"batch_{b}_samples_per_sec={10000 / np.median(v):.0f}")
