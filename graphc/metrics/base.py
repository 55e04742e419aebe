"""Training metrics' contract and shared machinery: ``Metric``, the batch sums helpers, masks.

A training metric is compiled into the train and test graphs as sums over each batch
(``Metric.batch_stats``); the model adds them up over an epoch and ``Metric.result`` turns the
totals into the epoch's value, so it is exact whatever the batch sizes and masked steps never
count. The families (``classification``, ``regression``) build on the helpers here;
``MeanMetricWrapper`` turns any function into such a metric.
"""
from __future__ import annotations

import inspect
import warnings

from graphc import api as gc


def as_tensor(x):
    """``x`` as a graph Tensor (a constant unless it is one already)."""
    return x if isinstance(x, gc.Tensor) else gc.constant(x)


class Metric:
    """A training metric: ``batch_stats`` -> scalar float Tensors summed over a batch,
    ``result(totals)`` -> the value from the totals over an epoch. ``mask``: None, or the
    output's bool mask (batch, steps): the masked steps must not count.

    The statistics are SUMS over the batch (e.g. [number correct, number of elements]); the
    model adds them up over an epoch and ``result`` turns the totals into the epoch's value, so
    an epoch's accuracy is exact whatever the batch sizes. With a masked output (Keras 3) the
    model passes ``batch_stats(y_true, y_pred, mask=mask)`` and every sum and count is weighted
    by the mask, so padding changes no metric."""

    def __init__(self, name):
        self.name = name

    def batch_stats(self, y_true, y_pred, mask=None) -> list:
        raise NotImplementedError

    def result(self, totals) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


def element_count(t, weights=None):
    """The number of elements of ``t`` as a float32 scalar (known at call time); with
    ``weights`` (see ``mask_weights``), the number of unmasked ones."""
    return gc.reduce_sum(gc.ones_like(t, dtype="float32") if weights is None else weights)


def weighted_sum(t, weights=None):
    """The sum of ``t``'s elements as a float32 scalar; with ``weights``, of the unmasked ones."""
    t = gc.cast(t, "float32")
    return gc.reduce_sum(t if weights is None else t * weights)


def mask_weights(mask, values):
    """None without a mask; else the mask (batch, steps) as float32 weights of ``values``' shape
    (a step's weight repeated over the axes after the mask's)."""
    if mask is None:
        return None
    if values.ndim < mask.ndim:
        raise gc.ShapeError(f"metric: the output's mask {mask.shape} has more axes than the values {values.shape}")
    weights = gc.cast(mask, "float32")
    for _ in range(values.ndim - mask.ndim):
        weights = gc.expand_dims(weights, -1)
    return weights * gc.ones_like(values, dtype="float32")


def batch_stats(metric: Metric, y_true, y_pred, mask=None) -> list:
    """``metric``'s batch statistics, with ``mask`` when there is one. A custom metric whose
    ``batch_stats`` takes no mask is computed over every step, with a warning."""
    if mask is None:
        return metric.batch_stats(y_true, y_pred)
    if "mask" not in inspect.signature(metric.batch_stats).parameters:
        warnings.warn(f"metric {metric.name!r}: the model's output carries a mask, but {type(metric).__name__}."
                      "batch_stats takes no mask argument, so padded steps count in it; add mask=None to it",
                      stacklevel=3)
        return metric.batch_stats(y_true, y_pred)
    return metric.batch_stats(y_true, y_pred, mask=mask)


class MeanMetricWrapper(Metric):
    """A function fn(y_true, y_pred) -> per-sample (or per-element) values, averaged over
    every element seen. Stats: [sum, count]. With a mask, the values must have the mask's
    axes (e.g. per-step values (batch, steps)): per-sample values of a masked output are refused."""

    def __init__(self, fn, name=None):
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn

    def batch_stats(self, y_true, y_pred, mask=None):
        values = as_tensor(self.fn(y_true, y_pred))
        if mask is not None and values.ndim < mask.ndim:
            raise gc.ShapeError(f"metric {self.name!r}: the model's output carries a mask {mask.shape}, so the "
                                f"metric's values must be per step, got shape {values.shape}; reduce only the "
                                "last axis (e.g. gc.reduce_mean(..., axis=-1))")
        weights = mask_weights(mask, values)
        return [weighted_sum(values, weights), element_count(values, weights)]

    def result(self, totals):
        total, count = totals
        return float(total / count) if count else 0.0
