"""The losses by name: ``get`` / ``serialize`` / ``deserialize`` over a ``Catalog`` (the same
lookup optimizers, initializers and regularizers use) of the concrete losses of every family
module; a plain callable becomes a ``LossFunctionWrapper``. ``names()`` lists the short names.
"""
from __future__ import annotations

from graphc.catalog import Catalog
from graphc.losses.base import Loss, LossFunctionWrapper
from graphc.losses.margin import Hinge
from graphc.losses.overlap import Dice, Jaccard
from graphc.losses.probabilistic import (BalancedBinaryCrossentropy, BinaryCrossentropy, CategoricalCrossentropy,
                                         SparseCategoricalCrossentropy, WeightedBinaryCrossentropy)
from graphc.losses.regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError

_CLASSES = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError, BinaryCrossentropy,
    WeightedBinaryCrossentropy, BalancedBinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy, Hinge, Dice, Jaccard)}
_NAMES = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "hinge": Hinge,
    "weighted_binary_crossentropy": WeightedBinaryCrossentropy,
    "balanced_binary_crossentropy": BalancedBinaryCrossentropy,
    "dice": Dice,
    "jaccard": Jaccard,
}


def names() -> list[str]:
    """The loss names ``get`` accepts."""
    return sorted(_NAMES)


_CATALOG = Catalog("loss", Loss, _CLASSES.values(), _NAMES, bare_config=True,
                   on_callable=LossFunctionWrapper)
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize


def get(identifier) -> Loss:
    """A Loss from a name (see ``names()``), a Loss instance or class, a ``serialize`` dict,
    or a plain callable (y_true, y_pred) -> per-sample losses or a scalar."""
    return _CATALOG.get(identifier)
