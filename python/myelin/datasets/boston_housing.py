"""Boston house prices: 506 houses, 13 features, target the median value in k$.

Feature B encodes a racial proportion, which is why scikit-learn dropped its loader; prefer it
only for reproducing older results."""
import numpy as np

from .. import _myelin
from ..model_selection import train_test_split


def load_data(path=None, test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)): float32 features (n, 13) and prices (n,), split as
    myelin's train_test_split(test_size=test_split, random_state=seed) splits them. As Keras,
    0 <= test_split < 1: with 0 every row is for training (in an order drawn from `seed`, as
    Keras's loader shuffles) and the test arrays are empty."""
    if not 0 <= test_split < 1:
        raise ValueError(f"boston_housing.load_data: test_split must be in [0, 1), got {test_split}")
    x, y = _myelin.boston_housing(str(path or ""))
    y = y.reshape(-1)
    if test_split == 0:
        order = np.arange(len(x))
        np.random.RandomState(seed).shuffle(order)
        return (x[order], y[order]), (x[:0], y[:0])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_split, random_state=seed)
    return (x_train, y_train), (x_test, y_test)
