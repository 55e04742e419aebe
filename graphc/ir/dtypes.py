"""Dtype rules: normalisation, promotion and the weak typing of Python scalars.

Python scalars are *weakly typed* (NumPy 2 / JAX rules): they take the dtype of
the tensor they meet, so ``x32 * 0.1`` stays float32 and ``x64 * 1.0001`` keeps
float64 precision. On their own, Python floats become float32 and ints int64.
"""
from __future__ import annotations

import functools

import numpy as np

from graphc.errors import DTypeError

DEFAULT_FLOAT = np.dtype("float32")
DEFAULT_INT = np.dtype("int64")
BOOL = np.dtype("bool")

_SUPPORTED_KINDS = "biuf"  # bool, signed, unsigned, float


def as_dtype(dtype) -> np.dtype:
    """Normalise anything NumPy understands ("float32", np.float32, ...) to np.dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise DTypeError(f"not a dtype: {dtype!r}") from exc
    if dt.kind not in _SUPPORTED_KINDS:
        raise DTypeError(f"unsupported dtype {dt} (graphc supports bool, integers and floats)")
    return dt


def is_python_scalar(value) -> bool:
    """True for the weakly typed values: Python bool, int and float (not NumPy scalars)."""
    return isinstance(value, (bool, int, float)) and not isinstance(value, np.generic)


def python_scalar_dtype(value) -> np.dtype:
    """The dtype a Python scalar takes on its own."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return DEFAULT_INT
    return DEFAULT_FLOAT


def weak_dtype(value, other: np.dtype) -> np.dtype:
    """The dtype a Python scalar takes when it meets a tensor of dtype ``other``."""
    other = np.dtype(other)
    if isinstance(value, bool):
        return other
    if isinstance(value, int):
        return DEFAULT_INT if other.kind == "b" else other
    # a Python float: keeps a float tensor's dtype, else the default float
    return other if other.kind == "f" else DEFAULT_FLOAT


@functools.lru_cache(maxsize=None)
def result_dtype(ufunc_name: str, *dtypes: np.dtype) -> np.dtype:
    """The dtype NumPy's ufunc gives for these (strong) input dtypes.

    Evaluated once on empty arrays and cached: NumPy itself is the reference.
    """
    ufunc = getattr(np, ufunc_name)
    with np.errstate(all="ignore"):
        out = ufunc(*(np.empty(0, dtype=d) for d in dtypes))
    return out.dtype


def promote(*dtypes) -> np.dtype:
    """Strong promotion of several dtypes (np.result_type)."""
    return np.result_type(*(np.dtype(d) for d in dtypes))
