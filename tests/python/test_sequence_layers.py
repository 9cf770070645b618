"""Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D and UpSampling1D
from Python: against numpy, Keras's arguments and their errors, a sequence model that trains, and a
save and load round trip."""
import json

import numpy as np
import pytest

import myelin
from myelin.layers import (AveragePooling1D, Conv1D, Dense, GlobalAveragePooling1D, GlobalMaxPooling1D,
                           MaxPooling1D, UpSampling1D)
from myelin.models import Sequential, load_model, model_from_json
from myelin.optimizers import Adam

from conftest import read_safetensors


def sequences(seed=1, shape=(3, 10, 4)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def conv1d_numpy(x, kernel, bias, stride=1, dilation=1, padding="valid"):
    """Keras's Conv1D in numpy, channels_last, kernel (k, in, out)."""
    k = kernel.shape[0]
    span = (k - 1) * dilation + 1
    steps = x.shape[1]
    if padding == "causal":
        x = np.pad(x, ((0, 0), (span - 1, 0), (0, 0)))
    elif padding == "same":
        out = -(-steps // stride)
        total = max((out - 1) * stride + span - steps, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    out = (x.shape[1] - span) // stride + 1
    y = np.zeros((x.shape[0], out, kernel.shape[2]))
    for t in range(out):
        for i in range(k):
            y[:, t] += x[:, t * stride + i * dilation] @ kernel[i]
    return (y + bias).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(padding="same", strides=2),
    dict(padding="causal", dilation_rate=2),
    dict(padding="causal", strides=(3,)),
])
def test_conv1d_matches_numpy(kwargs):
    x = sequences()
    model = Sequential([Conv1D(5, 3, input_shape=(10, 4), bias_initializer="glorot_uniform", **kwargs)])
    model.build()
    kernel, bias = model.layers[0].get_weights()
    assert kernel.shape == (3, 4, 5)  # Keras's (kernel_size, in_channels, filters)
    stride = kwargs.get("strides", 1)
    expected = conv1d_numpy(x, kernel, bias, stride=stride[0] if isinstance(stride, tuple) else stride,
                            dilation=kwargs.get("dilation_rate", 1), padding=kwargs.get("padding", "valid"))
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
    assert model.output_shape == (None,) + expected.shape[1:]


def test_pooling_and_up_sampling_match_numpy():
    x = sequences(shape=(2, 9, 3))
    np.testing.assert_array_equal(Sequential([MaxPooling1D(input_shape=(9, 3))]).predict(x),
                                  x[:, :8].reshape(2, 4, 2, 3).max(axis=2))
    np.testing.assert_allclose(Sequential([AveragePooling1D(3, input_shape=(9, 3))]).predict(x),
                               x.reshape(2, 3, 3, 3).mean(axis=2), rtol=1e-6, atol=1e-6)
    # 'same': the last window holds the one step left over, and averages over it alone.
    same = Sequential([AveragePooling1D(2, padding="same", input_shape=(9, 3))]).predict(x)
    assert same.shape == (2, 5, 3)
    np.testing.assert_allclose(same[:, 4], x[:, 8], rtol=1e-6)
    np.testing.assert_allclose(Sequential([GlobalAveragePooling1D(input_shape=(9, 3))]).predict(x),
                               x.mean(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(Sequential([GlobalMaxPooling1D(keepdims=True, input_shape=(9, 3))]).predict(x),
                                  x.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(Sequential([UpSampling1D(3, input_shape=(9, 3))]).predict(x),
                                  np.repeat(x, 3, axis=1))


def test_keras_arguments_configs_and_errors():
    config = Conv1D(8, (5,), padding="causal", dilation_rate=2, activation="relu").get_config()
    assert config["kernel_size"] == [5] and config["dilation_rate"] == [2] and config["strides"] == [1]
    assert config["padding"] == "causal" and config["activation"] == "relu"
    assert MaxPooling1D(3).get_config()["strides"] == [3]
    assert AveragePooling1D(3, strides=1).get_config()["strides"] == [1]
    assert GlobalAveragePooling1D().get_config()["keepdims"] is False
    assert not isinstance(AveragePooling1D(), MaxPooling1D)
    assert not isinstance(GlobalMaxPooling1D(), GlobalAveragePooling1D)
    assert UpSampling1D().get_config()["size"] == 2
    with pytest.raises(ValueError, match="padding"):
        Conv1D(4, 3, padding="full")
    with pytest.raises(ValueError, match="dilation_rate"):
        Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv1D(4, (3, 3))
    with pytest.raises(ValueError, match="channels_last"):
        Conv1D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="padding"):
        MaxPooling1D(2, padding="causal")
    with pytest.raises(ValueError, match="size"):
        UpSampling1D(0)
    with pytest.raises(myelin.ShapeError, match=r"conv1d.*\(None, 8, 8, 1\)"):
        Sequential([Conv1D(4, 3, input_shape=(8, 8, 1))]).build()
    with pytest.raises(myelin.ShapeError, match="max_pooling1d"):
        Sequential([MaxPooling1D(4, input_shape=(3, 2))]).build()


def sequence_model():
    return Sequential([
        Conv1D(8, 3, activation="relu", padding="causal", input_shape=(16, 2)),
        MaxPooling1D(2),
        GlobalAveragePooling1D(),
        Dense(1, activation="sigmoid"),
    ])


def test_a_sequence_model_trains_and_survives_save_and_load(tmp_path, seeded):
    # Label: whether the first channel's mean exceeds the second's, what a convolution and global
    # average pooling can see.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(128, 16, 2)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > x[:, :, 1].mean(axis=1)).astype(np.float32)
    model = sequence_model()
    model.compile(optimizer=Adam(learning_rate=0.02), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history
    # Measured with seed 7: loss 0.65 -> 0.10, training accuracy 0.65 -> 0.96.
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.85

    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for row in ["conv1d (Conv1D)", "(None, 16, 8)", "max_pooling1d (MaxPooling1D)", "(None, 8, 8)",
                "global_average_pooling1d (GlobalAveragePooling1D)"]:
        assert row in text, text

    path = tmp_path / "sequence.safetensors"
    model.save(path)
    back = load_model(path)
    assert [type(l) for l in back.layers] == [type(l) for l in model.layers]
    assert back.get_config() == model.get_config()
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    # The file holds the kernel in Keras's layout, readable without myelin.
    tensors = read_safetensors(path)
    np.testing.assert_array_equal(tensors["conv1d/kernel"], model.layers[0].get_weights()[0])
    assert tensors["conv1d/kernel"].shape == (3, 2, 8)

    # The architecture alone, as JSON, gives the same layers.
    arch = json.loads(model.to_json())
    names = [l["class_name"] for l in arch["config"]["layers"]]
    assert "Conv1D" in names and "MaxPooling1D" in names and "GlobalAveragePooling1D" in names
    assert model_from_json(model.to_json()).get_config() == model.get_config()
