"""Masks from Python: Embedding(mask_zero=True) and Masking make the layers after them skip padded
steps, as Keras's. More zero padding does not change a prediction; a numpy LSTM on the unpadded
sequence gives the same last state; masked models save and load."""
import numpy as np

import myelin
from myelin.layers import (LSTM, Bidirectional, Dense, Embedding, GlobalAveragePooling1D, Input, Masking,
                           MultiHeadAttention)
from myelin.models import Model, Sequential, load_model

from test_recurrent_state import numpy_lstm_from


def text_model(steps):
    return Sequential([Input(shape=(steps,)), Embedding(10, 4, mask_zero=True), LSTM(5), Dense(2)])


def test_more_zero_padding_does_not_change_the_prediction(seeded):
    short = text_model(6)
    longer = text_model(11)
    longer.set_weights(short.get_weights())
    ids = np.array([[3, 1, 4, 1, 5, 0], [2, 7, 0, 0, 0, 0]], dtype=np.int64)
    padded = np.concatenate([ids, np.zeros((2, 5), dtype=np.int64)], axis=1)
    np.testing.assert_allclose(longer.predict(padded, verbose=0), short.predict(ids, verbose=0), atol=1e-6)
    # Padding's own vector (id 0's row) does not matter either.
    table, *rest = short.get_weights()
    table[0] += 3.0
    moved = text_model(6)
    moved.set_weights([table] + rest)
    np.testing.assert_allclose(moved.predict(ids, verbose=0), short.predict(ids, verbose=0), atol=1e-6)


def test_masked_lstm_state_is_numpys_on_the_unpadded_sequence(seeded):
    x = Input(shape=(5, 3))
    out, h, c = LSTM(4, return_state=True)(Masking(mask_value=0.0)(x))
    model = Model(x, [out, h, c])
    data = np.random.default_rng(0).uniform(-1, 1, size=(2, 5, 3)).astype(np.float32)
    data[0, 3:] = 0.0  # sample 0 has 3 steps
    data[1, 1] = 0.0   # sample 1 skips step 1
    _, h_out, c_out = model.predict(data, verbose=0)
    weights = model.get_weights()  # the LSTM's: Masking has none
    for b, steps in ((0, [0, 1, 2]), (1, [0, 2, 3, 4])):
        zeros = np.zeros((1, 4))
        h_ref, c_ref = numpy_lstm_from(data[b:b + 1, steps], weights, 4, zeros, zeros)
        np.testing.assert_allclose(h_out[b], h_ref[0], atol=1e-5)
        np.testing.assert_allclose(c_out[b], c_ref[0], atol=1e-5)


def test_masked_models_train_save_and_load(tmp_path, seeded):
    ids = Input(shape=(7,))
    x = Embedding(6, 4, mask_zero=True)(ids)
    y = Bidirectional(LSTM(3, return_sequences=True))(x)
    y = MultiHeadAttention(num_heads=2, key_dim=2)(y, y)
    y = GlobalAveragePooling1D()(y)
    model = Model(ids, Dense(1, activation="sigmoid")(y))
    model.compile(optimizer=myelin.optimizers.Adam(learning_rate=0.02), loss="binary_crossentropy")
    rng = np.random.default_rng(3)
    data = rng.integers(1, 6, size=(64, 7))
    for row, n in zip(data, rng.integers(1, 8, size=64)):
        row[n:] = 0
    labels = (data == 1).any(axis=1).astype(np.float32)
    history = model.fit(data, labels, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "masked.safetensors"
    model.save(str(path))
    loaded = load_model(str(path))
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0), atol=1e-6)
    assert any(layer.get_config().get("mask_zero") is True for layer in loaded.layers)


def test_masking_layer_config_and_output(seeded):
    layer = Masking(mask_value=-1.0, name="pad")
    assert layer.get_config()["mask_value"] == -1.0
    model = Sequential([Input(shape=(3, 2)), layer])
    data = np.array([[[1, 2], [-1, -1], [-1, 0]]], dtype=np.float32)
    np.testing.assert_array_equal(model.predict(data, verbose=0), [[[1, 2], [0, 0], [-1, 0]]])
