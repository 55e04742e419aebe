"""Regression losses: mean squared error, mean absolute error and root mean squared error,
with their function forms (``mean_squared_error`` / ``mse``, ``mean_absolute_error`` / ``mae``).
Plain differences of labels and predictions, so nothing here needs logits or label smoothing.
"""
from __future__ import annotations

from graphc import api as gc
from graphc.losses.base import Loss, mean_per_sample, prepare_labels


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the non-batch axes."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        return mean_per_sample(gc.square(y_pred - y_true))

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the non-batch axes."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        return mean_per_sample(gc.abs(y_pred - y_true))

    def get_config(self):
        return {"name": self.name}


class RootMeanSquaredError(Loss):
    """Root mean squared error of the batch: sqrt(sum(w * mse_i) / batch_size), where
    mse_i = mean((y_true - y_pred)^2) over sample i's non-batch axes.

    ``call`` returns the per-sample squared errors mse_i (the square root is taken once, of
    the batch mean, not per sample). The gradient at a perfect fit is 0, not NaN.
    """

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        return mean_per_sample(gc.square(y_pred - y_true))

    def __call__(self, y_true, y_pred, sample_weight=None):
        return _safe_sqrt(Loss.__call__(self, y_true, y_pred, sample_weight))

    def get_config(self):
        return {"name": self.name}


def _safe_sqrt(x):
    """sqrt(x) whose gradient at x = 0 is 0 rather than inf * 0 = nan."""
    positive = x > 0.0
    return gc.where(positive, gc.sqrt(gc.where(positive, x, gc.ones_like(x))), gc.zeros_like(x))


# -- function forms (per-sample losses), as keras.losses.mean_squared_error ----------------

def mean_squared_error(y_true, y_pred):
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError().call(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error
