"""Losses with Keras's names (keras.losses). A loss object is callable: loss(y_true, y_pred) is
the mean over the batch. compile() also takes the names: 'mse', 'binary_crossentropy', ..."""
from . import _myelin

Loss = _myelin.Loss
MeanSquaredError = _myelin.MeanSquaredError
MeanAbsoluteError = _myelin.MeanAbsoluteError
Huber = _myelin.Huber
BinaryCrossentropy = _myelin.BinaryCrossentropy
CategoricalCrossentropy = _myelin.CategoricalCrossentropy
SparseCategoricalCrossentropy = _myelin.SparseCategoricalCrossentropy

__all__ = ["Loss", "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
           "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "get"]


def get(identifier):
    """A loss from its Keras name, or the loss object itself."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return _myelin.get_loss(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a loss")
