"""MultiHeadAttention and TimeDistributed from Python: a small Transformer classifier fits a toy
task, save/load gives identical predictions, weights have Keras 3's names and shapes, numpy's
attention matches the layer, masks as Keras's call arguments, and clear errors for what myelin
does not support."""
import numpy as np
import pytest

import myelin
from myelin.layers import (Add, Attention, Dense, Flatten, GlobalAveragePooling1D, Input, LayerNormalization,
                           MultiHeadAttention, TimeDistributed)
from myelin.models import Model, Sequential, load_model


def encoder_block(x, d, causal=False):
    a = MultiHeadAttention(num_heads=2, key_dim=d // 2, use_causal_mask=causal)(x, x)
    h = LayerNormalization(epsilon=1e-6)(Add()([x, a]))
    f = Dense(d)(Dense(2 * d, activation="relu")(h))
    return LayerNormalization(epsilon=1e-6)(Add()([h, f]))


def majority_task(n, seed, steps=8, d=8):
    """Whether more than half of the steps have feature 0 above feature 1: a question about the
    whole set of steps, answered by the pooled encoder."""
    x = np.random.default_rng(seed).uniform(-1, 1, size=(n, steps, d)).astype(np.float32)
    return x, ((x[:, :, 0] > x[:, :, 1]).sum(axis=1) > steps // 2).astype(np.int64)


def test_transformer_classifier_fits_and_survives_save_load(tmp_path, seeded):
    x, y = majority_task(512, 1)
    xt, yt = majority_task(256, 2)
    inputs = Input(shape=(8, 8))
    h = encoder_block(encoder_block(inputs, 8), 8)
    outputs = Dense(2, activation="softmax")(GlobalAveragePooling1D()(h))
    model = Model(inputs, outputs)
    model.compile(optimizer=myelin.optimizers.Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    chance = max(yt.mean(), 1 - yt.mean())
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(xt, yt, verbose=0)
    assert accuracy > chance + 0.15, (accuracy, chance)
    model.save(tmp_path / "transformer.safetensors")
    loaded = load_model(tmp_path / "transformer.safetensors")
    np.testing.assert_array_equal(loaded.predict(xt, verbose=0), model.predict(xt, verbose=0))
    config = loaded.get_layer("multi_head_attention").get_config()
    assert config["num_heads"] == 2 and config["key_dim"] == 4 and config["value_dim"] == 4


def numpy_attention(query, value, weights, heads, causal=False, mask=None):
    """Keras's MultiHeadAttention in numpy, from the layer's own weights."""
    qk, qb, kk, kb, vk, vb, ok, ob = weights
    q = np.einsum("btd,dhk->bthk", query, qk) + qb
    k = np.einsum("bsd,dhk->bshk", value, kk) + kb
    v = np.einsum("bsd,dhk->bshk", value, vk) + vb
    scores = np.einsum("bthk,bshk->bhts", q, k) / np.sqrt(qk.shape[-1])
    allowed = np.ones(scores.shape[-2:], bool)[None, None]
    if causal:
        allowed = allowed & np.tril(np.ones(scores.shape[-2:], bool))[None, None]
    if mask is not None:
        allowed = allowed & (mask[:, None] > 0)
    scores = np.where(allowed, scores, -1e9)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return np.einsum("bthk,hko->bto", np.einsum("bhts,bshk->bthk", p, v), ok) + ob


def test_weights_and_outputs_match_numpy(seeded):
    query, value, mask = Input(shape=(5, 6)), Input(shape=(7, 3)), Input(shape=(5, 7))
    mha = MultiHeadAttention(3, 4, value_dim=2, output_shape=5, use_causal_mask=True)
    model = Model([query, value, mask], mha(query, value, attention_mask=mask))
    model.get_weights()  # builds the model
    shapes = [w.shape for w in mha.get_weights()]
    assert shapes == [(6, 3, 4), (3, 4), (3, 3, 4), (3, 4), (3, 3, 2), (3, 2), (3, 2, 5), (5,)]
    rng = np.random.default_rng(3)
    mha.set_weights([rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in shapes])
    xq = rng.uniform(-1, 1, (2, 5, 6)).astype(np.float32)
    xv = rng.uniform(-1, 1, (2, 7, 3)).astype(np.float32)
    m = (rng.uniform(size=(2, 5, 7)) > 0.3).astype(np.float32)
    m[:, :, 0] = 1
    want = numpy_attention(xq.astype(np.float64), xv.astype(np.float64), mha.get_weights(), 3, causal=True, mask=m)
    np.testing.assert_allclose(model.predict([xq, xv, m], verbose=0), want, rtol=1e-4, atol=1e-5)


def test_unsupported_call_arguments_are_clear_errors():
    x = Input(shape=(4, 6))
    with pytest.raises(ValueError, match="use_causal_mask=True"):
        MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match="query_mask"):
        MultiHeadAttention(2, 3)(x, x, query_mask=x)
    y = Input(shape=(4, 5, 2))
    with pytest.raises(Exception, match=r"multi_head_attention.*\(None, 4, 5, 2\)"):
        Model(y, MultiHeadAttention(2, 3)(y, y)).get_weights()


def test_time_distributed_dense_and_save_load(tmp_path, seeded):
    model = Sequential([Input(shape=(5, 3)), TimeDistributed(Dense(4, activation="tanh")), Flatten(), Dense(1)])
    model.get_weights()  # builds the model
    kernel, bias = model.get_layer("time_distributed").get_weights()
    assert kernel.shape == (3, 4) and bias.shape == (4,)
    x = np.random.default_rng(4).uniform(-1, 1, (6, 5, 3)).astype(np.float32)
    steps = Model(model.inputs, model.get_layer("time_distributed").output).predict(x, verbose=0)
    np.testing.assert_allclose(steps, np.tanh(x @ kernel + bias), rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, 0, :1], epochs=2, verbose=0)
    model.save(tmp_path / "td.safetensors")
    loaded = load_model(tmp_path / "td.safetensors")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("time_distributed").get_config()["layer"]["class_name"] == "Dense"


def test_dot_attention_matches_numpy_and_saves(tmp_path, seeded):
    query, value = Input(shape=(3, 4)), Input(shape=(5, 4))
    model = Model([query, value], Attention(use_causal_mask=True)([query, value]))
    rng = np.random.default_rng(5)
    q = rng.uniform(-1, 1, (2, 3, 4)).astype(np.float32)
    v = rng.uniform(-1, 1, (2, 5, 4)).astype(np.float32)
    scores = np.where(np.tril(np.ones((3, 5), bool)), np.einsum("btd,bsd->bts", q, v), -1e9)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    want = np.einsum("bts,bsd->btd", p / p.sum(axis=-1, keepdims=True), v)
    np.testing.assert_allclose(model.predict([q, v], verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "att.safetensors")
    loaded = load_model(tmp_path / "att.safetensors")
    np.testing.assert_array_equal(loaded.predict([q, v], verbose=0), model.predict([q, v], verbose=0))
    assert loaded.get_layer("attention").get_config()["use_causal_mask"] is True
    with pytest.raises(ValueError, match="use_scale"):
        Attention(use_scale=True)
    used = Attention()
    used([query, value])
    with pytest.raises(ValueError, match="return_attention_scores"):
        used([query, value], return_attention_scores=True)
