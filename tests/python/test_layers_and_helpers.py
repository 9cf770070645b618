"""The public names the other test files do not reach: the image layers checked against numpy,
layer (de)serialisation, every initializer and regularizer class, History, the batch hooks,
BackupAndRestore, Sequential.add, KFold.get_n_splits, the base classes, schedules and error types;
and a guard that every name the package exports is used by some test."""

import numpy as np
import pytest

import myelin
from myelin import callbacks, initializers, layers, regularizers
from myelin.layers import (AveragePooling2D, BatchNormalization, Conv2D, Dense, Flatten, InputLayer,
                           MaxPooling2D)
from myelin.model_selection import KFold
from myelin.models import Sequential


def images(seed=1, shape=(2, 6, 6, 3)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --- the image layers ---------------------------------------------------------------------------

def test_conv2d_is_the_valid_convolution_computed_by_numpy():
    model = Sequential([Conv2D(4, (3, 3), activation="relu", input_shape=(6, 6, 3))])
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)  # Keras's (kh, kw, in, out)
    bias = rng.normal(size=4).astype(np.float32)
    model.set_weights([kernel, bias])
    x = images()
    expected = np.zeros((2, 4, 4, 4))
    for i in range(4):
        for j in range(4):
            expected[:, i, j, :] = np.einsum("nabc,abco->no", x[:, i:i + 3, j:j + 3, :], kernel) + bias
    np.testing.assert_allclose(model.predict(x), np.maximum(expected, 0), rtol=1e-4, atol=1e-5)
    assert model.output_shape == (None, 4, 4, 4)
    same = Conv2D(2, 3, padding="same", strides=2, input_shape=(6, 6, 3))
    assert Sequential([same]).output_shape == (None, 3, 3, 2)
    with pytest.raises(ValueError, match="channels_last"):
        Conv2D(2, 3, data_format="channels_first")


def test_winograd_convolutions_can_be_turned_off_for_direct_rounding():
    # A shape Winograd takes (3x3, stride 1, 16 channels, 10x10 outputs, batch 16): its forward runs
    # myelin's own Winograd kernel on every CPU. Both algorithms stay within 1e-5 of the largest
    # output (measured: 5.2e-6 Winograd, 4.3e-7 direct), and they round differently, which shows the
    # switch took effect.
    model = Sequential([Conv2D(16, (3, 3), input_shape=(12, 12, 16))])
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(3, 3, 16, 16)).astype(np.float32)
    model.set_weights([kernel, np.zeros(16, np.float32)])
    x = rng.normal(size=(16, 12, 12, 16)).astype(np.float32)
    expected = np.zeros((16, 10, 10, 16))
    for i in range(10):
        for j in range(10):
            expected[:, i, j, :] = np.einsum("nabc,abco->no", x[:, i:i + 3, j:j + 3, :].astype(np.float64), kernel)
    scale = np.abs(expected).max()
    try:
        myelin.set_winograd_convolutions(True)
        fast = model.predict(x, batch_size=16)
        myelin.set_winograd_convolutions(False)
        direct = model.predict(x, batch_size=16)
    finally:
        myelin.utils.set_winograd_convolutions(True)
    assert np.abs(fast - expected).max() <= 1e-5 * scale
    assert np.abs(direct - expected).max() <= 1e-5 * scale
    assert not np.array_equal(fast, direct)


