"""Margin losses: the hinge loss on labels in {-1, 1} (0/1 labels are converted as Keras
does, ``to_signed_labels``), with its function form ``hinge``. Named "margin" rather than
"hinge" so that the module never shadows the ``gc.losses.hinge`` function.
"""
from __future__ import annotations

from graphc import api as gc
from graphc.losses.base import Loss, mean_per_sample, prepare_labels


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)) over the non-batch axes, labels in {-1, 1}.

    As Keras, labels that are all 0 or 1 (checked over the batch, in the graph) are mapped to
    -1 / 1 first."""

    def __init__(self, name="hinge"):
        super().__init__(name)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        y_true = to_signed_labels(y_true)
        return mean_per_sample(gc.relu(1.0 - y_true * y_pred))

    def get_config(self):
        return {"name": self.name}


def to_signed_labels(y_true):
    """2 y - 1 if every label is 0 or 1, else y unchanged (Keras' hinge label conversion)."""
    is_01 = gc.logical_or(gc.equal(y_true, 0.0), gc.equal(y_true, 1.0))
    all_binary = gc.reduce_min(gc.cast(is_01, y_true.dtype)) > 0.0
    return gc.where(all_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    return Hinge().call(y_true, y_pred)
