#!/usr/bin/python3
"""The seed MLP, the seed CNN and the residual CNN in myelin and in what users install today, side by
side in one run.

    /usr/bin/python3 bench/compare_peers.py {mlp,cnn,resnet} [--threads N] [--epochs E] [--runs R]
                                           [--venv DIR] [--build DIR] [--data DIR] [--bf16]
                                           [--train-images N]

The residual CNN is bench/users_models.hpp's users_resnet (compare_pytorch_resnet.py describes it
and builds it, for myelin and for Keras alike, with the functional API and each one's defaults).

Columns: myelin's C++ benchmark (build/bench/mlp_benchmark, cnn_benchmark or resnet_benchmark), myelin through its
Python package, PyTorch 2, Keras 3 on TensorFlow, Keras 3 on JAX, and ONNX Runtime (inference rows
only); with --bf16 also myelin's C++ benchmark under the mixed_bfloat16 policy, whose ratios
against the best (float32) peer are printed as ratio_bf16_vs_best_peer_*. The peers run with the interpreter of the virtual environment made by
`bash scripts/reference_env.sh peers` (--venv, default .venv-peers); myelin and its Python package
with Debian's /usr/bin/python3, as the project's tests do. Each framework runs in its own child
process, one after the other, and with --runs R the whole round is repeated R times with the
frameworks in the same order; every figure printed is the median over the rounds. --train-images N
trains every framework on the same first N training images: a shorter round for the residual CNN,
whose full round takes about half an hour on two cores. Give it --epochs 3 or more: a short epoch
weighs the first epoch's warm-up more in a median of two, and the normalisations' moving statistics
need the steps to settle before the test accuracy means anything.

Each peer at its best (what was tried is in bench/README.md, "Modern peers"):
- PyTorch 2: the torch worker of compare_pytorch.py / compare_pytorch_cnn.py (fused cross-entropy
  on the logits, Keras's initialisation, torch.set_num_threads(N)), run by the venv's interpreter.
- Keras 3: `fit(epochs=E, batch_size=128)` timed per epoch by a callback; the first epoch holds
  the tracing and XLA compilation, so the training figure is the median of the later epochs (E >= 2).
  TensorFlow gets intra-op threads N and inter-op 1; JAX (XLA's CPU client) gets N threads through
  XLA_FLAGS. Inference takes the fastest of `predict(batch_size=1024)` and a compiled call of the
  model (tf.function with XLA, jax.jit of `stateless_call`); batch-1 latency likewise the fastest
  of `predict_on_batch` and the compiled call.
- ONNX Runtime: the model myelin's Python run trained, exported with `model.export(path,
  format="onnx")` (a user's deployment path), checked to predict what myelin predicted
  (max_abs_difference_from_myelin); graph optimisation level ORT_ENABLE_ALL, intra-op threads N,
  sequential execution.
- myelin (Python, inference only): the same trained model saved with `model.save` and loaded with
  `myelin.models.load_model` in a process that only predicts, timed by the same code as ONNX
  Runtime (batches of 1024 sliced from the test set, one image for latency). Its peak RSS is the
  row "peak RSS, inference only" against ONNX Runtime's; the C++ columns' peak RSS also holds the
  training.

Prints name=value lines (<column>_<metric>) and a table with, per row, the best peer and myelin's
ratio against it (above 1: myelin better).
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
from compare_pytorch import (DEFAULT_DATA, clean_env, first_training_examples, load_idx_gz,  # noqa: E402
                             parse_lines, table, worker_arguments)

# (key, label, kind, trains, mine): "time" lower is better, "rate" higher is better, "info" no
# ratio; a row that `trains` leaves ONNX Runtime out of its peers; `mine` is the myelin column the
# ratio is taken for.
METRICS = [
    ("train_seconds_per_epoch_median", "train s/epoch (median)", "time", True, "myelin"),
    ("test_accuracy", "test accuracy", "info", True, "myelin"),
    ("train_fraction_of_gemm_ceiling", "train, fraction of the GEMM ceiling", "info", True, "myelin"),
    ("inference_samples_per_sec_batch1024", "inference samples/s, batch 1024", "rate", False, "myelin"),
    ("latency_batch1_us", "latency batch 1 (us)", "time", False, "myelin"),
    ("peak_rss_mb", "peak RSS (MB)", "time", True, "myelin"),
    ("inference_peak_rss_mb", "peak RSS, inference only (MB)", "time", False, "myelin_inference"),
]
COLUMNS = [("myelin", "myelin (C++)"), ("myelin_python", "myelin (Python)"), ("torch", "PyTorch 2"),
           ("keras_tensorflow", "Keras 3 / TF"), ("keras_jax", "Keras 3 / JAX"),
           ("myelin_inference", "myelin (Python, inference only)"), ("ort", "ONNX Runtime")]
PEERS = ["torch", "keras_tensorflow", "keras_jax", "ort"]


def images(d, name, workload):
    import numpy as np
    x = load_idx_gz(f"{d}/{name}-images-idx3-ubyte.gz", 16).astype(np.float32) / 255
    return x.reshape(-1, 784) if workload == "mlp" else x.reshape(-1, 28, 28, 1)


def labels(d, name):
    return load_idx_gz(f"{d}/{name}-labels-idx1-ubyte.gz", 8).astype("int64")


def median_time(fn, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


# ---------------------------------------------------------------------------------------------
# Keras 3 (the backend is chosen by KERAS_BACKEND, set by the parent before the import).

def import_keras(threads):
    """Keras 3 on the backend KERAS_BACKEND names, seeded, TensorFlow with `threads` intra-op threads
    and one inter-op thread (JAX takes its threads from XLA_FLAGS); prints the versions."""
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        print(f"tensorflow_version={tf.__version__}")
    else:
        import jax
        print(f"jax_version={jax.__version__}")
    import keras
    print(f"keras_version={keras.__version__}")
    keras.utils.set_random_seed(42)
    return keras


def compiled_forward(model):
    """The compiled forward pass of a Keras model, without predict()'s loop around it: tf.function
    with XLA, or jax.jit of stateless_call. Returns a function from a batch to a numpy array."""
    import numpy as np
    if os.environ["KERAS_BACKEND"] == "tensorflow":
        import tensorflow as tf
        fn = tf.function(lambda x: model(x, training=False), jit_compile=True)
        return lambda x: fn(x).numpy()
    import jax
    jitted = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=False)[0])
    # Copies: predict() may donate the variables' own buffers, which deletes them.
    tv = [jax.numpy.array(v.value, copy=True) for v in model.trainable_variables]
    ntv = [jax.numpy.array(v.value, copy=True) for v in model.non_trainable_variables]
    return lambda x: np.asarray(jitted(tv, ntv, x))


def keras_worker(args):
    import resource

    keras = import_keras(args.threads)
    from keras import layers

    d = args.data
    x_train, y_train = first_training_examples(args, images(d, "train", args.workload), labels(d, "train"))
    x_test, y_test = images(d, "t10k", args.workload), labels(d, "t10k")
    if args.workload == "mlp":
        model = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
    elif args.workload == "resnet":
        from compare_pytorch_resnet import residual_network
        model = residual_network(keras)
    else:
        model = keras.Sequential([
            keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"), layers.Flatten(),
            layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=args.jit)
    epoch_s = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s.append(time.perf_counter() - self.t0)

    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[Timer()])
    steady = epoch_s[1:] or epoch_s  # the first epoch traces and compiles
    print(f"train_seconds_per_epoch_median={statistics.median(steady):.6g}")
    print(f"train_first_epoch_seconds={epoch_s[0]:.6g}")
    print(f"test_accuracy={model.evaluate(x_test, y_test, batch_size=1024, verbose=0)[1]:.4f}")

    call = compiled_forward(model)

    def by_predict():
        model.predict(x_test, batch_size=1024, verbose=0)

    def by_call():
        for b0 in range(0, len(x_test), 1024):
            call(x_test[b0:b0 + 1024])
    best = {}
    for name, fn_ in (("predict", by_predict), ("compiled_call", by_call)):
        fn_()  # compiles for both batch shapes
        best[name] = len(x_test) / median_time(fn_, 3)
    way = max(best, key=best.get)
    print(f"inference_samples_per_sec_batch1024={best[way]:.6g}")
    print(f"inference_way={way}")

    one = x_test[0:1].copy()
    lat = {}
    for name, fn_ in (("predict_on_batch", lambda: model.predict_on_batch(one)), ("compiled_call", lambda: call(one))):
        for _ in range(20):
            fn_()
        lat[name] = median_time(fn_, 300) * 1e6
    way = min(lat, key=lat.get)
    print(f"latency_batch1_us={lat[way]:.4g}")
    print(f"latency_way={way}")
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


# ---------------------------------------------------------------------------------------------
# Inference only, as a deployment runs it: a process that loads the file myelin's Python run saved
# after training and predicts, and nothing else. The same worker times ONNX Runtime on the ONNX
# file exported from that model (Model.export, format "onnx") and myelin's Python package on the
# model file itself (Model.save), each of which must predict what the trained model predicted.

def inference_worker(args):
    import resource

    import numpy as np
    if args.inference_worker == "ort":
        import onnxruntime as ort
        print(f"onnxruntime_version={ort.__version__}")
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
        x_name, y_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
        predict = lambda x: sess.run([y_name], {x_name: x})[0]
    else:
        import myelin
        from myelin.models import load_model
        myelin.set_num_threads(args.threads)
        model = load_model(args.onnx + ".safetensors")
        predict = lambda x: model.predict(x, batch_size=len(x), verbose=0)
    probe = np.load(args.onnx + ".probe.npy")
    difference = np.abs(predict(probe) - np.load(args.onnx + ".expected.npy")).max()
    print(f"max_abs_difference_from_myelin={difference:.3g}")
    x_test = images(args.data, "t10k", "cnn").reshape((-1,) + probe.shape[1:])

    def one_pass():
        for b0 in range(0, len(x_test), 1024):
            predict(x_test[b0:b0 + 1024])
    one_pass()
    print(f"inference_samples_per_sec_batch1024={len(x_test) / median_time(one_pass, 5):.6g}")
    one = x_test[0:1].copy()
    for _ in range(50):
        predict(one)
    print(f"latency_batch1_us={median_time(lambda: predict(one), 2000) * 1e6:.4g}")
    print(f"inference_peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


# ---------------------------------------------------------------------------------------------

def run(cmd, env, what):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compare_peers: {what} failed ({r.returncode}): {' '.join(map(str, cmd))}\n{r.stderr[-4000:]}")
    return parse_lines(r.stdout)


def one_round(args, venv_python, build):
    env = clean_env()
    common = worker_arguments(args)
    own = HERE / {"mlp": "compare_pytorch.py", "cnn": "compare_pytorch_cnn.py",
                  "resnet": "compare_pytorch_resnet.py"}[args.workload]
    bench_bin = build / "bench" / f"{args.workload}_benchmark"
    res = {"myelin": run([str(bench_bin)] + common, env, "myelin")}
    if args.bf16:
        res["myelin_bf16"] = run([str(bench_bin)] + common + ["--precision", "bf16"], env, "myelin (bf16)")
    py_env = dict(env, PYTHONPATH=str(build / "python"))
    onnx_file = str(Path(args.work_dir) / f"{args.workload}.onnx")
    res["myelin_python"] = run(["/usr/bin/python3", str(own), "--myelin-python-worker", "--export-onnx", onnx_file] + common,
                               py_env, "myelin (Python)")
    res["torch"] = run([venv_python, str(own), "--torch-worker"] + common, env, "PyTorch 2")
    me = [venv_python, str(Path(__file__).resolve()), args.workload] + common
    tf_env = dict(env, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    res["keras_tensorflow"] = run(me + ["--keras-worker"] + (["--jit"] if args.tf_jit else []), tf_env, "Keras/TF")
    jax_env = dict(env, KERAS_BACKEND="jax",
                   XLA_FLAGS=f"--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={args.threads}")
    res["keras_jax"] = run(me + ["--keras-worker", "--jit"], jax_env, "Keras/JAX")
    res["ort"] = run(me + ["--inference-worker", "ort", "--onnx", onnx_file], env, "ONNX Runtime")
    res["myelin_inference"] = run(["/usr/bin/python3", str(Path(__file__).resolve()), args.workload] + common +
                                  ["--inference-worker", "myelin", "--onnx", onnx_file], py_env, "myelin (inference)")
    # A peer's fraction of the GEMM ceiling measured in myelin's run: the same arithmetic per epoch,
    # so it scales with the epoch time.
    frac = res["myelin"].get("train_fraction_of_gemm_ceiling")
    if frac is not None:
        for c in ["myelin_python", "torch", "keras_tensorflow", "keras_jax"]:
            t = res[c].get("train_seconds_per_epoch_median")
            if t is not None:
                res[c]["train_fraction_of_gemm_ceiling"] = str(
                    float(frac) * float(res["myelin"]["train_seconds_per_epoch_median"]) / float(t))
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["mlp", "cnn", "resnet"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="default: 5 for the MLP, 3 for the CNNs")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--train-images", type=int, default=0, metavar="N",
                   help="every framework trains on the first N training images only (default: all); a shorter "
                        "round whose time per epoch scales with N, and whose accuracy drops")
    p.add_argument("--venv", default=str(SOURCE_DIR / ".venv-peers"))
    p.add_argument("--build", default=str(SOURCE_DIR / "build"))
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--bf16", action="store_true", help="add a column: myelin's C++ benchmark in mixed_bfloat16")
    p.add_argument("--tf-jit", action="store_true", help="Keras/TF with jit_compile=True (default: Keras's 'auto')")
    p.add_argument("--keras-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--jit", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--inference-worker", choices=["ort", "myelin"], help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.epochs is None:
        args.epochs = 5 if args.workload == "mlp" else 3
    args.jit = True if args.jit else "auto"
    if args.keras_worker:
        return keras_worker(args)
    if args.inference_worker:
        return inference_worker(args)

    venv_python = str(Path(args.venv) / "bin" / "python")
    if not os.access(venv_python, os.X_OK):
        sys.exit(f"no virtual environment at {args.venv}: run `bash scripts/reference_env.sh peers`")
    load_before = os.getloadavg()[0]
    if args.bf16:
        COLUMNS.insert(1, ("myelin_bf16", "myelin (C++, bf16)"))
    with tempfile.TemporaryDirectory(prefix="compare_peers_") as args.work_dir:
        rounds = [one_round(args, venv_python, Path(args.build)) for _ in range(args.runs)]
    print(f"workload={args.workload}\nthreads={args.threads}\nepochs={args.epochs}\nruns={args.runs}")
    print(f"train_images={rounds[0]['myelin'].get('train_images', 'all')}")
    print(f"load_average_1min_before={load_before:.2f}\nload_average_1min_after={os.getloadavg()[0]:.2f}")
    for key in ["torch_version", "keras_version", "tensorflow_version", "jax_version", "onnxruntime_version",
                "inference_way", "latency_way", "max_abs_difference_from_myelin"]:
        for col, _ in COLUMNS:
            if key in rounds[0][col]:
                print(f"{col}_{key}={rounds[0][col][key]}")

    def cell(col, key):
        vals = [float(r[col][key]) for r in rounds if key in r[col]]
        return statistics.median(vals) if vals else None

    rows = []
    for key, label, kind, trains, mine in METRICS:
        vals = {col: cell(col, key) for col, _ in COLUMNS}
        for col, v in vals.items():
            if v is not None:
                print(f"{col}_{key}={v:.6g}")
        peers = {c: vals[c] for c in PEERS if vals[c] is not None and not (trains and c == "ort")}
        best, ratio, ratio_bf16 = "", "", ""
        if kind != "info" and peers and vals[mine]:
            bc = (min if kind == "time" else max)(peers, key=peers.get)

            def against_best(mine):
                return peers[bc] / mine if kind == "time" else mine / peers[bc]
            r = against_best(vals[mine])
            best, ratio = dict(COLUMNS)[bc], f"{r:.2f}x" + ("" if mine == "myelin" else f" ({dict(COLUMNS)[mine]})")
            print(f"ratio_vs_best_peer_{key}={r:.3g}")
            if mine == "myelin" and vals.get("myelin_bf16"):
                r = against_best(vals["myelin_bf16"])
                ratio_bf16 = f"{r:.2f}x"
                print(f"ratio_bf16_vs_best_peer_{key}={r:.3g}")
        fmt = lambda v: "-" if v is None else (f"{v:.4g}" if v < 1000 else f"{v:,.0f}")
        rows.append([label] + [fmt(vals[c]) for c, _ in COLUMNS] + [best, ratio] + ([ratio_bf16] if args.bf16 else []))
    print()
    table(rows, ["metric"] + [name for _, name in COLUMNS] + ["best peer", "myelin (C++) vs best"] +
          (["myelin (C++, bf16) vs best"] if args.bf16 else []))


if __name__ == "__main__":
    main()
