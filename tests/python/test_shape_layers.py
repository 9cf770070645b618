"""GlobalAveragePooling2D, GlobalMaxPooling2D, Reshape, ZeroPadding2D and SpatialDropout2D from Python:
each against numpy, Keras's arguments and their errors, models using them that train, and a save and
load round trip of such models."""
import numpy as np
import pytest

import myelin
from myelin.layers import (Conv2D, Dense, GlobalAveragePooling2D, GlobalMaxPooling2D, Reshape,
                           SpatialDropout2D, ZeroPadding2D)
from myelin.models import Sequential, load_model
from myelin.optimizers import Adam


def images(seed=1, shape=(3, 5, 4, 3)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_global_pooling_is_the_mean_and_max_over_each_image():
    x = images()
    average = Sequential([GlobalAveragePooling2D(input_shape=(5, 4, 3))])
    np.testing.assert_allclose(average.predict(x), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert average.output_shape == (None, 3)
    biggest = Sequential([GlobalMaxPooling2D(keepdims=True, input_shape=(5, 4, 3))])
    np.testing.assert_array_equal(biggest.predict(x), x.max(axis=(1, 2), keepdims=True))
    assert biggest.output_shape == (None, 1, 1, 3)
    assert GlobalMaxPooling2D().get_config()["keepdims"] is False
    assert not isinstance(GlobalMaxPooling2D(), GlobalAveragePooling2D)
    with pytest.raises(ValueError, match="channels_last"):
        GlobalAveragePooling2D(data_format="channels_first")
    with pytest.raises(myelin.ShapeError, match="global_max_pooling2d"):
        Sequential([GlobalMaxPooling2D(input_shape=(5,))]).build()


def test_reshape_is_numpys_reshape_with_one_inferred_entry():
    x = images()
    model = Sequential([Reshape((4, -1), input_shape=(5, 4, 3))])
    assert model.output_shape == (None, 4, 15)
    np.testing.assert_array_equal(model.predict(x), x.reshape(3, 4, 15))
    assert Reshape([2, 3]).get_config()["target_shape"] == [2, 3]
    with pytest.raises(ValueError, match="-1"):
        Reshape((-1, -1))
    with pytest.raises(TypeError, match="target_shape"):
        Reshape(6)
    with pytest.raises(TypeError, match="target_shape"):
        Reshape((2.5, 2))
    with pytest.raises(myelin.ShapeError, match="60"):
        Sequential([Reshape((7, -1), input_shape=(5, 4, 3))]).build()


@pytest.mark.parametrize("padding, pads", [
    (2, ((2, 2), (2, 2))),
    ((1, 3), ((1, 1), (3, 3))),
    (((0, 2), (1, 0)), ((0, 2), (1, 0))),
])
def test_zero_padding_is_numpys_pad_with_zeros(padding, pads):
    x = images()
    model = Sequential([ZeroPadding2D(padding, input_shape=(5, 4, 3))])
    expected = np.pad(x, ((0, 0),) + pads + ((0, 0),))
    np.testing.assert_array_equal(model.predict(x), expected)
    assert model.output_shape == (None,) + expected.shape[1:]
    assert model.layers[0].get_config()["padding"] == [list(p) for p in pads]


def test_zero_padding_defaults_to_one_pixel_and_refuses_other_forms():
    assert ZeroPadding2D().get_config()["padding"] == [[1, 1], [1, 1]]
    for bad in [(1, 2, 3), ((1, 2), 3), ((1, 2, 3), (1, 2))]:
        with pytest.raises(ValueError, match="ZeroPadding2D padding"):
            ZeroPadding2D(bad)
    with pytest.raises(ValueError, match="negative"):
        ZeroPadding2D(-1)
    with pytest.raises(TypeError, match="integer"):
        ZeroPadding2D(1.5)


def test_spatial_dropout_is_the_identity_at_inference_and_drops_in_training(seeded):
    x = images(shape=(8, 4, 4, 16)) + 3.0
    model = Sequential([SpatialDropout2D(0.5, input_shape=(4, 4, 16)), GlobalAveragePooling2D()])
    np.testing.assert_allclose(model.predict(x), x.mean(axis=(1, 2)), rtol=1e-5)
    # With nothing to train, the training loss differs from the evaluation loss only by the drops.
    model.compile(optimizer="sgd", loss="mse")
    target = x.mean(axis=(1, 2))
    assert model.evaluate(x, target, verbose=0) < 1e-10
    assert model.train_on_batch(x, target) > 1.0
    assert SpatialDropout2D(0.25).get_config()["rate"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="seed"):
        SpatialDropout2D(0.5, seed=1)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        SpatialDropout2D(1.0)


def small_cnns():
    return {
        "average": lambda: Sequential([
            ZeroPadding2D((1, 2), input_shape=(8, 8, 1)), Conv2D(6, 3, activation="relu"),
            SpatialDropout2D(0.1), GlobalAveragePooling2D(), Dense(1, activation="sigmoid")]),
        "max": lambda: Sequential([
            Conv2D(6, 3, activation="relu", input_shape=(8, 8, 1)), SpatialDropout2D(0.1),
            GlobalMaxPooling2D(keepdims=True), Reshape((-1,)), Dense(1, activation="sigmoid")]),
    }


@pytest.mark.parametrize("kind", ["average", "max"])
def test_a_cnn_of_these_layers_trains_and_survives_save_and_load(kind, tmp_path, seeded):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(96, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.float32)  # brighter than average: global pooling sees it
    model = small_cnns()[kind]()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=40, batch_size=16, verbose=0).history
    # Measured with seed 7: the loss falls by half or more, training accuracy ends at 0.85 or above.
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["accuracy"][-1] > 0.8
    path = tmp_path / f"{kind}.safetensors"
    model.save(path)
    back = load_model(path)
    assert [type(l) for l in back.layers] == [type(l) for l in model.layers]
    assert back.get_config() == model.get_config()
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
