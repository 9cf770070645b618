"""Optimizers with Keras's names, arguments and defaults (keras.optimizers).

learning_rate is a number or a schedule from myelin.optimizers.schedules; clipnorm, clipvalue and
global_clipnorm are keyword arguments, as in Keras.
"""
from .. import _myelin
from . import schedules

Optimizer = _myelin.Optimizer
SGD = _myelin.SGD
Adam = _myelin.Adam
AdamW = _myelin.AdamW
RMSprop = _myelin.RMSprop
Adagrad = _myelin.Adagrad

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "schedules"]


def get(identifier):
    """An optimizer from a name ('adam') with Keras's defaults, or the optimizer object itself."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _myelin.get_optimizer(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as an optimizer")
