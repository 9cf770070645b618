#!/usr/bin/python3
"""The MLP workload of bench/mlp_benchmark.cpp in PyTorch, and the myelin binary, in one run.

    /usr/bin/python3 bench/compare_pytorch.py [MYELIN_BENCHMARK] [--threads N] [--epochs E] [--data DIR]

MYELIN_BENCHMARK defaults to build/bench/mlp_benchmark under the source tree. Prints name=value
lines (torch_*, myelin_*, speedup_*) and then a table. A speedup above 1 means myelin is faster:
torch time / myelin time, or myelin throughput / torch throughput.

PyTorch runs at its best here, in a child process started with a cleaned environment:
- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed. Some machines set them (to Haswell and a
  small L2), which makes OpenBLAS, and so torch's CPU matrix products, skip its AVX-512 kernels.
  They are read when OpenBLAS loads, so they must be gone before torch is imported: hence a fresh
  process rather than os.environ edits after start-up.
- OPENBLAS_NUM_THREADS=1: torch runs its own thread pool (torch.set_num_threads); OpenBLAS's
  threads on top of it would oversubscribe the cores.
- torch.set_num_threads(N) with the same N that myelin gets (--threads).
The myelin binary runs with the same cleaned environment (it does not use OpenBLAS, so this only
keeps the two runs alike).

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

def run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr}")
    return parse_lines(r.stdout)


def compare(script, metrics, worker, default_benchmark, default_epochs, description):
    """Runs `worker` (the torch side) in a clean child process and the myelin benchmark binary with
    the same threads, epochs and data, then prints both, the ratios and a table. Shared by the
    MLP and CNN comparisons."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", nargs="?", default=str(SOURCE_DIR / "build" / "bench" / default_benchmark),
                   help=f"the built myelin benchmark (default: build/bench/{default_benchmark})")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=default_epochs)
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of the Fashion-MNIST .gz files")
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.torch_worker:
        worker(args)
        return
    if not os.access(args.benchmark, os.X_OK):
        sys.exit(f"no benchmark binary at {args.benchmark}; build the {default_benchmark} target or pass its path")

    # Both runs share the machine's cores with whatever else runs: the load average before and
    # after tells whether the numbers were taken on a quiet machine (threaded runs suffer most).
    load_before = os.getloadavg()[0]
    env = clean_env()
    common = ["--threads", str(args.threads), "--epochs", str(args.epochs), "--data", args.data]
    torch_res = run([sys.executable, str(Path(script).resolve()), "--torch-worker"] + common, env)
    myelin_res = run([args.benchmark] + common, env)

    print(f"threads={args.threads}")
    print(f"epochs={args.epochs}")
    print(f"cpu_count={os.cpu_count()}")
    print(f"load_average_1min_before={load_before:.2f}")
    print(f"load_average_1min_after={os.getloadavg()[0]:.2f}")
    print(f"torch_version={torch_res.get('torch_version', '?')}")
    rows = []
    for key, label, kind in metrics:
        t, m = torch_res.get(key), myelin_res.get(key)
        print(f"torch_{key}={t}")
        print(f"myelin_{key}={m}")
        ratio = ""
        if kind != "info" and t is not None and m is not None and float(t) > 0 and float(m) > 0:
            r = float(t) / float(m) if kind == "time" else float(m) / float(t)
            name = "memory_ratio" if key == "peak_rss_mb" else "speedup"
            print(f"{name}_{key}={r:.3g}")
            ratio = f"{r:.2f}x"
        rows.append((label, m or "-", t or "-", ratio))

    print()
    header = ("metric", "myelin", "PyTorch", "myelin speedup")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    compare(__file__, METRICS, torch_worker, "mlp_benchmark", 5, __doc__)
