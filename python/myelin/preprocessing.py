"""Data preparation as scikit-learn and Keras users know it: StandardScaler, MinMaxScaler,
to_categorical, and train_test_split/KFold/StratifiedKFold (also in myelin.model_selection).
The scalers compute in float32 arrays, statistics in double precision."""
import numpy as np

from . import _myelin
from .model_selection import KFold, StratifiedKFold, train_test_split

__all__ = ["StandardScaler", "MinMaxScaler", "to_categorical", "train_test_split", "KFold", "StratifiedKFold",
           "image_dataset_from_directory"]


def image_dataset_from_directory(*args, **kwargs):
    """Where TensorFlow's Keras kept it (tf.keras.preprocessing): myelin.utils.image_dataset_from_directory."""
    from .utils import image_dataset_from_directory as from_directory  # utils imports this module
    return from_directory(*args, **kwargs)


class _Scaler:
    def fit(self, X, y=None):
        self._native.fit(X)
        return self

    def partial_fit(self, X, y=None):
        self._native.partial_fit(X)
        return self

    def transform(self, X):
        return self._native.transform(X)

    def fit_transform(self, X, y=None):
        return self._native.fit_transform(X)

    def inverse_transform(self, X):
        return self._native.inverse_transform(X)


class StandardScaler(_Scaler):
    """(x - mean_) / scale_ per feature, with the population standard deviation (as scikit-learn)."""

    def __init__(self, copy=True, with_mean=True, with_std=True):
        if not (with_mean and with_std):
            raise ValueError("myelin's StandardScaler always centres and scales")
        self._native = _myelin.StandardScaler()

    mean_ = property(lambda self: self._native.mean_)
    scale_ = property(lambda self: self._native.scale_)
    var_ = property(lambda self: self._native.var_)
    n_samples_seen_ = property(lambda self: self._native.n_samples_seen_)


class MinMaxScaler(_Scaler):
    """Scales each feature linearly onto feature_range, fitted on the training data."""

    def __init__(self, feature_range=(0, 1), copy=True, clip=False):
        if clip:
            raise ValueError("clip=True is not supported by myelin")
        lo, hi = feature_range
        self.feature_range = (lo, hi)
        self._native = _myelin.MinMaxScaler(float(lo), float(hi))

    data_min_ = property(lambda self: self._native.data_min_)
    data_max_ = property(lambda self: self._native.data_max_)
    scale_ = property(lambda self: self._native.scale_)
    min_ = property(lambda self: self._native.min_)


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows for integer class labels, as keras.utils.to_categorical."""
    out = _myelin.to_categorical(np.asarray(y), -1 if num_classes is None else int(num_classes))
    return out if np.dtype(dtype) == np.float32 else out.astype(dtype)
