"""return_state and initial_state from Python: Keras's `out, h, c = LSTM(8, return_state=True)(x)`
and `LSTM(8)(y, initial_state=[h, c])`, checked against numpy's cells on the layers' own weights, and
an encoder-decoder model that trains and survives a save and load round trip."""
import numpy as np
import pytest

import myelin
from myelin.layers import GRU, LSTM, Dense, Input, SimpleRNN
from myelin.models import load_model
from myelin.optimizers import Adam

from test_recurrent_layers import numpy_rnn


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm_from(x, weights, units, h, c):
    kernel, recurrent, bias = (w.astype(np.float64) for w in weights)
    for s in range(x.shape[1]):
        z = x[:, s].astype(np.float64) @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    return h, c


def test_lstm_returns_its_state_and_starts_from_one(seeded):
    x = Input(shape=(5, 3))
    out, h, c = LSTM(4, return_sequences=True, return_state=True, bias_initializer="glorot_uniform")(x)
    assert (out.index, h.index, c.index) == (0, 1, 2)
    first = myelin.Model(x, [out, h, c])
    xs = np.random.default_rng(1).normal(size=(3, 5, 3)).astype(np.float32)
    ys, hs, cs = first.predict(xs)
    weights = first.get_weights()
    want = numpy_rnn("LSTM", xs, weights, 4, return_sequences=True)
    np.testing.assert_allclose(ys, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hs, want[:, -1], rtol=1e-5, atol=1e-5)
    wh, wc = numpy_lstm_from(xs, weights, 4, np.zeros((3, 4)), np.zeros((3, 4)))
    np.testing.assert_allclose(cs, wc, rtol=1e-5, atol=1e-5)

    # A second LSTM started from the first one's state.
    y = Input(shape=(2, 3))
    h0, c0 = Input(shape=(4,)), Input(shape=(4,))
    second = myelin.Model([y, h0, c0], LSTM(4)(y, initial_state=[h0, c0]))
    ys2 = np.random.default_rng(2).normal(size=(3, 2, 3)).astype(np.float32)
    got = second.predict([ys2, hs, cs])
    want_h, _ = numpy_lstm_from(ys2, second.get_weights(), 4, hs.astype(np.float64), cs.astype(np.float64))
    np.testing.assert_allclose(got, want_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer_class", [SimpleRNN, GRU, LSTM])
def test_encoder_decoder_trains_saves_and_loads(layer_class, seeded, tmp_path):
    enc_in, dec_in = Input(shape=(5, 3)), Input(shape=(4, 2))
    encoded = layer_class(6, return_state=True, name="encoder")(enc_in)
    state = encoded[1:]
    decoded = layer_class(6, return_sequences=True, name="decoder")(dec_in, initial_state=state)
    model = myelin.Model([enc_in, dec_in], Dense(1)(decoded))
    model.compile(optimizer=Adam(0.02), loss="mse")
    rng = np.random.default_rng(0)
    xe = rng.uniform(-1, 1, size=(32, 5, 3)).astype(np.float32)
    xd = rng.uniform(-1, 1, size=(32, 4, 2)).astype(np.float32)
    target = (0.5 * xe[:, :1, :1] + 0.3 * xd[:, :, 1:2]).astype(np.float32)
    history = model.fit([xe, xd], target, epochs=30, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    path = str(tmp_path / "seq2seq.safetensors")
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict([xe, xd]), model.predict([xe, xd]))


def test_state_errors():
    x = Input(shape=(4, 3))
    with pytest.raises(ValueError, match="h and c"):
        LSTM(5)(x, initial_state=[Input(shape=(5,))])
    with pytest.raises(TypeError, match="initial_state"):
        GRU(5)(x, initial_state=[np.zeros((1, 5))])
    with pytest.raises(myelin.ShapeError, match="initial state 0"):
        myelin.Model([x, h := Input(shape=(3,))], GRU(5)(x, initial_state=h)).build()
