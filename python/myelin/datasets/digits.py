"""UCI optical handwritten digits (as sklearn.datasets.load_digits): 1797 8x8 images."""
import numpy as np

from .. import _myelin


def load_data(path=None):
    """(x, y): float32 pixels (1797, 64) valued 0..16, int64 labels (1797,)."""
    x, y = _myelin.digits(str(path or ""))
    return x, y.reshape(-1).astype(np.int64)
