"""Embedding and LayerNormalization from Python: integer token ids in, fit, predict, save/load,
numpy references for both layers, and clear errors for ids out of range."""
import numpy as np
import pytest

import myelin
from myelin.layers import Dense, Embedding, Flatten, LayerNormalization
from myelin.models import Sequential, load_model


def token_task(n, seed):
    """Sequences of 6 tokens from 10 as int64; the label is whether token 3 occurs."""
    x = np.random.default_rng(seed).integers(0, 10, size=(n, 6), dtype=np.int64)
    return x, (x == 3).any(axis=1).astype(np.int64)


def token_model():
    model = Sequential([Embedding(10, 4, input_shape=(6,)), Flatten(), Dense(16, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer=myelin.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_embedding_predict_is_a_row_lookup_of_its_weights(seeded):
    model = Sequential([Embedding(7, 3, input_shape=(4,))])
    (table,) = model.get_weights()
    assert table.shape == (7, 3) and np.all(np.abs(table) <= 0.05)  # Keras's RandomUniform(-0.05, 0.05)
    ids = np.array([[0, 6, 6, 2], [5, 1, 0, 3]], dtype=np.int64)
    np.testing.assert_array_equal(model.predict(ids, verbose=0), table[ids])
    # int32, uint16 and float ids read alike.
    for variant in (ids.astype(np.int32), ids.astype(np.uint16), ids.astype(np.float64)):
        np.testing.assert_array_equal(model.predict(variant, verbose=0), table[ids])


def test_int64_ids_fit_predict_and_save_load(tmp_path, seeded):
    x, y = token_task(600, 1)
    xt, yt = token_task(200, 2)
    model = token_model()
    model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(xt, yt, verbose=0)
    assert accuracy >= 0.95
    model.save(tmp_path / "tokens.safetensors")
    loaded = load_model(tmp_path / "tokens.safetensors")
    np.testing.assert_array_equal(loaded.predict(xt, verbose=0), model.predict(xt, verbose=0))
    config = loaded.get_layer("embedding").get_config()
    assert config["input_dim"] == 10 and config["output_dim"] == 4 and config["mask_zero"] is False
    assert config["embeddings_initializer"]["class_name"] == "RandomUniform"


def test_ids_out_of_range_raise_index_error_naming_row_and_position(seeded):
    x, y = token_task(40, 3)
    model = token_model()
    bad = x.copy()
    bad[35, 2] = 10  # past the first batch: the row named is the array's, in fit's shuffled batches too
    with pytest.raises(IndexError, match=r"Embedding 'embedding': id 10 at row 35, position \[2\].*\[0, 10\)"):
        model.predict(bad, verbose=0)
    bad[35, 2] = -1
    with pytest.raises(IndexError, match=r"id -1 at row 35, position \[2\]"):
        model.fit(bad, y, epochs=1, verbose=0)
    fractional = x.astype(np.float32)
    fractional[0, 0] = 2.5
    with pytest.raises(IndexError, match=r"id 2.5 at row 0, position \[0\]"):
        model.predict(fractional, verbose=0)
    # Integers float32 cannot hold exactly are refused before they reach the model.
    huge = x.copy()
    huge[3, 1] = 2**24 + 1
    with pytest.raises(ValueError, match=r"16777217 at \[3, 1\].*float32"):
        model.predict(huge, verbose=0)


def test_embedding_arguments(seeded):
    assert Embedding(10, 4, mask_zero=True).get_config()["mask_zero"] is True
    with pytest.raises(ValueError, match="2\\^24"):
        Embedding(2**24 + 1, 4)
    with pytest.raises(ValueError, match="input_dim"):
        Embedding(0, 4)
    layer = Embedding(5, 2, embeddings_initializer=myelin.initializers.RandomUniform(-1.0, 1.0),
                      embeddings_regularizer="l2", input_length=3, name="emb")
    config = layer.get_config()
    assert config["name"] == "emb"
    assert config["embeddings_initializer"]["config"] == {"minval": -1.0, "maxval": 1.0}
    assert config["embeddings_regularizer"]["class_name"] == "L1L2"
    assert type(myelin.layers.deserialize(myelin.layers.serialize(layer))) is Embedding


def layer_norm_reference(x, gamma, beta, epsilon):
    x = x.astype(np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def test_layer_normalization_matches_numpy(seeded):
    rng = np.random.default_rng(4)
    model = Sequential([LayerNormalization(input_shape=(3, 5))])
    gamma, beta = model.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(5))
    np.testing.assert_array_equal(beta, np.zeros(5))
    gamma, beta = rng.uniform(0.5, 1.5, 5).astype(np.float32), rng.uniform(-1, 1, 5).astype(np.float32)
    model.set_weights([gamma, beta])
    x = rng.normal(2.0, 3.0, size=(4, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), layer_norm_reference(x, gamma, beta, 1e-3),
                               rtol=1e-5, atol=1e-5)
    plain = Sequential([LayerNormalization(epsilon=0.1, center=False, scale=False, input_shape=(5,))])
    assert plain.get_weights() == []
    np.testing.assert_allclose(plain.predict(x[:, 0], verbose=0), layer_norm_reference(x[:, 0], 1, 0, 0.1),
                               rtol=1e-5, atol=1e-5)


def test_embedding_layer_normalization_model_trains_and_round_trips(tmp_path, seeded):
    x, y = token_task(300, 5)
    model = Sequential([Embedding(10, 8, input_shape=(6,)), LayerNormalization(axis=[-1]), Flatten(),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    config = loaded.get_layer("layer_normalization").get_config()
    assert config["axis"] == -1 and config["epsilon"] == pytest.approx(1e-3)


def test_layer_normalization_arguments():
    with pytest.raises(ValueError, match="axis"):
        Sequential([LayerNormalization(axis=1, input_shape=(3, 5))]).build()
    with pytest.raises(ValueError, match="axis"):
        LayerNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="rms_scaling"):
        LayerNormalization(rms_scaling=True)
    assert "LayerNormalization" in myelin.layers.__all__ and "Embedding" in myelin.layers.__all__
