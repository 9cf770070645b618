"""Keras's own model files against the real thing: Keras 3 (on JAX, from the reference environment
that scripts/reference_env.sh makes) trains and saves models as .keras and as Keras-2-style .h5,
myelin loads them, predicts the same and fine-tunes them; myelin saves .keras and Keras loads it
and predicts the same. tests/keras/keras_reference.py is the Keras side."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from myelin.layers import Dense, Flatten
from myelin.models import Sequential, load_model
import myelin
from myelin import Input

from conftest import SOURCE_DIR

REFERENCE = SOURCE_DIR / "tests" / "keras" / "keras_reference.py"
MODELS = ["mlp", "cnn", "residual", "text"]
TOLERANCE = 1e-5


@pytest.fixture(scope="session")
def keras_python():
    """The reference environment's Python, made (or reused) now; a skip saying why when it cannot be."""
    try:
        out = subprocess.run(["bash", str(SOURCE_DIR / "scripts" / "reference_env.sh"), "interop"],
                             capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"the Keras 3 reference environment could not be made: {e}")
    if out.returncode != 0:
        reason = "PyPI is unreachable" if out.returncode == 3 else f"exit status {out.returncode}"
        pytest.skip(f"the Keras 3 reference environment could not be made ({reason}): {out.stderr.strip()[-500:]}")
    return str(Path(out.stdout.strip().splitlines()[-1]) / "bin" / "python")


def inputs(keras_files, name):
    """The model's inputs as myelin takes them: token ids travel as float32 (exact below 2^24)."""
    return np.load(keras_files / f"{name}_x.npy").astype(np.float32)


def keras(python, *args):
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)  # the reference environment never sees myelin or Debian's numpy
    subprocess.run([python, str(REFERENCE), *map(str, args)], check=True, env=env, capture_output=True, timeout=1200)


@pytest.fixture(scope="session")
def keras_files(keras_python, tmp_path_factory):
    out = tmp_path_factory.mktemp("keras_files")
    keras(keras_python, "train", out)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_keras3_file_loads_and_predicts_the_same(keras_files, name):
    model = load_model(keras_files / f"{name}.keras")
    x = inputs(keras_files, name)
    expected = np.load(keras_files / f"{name}_pred.npy")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_keras3_file_comes_compiled_and_fine_tunes(keras_files, name):
    myelin.set_random_seed(0)
    model = load_model(keras_files / f"{name}.keras")
    x = inputs(keras_files, name)
    y = np.load(keras_files / f"{name}_y.npy").astype(np.float32)
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    assert after < before


@pytest.mark.parametrize("name", MODELS)
def test_keras2_h5_from_the_legacy_saver_loads_and_predicts_the_same(keras_files, name):
    model = load_model(keras_files / f"{name}.h5")
    x = inputs(keras_files, name)
    expected = np.load(keras_files / f"{name}_pred.npy")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=TOLERANCE, rtol=0)


def test_myelin_keras_files_load_in_keras_and_predict_the_same(keras_python, keras_files, tmp_path):
    cases = []
    for name in MODELS:  # Keras's models fine-tuned in myelin, so that the weights are myelin's own
        model = load_model(keras_files / f"{name}.keras")
        x = inputs(keras_files, name)
        model.fit(x, np.load(keras_files / f"{name}_y.npy").astype(np.float32), epochs=1, batch_size=64, verbose=0)
        cases.append((name, model, x))
    native = Sequential([Input(shape=(28, 28)), Flatten(), Dense(16, activation="relu"), Dense(10, activation="softmax")])
    native.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cases.append(("native", native, np.random.default_rng(3).uniform(size=(20, 28, 28)).astype(np.float32)))
    triples = []
    for name, model, x in cases:
        path, x_path, out = tmp_path / f"{name}.keras", tmp_path / f"{name}_x.npy", tmp_path / f"{name}_keras.npy"
        model.save(path)
        np.save(x_path, x)
        triples += [path, x_path, out]
    keras(keras_python, "predict", *triples)  # one Keras start for all the files
    for name, model, x in cases:
        path, out = tmp_path / f"{name}.keras", tmp_path / f"{name}_keras.npy"
        np.testing.assert_allclose(np.load(out), model.predict(x, verbose=0), atol=TOLERANCE, rtol=0, err_msg=name)
        # myelin reads back its own file too.
        np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=0, rtol=0)


