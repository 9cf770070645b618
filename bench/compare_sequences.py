#!/usr/bin/python3
"""Two sequence models in myelin and in what users install today, side by side in one run: a 2-layer
LSTM classifier and a 2-block Transformer encoder.

    /usr/bin/python3 bench/compare_sequences.py [--threads N] [--repeats R] [--rounds K]
                                                [--models lstm,transformer] [--myelin-python DIR]
                                                [--venv DIR] [--torch-python PYTHON] [--bf16]

The models (float features in, 10 classes out, sparse categorical cross-entropy, Adam):
  lstm:        (64, 100, 128) -> LSTM(128, return_sequences) -> LSTM(128) -> Dense(10, softmax)
  transformer: (64, 128, 128) -> 2 x [MultiHeadAttention(4 heads, key_dim 32)(x, x) + x ->
               LayerNormalization -> Dense(512, relu) -> Dense(128) + x -> LayerNormalization]
               -> GlobalAveragePooling1D -> Dense(10, softmax)
myelin and Keras 3 build them with one function (`sequence_model`, Keras's names); torch writes the
same models (nn.LSTM, nn.MultiheadAttention with batch_first, nn.LayerNorm with Keras's epsilon 1e-3,
nn.Linear; a log-softmax head with nn.CrossEntropyLoss). Measured, per model: the median
milliseconds of one training step (train_on_batch; zero_grad, forward, backward, step), of one
inference pass on the batch (predict; forward under no_grad), for the LSTM also of one sequence at
batch 1 and of one step at batch 1 (a model over 1 step), and the child's peak RSS.

Columns, each framework at its best:
- myelin (Python): Debian's /usr/bin/python3 with the package built in build/python.
- PyTorch: the interpreter of the peers' virtual environment (PyTorch 2; `bash scripts/reference_env.sh
  peers`), or --torch-python, e.g. /usr/bin/python3 for Debian's PyTorch 1.13.
- Keras 3 on TensorFlow (intra-op threads N, inter-op 1) and on JAX (N threads through XLA_FLAGS,
  jit_compile on), from the same environment. TensorFlow runs twice, with Keras's jit_compile
  "auto" and on (XLA), and each time is its faster run's: XLA sped up the LSTM's training step and
  slowed the Transformer's. Inference and batch-1
  latency take the fastest of `predict` / `predict_on_batch` and a compiled call of the model
  (tf.function with XLA, jax.jit of `stateless_call`), as compare_peers.py does.
- ONNX Runtime (inference rows): the model of myelin's run exported with `model.export(path,
  format="onnx")`, checked to predict what myelin predicted (max_abs_difference_from_myelin);
  graph optimisation level all, intra-op threads N, sequential execution.
Without the virtual environment the Keras and ONNX Runtime columns are skipped, and say so.
With --bf16, also myelin's Python package under the mixed_bfloat16 policy, whose ratio against the best
(float32) peer is printed as ratio_bf16_vs_best_peer_*.

Each (framework, model) runs in its own child process (so peak RSS is that model's, the interpreter
and numpy included) with one OpenBLAS thread. The children alternate over K rounds and each figure is
the median over rounds of the per-round medians. Prints name=value lines and a table with, per row,
the best peer and myelin's ratio against it (above 1: myelin better).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent
sys.path.insert(0, str(HERE))
from compare_peers import compiled_forward, import_keras  # noqa: E402
from compare_pytorch import clean_env  # noqa: E402

CLASSES = 10
LSTM_SHAPE = (64, 100, 128)  # batch, steps, features
LSTM_UNITS = 128
TRANSFORMER_SHAPE = (64, 128, 128)  # batch, length, d_model
HEADS, KEY_DIM, FFN = 4, 32, 512
MODELS = ["lstm", "transformer"]
COLUMNS = [("myelin", "myelin (Python)"), ("torch", "PyTorch"), ("keras_tensorflow", "Keras 3 / TF"),
           ("keras_jax", "Keras 3 / JAX"), ("ort", "ONNX Runtime")]
TRAINS = ["myelin", "torch", "keras_tensorflow", "keras_jax"]  # ONNX Runtime has inference rows only


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):  # first-call allocation, primitive creation, tracing and compilation
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


def shape_of(model_name):
    return LSTM_SHAPE if model_name == "lstm" else TRANSFORMER_SHAPE


# --- myelin and Keras 3: one definition ------------------------------------------------------

def sequence_model(api, model_name, steps, features):
    """The model written once for any Keras-style API: `api` is the `myelin` or the `keras` module
    (Input, Sequential, Model and layers by Keras's names), each with its own defaults; not compiled."""
    layers = api.layers
    if model_name == "lstm":
        return api.Sequential([api.Input(shape=(steps, features)), layers.LSTM(LSTM_UNITS, return_sequences=True),
                               layers.LSTM(LSTM_UNITS), layers.Dense(CLASSES, activation="softmax")])
    inputs = api.Input(shape=(steps, features))
    x = inputs
    for _ in range(2):
        x = layers.LayerNormalization()(layers.Add()([x, layers.MultiHeadAttention(HEADS, KEY_DIM)(x, x)]))
        x = layers.LayerNormalization()(
            layers.Add()([x, layers.Dense(features)(layers.Dense(FFN, activation="relu")(x))]))
    return api.Model(inputs, layers.Dense(CLASSES, activation="softmax")(layers.GlobalAveragePooling1D()(x)))


def myelin_worker(args):
    import numpy as np

    import myelin
    from myelin.optimizers import Adam
    myelin.set_num_threads(args.threads)
    myelin.set_random_seed(42)
    if args.bf16:
        myelin.mixed_precision.set_global_policy("mixed_bfloat16")
    shape = shape_of(args.model)
    x, y = data(shape)
    y = y.astype("float32")

    def compiled(model):
        model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy")
        return model
    model = compiled(sequence_model(myelin, args.model, shape[1], shape[2]))
    print(f"train_ms={median_ms(lambda: model.train_on_batch(x, y), args.repeats)}")
    print(f"predict_ms={median_ms(lambda: model.predict(x, batch_size=shape[0], verbose=0), args.repeats)}")
    exports = [(model, x, "")]
    if args.model == "lstm":
        one = x[:1].copy()
        print(f"latency_sequence_ms={median_ms(lambda: model.predict(one, batch_size=1, verbose=0), args.repeats * 5)}")
        short = compiled(sequence_model(myelin, args.model, 1, shape[2]))
        step1 = x[:1, :1].copy()
        print(f"latency_step_ms={median_ms(lambda: short.predict(step1, batch_size=1, verbose=0), args.repeats * 20)}")
        exports.append((short, x[:, :1].copy(), ".step"))
    print(f"peak_rss_mb={peak_rss_mb():.1f}")
    if args.onnx:  # for the ONNX Runtime column: each model as a user deploys it, and what it predicts
        for m, inputs, suffix in exports:
            m.export(args.onnx + suffix, format="onnx")
            np.save(args.onnx + suffix + ".x.npy", inputs[:8])
            np.save(args.onnx + suffix + ".expected.npy", m.predict(inputs[:8], batch_size=8, verbose=0))


def keras_worker(args):
    keras = import_keras(args.threads)
    shape = shape_of(args.model)
    x, y = data(shape)

    def compiled(model):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      jit_compile=True if args.jit else "auto")
        return model

    def fastest(key, ways, repeats):
        times = {name: median_ms(fn, repeats) for name, fn in ways}
        way = min(times, key=times.get)
        print(f"{key}={times[way]}")
        print(f"{key.replace('_ms', '')}_way={way}")

    model = compiled(sequence_model(keras, args.model, shape[1], shape[2]))
    print(f"train_ms={median_ms(lambda: model.train_on_batch(x, y), args.repeats)}")
    call = compiled_forward(model)
    fastest("predict_ms", [("predict", lambda: model.predict(x, batch_size=shape[0], verbose=0)),
                           ("compiled_call", lambda: call(x))], args.repeats)
    if args.model == "lstm":
        one = x[:1].copy()
        fastest("latency_sequence_ms", [("predict_on_batch", lambda: model.predict_on_batch(one)),
                                        ("compiled_call", lambda: call(one))], args.repeats * 5)
        short = compiled(sequence_model(keras, args.model, 1, shape[2]))
        short_call = compiled_forward(short)
        step1 = x[:1, :1].copy()
        fastest("latency_step_ms", [("predict_on_batch", lambda: short.predict_on_batch(step1)),
                                    ("compiled_call", lambda: short_call(step1))], args.repeats * 20)
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


