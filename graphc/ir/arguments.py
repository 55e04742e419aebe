"""Checks of the plain Python arguments of the API: sizes, axes, counts, rates.

One place decides what an integer is (NumPy's ``operator.index`` rule: ints, NumPy integers and
objects with ``__index__``; never floats, never bools-as-sizes by accident of truncation) so
that no entry point truncates ``2.5`` to ``2`` or lets a string reach NumPy.

The errors: a value of the wrong type is a ``TypeError``, a value out of range a
``ValueError`` (a ``ShapeError``, which is one, for negative sizes in a shape); each message is
one line naming ``what`` (the op or layer and the argument, e.g. ``"one_hot: depth"``).
"""
from __future__ import annotations

import collections.abc
import math
import numbers
import operator

import numpy as np

from graphc.ir import dtypes
from graphc.errors import DTypeError, ShapeError


def is_integer(value) -> bool:
    """Whether ``value`` is an integer in the sense of ``index`` (bools are not)."""
    if type(value) is int:   # the common case, first: graphs call this once per axis and size
        return True
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def index(value, what: str, *, minimum: int | None = None, allow_none: bool = False):
    """``value`` as a Python int, or a ``TypeError``/``ValueError`` naming ``what``
    (e.g. ``"one_hot: depth"``). ``minimum``: the smallest value allowed."""
    if type(value) is int:
        n = value
    elif value is None and allow_none:
        return None
    elif isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, got the bool {value!r}")
    else:
        try:
            n = operator.index(value)
        except TypeError:
            raise TypeError(f"{what} must be an integer, got {shown(value)}") from None
    if minimum is not None and n < minimum:
        bound = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"at least {minimum}")
        raise ValueError(f"{what} must be {bound}, got {n}")
    return n


def indices(values, what: str, *, minimum: int | None = None, allow_int: bool = False) -> tuple:
    """A sequence of integers (a list of axes, a permutation) as a tuple of ints; with
    ``allow_int`` a single integer stands for the 1-tuple of it."""
    if allow_int and is_integer(values):
        return (index(values, what, minimum=minimum),)
    _check_sequence(values, what, "an integer or a sequence of integers" if allow_int else "a sequence of integers")
    return tuple(index(v, f"{what}[{k}]", minimum=minimum) for k, v in enumerate(values))


def shape(values, what: str, *, allow_unknown: bool = False) -> tuple:
    """A shape: an int (the 1-D shape) or a sequence of sizes >= 0, as a tuple of ints; with
    ``allow_unknown`` an entry may be None (a size known only at call time). A negative size
    is a ``ShapeError``."""
    if is_integer(values):
        values = (values,)
    _check_sequence(values, what, "an integer or a sequence of integers")
    dims = tuple(index(d, f"{what}[{k}]", allow_none=allow_unknown) for k, d in enumerate(values))
    for k, d in enumerate(dims):
        if d is not None and d < 0:
            raise ShapeError(f"{what}[{k}] is a negative size ({d}) in {_shape_text(dims)}")
    return dims


def pair(value, what: str, *, minimum: int | None = None) -> tuple:
    """An int or a pair of ints (heights and widths: strides, kernel and pool sizes) as (a, b)."""
    if is_integer(value):
        n = index(value, what, minimum=minimum)
        return (n, n)
    _check_sequence(value, what, "an integer or a pair of integers")
    if len(value) != 2:
        raise ValueError(f"{what} must be an integer or a pair of integers, got {shown(value)}")
    return tuple(index(v, f"{what}[{k}]", minimum=minimum) for k, v in enumerate(value))


def real(value, what: str, *, minimum: float | None = None, maximum: float | None = None,
         allow_none: bool = False, finite: bool = True) -> float | None:
    """``value`` as a Python float (ints, NumPy reals and 0-d arrays of them accepted; strings,
    bools and NaN refused, and infinities unless ``finite=False``); ``minimum`` and ``maximum``
    are inclusive bounds."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number, got {shown(value)}")
    x = float(value)
    if math.isnan(x) or (finite and math.isinf(x)):
        raise ValueError(f"{what} must be a {'finite ' if finite else ''}number, got {x}")
    if minimum is not None and x < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {x}")
    if maximum is not None and x > maximum:
        raise ValueError(f"{what} must be at most {maximum}, got {x}")
    return x


def rate(value, what: str) -> float:
    """A probability of dropping: a real number in [0, 1)."""
    x = real(value, what)
    if not 0.0 <= x < 1.0:
        raise ValueError(f"{what} must be in [0, 1), got {x}")
    return x


def seed(value, what: str) -> int | None:
    """A random seed: None (fresh entropy) or an integer >= 0 (NumPy's SeedSequence)."""
    return index(value, what, minimum=0, allow_none=True)


def dtype(value, what: str):
    """A dtype graphc supports (``dtypes.as_dtype``), or a DTypeError naming ``what``."""
    try:
        return dtypes.as_dtype(value)
    except DTypeError as exc:
        raise DTypeError(f"{what}: {exc}") from None


def _check_sequence(values, what: str, expected: str = "a sequence of integers") -> None:
    if type(values) in (tuple, list):
        return
    sequence = isinstance(values, collections.abc.Sequence) and not isinstance(values, (str, bytes))
    if not (sequence or (isinstance(values, np.ndarray) and values.ndim == 1)):
        raise TypeError(f"{what} must be {expected}, got {shown(values)}")


def _shape_text(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def shown(value) -> str:
    """A value as an error message quotes it: its type and a repr cut at 60 characters."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"
