"""Regression training metrics: ``MeanAbsoluteError``, ``MeanSquaredError``, ``RootMeanSquaredError``.

Each is the mean of an elementwise error over every element of the epoch (sum of errors and
count per batch, see ``base.Metric``); labels are cast to the prediction's dtype and ranks
reconciled as the losses do (``graphc.losses.base.match_rank``).
"""
from __future__ import annotations

import math

from graphc import api as gc
from graphc.losses.base import match_rank
from graphc.metrics.base import Metric, as_tensor, element_count, mask_weights, weighted_sum


class _ErrorMetric(Metric):
    """Mean of an elementwise error over all elements. Stats: [sum of errors, count]."""

    def _error(self, diff):
        raise NotImplementedError

    def batch_stats(self, y_true, y_pred, mask=None):
        y_pred = as_tensor(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = gc.cast(y_pred, "float32")
        y_true = gc.cast(as_tensor(y_true), y_pred.dtype)
        y_true, y_pred = match_rank(y_true, y_pred)
        error = self._error(y_pred - y_true)
        weights = mask_weights(mask, error)
        return [weighted_sum(error, weights), element_count(error, weights)]

    def result(self, totals):
        total, count = totals
        return float(total / count) if count else 0.0


class MeanAbsoluteError(_ErrorMetric):
    """mean(|y_true - y_pred|)."""

    def __init__(self, name="mae"):
        super().__init__(name)

    def _error(self, diff):
        return gc.abs(diff)


class MeanSquaredError(_ErrorMetric):
    """mean((y_true - y_pred)^2)."""

    def __init__(self, name="mse"):
        super().__init__(name)

    def _error(self, diff):
        return gc.square(diff)


class RootMeanSquaredError(MeanSquaredError):
    """sqrt(total squared error / number of elements) over the epoch."""

    def __init__(self, name="rmse"):
        super().__init__(name)

    def result(self, totals):
        return math.sqrt(super().result(totals))