def ort_worker(args):
    import numpy as np
    import onnxruntime as ort
    print(f"onnxruntime_version={ort.__version__}")

    def session(path):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        x_name, y_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
        predict = lambda inputs: sess.run([y_name], {x_name: inputs})[0]
        difference = np.abs(predict(np.load(path + ".x.npy")) - np.load(path + ".expected.npy")).max()
        return predict, difference

    x, _ = data(shape_of(args.model))
    predict, difference = session(args.onnx)
    print(f"predict_ms={median_ms(lambda: predict(x), args.repeats)}")
    if args.model == "lstm":
        one = x[:1].copy()
        print(f"latency_sequence_ms={median_ms(lambda: predict(one), args.repeats * 5)}")
        predict_step, step_difference = session(args.onnx + ".step")
        step1 = x[:1, :1].copy()
        print(f"latency_step_ms={median_ms(lambda: predict_step(step1), args.repeats * 20)}")
        difference = max(difference, step_difference)
    print(f"max_abs_difference_from_myelin={difference:.3g}")
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


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


def torch_worker(args):
    import torch
    print(f"torch_version={torch.__version__}")
    torch.set_num_threads(args.threads)
    LSTMClassifier, Transformer = torch_models()
    shape = shape_of(args.model)
    x, y = (torch.from_numpy(a) for a in data(shape))
    model = LSTMClassifier(shape[2]) if args.model == "lstm" else Transformer(shape[2])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def infer(batch):
        with torch.no_grad():
            torch.softmax(model(batch), dim=1)

    print(f"train_ms={median_ms(step, args.repeats)}")
    print(f"predict_ms={median_ms(lambda: infer(x), args.repeats)}")
    if args.model == "lstm":
        one = x[:1].clone()
        step1 = x[:1, :1].clone()
        print(f"latency_sequence_ms={median_ms(lambda: infer(one), args.repeats * 5)}")
        print(f"latency_step_ms={median_ms(lambda: infer(step1), args.repeats * 20)}")
    print(f"peak_rss_mb={peak_rss_mb():.1f}")


