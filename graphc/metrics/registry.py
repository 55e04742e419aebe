"""Training metrics by name: ``get`` (a name, a ``Metric`` or a function -> a ``Metric``) and ``names``.

The names are Keras' (``"accuracy"``, ``"mae"``, ...); the loss passed along picks the
accuracy variant and the decision thresholds (``classification``). Kept apart from the
families so that each family module stays free of the others.
"""
from __future__ import annotations

from graphc.metrics.base import MeanMetricWrapper, Metric
from graphc.metrics.classification import Accuracy, F1Score, Precision, Recall
from graphc.metrics.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError

_BY_NAME = {
    "accuracy": lambda name, loss: Accuracy(name, loss),
    "acc": lambda name, loss: Accuracy(name, loss),
    "binary_accuracy": lambda name, loss: Accuracy(name, loss, kind="binary"),
    "categorical_accuracy": lambda name, loss: Accuracy(name, loss, kind="categorical"),
    "sparse_categorical_accuracy": lambda name, loss: Accuracy(name, loss, kind="sparse"),
    "precision": lambda name, loss: Precision(name, loss),
    "recall": lambda name, loss: Recall(name, loss),
    "f1": lambda name, loss: F1Score(name, loss),
    "f1_score": lambda name, loss: F1Score(name, loss),
    "mae": lambda name, loss: MeanAbsoluteError(name),
    "mean_absolute_error": lambda name, loss: MeanAbsoluteError(name),
    "mse": lambda name, loss: MeanSquaredError(name),
    "mean_squared_error": lambda name, loss: MeanSquaredError(name),
    "rmse": lambda name, loss: RootMeanSquaredError(name),
    "root_mean_squared_error": lambda name, loss: RootMeanSquaredError(name),
}


def names() -> list[str]:
    """The metric names ``get`` accepts."""
    return sorted(_BY_NAME)


def get(identifier, loss=None) -> Metric:
    """A training Metric from a name (its ``.name``, the History key, is the name as given,
    as Keras), a Metric (returned as is) or a function (y_true, y_pred) -> values (wrapped
    as a mean). ``loss`` (a name or Loss) picks the accuracy variant and the thresholds."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        make = _BY_NAME.get(identifier.lower())
        if make is None:
            raise ValueError(f"unknown metric {identifier!r}; valid names: {', '.join(names())}")
        return make(identifier, loss)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as a metric; valid names: {', '.join(names())}")
