"""Data sets and preprocessing in Keras's and scikit-learn's forms, checked against numpy."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

import myelin
from myelin import _myelin
from myelin.datasets import boston_housing, diabetes, digits, fashion_mnist, iris
from myelin.model_selection import KFold, StratifiedKFold, train_test_split
from myelin.preprocessing import MinMaxScaler, StandardScaler, to_categorical

FASHION_DIR = Path(os.environ.get("MYELIN_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


def read_idx_with_numpy(path):
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_fashion_mnist_load_data_matches_the_idx_files():
    test_images = next(iter(FASHION_DIR.glob("t10k-images-idx3-ubyte*")), None)
    if test_images is None:
        pytest.skip("Fashion-MNIST is not installed")
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    np.testing.assert_array_equal(x_test, read_idx_with_numpy(test_images))
    labels = next(FASHION_DIR.glob("t10k-labels-idx1-ubyte*"))
    np.testing.assert_array_equal(y_test, read_idx_with_numpy(labels))


def test_read_idx_reads_bytes_and_floats_raw_or_gzipped(tmp_path):
    images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "images").write_bytes(bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
                                      + images.tobytes())
    floats = np.array([[1.5, -2.0], [3.25, 0.0]], dtype=">f4")
    with gzip.open(tmp_path / "floats.gz", "wb") as f:
        f.write(bytes([0, 0, 0x0D, 2]) + b"".join(d.to_bytes(4, "big") for d in floats.shape) + floats.tobytes())
    got = myelin.data.read_idx(tmp_path / "images")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, images.astype(np.float32))  # unscaled, as the file holds them
    np.testing.assert_array_equal(myelin.data.read_idx(tmp_path / "floats.gz"), floats.astype(np.float32))
    (tmp_path / "short").write_bytes((tmp_path / "images").read_bytes()[:-1])
    with pytest.raises(OSError, match="short"):
        myelin.data.read_idx(tmp_path / "short")


def test_small_data_sets_have_their_documented_shapes():
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13) and y_train.shape == (404,)
    x, y = digits.load_data()
    assert x.shape == (1797, 64) and y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    assert x.min() == 0 and x.max() == 16
    x, y = iris.load_data()
    assert x.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]
    x, y = diabetes.load_data()
    assert x.shape == (442, 10) and y.shape == (442,)
    with pytest.raises(OSError):
        digits.load_data("/nonexistent/folder")


def test_boston_split_is_the_cpp_split():
    x, y = _myelin.boston_housing()
    cpp = _myelin.train_test_split(x, y, test_size=0.2, random_state=42)
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(test_split=0.2, seed=42)
    np.testing.assert_array_equal(x_train, cpp[0])
    np.testing.assert_array_equal(x_test, cpp[1])
    np.testing.assert_array_equal(y_test, cpp[3][:, 0])


def test_train_test_split_keeps_rows_together_and_dtypes():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50) * 10
    names = np.array([f"row{i}" for i in range(50)])
    x_train, x_test, y_train, y_test, n_train, n_test = train_test_split(x, y, names, test_size=0.2,
                                                                         random_state=3)
    assert len(x_test) == 10 and len(x_train) == 40  # ceil(0.2 * 50)
    assert x_train.dtype == x.dtype and n_train.dtype == names.dtype
    np.testing.assert_array_equal(x_train[:, 0] * 5, y_train)
    assert [f"row{v // 10}" for v in y_test] == list(n_test)
    assert sorted(np.concatenate([y_train, y_test])) == sorted(y)
    again = train_test_split(x, y, test_size=0.2, random_state=3)
    np.testing.assert_array_equal(again[0], x_train)
    other = train_test_split(x, y, test_size=0.2, random_state=4)
    assert not np.array_equal(other[0], x_train)
    assert len(train_test_split(x, test_size=7)[1]) == 7
    unshuffled = train_test_split(x, shuffle=False, test_size=0.1)
    np.testing.assert_array_equal(unshuffled[1], x[45:])
    with pytest.raises(ValueError):
        train_test_split(x, y[:10])
    with pytest.raises(ValueError):
        train_test_split(x, test_size=1.5)


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    x = np.arange(100)
    _, _, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=1)
    assert np.bincount(y_test).tolist() == [20, 5]
    assert np.bincount(y_train).tolist() == [60, 15]


def test_kfold_and_stratified_kfold_partition_the_rows():
    x = np.zeros((23, 2))
    folds = list(KFold(n_splits=5).split(x))
    assert [len(test) for _, test in folds] == [5, 5, 5, 4, 4]
    np.testing.assert_array_equal(np.concatenate([test for _, test in folds]), np.arange(23))
    for train, test in folds:
        assert sorted(np.concatenate([train, test])) == list(range(23))
    y = np.array([0] * 15 + [1] * 8)
    for train, test in StratifiedKFold(n_splits=4, shuffle=True, random_state=0).split(x, y):
        assert set(train).isdisjoint(test)
        assert np.bincount(y[test], minlength=2).tolist() in ([4, 2], [3, 2], [4, 1], [3, 3])
    with pytest.raises(ValueError):
        list(KFold(n_splits=1).split(x))


def test_standard_scaler_matches_numpy():
    x = np.random.default_rng(0).normal(5.0, 2.0, size=(200, 3))
    scaler = StandardScaler()
    assert scaler.fit(x) is scaler
    np.testing.assert_allclose(scaler.mean_, x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale_, x.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.var_, x.var(axis=0), rtol=1e-5)
    assert scaler.n_samples_seen_ == 200
    z = scaler.transform(x)
    np.testing.assert_allclose(z, (x - x.mean(axis=0)) / x.std(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-5)
    np.testing.assert_allclose(StandardScaler().fit_transform(x), z)
    parts = StandardScaler().partial_fit(x[:50]).partial_fit(x[50:])
    np.testing.assert_allclose(parts.mean_, scaler.mean_, rtol=1e-6)
    with pytest.raises(ValueError):
        StandardScaler().transform(x)
    with pytest.raises(ValueError):
        scaler.transform(x[:, :2])


def test_min_max_scaler_matches_numpy():
    x = np.random.default_rng(1).uniform(-3, 7, size=(50, 2))
    scaler = MinMaxScaler(feature_range=(-1, 1))
    z = scaler.fit_transform(x)
    expected = (x - x.min(axis=0)) / (x.max(axis=0) - x.min(axis=0)) * 2 - 1
    np.testing.assert_allclose(z, expected, atol=1e-6)
    np.testing.assert_allclose(scaler.data_min_, x.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.inverse_transform(z), x, atol=1e-5)


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([2, 0, 1]), np.eye(3, dtype=np.float32)[[2, 0, 1]])
    out = myelin.utils.to_categorical(np.array([[1], [3]]), num_classes=5)
    assert out.shape == (2, 5) and out.dtype == np.float32 and out[1, 3] == 1 and out.sum() == 2
    with pytest.raises(ValueError):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError):
        to_categorical([0.5])
