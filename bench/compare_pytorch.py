#!/usr/bin/python3
"""The MLP workload of bench/mlp_benchmark.cpp in PyTorch, in myelin's C++ binary and through
myelin's Python package, in one run.

    /usr/bin/python3 bench/compare_pytorch.py [MYELIN_BENCHMARK] [--threads N] [--epochs E] [--data DIR]
                                              [--myelin-python DIR|off] [--train-images N]

MYELIN_BENCHMARK defaults to build/bench/mlp_benchmark under the source tree. --myelin-python names
the folder holding the built package (the one that holds myelin/); by default it is the python/
folder of the benchmark's build tree (build/python), used when the package is built there. Prints
name=value lines (torch_*, myelin_*, myelin_python_*, speedup_*, speedup_python_*) and then a
table. A speedup above 1 means myelin is faster: torch time / myelin time, or myelin throughput /
torch throughput.

PyTorch runs at its best here, in a child process started with a cleaned environment:
- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed. Some machines set them (to Haswell and a
  small L2), which makes OpenBLAS, and so torch's CPU matrix products, skip its AVX-512 kernels.
  They are read when OpenBLAS loads, so they must be gone before torch is imported: hence a fresh
  process rather than os.environ edits after start-up.
- OPENBLAS_NUM_THREADS=1: torch runs its own thread pool (torch.set_num_threads); OpenBLAS's
  threads on top of it would oversubscribe the cores.
- torch.set_num_threads(N) with the same N that myelin gets (--threads).
The myelin binary runs with the same cleaned environment (it does not use OpenBLAS, so this only
keeps the runs alike), and so does the myelin Python run, in a third child process with the built
package on PYTHONPATH: the same model written with myelin.models / myelin.layers as a Keras user
writes it, timed the same way as the binary (epochs by a Python callback inside one fit call,
predict on the whole test set at batch 1024 and on one row). Its figures add what Python costs on
top of the binary's: the call from Python into C++ on each predict (which dominates batch-1
latency), and the interpreter and numpy in the peak memory.

Fashion-MNIST is read for torch from the IDX .gz files with gzip and numpy (no torchvision).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"

# (key, label, kind): "time" -> speedup = torch / myelin; "rate" -> myelin / torch; "info" -> no ratio.
METRICS = [
    ("train_seconds_per_epoch_median", "train s/epoch (median)", "time"),
    ("train_samples_per_sec", "train samples/s", "rate"),
    ("test_accuracy", "test accuracy", "info"),
    ("inference_samples_per_sec_batch1024", "inference samples/s, batch 1024", "rate"),
    ("latency_batch1_us", "latency batch 1 (us)", "time"),
    ("small_regression_us_per_step", "small regression us/step", "time"),
    ("peak_rss_mb", "peak RSS (MB)", "time"),  # lower is better, as for times
]


def parse_lines(text):
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def clean_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def worker_arguments(args):
    """The options every worker and benchmark binary of a comparison gets: the same threads,
    epochs, data and training examples."""
    common = ["--threads", str(args.threads), "--epochs", str(args.epochs), "--data", args.data]
    if args.train_images > 0:
        common += ["--train-images", str(args.train_images)]
    return common


def first_training_examples(args, x, y):
    """The first --train-images examples of (x, y), all of them when that is 0 or more than there
    are: a shorter run whose time per epoch scales with its examples (accuracy then drops)."""
    n = getattr(args, "train_images", 0)
    return (x[:n], y[:n]) if 0 < n < len(x) else (x, y)


# ---------------------------------------------------------------------------------------------
# The torch side; runs only in the child process (--torch-worker), after the environment is clean.

def load_idx_gz(path, header):
    import gzip
    import numpy as np
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def torch_worker(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    print(f"torch_version={torch.__version__}")
    print(f"threads={torch.get_num_threads()}")

    d = args.data
    # Flattened at load: myelin's Flatten is a view, so both models see the same 784 floats.
    x_train = torch.from_numpy(load_idx_gz(f"{d}/train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    y_train = torch.from_numpy(load_idx_gz(f"{d}/train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    x_train, y_train = first_training_examples(args, x_train, y_train)
    x_test = torch.from_numpy(load_idx_gz(f"{d}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255)
    y_test = torch.from_numpy(load_idx_gz(f"{d}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))

    def keras_mlp(sizes):
        """Linear layers with ReLU between them, initialised as Keras's Dense: glorot uniform, zero bias."""
        mods = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = torch.nn.Linear(a, b)
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
            mods.append(lin)
            if i < len(sizes) - 2:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)

    # 1. Training: softmax + cross-entropy fused (cross_entropy on the logits), as myelin fuses them.
    # Loss and accuracy are accumulated per batch as Keras's fit (and myelin's) does.
    model = keras_mlp([784, 32, 10])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    n, bs = x_train.shape[0], 128
    epoch_s = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for b0 in range(0, n, bs):
            idx = perm[b0:b0 + bs]
            xb, yb = x_train[idx], y_train[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += loss.detach() * xb.shape[0]
                correct += (logits.argmax(1) == yb).sum()
        float(loss_sum), int(correct)  # what an epoch log would read
        epoch_s.append(time.perf_counter() - t0)
    med = statistics.median(epoch_s)
    print(f"train_seconds_per_epoch_median={med:.6g}")
    print(f"train_samples_per_sec={n / med:.6g}")
    with torch.no_grad():
        acc = (model(x_test).argmax(1) == y_test).double().mean().item()
    print(f"test_accuracy={acc:.4f}")

    # 2. Inference: probabilities, as myelin's predict returns, written into one output tensor.
    model.eval()
    m = x_test.shape[0]
    pass_s = []
    with torch.no_grad():
        out = torch.empty(m, 10)
        for _ in range(5):
            t0 = time.perf_counter()
            for b0 in range(0, m, 1024):
                out[b0:b0 + 1024] = torch.softmax(model(x_test[b0:b0 + 1024]), dim=1)
            pass_s.append(time.perf_counter() - t0)
        print(f"inference_samples_per_sec_batch1024={m / statistics.median(pass_s):.6g}")

        one = x_test[0:1].clone()
        for _ in range(100):
            torch.softmax(model(one), dim=1)
        call_us = []
        for _ in range(2000):
            t0 = time.perf_counter()
            torch.softmax(model(one), dim=1)
            call_us.append((time.perf_counter() - t0) * 1e6)
        print(f"latency_batch1_us={statistics.median(call_us):.4g}")

    # 3. Fixed cost per training step: 10 -> 10 relu -> 1, MSE, Adam, 100 samples, batch 10.
    xs = torch.randn(100, 10)
    ys = (xs[:, 0] - 0.5 * xs[:, 3]).reshape(100, 1)
    small = keras_mlp([10, 10, 1])
    opt = torch.optim.Adam(small.parameters(), lr=1e-3, eps=1e-7)
    step_us = []
    for _ in range(100):
        t0 = time.perf_counter()
        perm = torch.randperm(100)
        loss_sum = torch.zeros(())
        for b0 in range(0, 100, 10):
            idx = perm[b0:b0 + 10]
            loss = F.mse_loss(small(xs[idx]), ys[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        float(loss_sum)
        step_us.append((time.perf_counter() - t0) * 1e6 / 10)
    print(f"small_regression_us_per_step={statistics.median(step_us):.4g}")

    # 4. Memory (ru_maxrss is in KiB on Linux).
    import resource
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


# ---------------------------------------------------------------------------------------------
# The myelin Python side; runs only in the child process (--myelin-python-worker), with the built
# package on PYTHONPATH. The same workload as mlp_benchmark.cpp, written as a Keras user writes it.

def myelin_epoch_timer(out, scale):
    """A myelin Callback appending each epoch's duration (seconds times `scale`) to `out`, as
    mlp_benchmark.cpp's epoch_timer does; only its two epoch hooks cross into Python."""
    from myelin.callbacks import Callback

    class EpochTimer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            out.append((time.perf_counter() - self.start) * scale)

    return EpochTimer()


def export_for_onnx_runtime(args, model, x_test):
    """With --export-onnx PATH, writes the trained model as ONNX (Model.export) and as a myelin model
    file (PATH.safetensors, Model.save) and, beside them, PATH.probe.npy (the first 256 test images)
    and PATH.expected.npy (myelin's predictions on them), so that compare_peers.py's inference-only
    columns run the very files a user deploys and check that they predict the same."""
    if not getattr(args, "export_onnx", None):
        return
    import numpy as np
    model.export(args.export_onnx, format="onnx")
    model.save(args.export_onnx + ".safetensors")
    probe = x_test[:256].copy()
    np.save(args.export_onnx + ".probe.npy", probe)
    np.save(args.export_onnx + ".expected.npy", model.predict(probe, batch_size=256, verbose=0))


def myelin_python_worker(args):
    import resource

    import numpy as np

    import myelin
    from myelin.datasets import fashion_mnist
    from myelin.layers import Dense, Flatten
    from myelin.models import Sequential
    from myelin.optimizers import Adam

    myelin.set_num_threads(args.threads)
    myelin.set_random_seed(42)
    print(f"myelin_version={myelin.__version__}")

    # 1. Training. float32 C-order arrays, so fit reads them in place (no conversion per call).
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(args.data)
    x_train, y_train = first_training_examples(args, x_train.reshape(-1, 28, 28, 1).astype(np.float32), y_train)
    x_test = x_test.reshape(-1, 28, 28, 1).astype(np.float32)
    x_train /= 255  # in place: no second 188 MB array
    x_test /= 255
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(32, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    epoch_s = []
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=128, verbose=0,
              callbacks=[myelin_epoch_timer(epoch_s, 1.0)])
    med = statistics.median(epoch_s)
    print(f"train_seconds_per_epoch_median={med:.6g}")
    print(f"train_samples_per_sec={len(x_train) / med:.6g}")
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    print(f"test_accuracy={accuracy:.4f}")
    export_for_onnx_runtime(args, model, x_test)

    # 2. Inference through predict, as a user calls it.
    pass_s = []
    for _ in range(5):
        t0 = time.perf_counter()
        p = model.predict(x_test, batch_size=1024, verbose=0)
        pass_s.append(time.perf_counter() - t0)
        assert p.shape == (len(x_test), 10)
    print(f"inference_samples_per_sec_batch1024={len(x_test) / statistics.median(pass_s):.6g}")

    one = x_test[0:1].copy()
    for _ in range(100):
        model.predict(one, batch_size=1, verbose=0)
    call_us = []
    for _ in range(2000):
        t0 = time.perf_counter()
        model.predict(one, batch_size=1, verbose=0)
        call_us.append((time.perf_counter() - t0) * 1e6)
    print(f"latency_batch1_us={statistics.median(call_us):.4g}")

    # 3. Fixed cost per training step: 10 -> 10 relu -> 1, MSE, Adam, 100 samples, batch 10.
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((100, 10)).astype(np.float32)
    ys = (xs[:, 0] - 0.5 * xs[:, 3]).reshape(100, 1)
    small = Sequential([Dense(10, activation="relu", input_shape=(10,)), Dense(1)])
    small.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
    step_us = []
    small.fit(xs, ys, epochs=100, batch_size=10, verbose=0, callbacks=[myelin_epoch_timer(step_us, 1e6 / 10)])
    print(f"small_regression_us_per_step={statistics.median(step_us):.4g}")

    # 4. Memory (ru_maxrss is in KiB on Linux): the interpreter, numpy and the data included.
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


# ---------------------------------------------------------------------------------------------

def run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr}")
    return parse_lines(r.stdout)


def python_package_dir(requested, benchmark):
    """The folder holding the built myelin package (its `myelin/` folder), or None when there is
    none to use: `requested` ('auto' looks in the python/ folder of the benchmark's build tree,
    'off' skips it)."""
    if requested == "off":
        return None
    folder = Path(benchmark).resolve().parent.parent / "python" if requested == "auto" else Path(requested)
    if not (folder / "myelin" / "__init__.py").is_file():
        if requested == "auto":
            print(f"note: no built myelin package in {folder}; the myelin (Python) column is left out "
                  "(build the _myelin target or pass --myelin-python DIR)", file=sys.stderr)
            return None
        sys.exit(f"compare_pytorch: no built myelin package in {folder} (expected {folder}/myelin)")
    return folder.resolve()


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def ratio(kind, torch_value, myelin_value):
    """How much better myelin is: torch / myelin for times (and memory), myelin / torch for rates;
    None for information rows or missing figures."""
    if kind == "info" or torch_value is None or myelin_value is None:
        return None
    t, m = float(torch_value), float(myelin_value)
    if t <= 0 or m <= 0:
        return None
    return t / m if kind == "time" else m / t


def compare(script, metrics, worker, default_benchmark, default_epochs, description, python_worker=None):
    """Runs `worker` (the torch side) in a clean child process, the myelin benchmark binary with
    the same threads, epochs and data, and, when `python_worker` is given and the package is built,
    the same workload through myelin's Python package in a third clean child process; then prints
    all, the ratios against torch and a table. Shared by the MLP and CNN comparisons."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", nargs="?", default=str(SOURCE_DIR / "build" / "bench" / default_benchmark),
                   help=f"the built myelin benchmark (default: build/bench/{default_benchmark})")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=default_epochs)
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of the Fashion-MNIST .gz files")
    p.add_argument("--train-images", type=int, default=0, metavar="N",
                   help="train on the first N training images only (default: all)")
    if python_worker is not None:
        p.add_argument("--myelin-python", default="auto", metavar="DIR",
                       help="folder holding the built myelin package, put on PYTHONPATH for the myelin (Python) "
                            "run (default: the python/ folder of the benchmark's build tree when built there; "
                            "'off' skips that run)")
        p.add_argument("--myelin-python-worker", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--export-onnx", metavar="PATH", help=argparse.SUPPRESS)
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.torch_worker:
        worker(args)
        return
    if python_worker is not None and args.myelin_python_worker:
        python_worker(args)
        return
    if not os.access(args.benchmark, os.X_OK):
        sys.exit(f"no benchmark binary at {args.benchmark}; build the {default_benchmark} target or pass its path")
    package_dir = python_package_dir(args.myelin_python, args.benchmark) if python_worker is not None else None

    # The runs share the machine's cores with whatever else runs: the load average before and
    # after tells whether the numbers were taken on a quiet machine (threaded runs suffer most).
    load_before = os.getloadavg()[0]
    env = clean_env()
    common = worker_arguments(args)
    worker_cmd = [sys.executable, str(Path(script).resolve())]
    torch_res = run(worker_cmd + ["--torch-worker"] + common, env)
    myelin_res = run([args.benchmark] + common, env)
    python_res = None
    if package_dir is not None:
        python_env = dict(env)
        python_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_dir), env.get("PYTHONPATH")]))
        python_res = run(worker_cmd + ["--myelin-python-worker"] + common, python_env)

    print(f"threads={args.threads}")
    print(f"epochs={args.epochs}")
    print(f"train_images={myelin_res.get('train_images', args.train_images or 'all')}")
    print(f"cpu_count={os.cpu_count()}")
    print(f"load_average_1min_before={load_before:.2f}")
    print(f"load_average_1min_after={os.getloadavg()[0]:.2f}")
    print(f"torch_version={torch_res.get('torch_version', '?')}")
    if python_res is not None:
        print(f"myelin_python_version={python_res.get('myelin_version', '?')}")
    rows = []
    for key, label, kind in metrics:
        t, m = torch_res.get(key), myelin_res.get(key)
        print(f"torch_{key}={t}")
        print(f"myelin_{key}={m}")
        name = "memory_ratio" if key == "peak_rss_mb" else "speedup"
        r = ratio(kind, t, m)
        if r is not None:
            print(f"{name}_{key}={r:.3g}")
        row = [label, m or "-"]
        if python_res is not None:
            mp = python_res.get(key)
            print(f"myelin_python_{key}={mp}")
            rp = ratio(kind, t, mp)
            if rp is not None:
                print(f"{name}_python_{key}={rp:.3g}")
            row += [mp or "-", t or "-", f"{r:.2f}x" if r is not None else "", f"{rp:.2f}x" if rp is not None else ""]
        else:
            row += [t or "-", f"{r:.2f}x" if r is not None else ""]
        rows.append(tuple(row))

    print()
    if python_res is not None:
        table(rows, ("metric", "myelin", "myelin (Python)", "PyTorch", "myelin speedup", "myelin (Python) speedup"))
    else:
        table(rows, ("metric", "myelin", "PyTorch", "myelin speedup"))


if __name__ == "__main__":
    compare(__file__, METRICS, torch_worker, "mlp_benchmark", 5, __doc__, python_worker=myelin_python_worker)
