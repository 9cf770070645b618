"""Learning-rate schedules (keras.optimizers.schedules): pass one as an optimizer's learning_rate."""
from .. import _myelin

LearningRateSchedule = _myelin.LearningRateSchedule
ExponentialDecay = _myelin.ExponentialDecay
PiecewiseConstantDecay = _myelin.PiecewiseConstantDecay
CosineDecay = _myelin.CosineDecay

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay"]
