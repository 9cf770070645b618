#!/usr/bin/python3
"""The CNN workload of bench/cnn_benchmark.cpp in PyTorch, in the myelin binary and through
myelin's Python package, in one run.

    /usr/bin/python3 bench/compare_pytorch_cnn.py [CNN_BENCHMARK] [--threads N] [--epochs E] [--data DIR]
                                                  [--myelin-python DIR|off] [--train-images N]

Conv2D(32, 3x3, relu) -> MaxPool 2x2 -> Conv2D(64) -> MaxPool -> Conv2D(64) -> Flatten -> Dense(64, relu)
-> Dense(10), Adam(1e-3, eps 1e-7), cross-entropy on the logits, batch 128, Keras's initialisation.
PyTorch runs at its best as in compare_pytorch.py (a child process without OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(N)); its tensors are NCHW, its own
layout. The myelin (Python) run is the same network built with myelin.layers, in its own clean
child process with the built package on PYTHONPATH (see compare_pytorch.py). Prints name=value
lines (torch_*, myelin_*, myelin_python_*, speedup_*) and a table.
"""
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_pytorch import (compare, export_for_onnx_runtime, first_training_examples, load_idx_gz,  # noqa: E402
                             myelin_epoch_timer)

METRICS = [
    ("train_seconds_per_epoch_median", "train s/epoch (median)", "time"),
    ("train_samples_per_sec", "train samples/s", "rate"),
    ("test_accuracy", "test accuracy", "info"),
    ("inference_samples_per_sec_batch1024", "inference samples/s, batch 1024", "rate"),
    ("latency_batch1_us", "latency batch 1 (us)", "time"),
    ("peak_rss_mb", "peak RSS (MB)", "time"),
]


def torch_worker(args):
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    d = args.data
    to_images = lambda a: torch.from_numpy(a.reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    x_train = to_images(load_idx_gz(f"{d}/train-images-idx3-ubyte.gz", 16))
    y_train = torch.from_numpy(load_idx_gz(f"{d}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    x_train, y_train = first_training_examples(args, x_train, y_train)
    x_test = to_images(load_idx_gz(f"{d}/t10k-images-idx3-ubyte.gz", 16))
    y_test = torch.from_numpy(load_idx_gz(f"{d}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):  # Keras: glorot uniform kernels, zero biases
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n, bs = x_train.shape[0], 128
    epoch_s = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for b0 in range(0, n, bs):
            idx = perm[b0:b0 + bs]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - t0)
    med = statistics.median(epoch_s)
    print(f"train_seconds_per_epoch_median={med:.6g}")
    print(f"train_samples_per_sec={n / med:.6g}")
    model.eval()
    with torch.no_grad():
        acc = sum((model(x_test[i:i + 1000]).argmax(1) == y_test[i:i + 1000]).sum().item() for i in range(0, 10000, 1000))
        print(f"test_accuracy={acc / 10000:.4f}")
        pass_s = []
        for _ in range(3):
            t0 = time.perf_counter()
            for b0 in range(0, 10000, 1024):
                torch.softmax(model(x_test[b0:b0 + 1024]), dim=1)
            pass_s.append(time.perf_counter() - t0)
        print(f"inference_samples_per_sec_batch1024={10000 / statistics.median(pass_s):.6g}")
        one = x_test[0:1].clone()
        for _ in range(50):
            torch.softmax(model(one), dim=1)
        call_us = []
        for _ in range(500):
            t0 = time.perf_counter()
            torch.softmax(model(one), dim=1)
            call_us.append((time.perf_counter() - t0) * 1e6)
        print(f"latency_batch1_us={statistics.median(call_us):.4g}")
    import resource
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


def myelin_python_worker(args):
    """cnn_benchmark.cpp's training and inference figures, through myelin's Python package."""
    import resource

    import numpy as np

    import myelin
    from myelin.datasets import fashion_mnist
    from myelin.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from myelin.models import Sequential
    from myelin.optimizers import Adam

    myelin.set_num_threads(args.threads)
    myelin.set_random_seed(42)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
    x_train, y_train = first_training_examples(args, x_train.reshape(-1, 28, 28, 1).astype(np.float32), y_train)
    x_test = x_test.reshape(-1, 28, 28, 1).astype(np.float32)
    x_train /= 255  # in place: no second 188 MB array
    x_test /= 255
    model = Sequential([
        Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)), MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu"), Flatten(),
        Dense(64, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epoch_s = []
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=128, verbose=0,
              callbacks=[myelin_epoch_timer(epoch_s, 1.0)])
    med = statistics.median(epoch_s)
    print(f"train_seconds_per_epoch_median={med:.4g}")
    print(f"train_samples_per_sec={len(x_train) / med:.6g}")
    print(f"test_accuracy={model.evaluate(x_test, y_test, batch_size=1024, verbose=0)[1]:.4f}")
    export_for_onnx_runtime(args, model, x_test)
    pass_s = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.predict(x_test, batch_size=1024, verbose=0)
        pass_s.append(time.perf_counter() - t0)
    print(f"inference_samples_per_sec_batch1024={len(x_test) / statistics.median(pass_s):.6g}")
    one = x_test[0:1].copy()
    for _ in range(20):
        model.predict(one, batch_size=1, verbose=0)
    call_us = []
    for _ in range(500):
        t0 = time.perf_counter()
        model.predict(one, batch_size=1, verbose=0)
        call_us.append((time.perf_counter() - t0) * 1e6)
    print(f"latency_batch1_us={statistics.median(call_us):.4g}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    compare(__file__, METRICS, torch_worker, "cnn_benchmark", 3, __doc__, python_worker=myelin_python_worker)