def test_attention_time_distributed_and_dot_load_in_keras_and_predict_the_same(keras_python, tmp_path):
    """Self-attention (MultiHeadAttention's four projections under Keras's query_dense, key_dense,
    value_dense and output_dense), TimeDistributed(Dense) (its layer's weights under "layer"),
    Attention and Dot, trained a little in myelin, saved as .keras and predicted by Keras."""
    from myelin.layers import Attention, Dot, MultiHeadAttention, TimeDistributed
    from myelin.models import Model
    myelin.utils.set_random_seed(5)
    x_in = Input(shape=(6, 4))
    # value_dim left equal to key_dim: Keras 3.15.1 on JAX itself fails to call a MultiHeadAttention
    # whose value_dim differs (its dot_product_attention reshape).
    a = TimeDistributed(Dense(3))(MultiHeadAttention(num_heads=2, key_dim=3)(x_in, x_in))
    b = Attention()([a, a])
    out = Dense(2)(Flatten()(Dot(axes=2)([b, a])))
    model = Model(x_in, out)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 6, 4)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, rng.standard_normal((40, 2)).astype(np.float32), epochs=2, batch_size=8, verbose=0)
    path, x_path, out_path = tmp_path / "attention.keras", tmp_path / "attention_x.npy", tmp_path / "attention_keras.npy"
    model.save(path)
    np.save(x_path, x)
    keras(keras_python, "predict", path, x_path, out_path)
    np.testing.assert_allclose(np.load(out_path), model.predict(x, verbose=0), atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=0, rtol=0)


# --- examples/python/keras_roundtrip.py: a Keras-trained file run by myelin and by Keras -----------

ROUNDTRIP = SOURCE_DIR / "examples" / "python" / "keras_roundtrip.py"


def write_idx(path, array, type_code):
    """An IDX file (big-endian, as the format requires): 0x08 unsigned bytes, 0x0D float32."""
    dtype = {0x08: ">u1", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    Path(path).write_bytes(header + np.ascontiguousarray(array, dtype=dtype).tobytes())


def run_roundtrip(*args, env_dir=None):
    env = dict(os.environ)
    env.pop("MYELIN_REFERENCE_ENV_DIR", None)
    if env_dir:
        env["MYELIN_REFERENCE_ENV_DIR"] = env_dir
    out = subprocess.run([sys.executable, str(ROUNDTRIP), *map(str, args), "--threads", "1", "--calls", "20"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout, dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def test_roundtrip_example_scores_a_keras_file_as_keras_does(keras_python, keras_files, tmp_path):
    # Keras's MLP, its inputs as float32 IDX images (scale 1: the values Keras saw, bit for bit).
    x, y = np.load(keras_files / "mlp_x.npy"), np.load(keras_files / "mlp_y.npy")
    write_idx(tmp_path / "images", x, 0x0D)
    write_idx(tmp_path / "labels", y, 0x08)
    keras_accuracy = np.mean(np.load(keras_files / "mlp_pred.npy").argmax(axis=1) == y)
    stdout, figures = run_roundtrip(keras_files / "mlp.keras", "--images", tmp_path / "images", "--labels",
                                    tmp_path / "labels", "--scale", "1", "--keras-python", keras_python)
    assert "Total params: 101,770" in stdout  # the summary: 784*128+128 + 128*10+10
    assert int(figures["samples"]) == len(x)
    assert float(figures["accuracy"]) == pytest.approx(keras_accuracy, abs=5e-5)
    assert figures["keras_accuracy"] == figures["accuracy"]  # Keras itself, run by the example
    assert float(figures["evaluate_accuracy"]) == pytest.approx(keras_accuracy, abs=5e-5)  # compiled from the file
    assert float(figures["resaved_prediction_max_difference"]) == 0
    myelin_us, keras_us = float(figures["batch1_latency_us_median"]), float(figures["keras_batch1_latency_us_median"])
    assert myelin_us > 0 and keras_us > 0
    assert float(figures["keras_over_myelin_latency_ratio"]) == pytest.approx(keras_us / myelin_us, rel=0.01)


def test_roundtrip_example_without_keras_says_why_and_reads_csv(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dense(2, activation="softmax")])
    model.save(tmp_path / "m.keras")  # uncompiled: no evaluate_ figures
    np.savetxt(tmp_path / "d.csv", np.c_[x, y], delimiter=",", header="a,b,c,label", comments="")
    expected = np.mean(model.predict(x, verbose=0).argmax(axis=1) == y)
    _, figures = run_roundtrip(tmp_path / "m.keras", "--csv", tmp_path / "d.csv")
    assert float(figures["accuracy"]) == pytest.approx(expected, abs=5e-5)
    assert "evaluate_loss" not in figures
    assert "MYELIN_REFERENCE_ENV_DIR" in figures["keras_timing_skipped"]
    assert "keras_batch1_latency_us_median" not in figures
    _, figures = run_roundtrip(tmp_path / "m.keras", "--csv", tmp_path / "d.csv", env_dir=str(tmp_path / "none"))
    assert "does not exist" in figures["keras_timing_skipped"]
