"""myelin.data datasets given to fit, evaluate and predict, and myelin.distributed."""
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

import myelin
from myelin.data import CsvDataset, GeneratorDataset, IdxDataset
from myelin.layers import Dense, Flatten
from myelin.models import Sequential
from myelin.optimizers import Adam

from conftest import BUILD_PYTHON_DIR


def regression_data(n=256, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (x @ np.arange(1, features + 1, dtype=np.float32) * 0.5 + 1.0).astype(np.float32)
    return x, y.reshape(-1, 1)


def write_csv(path, x, y):
    names = [f"f{i}" for i in range(x.shape[1])] + ["target"]
    rows = [",".join(names)] + [",".join(f"{v:.9g}" for v in list(xr) + [yr[0]]) for xr, yr in zip(x, y)]
    path.write_text("\n".join(rows) + "\n")
    return path


def regression_model(features=4):
    model = Sequential([Dense(8, activation="relu", input_shape=(features,)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.02), loss="mse")
    return model


def test_fit_on_a_csv_dataset_learns(tmp_path, seeded):
    x, y = regression_data()
    data = CsvDataset(str(write_csv(tmp_path / "train.csv", x, y)), target_column="target", shuffle_buffer=64)
    assert data.x_shape == (4,) and data.y_shape == (1,)
    assert list(data.feature_names) == ["f0", "f1", "f2", "f3"] and data.target_name == "target"
    history = regression_model().fit(data, epochs=15, batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 15
    assert losses[-1] < 0.5 * losses[0]
    assert data.size == 256  # known once the first epoch has read the whole file


def test_evaluate_and_predict_on_a_dataset_equal_the_array_results(tmp_path, seeded):
    x, y = regression_data(n=100)
    data = CsvDataset(str(write_csv(tmp_path / "d.csv", x, y)))  # target: the last column
    model = regression_model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert model.evaluate(data, batch_size=32, verbose=0) == pytest.approx(
        model.evaluate(x, y, batch_size=32, verbose=0), abs=1e-5)
    np.testing.assert_allclose(model.predict(data, batch_size=32), model.predict(x, batch_size=32), atol=1e-5)


def test_a_dataset_validates_and_python_callbacks_run_during_fit_on_a_dataset(tmp_path, seeded):
    x, y = regression_data(n=64)
    train = CsvDataset(str(write_csv(tmp_path / "train.csv", x, y)))
    held_out = CsvDataset(str(write_csv(tmp_path / "val.csv", x[:32], y[:32])))
    seen = []

    class Recorder(myelin.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, round(logs["val_loss"], 6)))

    model = regression_model()
    history = model.fit(train, epochs=3, batch_size=16, validation_data=held_out, callbacks=[Recorder()], verbose=0)
    assert [e for e, _ in seen] == [0, 1, 2]
    # The last validation loss is the model's loss on the held-out rows.
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[:32], y[:32], verbose=0), abs=1e-5)


def test_a_dataset_with_y_is_refused(tmp_path):
    x, y = regression_data(n=10)
    data = CsvDataset(str(write_csv(tmp_path / "d.csv", x, y)))
    with pytest.raises(ValueError, match="leave y out"):
        regression_model().fit(data, y, verbose=0)


