"""The functional API from Python, as in Keras: myelin.Input, layer calls, merge layers, myelin.Model,
shared layers, feature extraction from a Sequential, a model used as a layer, and files."""
import numpy as np
import pytest

import myelin
from myelin import layers


def rings(n=300, seed=0):
    rng = np.random.default_rng(seed)
    c = np.arange(n) % 3
    a = 0.37 * np.arange(n)
    x = np.stack([(c - 1) * 1.5 + 0.4 * np.cos(a), np.where(c == 1, 1.0, -0.5) + 0.4 * np.sin(a),
                  rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)], axis=1).astype(np.float32)
    return x, c


def test_merge_layers_compute_what_numpy_computes():
    rng = np.random.default_rng(1)
    a_val, b_val = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    cases = {layers.Add: a_val + b_val, layers.Subtract: a_val - b_val, layers.Multiply: a_val * b_val,
             layers.Average: (a_val + b_val) / 2, layers.Maximum: np.maximum(a_val, b_val),
             layers.Minimum: np.minimum(a_val, b_val)}
    for cls, expected in cases.items():
        # Both operands come from one input through fixed Dense layers that pick its halves.
        x = myelin.Input(shape=(8,))
        first = layers.Dense(4, use_bias=False, kernel_initializer="zeros")
        second = layers.Dense(4, use_bias=False, kernel_initializer="zeros")
        model = myelin.Model(x, cls()([first(x), second(x)]))
        model.build()
        eye = np.eye(8, 4, dtype=np.float32)
        first.set_weights([eye])
        second.set_weights([np.eye(8, 4, k=-4, dtype=np.float32)])
        joined = np.concatenate([a_val, b_val], axis=1)
        np.testing.assert_allclose(model.predict(joined), expected, rtol=1e-6, atol=1e-6, err_msg=cls.__name__)
    x = myelin.Input(shape=(3,))
    model = myelin.Model(x, layers.Concatenate(axis=-1)([x, layers.Activation("relu")(x)]))
    v = np.array([[-1, 2, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(model.predict(v), np.concatenate([v, np.maximum(v, 0)], axis=1))


def test_merge_layers_broadcast_as_keras():
    rng = np.random.default_rng(2)
    a_val = rng.normal(size=(6, 4, 3)).astype(np.float32)
    b_val = rng.normal(size=(6, 1, 3)).astype(np.float32)
    c_val = rng.normal(size=(6, 3)).astype(np.float32)
    cases = {layers.Add: np.add, layers.Subtract: np.subtract, layers.Multiply: np.multiply,
             layers.Maximum: np.maximum, layers.Minimum: np.minimum}
    for cls, fn in cases.items():
        a, b = myelin.Input(shape=(4, 3)), myelin.Input(shape=(1, 3))
        model = myelin.Model([a, b], cls()([a, b]))
        np.testing.assert_allclose(model.predict([a_val, b_val]), fn(a_val, b_val), rtol=1e-6, atol=1e-6,
                                   err_msg=cls.__name__)
    # A shorter rank is padded with size-1 axes in front: (None, 3) acts as (None, 1, 3).
    a, c = myelin.Input(shape=(4, 3)), myelin.Input(shape=(3,))
    model = myelin.Model([a, c], layers.Average()([a, c]))
    np.testing.assert_allclose(model.predict([a_val, c_val]), (a_val + c_val[:, None, :]) / 2, rtol=1e-6, atol=1e-6)
    assert model.output_shape == (None, 4, 3)
    d = myelin.Input(shape=(2, 3))
    bad = myelin.Model([a, d], layers.Add(name="add")([a, d]))
    with pytest.raises(ValueError, match=r"layer 'add'.*\(None, 4, 3\) and \(None, 2, 3\).*do not broadcast"):
        bad.build()


def test_a_residual_model_trains_and_shows_its_connections():
    x, y = rings()
    inputs = myelin.Input(shape=(4,))
    h = layers.Dense(16, activation="relu")(inputs)
    r = layers.Add()([h, layers.Dense(16, activation="relu")(h)])
    model = myelin.Model(inputs=inputs, outputs=layers.Dense(3, activation="softmax")(r))
    model.compile(optimizer=myelin.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.95
    lines = []
    model.summary(print_fn=lines.append)
    assert "Connected to" in lines[0] and "dense[0][0], dense_1[0][0]" in lines[0]
    assert [l.__class__.__name__ for l in model.layers][:2] == ["InputLayer", "Dense"]


def test_feature_extraction_from_a_sequential_shares_its_weights():
    base = myelin.Sequential([myelin.Input(shape=(4,)), layers.Dense(5, activation="relu", name="hidden"),
                              layers.Dense(2, activation="softmax")])
    base.build()
    features = myelin.Model(inputs=base.input, outputs=base.get_layer("hidden").output)
    x = np.random.default_rng(2).normal(size=(6, 4)).astype(np.float32)
    kernel, bias = base.get_layer("hidden").get_weights()
    np.testing.assert_allclose(features.predict(x), np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_a_shared_layer_counts_once_and_a_model_can_be_a_layer():
    x = myelin.Input(shape=(4,))
    shared = layers.Dense(4, activation="tanh")
    y = shared(shared(x))
    model = myelin.Model(x, y)
    assert model.count_params() == 4 * 4 + 4
    inner = myelin.Sequential([myelin.Input(shape=(4,)), layers.Dense(3)])
    outer_in = myelin.Input(shape=(4,))
    outer = myelin.Model(outer_in, layers.Dense(1)(inner(outer_in)))
    assert outer.count_params() == inner.count_params() + 4


def test_functional_model_files_round_trip(tmp_path):
    x, y = rings(90)
    inputs = myelin.Input(shape=(4,))
    a = layers.Dense(8, activation="relu")(inputs)
    out = layers.Dense(3, activation="softmax")(layers.Concatenate()([a, inputs]))
    model = myelin.Model(inputs, out, name="joined")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "joined.safetensors"
    model.save(path)
    loaded = myelin.load_model(path)
    assert isinstance(loaded, myelin.Model) and not isinstance(loaded, myelin.Sequential)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert myelin.models.model_from_json(model.to_json()).count_params() == model.count_params()


def test_bad_functional_calls_are_clear_errors():
    with pytest.raises(TypeError, match="myelin.Input"):
        layers.Dense(2)(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="outputs of myelin.Input"):
        myelin.Model(np.zeros(3), np.zeros(3))
    x, other = myelin.Input(shape=(8,)), myelin.Input(shape=(9,))
    with pytest.raises(ValueError, match="not among the model's inputs"):
        myelin.Model(x, layers.Dense(2)(other))
    bad = myelin.Model(x, layers.Add(name="add")([x, layers.Dense(9)(x)]))
    with pytest.raises(ValueError, match=r"layer 'add'.*\(None, 8\) and \(None, 9\)"):
        bad.build()
    with pytest.raises(ValueError, match="at least 2 inputs"):
        layers.Add()(x)