# --- driver ----------------------------------------------------------------------------------

def run_child(python, args, env, what):
    out = subprocess.run([python, __file__] + args, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"compare_sequences: {what} failed ({out.returncode})\n{out.stderr[-4000:]}")
    values = {}
    for line in out.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            values[k] = v
    return values


def fastest_of(runs, names):
    """One column from several runs of a worker in other settings: each time its fastest run's, and
    which setting that was (`<key>_setting`); the other figures from the first run."""
    merged = dict(runs[0])
    for key in runs[0]:
        if key.endswith("_ms"):
            best = min(range(len(runs)), key=lambda i: float(runs[i][key]))
            merged[key] = runs[best][key]
            merged[key.replace("_ms", "_setting")] = names[best]
            if key.replace("_ms", "_way") in runs[best]:
                merged[key.replace("_ms", "_way")] = runs[best][key.replace("_ms", "_way")]
    return merged


ROWS = [  # (model, key, label, trains: the training frameworks only)
    ("lstm", "train_ms", "LSTM train step, batch 64 (ms)", True),
    ("lstm", "predict_ms", "LSTM inference, batch 64 (ms)", False),
    ("lstm", "latency_sequence_ms", "LSTM batch 1, 100 steps (ms)", False),
    ("lstm", "latency_step_ms", "LSTM batch 1, 1 step (ms)", False),
    ("lstm", "peak_rss_mb", "LSTM peak RSS (MB)", True),
    ("transformer", "train_ms", "Transformer train step, batch 64 (ms)", True),
    ("transformer", "predict_ms", "Transformer inference, batch 64 (ms)", False),
    ("transformer", "peak_rss_mb", "Transformer peak RSS (MB)", True),
]


