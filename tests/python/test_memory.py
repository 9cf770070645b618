"""Models too big for the process are refused with MemoryError (myelin.ResourceError) before they
allocate; targets are checked for NaN as inputs are; boston_housing takes test_split=0 as Keras.

Each memory case runs in a child Python whose address space is limited to what it has mapped after
importing myelin plus 1 GiB: a regression then fails the test (std::bad_alloc, or the child killed)
instead of exhausting the machine."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import myelin
from myelin import layers
from myelin.data import GeneratorDataset
from myelin.datasets import boston_housing
from myelin.models import Sequential

from conftest import BUILD_PYTHON_DIR

LIMITED_PRELUDE = """
import resource
import numpy as np
import myelin
from myelin import layers
from myelin.models import Sequential
with open("/proc/self/status") as f:
    mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (mapped + (1 << 30), mapped + (1 << 30)))
"""


def run_limited(body, env=None):
    """Runs `body` after LIMITED_PRELUDE in a child Python; returns (exit code, stdout + stderr)."""
    import os
    child_env = dict(os.environ, PYTHONPATH=str(BUILD_PYTHON_DIR), **(env or {}))
    out = subprocess.run([sys.executable, "-c", LIMITED_PRELUDE + textwrap.dedent(body)], capture_output=True,
                         text=True, env=child_env, timeout=120)
    return out.returncode, out.stdout + out.stderr


def test_resource_error_is_a_memory_error():
    assert issubclass(myelin.ResourceError, MemoryError)


@pytest.mark.parametrize("units,needle", [(3_000_000_000, "(Dense (None, 8) → (None, 3000000000))"),
                                          (200_000_000, "(Dense (None, 8) → (None, 200000000))")])
def test_a_dense_too_big_is_refused_before_fit_allocates(units, needle):
    code, out = run_limited(f"""
        model = Sequential([layers.Dense({units}, input_shape=(8,)), layers.Dense(3)])
        model.compile("adam", "mse")
        try:
            model.fit(np.zeros((10, 8), np.float32), np.zeros((10, 3), np.float32), verbose=0)
        except MemoryError as e:
            print("MemoryError:", e)
        else:
            print("no error")
    """)
    assert code == 0, out
    assert "MemoryError: Sequential 'sequential': layer 0 'dense'" in out
    assert needle in out
    assert "with their gradients and Adam's state" in out
    assert "this process may use" in out
    assert "bad_alloc" not in out


def test_a_batch_too_big_names_the_batch_size_that_fits():
    code, out = run_limited("""
        model = Sequential([layers.Dense(100000, activation="relu", input_shape=(10,)), layers.Dense(1)])
        model.compile("sgd", "mse")
        x, y = np.ones((400, 10), np.float32), np.ones((400, 1), np.float32)
        for call in (lambda: model.fit(x, y, batch_size=400, verbose=0), lambda: model.predict(x, batch_size=400)):
            try:
                call()
                print("no error")
            except MemoryError as e:
                print("MemoryError:", e)
    """, env={"MYELIN_MEMORY_LIMIT": "64M"})
    assert code == 0, out
    assert "MemoryError: fit: a batch of 400 rows needs" in out
    assert "MemoryError: predict: a batch of 400 rows needs" in out
    assert out.count("or less would fit") == 2
    assert "(MYELIN_MEMORY_LIMIT)" in out
    assert "no error" not in out


def test_memory_limit_reports_the_override(monkeypatch):
    monkeypatch.setenv("MYELIN_MEMORY_LIMIT", "300M")
    limit, source = myelin.utils.memory_limit()
    assert source == "MYELIN_MEMORY_LIMIT" and limit == 300 << 20


def _small_model():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    return model


def test_a_nan_target_is_named_by_row_and_column():
    model = _small_model()
    x = np.ones((6, 3), np.float32)
    y = np.zeros((6, 2), np.float32)
    y[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"fit: y holds nan at row 4 \(column 1\); targets must be finite"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: y holds nan at row 4 \(column 1\)"):
        model.evaluate(x, y, verbose=0)


def test_an_infinite_target_in_a_dataset_is_named_by_batch_and_row():
    model = _small_model()
    y = np.zeros((6, 2), np.float32)
    y[1, 0] = np.inf
    served = set()

    def one_batch_per_epoch(epoch):
        if epoch in served:
            return None
        served.add(epoch)
        return np.ones((6, 3), np.float32), y
    data = GeneratorDataset(one_batch_per_epoch, (3,), (2,))
    with pytest.raises(ValueError, match=r"fit: epoch 1, batch 1: y holds inf at row 1 \(column 0\)"):
        model.fit(data, batch_size=6, verbose=0)


def test_boston_housing_test_split_zero_keeps_every_row_for_training():
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(test_split=0.0)
    assert x_train.shape == (506, 13) and y_train.shape == (506,)
    assert x_test.shape == (0, 13) and y_test.shape == (0,)
    # Every row once, in an order drawn from the seed, as Keras's loader shuffles.
    x_all, _ = myelin._myelin.boston_housing("")
    assert sorted(map(tuple, x_train.tolist())) == sorted(map(tuple, x_all.tolist()))
    assert not np.array_equal(x_train, x_all)
    (again, _), _ = boston_housing.load_data(test_split=0.0)
    np.testing.assert_array_equal(x_train, again)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"test_split must be in \[0, 1\)"):
            boston_housing.load_data(test_split=bad)
