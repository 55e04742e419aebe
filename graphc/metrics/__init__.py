"""Metrics (``gc.metrics``): array functions on NumPy labels, and training metrics by name.

Two ideas, kept in separate modules:

- ``arrays``: NumPy in, NumPy out (``confusion_matrix``, ``accuracy_score``, ``precision_score``,
  ``recall_score``, ``f1_score``, ``specificity_score``), scikit-learn's conventions.
- training metrics, compiled into the train and test graphs as sums over each batch so an
  epoch's value is exact whatever the batch sizes and masked steps never count: ``base``
  (``Metric``, ``MeanMetricWrapper``, ``batch_stats``), one module per family
  (``classification``, ``regression``) and ``registry`` (``get`` / ``names``).
"""
from graphc.metrics.arrays import (accuracy_score, confusion_matrix, f1_score, precision_score, recall_score,
                                   specificity_score)
from graphc.metrics.base import MeanMetricWrapper, Metric, batch_stats
from graphc.metrics.classification import Accuracy, F1Score, Precision, Recall
from graphc.metrics.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError
from graphc.metrics.registry import get, names

__all__ = [
    "Accuracy", "F1Score", "MeanAbsoluteError", "MeanMetricWrapper", "MeanSquaredError", "Metric", "Precision",
    "Recall", "RootMeanSquaredError", "accuracy_score", "batch_stats", "confusion_matrix", "f1_score", "get",
    "names", "precision_score", "recall_score", "specificity_score",
]
