#!/usr/bin/python3
"""The residual-network workload of bench/resnet_benchmark.cpp in PyTorch, in the myelin binary and
through myelin's Python package, in one run.

    /usr/bin/python3 bench/compare_pytorch_resnet.py [RESNET_BENCHMARK] [--threads N] [--epochs E] [--data DIR]
                                                     [--myelin-python DIR|off] [--train-images N]

The network of bench/users_models.hpp (users_resnet): Conv2D(32, 3x3, same) -> BN -> relu -> MaxPool
2x2; a residual block of two 3x3 Conv-BN (32 filters); a downsampling block (first convolution
strided 2x2 with Keras's 'same' padding, one row and column after, 64 filters; shortcut a strided
1x1 Conv-BN); each block ends in Add and relu; GlobalAveragePooling2D -> Dense(10). Convolutions
without bias, Keras's initialisation (glorot uniform; BN gamma 1, beta 0, momentum 0.99 = torch's
0.01, eps 1e-3), Adam(1e-3, eps 1e-7), cross-entropy on the logits, batch 128.
PyTorch runs as in compare_pytorch.py (a clean child process, OPENBLAS_NUM_THREADS=1,
torch.set_num_threads(N)) with the model and every batch in channels_last memory format, the NHWC
layout myelin computes in; the myelin (Python) run builds the network with myelin's functional API.
Prints name=value lines (torch_*, myelin_*, myelin_python_*, speedup_*) and a table.
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
    print(f"torch_version={torch.__version__}")
    cl = torch.channels_last
    d = args.data
    to_images = lambda a: torch.from_numpy(a.reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    x_train = to_images(load_idx_gz(f"{d}/train-images-idx3-ubyte.gz", 16))
    y_train = torch.from_numpy(load_idx_gz(f"{d}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    x_train, y_train = first_training_examples(args, x_train, y_train)
    x_test = to_images(load_idx_gz(f"{d}/t10k-images-idx3-ubyte.gz", 16))
    y_test = torch.from_numpy(load_idx_gz(f"{d}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

    def conv_bn(cin, cout, k, stride):
        # Keras's 'same': stride 1 pads symmetrically; the strided 3x3 on 14x14 pads one row and
        # one column after only; the strided 1x1 pads nothing.
        pad = [nn.ZeroPad2d((0, 1, 0, 1))] if stride == 2 and k == 3 else []
        conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if stride == 1 else 0, bias=False)
        return nn.Sequential(*pad, conv, nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.a, self.b = conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, 1)
            self.shortcut = conv_bn(cin, cout, 1, stride) if stride != 1 else nn.Identity()

        def forward(self, x):
            return F.relu(self.b(F.relu(self.a(x))) + self.shortcut(x))

    model = nn.Sequential(conv_bn(1, 32, 3, 1), nn.ReLU(), nn.MaxPool2d(2), Block(32, 32, 1), Block(32, 64, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):  # Keras: glorot uniform kernels, zero biases
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    model = model.to(memory_format=cl)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n, bs = x_train.shape[0], 128
    epoch_s = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        for b0 in range(0, n, bs):
            idx = perm[b0:b0 + bs]
            loss = F.cross_entropy(model(x_train[idx].contiguous(memory_format=cl)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - t0)
    med = statistics.median(epoch_s)
    print(f"train_seconds_per_epoch_median={med:.6g}")
    print(f"train_samples_per_sec={n / med:.6g}")
    model.eval()
    x_test = x_test.contiguous(memory_format=cl)
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
        one = x_test[0:1].clone().contiguous(memory_format=cl)
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


def residual_network(api):
    """users_resnet written once for any Keras-style API: `api` is the `myelin` or the `keras`
    module (Input, Model and layers by Keras's names), each with its own defaults."""
    layers = api.layers

    def conv_bn(x, filters, k, strides=1):
        x = layers.Conv2D(filters, k, strides=strides, padding="same", use_bias=False)(x)
        return layers.BatchNormalization()(x)

    def block(x, filters, strides=1):
        y = conv_bn(layers.Activation("relu")(conv_bn(x, filters, 3, strides)), filters, 3)
        shortcut = x if strides == 1 else conv_bn(x, filters, 1, strides)
        return layers.Activation("relu")(layers.Add()([y, shortcut]))

    inputs = api.Input(shape=(28, 28, 1))
    x = layers.MaxPooling2D((2, 2))(layers.Activation("relu")(conv_bn(inputs, 32, 3)))
    x = layers.GlobalAveragePooling2D()(block(block(x, 32), 64, 2))
    return api.Model(inputs, layers.Dense(10, activation="softmax")(x))


def myelin_python_worker(args):
    """resnet_benchmark.cpp's figures, through myelin's Python package and its functional API."""
    import resource

    import numpy as np

    import myelin
    from myelin.datasets import fashion_mnist
    from myelin.optimizers import Adam

    myelin.set_num_threads(args.threads)
    myelin.set_random_seed(42)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
    x_train, y_train = first_training_examples(args, x_train.reshape(-1, 28, 28, 1).astype(np.float32), y_train)
    x_test = x_test.reshape(-1, 28, 28, 1).astype(np.float32)
    x_train /= 255
    x_test /= 255

    model = residual_network(myelin)
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
    compare(__file__, METRICS, torch_worker, "resnet_benchmark", 2, __doc__, python_worker=myelin_python_worker)
