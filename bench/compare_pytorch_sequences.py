#!/usr/bin/python3
"""Two sequence models against PyTorch, side by side in one run: a 2-layer LSTM classifier and a
2-block Transformer encoder, in myelin's Python package and in Debian's PyTorch 1.13.

    /usr/bin/python3 bench/compare_pytorch_sequences.py [--threads N] [--repeats R] [--rounds K]
                                                        [--models lstm,transformer] [--myelin-python DIR]
                                                        [--torch-python PYTHON]

The models (float features in, 10 classes out, sparse categorical cross-entropy, Adam):
  lstm:        (64, 100, 128) -> LSTM(128, return_sequences) -> LSTM(128) -> Dense(10, softmax)
  transformer: (64, 128, 128) -> 2 x [MultiHeadAttention(4 heads, key_dim 32)(x, x) + x ->
               LayerNormalization -> Dense(512, relu) -> Dense(128) + x -> LayerNormalization]
               -> GlobalAveragePooling1D -> Dense(10, softmax)
torch writes the same models (nn.LSTM, nn.MultiheadAttention with batch_first, nn.LayerNorm with
Keras's epsilon 1e-3, nn.Linear; a log-softmax head with nn.CrossEntropyLoss). Measured, per model:
the median milliseconds of one training step (train_on_batch; zero_grad, forward, backward, step),
of one inference pass on the batch (predict; forward under no_grad), for the LSTM also of one
sequence at batch 1 and of one step at batch 1 (a model over 1 step), and the child's peak RSS.

Each (framework, model) runs in its own child process (so peak RSS is that model's, the interpreter
and numpy included), with the environment of compare_pytorch.py (one OpenBLAS thread,
torch.set_num_threads(N), myelin.set_num_threads(N)). The children alternate over K rounds and each
figure is the median over rounds of the per-round medians. Prints name=value lines and a table; a
ratio above 1 means myelin is better (torch / myelin for times and memory). --torch-python runs the
torch children with another interpreter, e.g. .venv-peers/bin/python for PyTorch 2 (from
`bash scripts/reference_env.sh peers`); the torch code uses nothing that changed from 1.13 to 2.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent.parent
CLASSES = 10
LSTM_SHAPE = (64, 100, 128)  # batch, steps, features
LSTM_UNITS = 128
TRANSFORMER_SHAPE = (64, 128, 128)  # batch, length, d_model
HEADS, KEY_DIM, FFN = 4, 32, 512
MODELS = ["lstm", "transformer"]


def clean_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):  # first-call allocation and primitive creation
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def data(shape):
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.normal(size=shape).astype(np.float32),
            rng.integers(0, CLASSES, size=(shape[0],)).astype(np.int64))


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- PyTorch ---------------------------------------------------------------------------------

def torch_models():
    import torch
    from torch import nn

    class LSTMClassifier(nn.Module):
        def __init__(self, features):
            super().__init__()
            self.lstm1 = nn.LSTM(features, LSTM_UNITS, batch_first=True)
            self.lstm2 = nn.LSTM(LSTM_UNITS, LSTM_UNITS, batch_first=True)
            self.head = nn.Linear(LSTM_UNITS, CLASSES)

        def forward(self, x):
            h = self.lstm1(x)[0]
            h = self.lstm2(h)[0][:, -1]
            return self.head(h)

    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.mha = nn.MultiheadAttention(d, HEADS, batch_first=True)
            self.norm1 = nn.LayerNorm(d, eps=1e-3)
            self.ff1 = nn.Linear(d, FFN)
            self.ff2 = nn.Linear(FFN, d)
            self.norm2 = nn.LayerNorm(d, eps=1e-3)

        def forward(self, x):
            x = self.norm1(x + self.mha(x, x, x, need_weights=False)[0])
            return self.norm2(x + self.ff2(torch.relu(self.ff1(x))))

    class Transformer(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.blocks = nn.Sequential(Block(d), Block(d))
            self.head = nn.Linear(d, CLASSES)

        def forward(self, x):
            return self.head(self.blocks(x).mean(dim=1))

    return LSTMClassifier, Transformer


def torch_worker(model_name, threads, repeats):
    import torch
    torch.set_num_threads(threads)
    LSTMClassifier, Transformer = torch_models()
    shape = LSTM_SHAPE if model_name == "lstm" else TRANSFORMER_SHAPE
    x, y = (torch.from_numpy(a) for a in data(shape))
    model = LSTMClassifier(shape[2]) if model_name == "lstm" else Transformer(shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def infer(batch):
        with torch.no_grad():
            torch.softmax(model(batch), dim=1)

    print(f"train_ms={median_ms(step, repeats)}")
    print(f"predict_ms={median_ms(lambda: infer(x), repeats)}")
    if model_name == "lstm":
        one = x[:1].clone()
        step1 = x[:1, :1].clone()
        print(f"latency_sequence_ms={median_ms(lambda: infer(one), repeats * 5)}")
        print(f"latency_step_ms={median_ms(lambda: infer(step1), repeats * 20)}")
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


# --- myelin ----------------------------------------------------------------------------------

def myelin_model(model_name, steps, features):
    from myelin.layers import (LSTM, Add, Dense, GlobalAveragePooling1D, Input, LayerNormalization,
                               MultiHeadAttention)
    from myelin.models import Model, Sequential
    from myelin.optimizers import Adam
    if model_name == "lstm":
        model = Sequential([LSTM(LSTM_UNITS, return_sequences=True, input_shape=(steps, features)),
                            LSTM(LSTM_UNITS), Dense(CLASSES, activation="softmax")])
    else:
        inputs = Input(shape=(steps, features))
        x = inputs
        for _ in range(2):
            x = LayerNormalization()(Add()([x, MultiHeadAttention(HEADS, KEY_DIM)(x, x)]))
            x = LayerNormalization()(Add()([x, Dense(features)(Dense(FFN, activation="relu")(x))]))
        model = Model(inputs, Dense(CLASSES, activation="softmax")(GlobalAveragePooling1D()(x)))
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy")
    return model


def myelin_worker(model_name, threads, repeats):
    import myelin
    myelin.set_num_threads(threads)
    shape = LSTM_SHAPE if model_name == "lstm" else TRANSFORMER_SHAPE
    x, y = data(shape)
    y = y.astype("float32")
    model = myelin_model(model_name, shape[1], shape[2])
    print(f"train_ms={median_ms(lambda: model.train_on_batch(x, y), repeats)}")
    print(f"predict_ms={median_ms(lambda: model.predict(x, batch_size=shape[0], verbose=0), repeats)}")
    if model_name == "lstm":
        one = x[:1].copy()
        print(f"latency_sequence_ms={median_ms(lambda: model.predict(one, batch_size=1, verbose=0), repeats * 5)}")
        short = myelin_model(model_name, 1, shape[2])
        step1 = x[:1, :1].copy()
        print(f"latency_step_ms={median_ms(lambda: short.predict(step1, batch_size=1, verbose=0), repeats * 20)}")
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


# --- driver ----------------------------------------------------------------------------------

def run_child(args, extra_env=None, python=sys.executable):
    env = clean_env()
    env.update(extra_env or {})
    out = subprocess.run([python, __file__] + args, env=env, check=True, capture_output=True, text=True)
    return {k: float(v) for k, v in (line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)}


ROWS = [  # (model, key, label)
    ("lstm", "train_ms", "LSTM train step, batch 64 (ms)"),
    ("lstm", "predict_ms", "LSTM inference, batch 64 (ms)"),
    ("lstm", "latency_sequence_ms", "LSTM batch 1, 100 steps (ms)"),
    ("lstm", "latency_step_ms", "LSTM batch 1, 1 step (ms)"),
    ("lstm", "peak_rss_mb", "LSTM peak RSS (MB)"),
    ("transformer", "train_ms", "Transformer train step, batch 64 (ms)"),
    ("transformer", "predict_ms", "Transformer inference, batch 64 (ms)"),
    ("transformer", "peak_rss_mb", "Transformer peak RSS (MB)"),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--myelin-python", default=str(SOURCE_DIR / "build" / "python"))
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--worker", choices=["torch", "myelin"])
    parser.add_argument("--model", choices=MODELS)
    args = parser.parse_args()
    if args.worker == "torch":
        return torch_worker(args.model, args.threads, args.repeats)
    if args.worker == "myelin":
        return myelin_worker(args.model, args.threads, args.repeats)
    models = args.models.split(",")
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    runs = {}  # (framework, model) -> list of per-round results
    for _ in range(args.rounds):
        for model in models:
            for framework, env, python in (("torch", None, args.torch_python),
                                           ("myelin", {"PYTHONPATH": args.myelin_python}, sys.executable)):
                r = run_child(common + ["--worker", framework, "--model", model], env, python)
                runs.setdefault((framework, model), []).append(r)
    results = {}
    for (framework, model), rounds in runs.items():
        for key in rounds[0]:
            value = statistics.median(r[key] for r in rounds)
            results[(framework, model, key)] = value
            print(f"{framework}_{model}_{key}={value:.4g}")
    print(f"\n({args.threads} threads, {args.rounds} rounds of {args.repeats} repeats; medians)")
    print(f"{'':<40}{'myelin':>10}{'torch':>10}{'ratio':>8}")
    for model, key, label in ROWS:
        if model not in models:
            continue
        m, t = results[("myelin", model, key)], results[("torch", model, key)]
        print(f"{label:<40}{m:>10.3f}{t:>10.3f}{t / m:>8.2f}")


if __name__ == "__main__":
    main()
