"""MultiHeadAttention(return_attention_scores=True) from Python: Keras 3's call returns [output,
scores], the scores equal numpy's softmax and their rows sum to 1, a model trained on a loss of the
scores moves them, the flag survives save/load, and one layer cannot be called both ways. The same
for Attention's weights (batch, Tq, Tv)."""
import numpy as np
import pytest

import myelin
from myelin.layers import Attention, Input, MultiHeadAttention
from myelin.models import Model, load_model


def numpy_scores(query, value, weights):
    """Keras's attention probabilities (batch, heads, Tq, Tv) in numpy, from the layer's weights."""
    qk, qb, kk, kb = weights[:4]
    q = np.einsum("btd,dhk->bthk", query, qk) + qb
    k = np.einsum("bsd,dhk->bshk", value, kk) + kb
    s = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(qk.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


@pytest.fixture
def seeded():
    myelin.set_random_seed(7)
    yield
    myelin.set_random_seed(0)


def test_scores_are_the_softmax_and_survive_save_load(tmp_path, seeded):
    query, value = Input(shape=(5, 6)), Input(shape=(7, 3))
    mha = MultiHeadAttention(3, 4, dropout=0.2)
    out = mha(query, value, return_attention_scores=True)
    assert isinstance(out, list) and len(out) == 2
    output, scores = out
    model = Model([query, value], [output, scores])
    rng = np.random.default_rng(1)
    xq = rng.uniform(-1, 1, (2, 5, 6)).astype(np.float32)
    xv = rng.uniform(-1, 1, (2, 7, 3)).astype(np.float32)
    y, s = model.predict([xq, xv], verbose=0)
    assert y.shape == (2, 5, 6) and s.shape == (2, 3, 5, 7)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, atol=1e-5)
    want = numpy_scores(xq.astype(np.float64), xv.astype(np.float64), mha.get_weights())
    np.testing.assert_allclose(s, want, rtol=1e-4, atol=1e-6)
    assert mha.get_config()["return_attention_scores"] is True
    path = str(tmp_path / "scores.safetensors")
    model.save(path)
    y2, s2 = load_model(path).predict([xq, xv], verbose=0)
    np.testing.assert_array_equal(s, s2)
    np.testing.assert_array_equal(y, y2)


def test_a_loss_on_the_scores_trains_the_projections(seeded):
    # Only the scores output has a target: attend uniformly. The loss falls, so its gradient reaches
    # the query and key projections through the softmax.
    x = Input(shape=(4, 3))
    _, scores = MultiHeadAttention(2, 2)(x, x, return_attention_scores=True)
    model = Model(x, scores)
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(2).normal(0, 2, (64, 4, 3)).astype(np.float32)
    target = np.full((64, 2, 4, 4), 0.25, np.float32)
    before = model.evaluate(data, target, verbose=0)
    model.fit(data, target, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(data, target, verbose=0) < 0.5 * before


def test_one_layer_is_called_one_way():
    x = Input(shape=(4, 6))
    mha = MultiHeadAttention(2, 3)
    mha(x, x)
    with pytest.raises(ValueError, match="return_attention_scores"):
        mha(x, x, return_attention_scores=True)
    plain = MultiHeadAttention(2, 3)
    assert not isinstance(plain(x, x), list)


def test_attention_returns_its_weights():
    query, value = Input(shape=(3, 4)), Input(shape=(5, 4))
    output, weights = Attention()([query, value], return_attention_scores=True)
    model = Model([query, value], [output, weights])
    rng = np.random.default_rng(8)
    q = rng.normal(size=(2, 3, 4)).astype(np.float32)
    v = rng.normal(size=(2, 5, 4)).astype(np.float32)
    y, w = model.predict([q, v], verbose=0)
    s = np.einsum("btd,bsd->bts", q.astype(np.float64), v.astype(np.float64))
    want = np.exp(s - s.max(axis=-1, keepdims=True))
    want /= want.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(w, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, np.einsum("bts,bsd->btd", want, v), rtol=1e-4, atol=1e-5)
