"""keras.utils's helpers: set_random_seed, to_categorical."""
import random

import numpy as np

from . import _myelin
from .preprocessing import to_categorical

__all__ = ["set_random_seed", "to_categorical", "set_num_threads", "set_winograd_convolutions", "memory_limit"]


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


def set_winograd_convolutions(allowed):
    """Whether 3x3 convolutions with stride 1, channels in multiples of 16 and batches of 16 or
    more may run as Winograd F(4x4, 3x3) (on by default: the Fashion-MNIST CNN trains about 15%
    faster). Its rounding error is about 1e-6 of a tensor's largest value, against a few 1e-7 for
    a direct convolution; False gives direct convolutions, for comparisons of single outputs."""
    _myelin.set_winograd_convolutions(bool(allowed))


def memory_limit():
    """(bytes, source): the memory this process may still take. Models compare their weights,
    optimizer state and batch activations with it before allocating and raise MemoryError
    (myelin.ResourceError) beyond it. The smallest of physical memory or the cgroup's limit
    (replaced by $MYELIN_MEMORY_LIMIT, as "2G", when set) and the address-space limit."""
    return _myelin.memory_limit()
