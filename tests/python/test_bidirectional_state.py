"""Bidirectional(LSTM(..., return_state=True)) from Python: Keras 3's [output, forward h, forward c,
backward h, backward c] (GRU and SimpleRNN: [output, forward h, backward h]), the states equal to
numpy's two directions, and a model returning them survives save and load."""
import numpy as np
import pytest

import myelin
from myelin.layers import GRU, LSTM, Bidirectional, Input
from myelin.models import Model, load_model
from test_recurrent_layers import numpy_rnn


@pytest.fixture
def seeded():
    myelin.set_random_seed(5)
    yield
    myelin.set_random_seed(0)


def test_gru_states_are_numpys_two_directions(seeded):
    x = Input(shape=(5, 2))
    out = Bidirectional(GRU(4, return_state=True))(x)
    assert isinstance(out, list) and len(out) == 3
    model = Model(x, out)
    data = np.random.default_rng(6).normal(size=(3, 5, 2)).astype(np.float32)
    y, h_forward, h_backward = model.predict(data, verbose=0)
    weights = model.get_weights()
    np.testing.assert_allclose(h_forward, numpy_rnn("GRU", data, weights[:3], 4), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_backward, numpy_rnn("GRU", data, weights[3:], 4, go_backwards=True),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y, np.concatenate([h_forward, h_backward], axis=-1))


def test_lstm_returns_five_tensors_and_reloads(tmp_path, seeded):
    x = Input(shape=(6, 3))
    output, h_fw, c_fw, h_bw, c_bw = Bidirectional(LSTM(4, return_state=True), merge_mode="sum")(x)
    model = Model(x, [output, h_fw, c_fw, h_bw, c_bw])
    data = np.random.default_rng(7).normal(size=(2, 6, 3)).astype(np.float32)
    results = model.predict(data, verbose=0)
    assert [r.shape for r in results] == [(2, 4)] * 5
    np.testing.assert_allclose(results[0], results[1] + results[3], rtol=1e-6, atol=1e-6)  # sum of the two h
    assert not np.allclose(results[1], results[2])  # h = o * tanh(c), not c
    path = str(tmp_path / "bidirectional_state.safetensors")
    model.save(path)
    for a, b in zip(results, load_model(path).predict(data, verbose=0)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="return_state"):
        Bidirectional(LSTM(3, return_state=True), backward_layer=LSTM(3, go_backwards=True))
