#!/usr/bin/python3
"""The recurrent layers against PyTorch: one training step (forward, backward through time, Adam) and
one inference pass on a batch, for LSTM, GRU and SimpleRNN, in myelin's Python package and in Debian's
PyTorch 1.13, side by side in one run.

    /usr/bin/python3 bench/compare_pytorch_rnn.py [--threads N] [--repeats R] [--myelin-python DIR]

The model: (batch 64, steps 50, features 32) -> recurrent layer of 128 units (last state) ->
Dense(1), mean squared error, Adam. torch runs nn.LSTM / nn.GRU / nn.RNN (batch_first) and
nn.Linear, in a child process with the environment of compare_pytorch.py (OpenBLAS's AVX-512
kernels, one OpenBLAS thread, torch.set_num_threads(N)). Prints name=value lines and a table of
median milliseconds; a speedup above 1 means myelin is faster.
"""
import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent
sys.path.insert(0, str(HERE))
from compare_pytorch import clean_env  # noqa: E402
from compare_sequences import median_ms  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 64, 50, 32, 128
CELLS = ["LSTM", "GRU", "SimpleRNN"]


def data():
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32),
            rng.normal(size=(BATCH, 1)).astype(np.float32))


def torch_worker(threads, repeats):
    import torch
    torch.set_num_threads(threads)
    x, y = (torch.from_numpy(a) for a in data())
    for cell in CELLS:
        rnn = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "SimpleRNN": torch.nn.RNN}[cell](
            FEATURES, UNITS, batch_first=True)
        head = torch.nn.Linear(UNITS, 1)
        params = list(rnn.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(head(rnn(x)[0][:, -1]), y)
            loss.backward()
            opt.step()

        def infer():
            with torch.no_grad():
                head(rnn(x)[0][:, -1])

        print(f"torch_{cell}_train_ms={median_ms(step, repeats)}")
        print(f"torch_{cell}_predict_ms={median_ms(infer, repeats)}")


def myelin_worker(threads, repeats):
    import myelin
    from myelin.layers import GRU, LSTM, Dense, SimpleRNN
    from myelin.models import Sequential
    from myelin.optimizers import Adam
    myelin.set_num_threads(threads)
    x, y = data()
    for cell in CELLS:
        layer = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}[cell]
        model = Sequential([layer(UNITS, input_shape=(STEPS, FEATURES)), Dense(1)])
        model.compile(optimizer=Adam(learning_rate=1e-3), loss="mse")
        print(f"myelin_{cell}_train_ms={median_ms(lambda: model.train_on_batch(x, y), repeats)}")
        print(f"myelin_{cell}_predict_ms={median_ms(lambda: model.predict(x, batch_size=BATCH, verbose=0), repeats)}")


def run_child(args, extra_env=None):
    env = clean_env()
    env.update(extra_env or {})
    out = subprocess.run([sys.executable, __file__] + args, env=env, check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--myelin-python", default=str(SOURCE_DIR / "build" / "python"))
    parser.add_argument("--worker", choices=["torch", "myelin"])
    args = parser.parse_args()
    if args.worker == "torch":
        return torch_worker(args.threads, args.repeats)
    if args.worker == "myelin":
        return myelin_worker(args.threads, args.repeats)
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    torch_results = run_child(common + ["--worker", "torch"])
    myelin_results = run_child(common + ["--worker", "myelin"], {"PYTHONPATH": args.myelin_python})
    results = {**torch_results, **myelin_results}
    for k, v in sorted(results.items()):
        print(f"{k}={v}")
    print(f"\n(batch {BATCH}, steps {STEPS}, features {FEATURES}, units {UNITS}, {args.threads} threads; median ms)")
    print(f"{'':<24}{'myelin':>10}{'torch':>10}{'speedup':>10}")
    for cell in CELLS:
        for what in ("train", "predict"):
            m = float(results[f"myelin_{cell}_{what}_ms"])
            t = float(results[f"torch_{cell}_{what}_ms"])
            print(f"{cell + ' ' + what:<24}{m:>10.2f}{t:>10.2f}{t / m:>10.2f}")


if __name__ == "__main__":
    main()
