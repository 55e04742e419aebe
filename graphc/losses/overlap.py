"""Overlap losses for segmentation: soft Dice and Jaccard (intersection over union), scored
per sample from sums over the non-batch axes rather than means of an elementwise loss, with
a ``smooth`` constant that keeps empty masks at loss 0.
"""
from __future__ import annotations

from graphc.losses.base import Loss, prepare_labels, sum_per_sample


class Dice(Loss):
    """1 - (2 sum(y p) + smooth) / (sum(y) + sum(p) + smooth), per sample (sums over the
    non-batch axes); ``smooth`` (1.0, Keras' constant) keeps empty masks at loss 0."""

    def __init__(self, smooth=1.0, name="dice"):
        super().__init__(name)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        overlap = sum_per_sample(y_true * y_pred)
        total = sum_per_sample(y_true) + sum_per_sample(y_pred)
        return 1.0 - (2.0 * overlap + self.smooth) / (total + self.smooth)

    def get_config(self):
        return {"name": self.name, "smooth": self.smooth}


class Jaccard(Loss):
    """1 - (sum(y p) + smooth) / (sum(y) + sum(p) - sum(y p) + smooth), per sample
    (intersection over union, soft)."""

    def __init__(self, smooth=1.0, name="jaccard"):
        super().__init__(name)
        self.smooth = float(smooth)

    def call(self, y_true, y_pred):
        y_true, y_pred = prepare_labels(y_true, y_pred, self.name)
        overlap = sum_per_sample(y_true * y_pred)
        union = sum_per_sample(y_true) + sum_per_sample(y_pred) - overlap
        return 1.0 - (overlap + self.smooth) / (union + self.smooth)

    def get_config(self):
        return {"name": self.name, "smooth": self.smooth}
