"""myelin.mixed_precision from Python: the policy's names, a mixed_bfloat16 Dense against numpy in
float64 within bfloat16's bound (each product of two values rounded to 8 significant bits is off by at
most 2^-7 of |x||w|), and the policy kept in saved files whose weights stay float32."""
import numpy as np
import pytest

import myelin
from myelin import mixed_precision
from myelin.layers import Dense
from myelin.models import Sequential, load_model

from conftest import read_safetensors

needs_bf16 = pytest.mark.skipif(not mixed_precision.bf16_supported(), reason="no bfloat16 dot products on this CPU")


@pytest.fixture
def policy():
    yield
    mixed_precision.set_global_policy("float32")


def test_policy_names(policy):
    assert mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match="unknown dtype policy"):
        mixed_precision.set_global_policy("mixed_float16")
    mixed_precision.set_global_policy("auto")
    expected = "mixed_bfloat16" if mixed_precision.bf16_faster_than_float32() else "float32"
    assert mixed_precision.global_policy().name == expected
    if not mixed_precision.bf16_supported():
        assert not mixed_precision.bf16_faster_than_float32()
        with pytest.raises(myelin.Error, match="AVX512_BF16"):
            mixed_precision.set_global_policy("mixed_bfloat16")


@needs_bf16
def test_dense_in_bfloat16_is_within_the_bound_of_float64(policy, tmp_path):
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = Sequential([Dense(12, input_shape=(300,))])
    assert model.layers[0].get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    rng = np.random.default_rng(4)
    w = rng.uniform(-1, 1, (300, 12)).astype(np.float32)
    b = rng.uniform(-1, 1, 12).astype(np.float32)
    model.set_weights([w, b])
    x = rng.uniform(-1, 1, (50, 300)).astype(np.float32)
    got = model.predict(x, verbose=0)
    exact = x.astype(np.float64) @ w.astype(np.float64) + b
    bound = 1.01 * 2.0 ** -7 * (np.abs(x).astype(np.float64) @ np.abs(w)) + 1e-6
    assert np.all(np.abs(got - exact) <= bound)
    assert np.max(np.abs(got - exact)) > 1e-4  # a float32 product would be far closer: bf16 ran

    path = tmp_path / "bf16.safetensors"
    model.save(str(path))
    weights = read_safetensors(path)  # asserts every tensor is F32
    assert any(np.array_equal(v, w) for v in weights.values())
    mixed_precision.set_global_policy("float32")
    loaded = load_model(str(path))
    assert loaded.layers[0].get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), got)
    # The same weights under float32: close to float64 at float32's precision.
    f32 = Sequential([Dense(12, input_shape=(300,), dtype="float32")])
    f32.set_weights([w, b])
    np.testing.assert_allclose(f32.predict(x, verbose=0), exact, rtol=0, atol=1e-4)


@needs_bf16
def test_recurrent_layers_take_the_policy(policy):
    """LSTM, GRU and SimpleRNN under mixed_bfloat16 (the global policy, or dtype=): the policy in their
    configs, and predictions within bfloat16's rounding of the same weights' float32 ones (the C++
    tests bound a sequence's difference at 0.02 of its largest value; here 2-layer outputs in [-1, 1])."""
    from myelin.layers import GRU, LSTM, SimpleRNN
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (40, 7, 10)).astype(np.float32)
    mixed_precision.set_global_policy("mixed_bfloat16")
    bf16 = Sequential([LSTM(32, return_sequences=True, input_shape=(7, 10)), GRU(32, return_sequences=True),
                       SimpleRNN(16)])
    for layer in bf16.layers:
        assert layer.get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    mixed_precision.set_global_policy("float32")
    fp32 = Sequential([LSTM(32, return_sequences=True, input_shape=(7, 10)), GRU(32, return_sequences=True),
                       SimpleRNN(16, dtype="float32")])
    assert "dtype" not in fp32.layers[2].get_config()
    fp32.set_weights(bf16.get_weights())
    got, want = bf16.predict(x, verbose=0), fp32.predict(x, verbose=0)
    assert np.max(np.abs(got - want)) <= 0.02
    assert np.max(np.abs(got - want)) > 0  # bfloat16 ran
    assert LSTM(8, dtype="mixed_bfloat16").get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"


@needs_bf16
def test_attention_layers_take_the_policy(policy):
    """MultiHeadAttention under mixed_bfloat16 (the global policy, or dtype=): the policy in its config,
    and self-attention's outputs within bfloat16's rounding of the same weights' float32 ones (the C++
    tests bound them at 0.02 of the largest value); Attention's dtype= in its config."""
    from myelin.layers import Input, MultiHeadAttention
    from myelin.models import Model
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, (12, 9, 16)).astype(np.float32)

    def model(**kwargs):
        inputs = Input(shape=(9, 16))
        return Model(inputs, MultiHeadAttention(num_heads=2, key_dim=8, **kwargs)(inputs, inputs))

    mixed_precision.set_global_policy("mixed_bfloat16")
    bf16 = model()
    assert bf16.layers[1].get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    mixed_precision.set_global_policy("float32")
    fp32 = model()
    assert "dtype" not in fp32.layers[1].get_config()
    fp32.set_weights(bf16.get_weights())
    got, want = bf16.predict(x, verbose=0), fp32.predict(x, verbose=0)
    assert np.max(np.abs(got - want)) <= 0.02 * np.max(np.abs(want))
    assert np.max(np.abs(got - want)) > 0  # bfloat16 ran
    assert model(dtype="mixed_bfloat16").layers[1].get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    from myelin.layers import Attention
    assert Attention(dtype="mixed_bfloat16").get_config()["dtype"]["config"]["name"] == "mixed_bfloat16"
    assert "dtype" not in Attention().get_config()
