"""Keras's own model files against the real thing: Keras 3 (on JAX, from the reference environment
that scripts/reference_env.sh makes) trains and saves models as .keras and as Keras-2-style .h5,
myelin loads them, predicts the same and fine-tunes them; myelin saves .keras and Keras loads it
and predicts the same. tests/keras/keras_reference.py is the Keras side."""
import os
import subprocess
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
    for name, model, x in cases:
        path, x_path, out = tmp_path / f"{name}.keras", tmp_path / f"{name}_x.npy", tmp_path / f"{name}_keras.npy"
        model.save(path)
        np.save(x_path, x)
        keras(keras_python, "predict", path, x_path, out)
        np.testing.assert_allclose(np.load(out), model.predict(x, verbose=0), atol=TOLERANCE, rtol=0, err_msg=name)
        # myelin reads back its own file too.
        np.testing.assert_allclose(load_model(path).predict(x, verbose=0), model.predict(x, verbose=0), atol=0, rtol=0)
