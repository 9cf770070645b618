"""Diabetes progression (as sklearn.datasets.load_diabetes(scaled=False)): 442 patients."""
from .. import _myelin


def load_data(path=None):
    """(x, y): float32 raw features (442, 10) and float32 progression one year later (442,)."""
    x, y = _myelin.diabetes(str(path or ""))
    return x, y.reshape(-1)
