"""Sequential from Python: Keras's arguments, numpy in and out, and clear errors."""
import io
import contextlib
import json

import numpy as np
import pytest

import myelin
from myelin.layers import Activation, Dense, Dropout, Flatten, Input, Normalization
from myelin.models import Sequential, model_from_json


def relu(z):
    return np.maximum(z, 0)


def small_data(n=200, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, features))
    y = (x[:, 0] + x[:, 1] > 1).astype(np.int64)
    return x, y


def binary_model(features=8):
    model = Sequential([Dense(10, input_dim=features, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_predict_is_the_forward_pass_computed_by_numpy(seeded):
    model = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")])
    x = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    w1, b1, w2, b2 = model.get_weights()
    assert w1.shape == (3, 4) and b1.shape == (4,) and w2.shape == (4, 2)
    logits = relu(x.astype(np.float64) @ w1 + b1) @ w2 + b2
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32 and out.shape == (5, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    np.testing.assert_allclose(model(x), out)


def test_set_weights_then_predict_gives_hand_computed_values():
    model = Sequential([Dense(2, input_dim=2, activation="relu")])
    model.set_weights([np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([0.5, -3.0])])
    # [1, 1] -> [1 + 2 + 0.5, -1 + 0.5 - 3] = [3.5, -3.5] -> relu -> [3.5, 0]
    np.testing.assert_array_equal(model.predict(np.array([[1.0, 1.0]])), [[3.5, 0.0]])
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((3, 2)), np.zeros(2)])
    with pytest.raises(ValueError):
        model.set_weights([np.zeros((2, 2))])


def test_fit_learns_and_evaluate_returns_loss_then_metrics_in_compile_order(seeded):
    x, y = small_data()
    model = Sequential([Dense(16, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["mae", "accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert history is model.history
    assert history.epoch == list(range(40))
    assert set(history.history) == {"loss", "mae", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, mae, accuracy = model.evaluate(x, y, verbose=0)
    # Independent check of the metrics from the predictions.
    p = model.predict(x)[:, 0].astype(np.float64)
    assert accuracy == pytest.approx(np.mean((p > 0.5) == y))
    assert mae == pytest.approx(np.mean(np.abs(p - y)), rel=1e-5)
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert loss == pytest.approx(bce, rel=1e-4)
    assert accuracy >= 0.85
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss, "mae": mae, "accuracy": accuracy}
    assert model.metrics_names == ["loss", "mae", "accuracy"]


def test_evaluate_without_metrics_returns_the_loss_alone():
    model = Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights([np.array([[1.0], [1.0]]), np.array([0.0])])
    # predictions 3 and 1 against targets 1 and 1: mse = (4 + 0) / 2
    assert model.evaluate(np.array([[1.0, 2.0], [0.5, 0.5]]), np.array([1.0, 1.0]), verbose=0) == 2.0


def test_validation_split_and_validation_data_give_val_logs(seeded):
    x, y = small_data()
    model = binary_model()
    h = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    h = model.fit(x[:150], y[:150], epochs=1, validation_data=(x[150:], y[150:]), verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(x[150:], y[150:], verbose=0)[0])


def test_inputs_of_any_numeric_dtype_and_layout_give_the_same_result(seeded):
    x, y = small_data(50)
    model = binary_model()
    reference = model.predict(x.astype(np.float32))
    for variant in (x, x.astype(np.float16).astype(np.float64), np.asfortranarray(x), x.tolist()):
        np.testing.assert_allclose(model.predict(np.asarray(variant, dtype=np.float64).astype(np.float32)),
                                   model.predict(variant), rtol=0, atol=0)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(x)), reference)
    wide = np.zeros((50, 16))
    wide[:, ::2] = x  # a strided view
    np.testing.assert_array_equal(model.predict(wide[:, ::2]), reference)
    # Integer and boolean labels, as a column or flat.
    model.fit(x, y.astype(np.int32), epochs=1, verbose=0)
    model.fit(x, y.astype(bool).reshape(-1, 1), epochs=1, verbose=0)


def test_float32_c_order_arrays_are_read_in_place_and_others_converted():
    # The library's view of an input (as fit, evaluate and predict read it) shares a float32
    # C-order array's memory; any other dtype or layout is a float32 copy.
    as_read = myelin._myelin.as_float32
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.shares_memory(as_read(a), a)
    for other in (a.astype(np.float64), np.asfortranarray(a), a[:, ::2], a.astype(np.int64)):
        view = as_read(other)
        assert view.dtype == np.float32 and view.flags.c_contiguous and not np.shares_memory(view, other)
        np.testing.assert_array_equal(view, np.asarray(other, dtype=np.float32))


def test_integer_class_labels_with_sparse_crossentropy(seeded):
    x, _ = small_data(300, 4)
    y = np.argmax(x[:, :3], axis=1).astype(np.uint8)
    model = Sequential([Dense(16, input_shape=(4,), activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer=myelin.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.85


def test_wrong_shapes_and_dtypes_raise_clear_errors():
    model = binary_model()
    x, y = small_data(20)
    with pytest.raises(ValueError, match=r"\(20, 5\)"):
        model.fit(x[:, :5], y, verbose=0)
    with pytest.raises(ValueError, match="rows"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(TypeError, match="dtype"):
        model.fit(np.array([["a"] * 8] * 20), y, verbose=0)
    with pytest.raises(TypeError):
        model.predict(np.array([object()] * 8, dtype=object).reshape(1, 8))
    with pytest.raises(ValueError):
        model.predict(np.float32(3.0))
    with pytest.raises(ValueError, match="finite"):
        bad = x.copy()
        bad[3, 2] = np.nan
        model.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)
    with pytest.raises(ValueError, match="label|class|range"):
        m = Sequential([Dense(3, input_dim=8, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, np.full(20, 7), verbose=0)
    with pytest.raises(TypeError):
        Sequential([object()])
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([Dense(1, input_dim=8)]).fit(x, y, verbose=0)
    # ShapeError is both myelin's and a ValueError, as Keras raises ValueError.
    with pytest.raises(myelin.ShapeError):
        model.predict(x[:, :3])


def test_layers_take_kerass_arguments():
    dense = Dense(5, activation=None, use_bias=False, kernel_initializer="zeros", name="out", input_dim=3)
    config = dense.get_config()
    assert config["units"] == 5 and config["activation"] == "linear" and config["use_bias"] is False
    assert config["name"] == "out" and config["batch_input_shape"] == [None, 3]
    model = Sequential([dense])
    assert [w.shape for w in model.get_weights()] == [(3, 5)]
    assert not model.get_weights()[0].any()
    assert model.get_layer("out") is dense
    assert model.input_shape == (None, 3) and model.output_shape == (None, 5)
    with pytest.raises(ValueError):
        Dense(0)
    with pytest.raises(TypeError):
        Dense(2.5)
    with pytest.raises(ValueError, match="activation"):
        Dense(2, activation="nope")
    with pytest.raises(ValueError):
        Dropout(1.0)
    with pytest.raises(TypeError):
        Dense(4, not_an_argument=1)


def test_flatten_input_activation_and_dropout_layers():
    model = Sequential([Input(shape=(2, 3)), Flatten(), Dense(2, kernel_initializer="ones"), Activation("relu"),
                        Dropout(0.5)])
    assert [l.name for l in model.layers] == ["flatten", "dense", "activation", "dropout"]
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3) - 6
    # Row sums: -6 - 5 - ... - 1 = -21 and 0 + 1 + ... + 5 = 15; relu; dropout is the identity here.
    np.testing.assert_array_equal(model.predict(x), [[0, 0], [15, 15]])


def test_normalization_adapt_uses_the_data_statistics():
    data = np.random.default_rng(3).normal(2.0, 3.0, size=(100, 4))
    norm = Normalization(input_shape=(4,))
    model = Sequential([norm])
    norm.adapt(data)
    expected = (data - data.mean(axis=0)) / data.std(axis=0)
    np.testing.assert_allclose(model.predict(data), expected, rtol=1e-4, atol=1e-5)


def test_summary_count_params_and_json(seeded):
    model = binary_model()
    assert model.count_params() == 8 * 10 + 10 + 10 + 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.summary()
    assert "Total params: 101" in out.getvalue()
    lines = []
    model.summary(print_fn=lines.append)
    assert "dense_1 (Dense)" in lines[0]
    config = json.loads(model.to_json())
    assert config["class_name"] == "Sequential"
    assert [l["class_name"] for l in config["config"]["layers"]] == ["Dense", "Dense"]
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x, _ = small_data(10)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_build_with_a_keras_batch_shape():
    model = Sequential([Dense(3)])
    assert not model.built
    model.build((None, 4))
    assert model.built and model.get_weights()[0].shape == (4, 3)


def test_train_on_batch_lowers_the_loss(seeded):
    x, y = small_data(64)
    model = binary_model()
    first = model.train_on_batch(x, y)
    for _ in range(50):
        last = model.train_on_batch(x, y)
    assert last < first


def test_save_and_load_weights_round_trip(tmp_path, seeded):
    x, y = small_data(50)
    model = binary_model()
    model.fit(x, y, epochs=2, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    other = binary_model()
    assert not np.array_equal(other.predict(x), model.predict(x))
    other.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    model.save(tmp_path / "m.safetensors")
    loaded = myelin.models.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.name == "Adam" and loaded.optimizer.iterations == model.optimizer.iterations
    with pytest.raises(OSError):
        myelin.models.load_model(tmp_path / "missing.safetensors")


def test_predict_output_owns_its_memory_safely(seeded):
    # The array shares the library's buffer (no copy) and must stay valid after the model is gone.
    model = binary_model()
    x, _ = small_data(10)
    out = model.predict(x)
    expected = out.copy()
    del model
    import gc
    gc.collect()
    np.testing.assert_array_equal(out, expected)
    assert not out.flags.owndata


def test_same_seed_same_model_and_training():
    x, y = small_data(100)

    def run(seed):
        myelin.set_random_seed(seed)
        model = Sequential([Dense(8, input_dim=8, activation="relu"), Dropout(0.3), Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        return model.get_weights()

    a, b, c = run(5), run(5), run(6)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])
