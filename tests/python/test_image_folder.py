"""myelin.utils.image_dataset_from_directory against Keras's own rules: its file order and
seeded split (numpy's RandomState shuffle), its class order and labels, pixels as PIL decodes
them, and a model trained from a folder."""
import os

import numpy as np
import pytest

import myelin
from myelin.layers import Dense, Flatten, Input, Rescaling
from myelin.models import Sequential
from myelin.utils import image_dataset_from_directory

Image = pytest.importorskip("PIL.Image", reason="python3-pil (installed by scripts/setup.sh) writes the test images")


def write_folder(root, counts, size=(6, 5), seed=0):
    """counts: class name -> number of images; returns Keras's sorted (path, label) list."""
    rng = np.random.default_rng(seed)
    files = []
    for label, name in enumerate(sorted(counts)):
        os.makedirs(root / name, exist_ok=True)
        for i in range(counts[name]):
            pixels = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
            ext = ("png", "jpg", "bmp")[i % 3]
            path = root / name / f"img_{i:02d}.{ext}"
            Image.fromarray(pixels).save(path, quality=95) if ext == "jpg" else Image.fromarray(pixels).save(path)
            files.append((str(path), label))
    return sorted(files)


def keras_shuffled(files, seed):
    paths = [p for p, _ in files]
    np.random.RandomState(seed).shuffle(paths)
    return paths


def test_file_order_and_split_are_keras_s(tmp_path):
    files = write_folder(tmp_path, {"cat": 7, "dog": 5, "emu": 4})
    train, val = image_dataset_from_directory(tmp_path, seed=1234, validation_split=0.3, subset="both",
                                              image_size=(6, 5), verbose=False)
    shuffled = keras_shuffled(files, 1234)
    n_val = int(0.3 * len(files))
    assert train.file_paths == shuffled[:-n_val]
    assert val.file_paths == shuffled[-n_val:]
    assert train.class_names == ["cat", "dog", "emu"]
    label_of = dict(files)
    assert train.file_labels == [label_of[p] for p in train.file_paths]
    alone = image_dataset_from_directory(tmp_path, seed=1234, validation_split=0.3, subset="validation",
                                         image_size=(6, 5), verbose=False)
    assert alone.file_paths == val.file_paths
    unshuffled = image_dataset_from_directory(tmp_path, shuffle=False, image_size=(6, 5), verbose=False)
    assert unshuffled.file_paths == [p for p, _ in files]
    legacy = myelin.preprocessing.image_dataset_from_directory(tmp_path, shuffle=False, image_size=(6, 5), verbose=False)
    assert legacy.file_paths == unshuffled.file_paths


def test_pixels_are_pil_s_and_predict_keeps_file_order(tmp_path):
    files = write_folder(tmp_path, {"a": 4, "b": 3})
    ds = image_dataset_from_directory(tmp_path, image_size=(6, 5), batch_size=2, seed=3, verbose=False)
    identity = Sequential([Input((6, 5, 3)), Rescaling(1.0)])
    images = identity.predict(ds)
    assert images.shape == (7, 6, 5, 3)
    for row, path in zip(images, ds.file_paths):
        expected = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        np.testing.assert_array_equal(row, expected, err_msg=path)
    grey = image_dataset_from_directory(tmp_path, image_size=(6, 5), color_mode="grayscale", shuffle=False,
                                        verbose=False)
    rows = Sequential([Input((6, 5, 1)), Rescaling(1.0)]).predict(grey)
    for row, path in zip(rows, grey.file_paths):
        expected = np.asarray(Image.open(path).convert("L"), dtype=np.float32)[..., None]
        np.testing.assert_array_equal(row, expected, err_msg=path)


def test_labels_given_as_a_list_and_label_modes(tmp_path):
    files = write_folder(tmp_path, {"x": 3, "y": 3})
    labels = [i % 2 for i in range(len(files))]
    ds = image_dataset_from_directory(tmp_path, labels=labels, label_mode="categorical", shuffle=False,
                                      image_size=(6, 5), verbose=False)
    assert ds.file_paths == [p for p, _ in files]
    assert ds.class_names == ["0", "1"]
    assert ds.y_shape == (2,)
    with pytest.raises(ValueError, match="labels"):
        image_dataset_from_directory(tmp_path, labels=[0, 1], verbose=False)
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(tmp_path, validation_split=0.2, subset="training", verbose=False)
    images_only = image_dataset_from_directory(tmp_path, labels=None, shuffle=False, image_size=(6, 5), verbose=False)
    assert images_only.file_paths == [p for p, _ in files]
    assert images_only.y_shape == (0,)
    rows = Sequential([Input((6, 5, 3)), Rescaling(1.0)]).predict(images_only)
    np.testing.assert_array_equal(rows[0], np.asarray(Image.open(files[0][0]).convert("RGB"), dtype=np.float32))


def test_a_model_trains_with_the_dataset_s_batch_size(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name, channel in (("blue", 2), ("red", 0)):
        os.makedirs(tmp_path / name)
        for i in range(20):
            pixels = rng.integers(0, 60, size=(8, 8, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    train, val = image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=5, seed=9,
                                              validation_split=0.25, subset="both")
    out = capsys.readouterr().out
    assert "Found 40 files belonging to 2 classes." in out
    assert "Using 30 files for training." in out and "Using 10 files for validation." in out
    assert train.batch_size == 5
    myelin.utils.set_random_seed(2)
    model = Sequential([Input((8, 8, 3)), Rescaling(1 / 255), Flatten(), Dense(2, activation="softmax")])
    model.compile(optimizer=myelin.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, epochs=15, validation_data=val, verbose=0)
    assert history.params["steps"] == 6  # 30 files in batches of the dataset's 5
    assert history.history["val_accuracy"][-1] == 1.0