def one_round(args, models, columns, venv_python, work_dir):
    env = clean_env()
    common = ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    res = {}
    for model in models:
        onnx = str(Path(work_dir) / f"{model}.onnx")
        me = common + ["--model", model]
        res[("myelin", model)] = run_child(
            "/usr/bin/python3", me + ["--worker", "myelin"] + (["--onnx", onnx] if "ort" in columns else []),
            dict(env, PYTHONPATH=args.myelin_python), f"myelin ({model})")
        if "myelin_bf16" in columns:
            res[("myelin_bf16", model)] = run_child("/usr/bin/python3", me + ["--worker", "myelin", "--bf16"],
                                                    dict(env, PYTHONPATH=args.myelin_python),
                                                    f"myelin bf16 ({model})")
        res[("torch", model)] = run_child(args.torch_python or venv_python or sys.executable,
                                          me + ["--worker", "torch"], env, f"torch ({model})")
        if "keras_tensorflow" in columns:
            tf_env = dict(env, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
            runs = [run_child(venv_python, me + ["--worker", "keras"] + jit, tf_env, f"Keras on TensorFlow ({model})")
                    for jit in ([], ["--jit"])]
            res[("keras_tensorflow", model)] = fastest_of(runs, ["jit_compile auto", "jit_compile on"])
            jax_flags = f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}"
            res[("keras_jax", model)] = run_child(venv_python, me + ["--worker", "keras", "--jit"],
                                                  dict(env, KERAS_BACKEND="jax", XLA_FLAGS=jax_flags),
                                                  f"Keras on JAX ({model})")
        if "ort" in columns:
            res[("ort", model)] = run_child(venv_python, me + ["--worker", "ort", "--onnx", onnx], env,
                                            f"ONNX Runtime ({model})")
    return res


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--myelin-python", default=str(SOURCE_DIR / "build" / "python"))
    parser.add_argument("--venv", default=str(SOURCE_DIR / ".venv-peers"))
    parser.add_argument("--torch-python", help="the torch column's interpreter (default: the venv's)")
    parser.add_argument("--bf16", action="store_true",
                        help="add a column: myelin's Python package under the mixed_bfloat16 policy")
    parser.add_argument("--worker", choices=["torch", "myelin", "keras", "ort"], help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workers = {"torch": torch_worker, "myelin": myelin_worker, "keras": keras_worker, "ort": ort_worker}
    if args.worker:
        return workers[args.worker](args)

    models = args.models.split(",")
    if any(m not in MODELS for m in models):
        sys.exit(f"compare_sequences: --models takes {','.join(MODELS)}")
    venv_python = str(Path(args.venv) / "bin" / "python")
    columns = [c for c, _ in COLUMNS]
    if not os.access(venv_python, os.X_OK):
        print(f"skipped: Keras 3 and ONNX Runtime: no virtual environment at {args.venv} "
              "(`bash scripts/reference_env.sh peers` makes it)")
        venv_python = None
        columns = ["myelin", "torch"]
    if args.bf16:
        columns.insert(1, "myelin_bf16")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="compare_sequences_") as work_dir:
        rounds = [one_round(args, models, columns, venv_python, work_dir) for _ in range(args.rounds)]
    print(f"threads={args.threads}\nrounds={args.rounds}\nrepeats={args.repeats}")
    print(f"load_average_1min_before={load_before:.2f}\nload_average_1min_after={os.getloadavg()[0]:.2f}")
    results = {}
    for (column, model), first in rounds[0].items():
        for key, value in first.items():
            if not key.endswith(("_ms", "_mb", "difference_from_myelin")):
                print(f"{column}_{model}_{key}={value}")  # versions and the Keras ways
                continue
            median = statistics.median(float(r[(column, model)][key]) for r in rounds)
            results[(column, model, key)] = median
            print(f"{column}_{model}_{key}={median:.4g}")
    names = dict(COLUMNS + [("myelin_bf16", "myelin bf16 (Python)")])
    print(f"\n({args.threads} threads, {args.rounds} rounds of {args.repeats} repeats; medians; "
          "ratio: the best peer's figure over myelin's)")
    bf16_header = " bf16 ratio |" if args.bf16 else ""
    print("| figure | " + " | ".join(names[c] for c in columns) + " | best peer | ratio |" + bf16_header)
    print("|" + " --- |" * (len(columns) + 3 + args.bf16))
    for model, key, label, trains in ROWS:
        if model not in models:
            continue
        cells = {c: results.get((c, model, key)) for c in columns}
        peers = {c: v for c, v in cells.items()
                 if not c.startswith("myelin") and v is not None and (c in TRAINS or not trains)}
        best = min(peers, key=peers.get)
        ratio = peers[best] / cells["myelin"]
        print(f"ratio_vs_best_peer_{model}_{key}={ratio:.3g}")
        bf16_cell = ""
        if args.bf16:
            ratio_bf16 = peers[best] / cells["myelin_bf16"]
            print(f"ratio_bf16_vs_best_peer_{model}_{key}={ratio_bf16:.3g}")
            bf16_cell = f" {ratio_bf16:.2f}x |"
        row = " | ".join("-" if v is None else f"{v:.3f}" for v in cells.values())
        print(f"| {label} | {row} | {names[best]} | {ratio:.2f}x |{bf16_cell}")


if __name__ == "__main__":
    main()
