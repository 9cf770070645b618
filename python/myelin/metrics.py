"""Metrics (keras.metrics): objects with update_state/result/reset_state for compile(), and, as
scikit-learn's sklearn.metrics, plain functions that score whole arrays of predictions."""
from . import _myelin

Metric = _myelin.Metric
BinaryAccuracy = _myelin.BinaryAccuracy
CategoricalAccuracy = _myelin.CategoricalAccuracy
SparseCategoricalAccuracy = _myelin.SparseCategoricalAccuracy
MeanSquaredError = _myelin.MeanSquaredErrorMetric
MeanAbsoluteError = _myelin.MeanAbsoluteErrorMetric
AUC = _myelin.AUC


class Precision(_myelin.Precision):
    def __init__(self, thresholds=None, name="precision"):
        super().__init__(0.5 if thresholds is None else float(thresholds), name)


class Recall(_myelin.Recall):
    def __init__(self, thresholds=None, name="recall"):
        super().__init__(0.5 if thresholds is None else float(thresholds), name)


# Plain functions over whole arrays, with scikit-learn's names and meaning (one number each).
mean_squared_error = _myelin.mean_squared_error
mean_absolute_error = _myelin.mean_absolute_error
accuracy_score = _myelin.accuracy_score
precision_score = _myelin.precision_score
recall_score = _myelin.recall_score
roc_auc_score = _myelin.roc_auc_score

__all__ = ["Metric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "Precision", "Recall", "AUC", "get", "mean_squared_error", "mean_absolute_error",
           "accuracy_score", "precision_score", "recall_score", "roc_auc_score"]


def get(identifier):
    """A metric object from a name ('mae', 'precision', ...), or the object itself."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        return _myelin.get_metric(identifier)
    raise TypeError(f"cannot interpret {identifier!r} as a metric")
