"""Frozen layers from Python (layer.trainable = False, model.trainable = False): weights unchanged bit
for bit by fit, counted as non-trainable, BatchNormalization in inference mode, changes after
compile taken up by the next fit, and the flag kept by save and load."""
import re

import numpy as np
import pytest

from myelin.layers import BatchNormalization, Dense, Flatten
from myelin.models import Sequential, load_model


def data(seed=3, rows=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5)).astype(np.float32)
    y = np.stack([x[:, 0] - x[:, 3], x[:, 1] * x[:, 2]], axis=1).astype(np.float32)
    return x, y


def mlp():
    return Sequential([Dense(8, activation="relu", input_shape=(5,)), Dense(6, activation="tanh"), Dense(2)])


def counts(model):
    """The summary's total, trainable and non-trainable parameter counts."""
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    return tuple(int(re.search(rf"^{label} params: ([\d,]+)$", text, re.M).group(1).replace(",", ""))
                 for label in ("Total", "Trainable", "Non-trainable"))


def test_trainable_is_a_property_of_every_layer_kept_in_its_config():
    dense = Dense(3)
    assert dense.trainable is True and dense.get_config()["trainable"] is True
    dense.trainable = False
    assert dense.trainable is False and dense.get_config()["trainable"] is False
    assert Dense.from_config(dense.get_config()).trainable is False
    assert Dense(3, trainable=False).trainable is False
    assert Flatten(trainable=False).get_config()["trainable"] is False


def test_a_frozen_layer_is_unchanged_bit_for_bit_while_the_others_train(seeded):
    x, y = data()
    model = mlp()
    model.build()
    model.layers[1].trainable = False
    model.compile(optimizer="adam", loss="mse")
    before = [layer.get_weights() for layer in model.layers]
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = [layer.get_weights() for layer in model.layers]
    for old, new in zip(before[1], after[1]):
        np.testing.assert_array_equal(new, old)
    for i in (0, 2):  # below and above the frozen layer
        assert not np.array_equal(after[i][0], before[i][0])


def test_frozen_weights_count_as_non_trainable():
    model = mlp()
    model.build()
    total = 5 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2
    assert counts(model) == (total, total, 0)
    model.layers[0].trainable = False
    assert counts(model) == (total, total - 48, 48)
    assert model.layers[0].count_params() == 48
    model.trainable = False
    assert not model.trainable
    assert all(not layer.trainable for layer in model.layers)
    assert counts(model) == (total, 0, total)
    model.layers[2].trainable = True
    assert model.trainable
    assert counts(model) == (total, 14, total - 14)


def test_freezing_after_compile_takes_effect_at_the_next_fit(seeded):
    x, y = data()
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.trainable = False
    frozen = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for old, new in zip(frozen, model.get_weights()):
        np.testing.assert_array_equal(new, old)
    model.layers[0].trainable = True
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(model.layers[0].get_weights()[0], frozen[0])
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], frozen[2])


def test_a_frozen_batch_normalization_uses_and_keeps_its_moving_statistics(seeded):
    x, y = data()
    x = 3 * x + 2  # far from the initial moving statistics (0, 1)
    bn = BatchNormalization(input_shape=(5,))
    model = Sequential([bn, Dense(2)])
    model.build()
    model.compile(optimizer="sgd", loss="mse")
    bn.trainable = False
    before = bn.get_weights()
    # The training step's loss is the one evaluate computes with the moving statistics
    # (a trainable layer would normalise with the batch's).
    loss_at_inference = model.evaluate(x, y, batch_size=64, verbose=0)
    assert model.train_on_batch(x, y) == pytest.approx(loss_at_inference, rel=1e-6)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for old, new in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(new, old)
    bn.trainable = True
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(bn.get_weights()[2], before[2])  # the moving mean moves again


def test_save_and_load_keep_the_frozen_layers(tmp_path, seeded):
    x, y = data()
    model = mlp()
    model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "frozen.safetensors")
    back = load_model(tmp_path / "frozen.safetensors")
    assert [layer.trainable for layer in back.layers] == [False, True, True]
    assert counts(back) == counts(model)
    first = back.layers[0].get_weights()
    back.fit(x, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(back.layers[0].get_weights()[0], first[0])