def test_max_and_average_pooling_are_the_block_max_and_mean():
    x = images(shape=(2, 6, 4, 3))
    blocks = x.reshape(2, 3, 2, 2, 2, 3)  # (n, rows/2, 2, cols/2, 2, channels)
    np.testing.assert_array_equal(Sequential([MaxPooling2D(input_shape=(6, 4, 3))]).predict(x),
                                  blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(Sequential([AveragePooling2D((2, 2), input_shape=(6, 4, 3))]).predict(x),
                               blocks.mean(axis=(2, 4)), rtol=1e-6)
    config = MaxPooling2D(pool_size=3, strides=1).get_config()
    assert config["pool_size"] == [3, 3] and config["strides"] == [1, 1]


def test_batch_normalization_at_inference_uses_the_moving_statistics():
    bn = BatchNormalization(epsilon=0.01, input_shape=(5,))
    model = Sequential([bn])
    gamma, beta = np.arange(1.0, 6.0), np.full(5, 0.5)
    mean, var = np.linspace(-1, 1, 5), np.linspace(0.5, 2.5, 5)
    model.set_weights([gamma, beta, mean, var])  # Keras's order
    x = images(shape=(3, 5))
    np.testing.assert_allclose(model.predict(x), gamma * (x - mean) / np.sqrt(var + 0.01) + beta, rtol=1e-5)
    assert bn.get_config()["momentum"] == pytest.approx(0.99)
    # Training moves the moving mean toward the batch mean (momentum 0.99 per step).
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x + 10, np.zeros((3, 5)), epochs=1, batch_size=3, verbose=0)
    moved = model.get_weights()[2]
    np.testing.assert_allclose(moved, 0.99 * mean + 0.01 * (x + 10).mean(axis=0), rtol=1e-4)


def test_a_small_cnn_trains_from_python(seeded):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.float32)  # top half brighter
    model = Sequential([Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), MaxPooling2D(), Flatten(),
                        BatchNormalization(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


# --- layers as objects ----------------------------------------------------------------------------

def test_input_layer_from_config_serialize_and_deserialize():
    model = Sequential([InputLayer(input_shape=(3,)), Dense(2, name="d")])
    assert model.input_shape == (None, 3) and [l.name for l in model.layers] == ["d"]
    with pytest.raises(ValueError, match="shape"):
        InputLayer()
    dense = Dense(7, activation="tanh", name="seven", input_dim=4)
    copy = Dense.from_config(dense.get_config())
    assert isinstance(copy, Dense) and isinstance(copy, layers.Layer) and copy.get_config() == dense.get_config()
    data = layers.serialize(dense)
    assert data["class_name"] == "Dense" and data["config"]["units"] == 7
    back = layers.deserialize(data)
    assert isinstance(back, Dense) and back.get_config() == dense.get_config()
    with pytest.raises(ValueError):
        layers.deserialize({"class_name": "NoSuchLayer", "config": {}})


def test_sequential_add_builds_the_same_model_as_the_list():
    model = Sequential()
    model.add(Dense(3, input_dim=2, kernel_initializer="ones"))
    model.add(Dense(1, kernel_initializer="ones"))
    assert model.output_shape == (None, 1)
    np.testing.assert_array_equal(model.predict(np.array([[1.0, 2.0]])), [[9.0]])
    with pytest.raises(TypeError, match="layer"):
        model.add("Dense")


# --- initializers and regularizers ----------------------------------------------------------------

@pytest.mark.parametrize("initializer,kind,scale", [
    (initializers.GlorotUniform(), "uniform", np.sqrt(6 / (200 + 100))),
    (initializers.HeUniform(), "uniform", np.sqrt(6 / 200)),
    (initializers.LecunUniform(), "uniform", np.sqrt(3 / 200)),
    (initializers.GlorotNormal(), "normal", np.sqrt(2 / (200 + 100))),
    (initializers.LecunNormal(), "normal", np.sqrt(1 / 200)),
])
def test_every_random_initializer_draws_with_kerass_scale(seeded, initializer, kind, scale):
    kernel = Sequential([Dense(100, input_dim=200, kernel_initializer=initializer)]).get_weights()[0]
    if kind == "uniform":  # U(-limit, limit): std limit / sqrt(3)
        assert np.abs(kernel).max() <= scale
        assert kernel.std() == pytest.approx(scale / np.sqrt(3), rel=0.05)
    else:  # truncated normal at two standard deviations, scaled so its std is `scale`
        assert kernel.std() == pytest.approx(scale, rel=0.05)
        assert np.abs(kernel).max() <= 2 * scale / 0.87962566103423978 + 1e-6


def test_constant_initializers_and_get():
    model = Sequential([Dense(3, input_dim=2, kernel_initializer=initializers.Ones(),
                              bias_initializer=initializers.Zeros())])
    kernel, bias = model.get_weights()
    assert np.all(kernel == 1) and np.all(bias == 0)
    assert initializers.get("he_normal") == "he_normal"
    ones = initializers.Ones()
    assert isinstance(ones, initializers.Initializer) and initializers.get(ones) is ones and repr(ones) == "Ones()"
    with pytest.raises(ValueError):
        initializers.get(3)


def test_regularizer_classes_and_get():
    w = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert regularizers.Regularizer(l1=0.1, l2=0.2)(w) == pytest.approx(0.1 * 6.5 + 0.2 * 14.25)
    assert regularizers.L2()(w) == pytest.approx(0.01 * 14.25)
    assert regularizers.L2(0.5).get_config() == {"l1": 0.0, "l2": 0.5}
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get(None) is None
    with pytest.raises(ValueError):
        regularizers.Regularizer(l1=-1)
    with pytest.raises(ValueError):
        regularizers.get("l3")
    # The base class and the name both reach the C++ layer: the penalty is in the loss.
    for penalty in (regularizers.Regularizer(l2=0.1), "l2"):
        model = Sequential([Dense(2, input_dim=2, kernel_initializer="ones", kernel_regularizer=penalty)])
        model.compile(optimizer="sgd", loss="mse")
        factor = 0.1 if penalty != "l2" else 0.01
        loss = model.evaluate(np.zeros((1, 2)), np.zeros((1, 2)), verbose=0)
        assert loss == pytest.approx(factor * 4, rel=1e-6), penalty


# --- callbacks ------------------------------------------------------------------------------------

def small_problem():
    x = np.random.default_rng(5).normal(size=(40, 3)).astype(np.float32)
    return x, x @ np.array([1.0, -1.0, 0.5], dtype=np.float32)


def small_model():
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


def test_history_is_what_fit_returns(seeded):
    x, y = small_problem()
    model = small_model()
    history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0)
    assert isinstance(history, callbacks.History) and model.history is history
    assert history.epoch == [0, 1, 2]
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(v) == 3 for v in history.history.values())


