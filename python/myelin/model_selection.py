"""Splitting data, as scikit-learn's sklearn.model_selection: train_test_split, KFold,
StratifiedKFold. The shuffles come from myelin's own generator, so a random_state gives the same
split here and in a C++ program (though not the same as scikit-learn's)."""
import math

import numpy as np

from . import _myelin

__all__ = ["train_test_split", "KFold", "StratifiedKFold"]


def _n_rows(arrays):
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"train_test_split: arrays have different numbers of rows: {sorted(lengths)}")
    return lengths.pop()


def _test_fraction(test_size, train_size, n):
    if test_size is None:
        test_size = 0.25 if train_size is None else None
    if test_size is None:
        test_size = (1 - train_size) if isinstance(train_size, float) else n - int(train_size)
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        if not 0 < test_size < n:
            raise ValueError(f"test_size={test_size} should be between 1 and {n - 1} rows")
        # The library takes a fraction and rounds its row count up; this one rounds up to the count.
        return (test_size - 0.5) / n
    test_size = float(test_size)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size={test_size} should be in (0, 1) or a row count")
    return test_size


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None, shuffle=True, stratify=None):
    """Splits each array's rows into a training and a test part (ceil(test_size * n) test rows):
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42).
    The arrays keep their dtypes. random_state=None means 0: myelin's runs are reproducible by default."""
    arrays = [a if hasattr(a, "__getitem__") and hasattr(a, "shape") else np.asarray(a) for a in arrays]
    n = _n_rows(arrays)
    fraction = _test_fraction(test_size, train_size, n)
    if not shuffle:
        if stratify is not None:
            raise ValueError("stratify needs shuffle=True")
        n_test = math.ceil(fraction * n)
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    else:
        # The library splits rows of a tensor; splitting the row numbers gives the permutation, which
        # then applies to arrays of any dtype. Two columns keep every index exact in float32.
        index = np.arange(n)
        rows = np.stack([index // 4096, index % 4096], axis=1).astype(np.float32)
        labels = np.zeros(n, dtype=np.float32) if stratify is None else np.asarray(stratify)
        seed = 0 if random_state is None else int(random_state)
        tr, te, _, _ = _myelin.train_test_split(rows, labels, test_size=fraction, random_state=seed,
                                                stratify=stratify is not None)
        train_idx = (tr[:, 0].astype(np.int64) * 4096 + tr[:, 1].astype(np.int64))
        test_idx = (te[:, 0].astype(np.int64) * 4096 + te[:, 1].astype(np.int64))
    out = []
    for a in arrays:
        out += [a[train_idx], a[test_idx]]
    return out


class KFold:
    """KFold(n_splits=5, shuffle=False, random_state=None).split(X) yields (train, test) index arrays."""

    def __init__(self, n_splits=5, shuffle=False, random_state=None):
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits

    def split(self, X, y=None, groups=None):
        seed = 0 if self.random_state is None else int(self.random_state)
        yield from _myelin.kfold_split(len(X), self.n_splits, self.shuffle, seed)


class StratifiedKFold(KFold):
    """Folds that keep y's class proportions: split(X, y) yields (train, test) index arrays."""

    def split(self, X, y, groups=None):
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"StratifiedKFold: X has {len(X)} rows but y has {len(y)}")
        seed = 0 if self.random_state is None else int(self.random_state)
        yield from _myelin.stratified_kfold_split(y, self.n_splits, self.shuffle, seed)
