"""Loss functions (``gc.losses``), Keras 3 semantics, built from graph ops.

A ``Loss`` has two faces, the contract every loss here keeps:

- ``loss.call(y_true, y_pred)`` -> per-sample losses, shape (batch,): the elementwise loss
  reduced over every non-batch axis (the mean for MSE/MAE/cross-entropies/hinge, as Keras'
  mean over the last axis; sums for Dice/Jaccard's overlaps).
- ``loss(y_true, y_pred, sample_weight=None)`` -> a scalar: sum(w * l) / batch_size, Keras'
  "sum_over_batch_size" reduction (the plain batch mean without weights); for a masked
  ``y_pred``, the mean over its unmasked steps (``Loss.__call__``).

Labels are cast to the prediction's dtype with ranks reconciled as Keras does
(``base.prepare_labels``); logit and probability paths stay finite for any finite input (``Loss``).

Layout: ``base`` (``Loss``, ``LossFunctionWrapper`` and the shared machinery: label
preparation, reduction, sample weights, masks), one module per family (``regression``,
``probabilistic``, ``margin``, ``overlap``) and ``registry`` (``get`` / ``serialize`` /
``deserialize`` / ``names``).
"""
from graphc.losses.base import (EPSILON, Loss, LossFunctionWrapper, match_rank, mean_per_sample, output_mask,
                                per_step_losses, sum_per_sample)
from graphc.losses.regression import (MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, mae,
                                      mean_absolute_error, mean_squared_error, mse)
from graphc.losses.probabilistic import (BalancedBinaryCrossentropy, BinaryCrossentropy, CategoricalCrossentropy,
                                         SparseCategoricalCrossentropy, WeightedBinaryCrossentropy,
                                         binary_crossentropy, categorical_crossentropy,
                                         sparse_categorical_crossentropy)
from graphc.losses.margin import Hinge, hinge, to_signed_labels
from graphc.losses.overlap import Dice, Jaccard
from graphc.losses.registry import deserialize, get, names, serialize

__all__ = [
    "BalancedBinaryCrossentropy", "BinaryCrossentropy", "CategoricalCrossentropy", "Dice", "EPSILON", "Hinge",
    "Jaccard", "Loss", "LossFunctionWrapper", "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError",
    "SparseCategoricalCrossentropy", "WeightedBinaryCrossentropy", "binary_crossentropy",
    "categorical_crossentropy", "deserialize", "get", "hinge", "mae", "match_rank", "mean_absolute_error",
    "mean_per_sample", "mean_squared_error", "mse", "names", "output_mask", "per_step_losses", "serialize",
    "sparse_categorical_crossentropy", "sum_per_sample", "to_signed_labels",
]