def test_batch_hooks_set_model_and_set_params(seeded):
    x, y = small_problem()
    model = small_model()
    calls = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("params", self.params, self.model))

        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("end", batch, sorted(logs)))

    class OldNames(callbacks.Callback):  # Keras's older on_batch_* names
        count = 0

        def on_batch_end(self, batch, logs=None):
            OldNames.count += 1

    model.fit(x, y, epochs=2, batch_size=16, callbacks=[Recorder(), OldNames()], verbose=0)
    assert calls[0] == ("params", {"verbose": 0, "epochs": 2, "steps": 3}, model)
    assert calls[1:] == [entry for _ in range(2) for b in range(3)
                         for entry in (("begin", b), ("end", b, ["loss", "mae"]))]
    assert OldNames.count == 6
    seen = []
    lam = callbacks.LambdaCallback(on_batch_begin=lambda b, logs: seen.append(b))
    model.fit(x, y, epochs=1, batch_size=20, callbacks=[lam], verbose=0)
    assert seen == [0, 1]
    cb = callbacks.Callback()
    cb.set_model(model)
    cb.set_params({"epochs": 1})
    assert cb.model is model and cb.params == {"epochs": 1}


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path, seeded):
    x, y = small_problem()

    class CrashAfterEpoch(callbacks.Callback):
        def __init__(self, epoch):
            super().__init__()
            self.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            if epoch == self.epoch:
                raise RuntimeError("simulated crash")

    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    model = small_model()
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(x, y, epochs=5, batch_size=10, callbacks=[backup, CrashAfterEpoch(2)], verbose=0)
    assert backup.restored_epoch == -1  # that run started afresh
    assert list((tmp_path / "backup").iterdir())  # epochs 0..2 are backed up
    resumed = model.fit(x, y, epochs=5, batch_size=10, callbacks=[backup], verbose=0)
    assert resumed.epoch == [3, 4] and backup.restored_epoch == 3
    assert not list((tmp_path / "backup").iterdir())  # a finished run leaves no backup
    # A crash seen before the backup's hook: as in Keras, no callback runs after the exception,
    # so epoch 2 is not backed up as if it had ended well, and the next run redoes it.
    other = small_model()
    with pytest.raises(RuntimeError, match="simulated crash"):
        other.fit(x, y, epochs=5, batch_size=10, callbacks=[CrashAfterEpoch(2), backup], verbose=0)
    assert other.fit(x, y, epochs=5, batch_size=10, callbacks=[backup], verbose=0).epoch == [2, 3, 4]
    # The resumed run ends with the weights of a run that was never interrupted.
    myelin.set_random_seed(7)
    uninterrupted = small_model()
    uninterrupted.fit(x, y, epochs=5, batch_size=10, verbose=0)
    for a, b in zip(model.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(a, b)


# --- model selection --------------------------------------------------------------------------------

def test_kfold_get_n_splits():
    assert KFold(n_splits=4).get_n_splits() == 4
    assert len(list(KFold(n_splits=4).split(np.zeros(10)))) == 4


# --- base classes, schedules and the error type --------------------------------------------------------

def test_base_classes_schedules_and_categorical_accuracy(tmp_path):
    from myelin import losses, metrics, optimizers
    from myelin.optimizers import schedules
    assert isinstance(losses.get("mse"), losses.Loss)
    assert isinstance(optimizers.get("adam"), optimizers.Optimizer)
    assert isinstance(metrics.get("mae"), metrics.Metric)
    acc = metrics.CategoricalAccuracy()
    acc.update_state([[0, 0, 1], [1, 0, 0], [0, 1, 0]], [[0.1, 0.2, 0.7], [0.2, 0.7, 0.1], [0.3, 0.4, 0.3]])
    assert acc.result() == pytest.approx(2 / 3)
    # Keras's PiecewiseConstantDecay: values[0] up to boundaries[0] (inclusive), and so on.
    piecewise = schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in (0, 100, 101, 110, 111)] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.1])
    cosine = schedules.CosineDecay(0.1, decay_steps=100, alpha=0.2)
    assert isinstance(cosine, schedules.LearningRateSchedule)
    for step in (0, 50, 100, 200):
        decayed = 0.5 * (1 + np.cos(np.pi * min(step, 100) / 100))
        assert cosine(step) == pytest.approx(0.1 * ((1 - 0.2) * decayed + 0.2))
    # The documented mapping: shape errors are ValueErrors, files OSErrors, the rest myelin.Error.
    assert issubclass(myelin.ShapeError, ValueError) and issubclass(myelin.Error, RuntimeError)
    with pytest.raises(OSError, match="missing.safetensors"):
        myelin.models.load_model(tmp_path / "missing.safetensors")
    with pytest.raises(myelin.Error, match="compiled"):
        Sequential([Dense(1, input_dim=1)]).fit(np.ones((2, 1)), np.ones((2, 1)), verbose=0)


# --- every public name has a test -------------------------------------------------------------------

def test_every_public_name_of_the_package_appears_in_a_test():
    """Each name a module exports (its __all__) and each public method of its classes is used by
    some test file: a function added without a test fails here."""
    import ast
    import re
    from pathlib import Path

    import inspect
    this = Path(__file__).resolve()
    own_source = inspect.getsource(test_every_public_name_of_the_package_appears_in_a_test)
    text = "\n".join(p.read_text() for p in this.parent.glob("test_*.py")).replace(own_source, "")
    package = Path(myelin.__file__).resolve().parent
    missing = []
    for source in sorted(package.rglob("*.py")):
        tree = ast.parse(source.read_text())
        exported = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                exported = set(ast.literal_eval(node.value))
        names = set(exported)
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name in exported:
                names |= {f.name for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")}
        missing += [f"{source.relative_to(package)}: {n}" for n in sorted(names)
                    if not re.search(r"\b" + re.escape(n) + r"\b", text)]
    assert not missing, "public names no test uses: " + ", ".join(missing)
