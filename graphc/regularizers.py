"""Weight regularizers (``gc.regularizers``), Keras 3 formulas.

A regularizer maps a weight tensor to a scalar penalty Tensor that a model adds to its
training loss: L1 = l1 * sum(|w|), L2 = l2 * sum(w^2) (no 1/2, as Keras), L1L2 = both.
"""
from __future__ import annotations

from graphc import api as gc
from graphc.api.support import arguments
from graphc.catalog import Catalog, Configurable


def _tensor(x):
    return x if isinstance(x, gc.Tensor) else gc.constant(x)


class Regularizer(Configurable):
    """Base class: ``penalty = regularizer(weight)``, a scalar Tensor of the weight's dtype."""

    def __call__(self, weight):
        raise NotImplementedError


def _factor(value, what):
    return arguments.real(value, what, minimum=0.0)


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w^2)."""

    def __init__(self, l1=0.0, l2=0.0):
        kind = type(self).__name__
        self.l1 = _factor(l1, f"{kind}: l1")
        self.l2 = _factor(l2, f"{kind}: l2")

    def __call__(self, weight):
        w = _tensor(weight)
        penalty = gc.zeros((), dtype=w.dtype)
        if self.l1:
            penalty = penalty + self.l1 * gc.reduce_sum(gc.abs(w))
        if self.l2:
            penalty = penalty + self.l2 * gc.reduce_sum(gc.square(w))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|w|)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(w^2)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


l1 = L1
l2 = L2
l1_l2 = L1L2

_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_ALIASES = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


_CATALOG = Catalog("regularizer", Regularizer, _CLASSES.values(), _ALIASES,
                   on_callable=lambda fn: fn, none_ok=True)
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize


def get(identifier):
    """A regularizer from a name ("l1", "l2", "l1_l2"; default factors), an instance, a
    ``serialize`` dict or a callable weight -> scalar Tensor; None gives None."""
    return _CATALOG.get(identifier)
