"""Rescaling, CenterCrop and Resizing from Python: a Sequential of the three against values worked
out by hand, Keras's arguments and their errors, and a save and load round trip."""
import numpy as np
import pytest

from myelin.layers import CenterCrop, Rescaling, Resizing
from myelin.models import Sequential, load_model


def test_rescale_crop_and_resize_in_one_model(tmp_path):
    # x[n, r, c, 0] = 10 r + c; Rescaling doubles and adds 1, CenterCrop keeps rows 1..4 and columns
    # 2..5 of the 6 x 8 image, Resizing halves the 4 x 4 crop bilinearly (the mean of each 2 x 2 block).
    r, c = np.meshgrid(np.arange(6), np.arange(8), indexing="ij")
    x = np.stack([10.0 * r + c, 10.0 * r + c + 100]).astype(np.float32)[..., None]
    model = Sequential([Rescaling(2.0, offset=1.0, input_shape=(6, 8, 1)), CenterCrop(4, 4), Resizing(2, 2)])
    assert model.output_shape == (None, 2, 2, 1)
    block_means = np.array([[15 + 2.5, 15 + 4.5], [35 + 2.5, 35 + 4.5]], dtype=np.float32)
    want = np.stack([2 * block_means + 1, 2 * (block_means + 100) + 1])[..., None]
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-6)

    path = str(tmp_path / "m.safetensors")
    model.save(path)
    loaded = load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == ["Rescaling", "CenterCrop", "Resizing"]
    assert loaded.layers[2].get_config()["interpolation"] == "bilinear"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_nearest_and_keras_arguments():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    model = Sequential([Resizing(2, 2, interpolation="nearest", input_shape=(4, 4, 1))])
    np.testing.assert_array_equal(model.predict(x)[0, :, :, 0], [[5, 7], [13, 15]])
    config = Resizing(3, 5, crop_to_aspect_ratio=True).get_config()
    assert (config["height"], config["width"], config["crop_to_aspect_ratio"]) == (3, 5, True)
    assert Rescaling(1 / 255).get_config()["offset"] == 0.0
    with pytest.raises(ValueError, match="Resizing height"):
        Resizing(0, 3)
    with pytest.raises(ValueError, match="bicubic"):
        Resizing(3, 3, interpolation="bicubic")
    with pytest.raises(ValueError, match="CenterCrop width"):
        CenterCrop(3, -1)
    with pytest.raises(ValueError, match="antialias"):
        Resizing(3, 3, antialias=True)
    with pytest.raises(ValueError, match="per-channel"):
        Rescaling([1.0, 2.0, 3.0])
