"""Keras's random image augmentation layers from Python: the identity at inference, a save and load
round trip keeping Keras's config, seeds that fix what fit sees, and the arguments' errors."""
import numpy as np
import pytest

import myelin
from myelin.layers import (Flatten, Dense, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                           RandomRotation, RandomTranslation, RandomZoom, Resizing)
from myelin.models import Sequential, load_model


def _images(n=4, h=6, w=7, c=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, h, w, c)).astype(np.float32)


def test_inference_is_the_identity_and_random_crop_resizes_the_centred_window(tmp_path):
    x = _images()
    layers = [RandomFlip(seed=1), RandomRotation(0.2, fill_mode="constant"), RandomZoom(0.3, (-0.1, 0.2)),
              RandomTranslation(0.2, 0.1, fill_mode="wrap", interpolation="nearest"), RandomContrast(0.5),
              RandomBrightness((-0.2, 0.3), value_range=[0, 255], seed=3)]
    model = Sequential([myelin.Input((6, 7, 3))] + layers)
    np.testing.assert_array_equal(model.predict(x), x)

    crop = Sequential([RandomCrop(4, 4, seed=2, input_shape=(6, 7, 3))])
    resize = Sequential([Resizing(4, 4, crop_to_aspect_ratio=True, input_shape=(6, 7, 3))])
    assert crop.output_shape == (None, 4, 4, 3)
    np.testing.assert_array_equal(crop.predict(x), resize.predict(x))

    path = str(tmp_path / "aug.safetensors")
    model.save(path)
    loaded = load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in layers]
    for a, b in zip(loaded.layers, layers):
        assert a.get_config() == b.get_config()
    np.testing.assert_array_equal(loaded.predict(x), x)


def test_keras_config_names_and_normalised_factors():
    rot = RandomRotation(0.2).get_config()
    assert rot["factor"] == [-0.2, 0.2]
    assert (rot["fill_mode"], rot["interpolation"], rot["fill_value"], rot["seed"]) == ("reflect", "bilinear", 0.0, None)
    assert RandomRotation((0.3, -0.1)).get_config()["factor"] == [-0.1, 0.3]
    zoom = RandomZoom(0.3).get_config()
    assert zoom["height_factor"] == 0.3 and zoom["width_factor"] is None
    assert RandomTranslation(0.1, [0.0, 0.2]).get_config()["width_factor"] == [0.0, 0.2]
    # Keras 3 turns one contrast number f into (0, f); brightness into (-f, f).
    assert RandomContrast(0.5).get_config()["factor"] == [0.0, 0.5]
    assert RandomBrightness(0.25, value_range=(1, 0)).get_config()["factor"] == [-0.25, 0.25]
    assert RandomBrightness(0.25, value_range=(1, 0)).get_config()["value_range"] == [0.0, 1.0]
    flip = RandomFlip("vertical", seed=7).get_config()
    assert (flip["mode"], flip["seed"], flip["data_format"]) == ("vertical", 7, "channels_last")
    assert RandomCrop(3, 5, seed=4).get_config()["seed"] == 4


def _trained_weights(layer_seed):
    myelin.set_random_seed(0)
    model = Sequential([myelin.Input((6, 6, 1)), RandomTranslation(0.3, 0.3, seed=layer_seed),
                        RandomContrast(0.4, value_range=(0, 1), seed=layer_seed), Flatten(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).uniform(0, 1, (16, 6, 6, 1)).astype(np.float32)
    y = np.random.default_rng(2).uniform(-1, 1, (16, 1)).astype(np.float32)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    return model.get_weights()


def test_the_layer_seed_fixes_what_fit_sees():
    a, b, c = _trained_weights(5), _trained_weights(5), _trained_weights(6)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


@pytest.mark.parametrize("make, message", [
    (lambda: RandomFlip("diagonal"), "RandomFlip.*diagonal"),
    (lambda: RandomRotation(1.5), "RandomRotation.*factor"),
    (lambda: RandomRotation(0.1, fill_mode="mirror"), "RandomRotation.*fill_mode.*mirror"),
    (lambda: RandomRotation(0.1, interpolation="bicubic"), "RandomRotation.*bicubic"),
    (lambda: RandomZoom(-1.0), "RandomZoom.*height_factor"),
    (lambda: RandomTranslation(0.1, (0.1, 0.2, 0.3)), "RandomTranslation width_factor"),
    (lambda: RandomCrop(0, 3), "RandomCrop height"),
    (lambda: RandomContrast(-0.2), "RandomContrast.*factor"),
    (lambda: RandomBrightness(0.1, value_range=(2, 2)), "RandomBrightness.*value_range"),
    (lambda: RandomBrightness(0.1, value_range=5), "RandomBrightness value_range"),
])
def test_bad_arguments_name_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_layer_on_a_non_image_input_names_itself():
    model = Sequential([RandomFlip(input_shape=(4,))])
    with pytest.raises(Exception, match="RandomFlip 'random_flip' needs a per-sample input of shape"):
        model.output_shape
