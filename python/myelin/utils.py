"""keras.utils's helpers: set_random_seed, to_categorical."""
import random

import numpy as np

from . import _myelin
from .preprocessing import to_categorical

__all__ = ["set_random_seed", "to_categorical", "set_num_threads"]


def set_random_seed(seed):
    """Seeds myelin (initialisation, shuffling, dropout of the models created afterwards), and, as
    keras.utils.set_random_seed does, Python's random module and numpy's global generator."""
    seed = int(seed)
    _myelin.set_random_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def set_num_threads(n):
    """Threads every kernel uses; 0 restores the default (all cores)."""
    _myelin.set_num_threads(int(n))
