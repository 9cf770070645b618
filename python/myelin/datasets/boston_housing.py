"""Boston house prices: 506 houses, 13 features, target the median value in k$.

Feature B encodes a racial proportion, which is why scikit-learn dropped its loader; prefer it
only for reproducing older results."""
from .. import _myelin
from ..model_selection import train_test_split


def load_data(path=None, test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)): float32 features (n, 13) and prices (n,), split as
    myelin's train_test_split(test_size=test_split, random_state=seed) splits them."""
    x, y = _myelin.boston_housing(str(path or ""))
    x_train, x_test, y_train, y_test = train_test_split(x, y.reshape(-1), test_size=test_split, random_state=seed)
    return (x_train, y_train), (x_test, y_test)