def test_generator_dataset_from_a_python_function_trains_and_validates(seeded):
    x, y = regression_data(n=128)
    calls = []

    def batches(epoch):
        # Eight batches of 16 rows per epoch, then None.
        i = sum(1 for e in calls if e == epoch)
        calls.append(epoch)
        if i == 8:
            return None
        return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16, 0]  # 1-D y is taken as one column

    data = GeneratorDataset(batches, x_shape=(4,), y_shape=(1,))
    assert data.size == -1
    model = regression_model()
    history = model.fit(data, epochs=10, batch_size=32, validation_data=(x, y), verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    assert "val_loss" in history.history and len(history.history["val_loss"]) == 10
    assert set(calls) == set(range(10))


def epoch_batches(*arrays, rows=12):
    """fn(epoch) for GeneratorDataset: the arrays cut into batches of `rows`, in order, each epoch."""
    state = {"epoch": None, "next": 0}

    def batches(epoch):
        if epoch != state["epoch"]:
            state["epoch"], state["next"] = epoch, 0
        i = state["next"]
        if i >= len(arrays[0]):
            return None
        state["next"] = i + rows
        return tuple(a[i:i + rows] for a in arrays)

    return batches


def test_a_generator_of_x_y_sample_weight_trains_as_the_sample_weight_argument(seeded):
    x, y = regression_data(n=60)
    w = (np.arange(60) % 4 * 0.5).astype(np.float32)  # every fourth row weighs nothing
    myelin.set_random_seed(3)
    arrays = regression_model()
    h_arrays = arrays.fit(x, y, sample_weight=w, epochs=3, batch_size=16, shuffle=False, verbose=0)
    myelin.set_random_seed(3)
    generated = regression_model()
    data = GeneratorDataset(epoch_batches(x, y, w), x_shape=(4,), y_shape=(1,), sample_weight=True)
    h_data = generated.fit(data, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert h_data.history["loss"] == h_arrays.history["loss"]
    for a, b in zip(arrays.get_weights(), generated.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert generated.evaluate(data, batch_size=16) == arrays.evaluate(x, y, sample_weight=w, batch_size=16)
    # A triple from a dataset not declared weighted, and a pair from one that is, are refused.
    with pytest.raises(ValueError, match="sample_weight=True"):
        regression_model().fit(GeneratorDataset(epoch_batches(x, y, w), (4,), (1,)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="return \\(x, y, sample_weight\\)"):
        regression_model().fit(GeneratorDataset(epoch_batches(x, y), (4,), (1,), sample_weight=True),
                               epochs=1, verbose=0)


def two_in_two_out_model():
    a, b = myelin.Input(shape=(4,), name="a"), myelin.Input(shape=(2,), name="b")
    h = myelin.layers.Concatenate()([Dense(6, activation="tanh")(a), b])
    model = myelin.Model([a, b], [Dense(1, name="reg")(h), Dense(3, activation="softmax", name="cls")(h)])
    model.compile(optimizer=Adam(learning_rate=0.01), loss=["mse", "sparse_categorical_crossentropy"],
                  loss_weights=[1.0, 0.5])
    return model


def test_a_generator_of_several_inputs_and_outputs_trains_as_the_arrays(seeded):
    rng = np.random.default_rng(5)
    xa, xb = rng.normal(size=(40, 4)).astype(np.float32), rng.normal(size=(40, 2)).astype(np.float32)
    y1 = (xa.sum(axis=1) + xb[:, 0]).astype(np.float32)  # 1-D: taken as one column
    y2 = (np.arange(40) % 3).astype(np.float32)
    w1 = (np.arange(40) % 2).astype(np.float32)
    w2 = np.full(40, 0.5, dtype=np.float32)

    def batches(rows=8, weights=None):
        def fn(epoch):
            i = fn.next if fn.epoch == epoch else 0
            fn.epoch, fn.next = epoch, i + rows
            if i >= 40:
                return None
            batch = ([xa[i:i + rows], xb[i:i + rows]], [y1[i:i + rows], y2[i:i + rows]])
            return batch if weights is None else batch + ([w[i:i + rows] for w in weights],)
        fn.epoch, fn.next = None, 0
        return fn

    for weights in (None, [w1, w2]):
        myelin.set_random_seed(7)
        arrays = two_in_two_out_model()
        h_arrays = arrays.fit([xa, xb], [y1.reshape(-1, 1), y2.reshape(-1, 1)], epochs=2, batch_size=8,
                              shuffle=False, verbose=0, sample_weight=weights)
        myelin.set_random_seed(7)
        generated = two_in_two_out_model()
        data = GeneratorDataset(batches(weights=weights), x_shape=[(4,), (2,)], y_shape=[(1,), (1,)],
                                sample_weight="per_output" if weights else False)
        h_data = generated.fit(data, epochs=2, batch_size=8, shuffle=False, verbose=0)
        assert h_data.history["loss"] == h_arrays.history["loss"]
        assert h_data.history["cls_loss"] == h_arrays.history["cls_loss"]
        for a, b in zip(arrays.get_weights(), generated.get_weights()):
            np.testing.assert_array_equal(a, b)
    # A batch with one array too few names the array list.
    short = GeneratorDataset(lambda epoch: ([xa[:8]], [y1[:8], y2[:8]]), x_shape=[(4,), (2,)], y_shape=[(1,), (1,)])
    with pytest.raises(ValueError, match="x has 1 arrays, expected 2"):
        two_in_two_out_model().fit(short, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="sample_weight must be False, True or 'per_output'"):
        GeneratorDataset(batches(), x_shape=[(4,), (2,)], y_shape=[(1,), (1,)], sample_weight="yes")


def test_predict_on_a_dataset_returns_every_output(seeded):
    x, y = regression_data(n=30)
    inputs = myelin.Input(shape=(4,))
    h = Dense(5, activation="tanh")(inputs)
    model = myelin.Model(inputs, [Dense(1)(h), Dense(2, activation="softmax")(h)])
    want = model.predict(x, batch_size=7)
    got = model.predict(GeneratorDataset(epoch_batches(x, y, rows=9), (4,), (1,)), batch_size=7)
    assert isinstance(got, list) and len(got) == 2
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_a_generator_batch_of_the_wrong_shape_names_the_epoch_and_batch():
    x, y = regression_data(n=64)
    served = []

    def batches(epoch):
        served.append(epoch)
        if len(served) == 1:
            return x[:16], y[:16]
        if len(served) == 2:
            return x[:16, :3], y[:16]  # 3 features where the dataset declares 4
        return None

    data = GeneratorDataset(batches, x_shape=(4,), y_shape=(1,))
    with pytest.raises(myelin.ShapeError, match=r"epoch 0, batch 1 \(both counted from 0\)") as info:
        regression_model().fit(data, epochs=1, batch_size=16, verbose=0)
    assert isinstance(info.value, ValueError)  # Keras's type for bad shapes


def test_an_exception_in_the_generator_reaches_the_caller():
    def batches(epoch):
        raise RuntimeError("generator broke")

    with pytest.raises(RuntimeError, match="generator broke"):
        regression_model().fit(GeneratorDataset(batches, (4,), (1,)), epochs=1, verbose=0)


def write_idx(path, array):
    """An IDX file of unsigned bytes (magic 0x0000080N), written with numpy alone."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())
    return str(path)


def test_idx_dataset_reads_small_raw_files(tmp_path, seeded):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=60).astype(np.uint8)
    # Each class lights up its own third of a 6x6 image: learnable in a few epochs.
    images = rng.integers(0, 40, size=(60, 6, 6)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label:2 * label + 2, :] += 200
    data = IdxDataset(write_idx(tmp_path / "images", images), write_idx(tmp_path / "labels", labels))
    assert data.x_shape == (6, 6) and data.y_shape == (1,) and data.size == 60
    assert isinstance(data, myelin.data.Dataset)  # what fit, evaluate and predict recognise
    with_channel = IdxDataset(str(tmp_path / "images"), str(tmp_path / "labels"), add_channel=True)
    assert with_channel.x_shape == (6, 6, 1)

    model = Sequential([Flatten(input_shape=(6, 6)), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data, epochs=30, batch_size=10, verbose=0)
    # The dataset scales bytes by 1/255 by default, as users do by hand.
    x = images.astype(np.float32) / 255.0
    loss, accuracy = model.evaluate(data, verbose=0)
    assert accuracy == pytest.approx(model.evaluate(x, labels, verbose=0)[1], abs=1e-6)
    assert accuracy >= 0.9
    np.testing.assert_allclose(model.predict(data), model.predict(x), atol=1e-6)


def test_idx_dataset_names_a_missing_file(tmp_path):
    with pytest.raises(OSError, match="nope"):
        IdxDataset(str(tmp_path / "nope"), str(tmp_path / "nope-labels"))


def test_gunzip_file(tmp_path):
    import gzip
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"hello idx"))
    myelin.data.gunzip_file(tmp_path / "a.gz", tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == b"hello idx"


def test_outside_mpirun_the_process_is_a_world_of_one():
    assert myelin.distributed.size() == 1
    assert myelin.distributed.rank() == 0
    assert myelin.distributed.is_primary()
    assert isinstance(myelin.distributed.available(), bool)
    myelin.distributed.barrier()  # a world of one does not wait


MPI_SCRIPT = """
import numpy as np, myelin
from myelin.layers import Dense
from myelin.models import Sequential
myelin.set_num_threads(1)
myelin.set_random_seed(1)
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 4)).astype(np.float32)
y = x.sum(axis=1, keepdims=True)
model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=2, batch_size=16, verbose=0)
loss = model.evaluate(x, y, verbose=0)
if myelin.distributed.is_primary():
    print(f"ranks={myelin.distributed.size()}")
    print(f"loss={loss}")
"""


def test_mpirun_trains_data_parallel_from_python():
    if not shutil.which("mpirun"):
        pytest.skip("mpirun is not installed (openmpi-bin)")
    if not myelin.distributed.available():
        pytest.skip("this build of myelin has no MPI (MYELIN_MPI=OFF)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BUILD_PYTHON_DIR), env.get("PYTHONPATH", "")])
    out = subprocess.run(["mpirun", "--oversubscribe", "--allow-run-as-root", "-np", "2", sys.executable, "-c",
                          MPI_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert figures["ranks"] == "2"  # printed once, by rank 0
    assert out.stdout.count("ranks=") == 1
    assert math.isfinite(float(figures["loss"]))


def test_out_of_core_example_prints_the_cpp_figures():
    from pathlib import Path
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("MYELIN_FASHION_MNIST_DIR"):
        pytest.skip("Fashion-MNIST is not installed (dataset-fashion-mnist)")
    args = ["--threads", "1", "--epochs", "1", "--verbose", "0"]
    script = Path(__file__).resolve().parents[2] / "examples" / "python" / "out_of_core_fashion_mnist.py"
    out = subprocess.run([sys.executable, str(script), *args], check=True, capture_output=True, text=True)
    py = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert set(py) == {"ranks", "test_accuracy", "test_loss", "predicted_rows", "peak_rss_mib"}
    assert py["ranks"] == "1" and py["predicted_rows"] == "10000"
    assert float(py["test_accuracy"]) >= 0.75
    cpp_program = Path(os.environ.get("MYELIN_EXAMPLES_BIN", "")) / "out_of_core_fashion_mnist"
    if os.environ.get("MYELIN_EXAMPLES_BIN") and cpp_program.is_file():
        out = subprocess.run([str(cpp_program), *args], check=True, capture_output=True, text=True)
        cpp = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        for key in ("ranks", "test_accuracy", "test_loss", "predicted_rows"):
            assert py[key] == cpp[key], key
