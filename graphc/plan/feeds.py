"""Values fed for placeholders at call time: converted to the placeholder's dtype when the kind
allows it, shapes checked, errors naming the input. Every backend checks its inputs with these."""
from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError, ShapeError
from graphc.ir.tensor import Tensor, format_shape


def convert(p: Tensor, value):
    """A fed value as a NumPy array of the placeholder's dtype, its shape checked. Subclasses
    (np.matrix, masked arrays) become plain arrays: their operators mean something else."""
    if type(value) is not np.ndarray:
        try:
            value = np.asarray(value)
        except ValueError as exc:  # ragged nested lists
            raise ShapeError(f"input {p.name!r} expects shape {format_shape(p.shape)}; the value fed "
                             f"is not a rectangular array ({exc})") from None
    return check_fed_array(p, value)


def check_fed_array(p: Tensor, value):
    """An array fed for placeholder ``p`` (NumPy's, or a backend's own: CuPy, Dask), cast to
    ``p``'s dtype when the kind allows it, its shape checked; DTypeError / ShapeError name the
    input otherwise."""
    if value.dtype != p.dtype:
        integers = value.dtype.kind in "iu" and p.dtype.kind in "iu"   # signed or not: by value
        if not (integers or np.can_cast(value.dtype, p.dtype, "same_kind")):
            raise DTypeError(f"input {p.name!r} is {p.dtype}; cannot feed a {value.dtype} value "
                             f"(cast it first)")
        check_integer_range(p, value)
        value = value.astype(p.dtype)
    shape = value.shape
    if len(shape) != len(p.shape) or any(d is not None and d != s for d, s in zip(p.shape, shape)):
        raise ShapeError(f"input {p.name!r} expects shape {format_shape(p.shape)}, got {format_shape(shape)}")
    return value


def check_integer_range(p: Tensor, value):
    """Integers cast to an integer dtype that cannot hold every value of theirs must fit:
    a cast would wrap them."""
    if value.dtype.kind in "iu" and p.dtype.kind in "iu" and value.size \
            and not np.can_cast(value.dtype, p.dtype, "safe"):
        info = np.iinfo(p.dtype)
        low, high = value.min(), value.max()
        if low < info.min or high > info.max:
            raise DTypeError(f"input {p.name!r} is {p.dtype}; the value fed holds {low if low < info.min else high}, "
                             f"outside [{info.min}, {info.max}]")
