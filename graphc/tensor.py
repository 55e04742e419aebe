"""The IR node: an immutable, symbolic Tensor, and its Python operator overloads.

A Tensor is the output of one op applied to input Tensors with attributes. It
never changes after construction; passes build new Tensors. ``==`` is identity
(Tensors are dict keys); use ``gc.equal`` for the elementwise comparison.
"""
from __future__ import annotations

import contextlib
import itertools

import numpy as np

from . import dtypes
from .errors import GraphError, ShapeError

_ids = itertools.count()
_name_counts: dict[str, itertools.count] = {}
_tag_stack: list[str] = []


@contextlib.contextmanager
def tagging(tag: str):
    """Every Tensor built inside the block carries ``tag`` (e.g. "grad" for gradient nodes)."""
    _tag_stack.append(tag)
    try:
        yield
    finally:
        _tag_stack.pop()


def _auto_name(op: str) -> str:
    counter = _name_counts.setdefault(op, itertools.count())
    return f"{op}_{next(counter)}"


def format_shape(shape) -> str:
    """(None, 3) -> '(?, 3)': how shapes appear in messages and diagrams."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class Tensor:
    """A symbolic value: ``op`` applied to ``inputs`` with ``attrs``.

    ``shape`` is a tuple whose entries are ints or None (known only at call time).
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "tag", "id", "__weakref__")
    # NumPy must not broadcast its ufuncs over a Tensor: np.array + t calls t.__radd__.
    __array_ufunc__ = None

    def __init__(self, op: str, inputs, attrs: dict, shape, dtype, name=None, tag=None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.id = next(_ids)
        self.name = name if name is not None else _auto_name(op)
        self.tag = tag if tag is not None else (_tag_stack[-1] if _tag_stack else None)

    # -- descriptive properties -------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self):
        """Number of elements, or None when some dimension is unknown."""
        if any(d is None for d in self.shape):
            return None
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def T(self) -> "Tensor":
        """Reversed axes, like ndarray.T."""
        from .ops import shape_ops
        return shape_ops.transpose(self)

    def __repr__(self) -> str:
        return f"<Tensor {self.name!r} op={self.op} shape={format_shape(self.shape)} dtype={self.dtype}>"

    def __str__(self) -> str:
        return f"{self.name}: {self.op} {format_shape(self.shape)} {self.dtype}"

    def eval(self, feed_dict=None, backend=None):
        """Compile and run this tensor once; ``feed_dict`` maps placeholders (or names) to values."""
        from .compiler import evaluate
        return evaluate(self, feed_dict, backend)

    def _repr_svg_(self):
        from .render import repr_svg
        return repr_svg(self)

    # -- Python protocol ---------------------------------------------------------------
    def __bool__(self):
        raise GraphError(
            f"the truth value of symbolic tensor {self.name!r} is not known while the graph is "
            "built; use gc.where(cond, a, b) instead of `if`, and gc.equal instead of `==`")

    def __len__(self):
        if not self.shape:
            raise ShapeError(f"len() of a 0-d tensor {self.name!r}")
        if self.shape[0] is None:
            raise ShapeError(f"len() of tensor {self.name!r}: its first dimension is known only at call time")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    __hash__ = object.__hash__  # identity: tensors are dict keys

    # -- arithmetic: each operator builds the op of the same name ----------------------
    def __add__(self, other):  # self + other
        return _math().add(self, other)

    def __radd__(self, other):  # other + self
        return _math().add(other, self)

    def __sub__(self, other):  # self - other
        return _math().sub(self, other)

    def __rsub__(self, other):
        return _math().sub(other, self)

    def __mul__(self, other):  # self * other, elementwise
        return _math().mul(self, other)

    def __rmul__(self, other):
        return _math().mul(other, self)

    def __truediv__(self, other):  # self / other, true division
        return _math().div(self, other)

    def __rtruediv__(self, other):
        return _math().div(other, self)

    def __pow__(self, other):  # self ** other
        return _math().pow(self, other)

    def __rpow__(self, other):
        return _math().pow(other, self)

    def __matmul__(self, other):  # self @ other, like np.matmul
        from .ops import linalg
        return linalg.matmul(self, other)

    def __rmatmul__(self, other):
        from .ops import linalg
        return linalg.matmul(other, self)

    def __neg__(self):  # -self
        return _math().neg(self)

    def __pos__(self):
        return self

    def __abs__(self):  # abs(self)
        return _math().abs(self)

    # comparisons are elementwise and give bool tensors; == stays identity
    def __lt__(self, other):
        return _math().less(self, other)

    def __le__(self, other):
        return _math().less_equal(self, other)

    def __gt__(self, other):
        return _math().greater(self, other)

    def __ge__(self, other):
        return _math().greater_equal(self, other)

    def __getitem__(self, index):  # basic slicing, integer indexing, None/newaxis
        from .ops import shape_ops
        return shape_ops.getitem(self, index)


def _math():
    from .ops import math
    return math


class Variable(Tensor):
    """Persistent state (weights). ``value`` is the current NumPy array; compiled functions
    read it at call time and ``updates`` write it after the call."""

    __slots__ = ("_value", "trainable")

    def __init__(self, value: np.ndarray, name=None, trainable=True):
        super().__init__("variable", (), {}, value.shape, value.dtype, name=name)
        self._value = value
        self.trainable = trainable

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new):
        self.assign(new)

    def assign(self, new) -> "Variable":
        """Replace the value; the shape must match and the dtype must cast safely (same kind)."""
        arr = np.asarray(new)
        if arr.shape != self.shape:
            raise ShapeError(
                f"assign: variable {self.name!r} has shape {format_shape(self.shape)}, "
                f"the new value has shape {format_shape(arr.shape)}")
        if not np.can_cast(arr.dtype, self.dtype, "same_kind"):
            from .errors import DTypeError
            raise DTypeError(f"assign: variable {self.name!r} is {self.dtype}, cannot take a {arr.dtype} value")
        self._value = np.array(arr, dtype=self.dtype, copy=True)
        return self

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} shape={format_shape(self.shape)} dtype={self.dtype}>"


# -- sources of a graph -----------------------------------------------------------------

def _check_shape_arg(shape, what: str):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(None if d is None else int(d) for d in shape)
    except TypeError as exc:
        raise ShapeError(f"{what}: shape must be a tuple of ints or None, got {shape!r}") from exc
    if any(d is not None and d < 0 for d in shape):
        raise ShapeError(f"{what}: negative dimension in shape {shape!r}")
    return shape


def placeholder(shape=(), dtype="float32", name=None) -> Tensor:
    """A graph input fed at call time; None in ``shape`` is a size known only then."""
    shape = _check_shape_arg(shape, "placeholder")
    return Tensor("placeholder", (), {}, shape, dtypes.as_dtype(dtype), name=name)


def _to_array(value, dtype, what: str) -> np.ndarray:
    """Python floats (and lists of them) -> float32, ints -> int64, arrays keep their dtype."""
    if dtype is not None:
        return np.asarray(value, dtype=dtypes.as_dtype(dtype))
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        arr = np.asarray(value)
    else:
        arr = np.asarray(value)
        if arr.dtype.kind == "f":
            arr = arr.astype(dtypes.DEFAULT_FLOAT)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(dtypes.DEFAULT_INT)
    dtypes.as_dtype(arr.dtype)  # rejects strings, objects, complex
    return arr


def constant(value, dtype=None, name=None) -> Tensor:
    """A literal. The value is copied and frozen."""
    arr = np.array(_to_array(value, dtype, "constant"), copy=True)
    arr.flags.writeable = False
    return Tensor("constant", (), {"value": arr}, arr.shape, arr.dtype, name=name)


def variable(value, dtype=None, name=None, trainable=True) -> Variable:
    """Persistent state: ``.value`` reads/writes the current array, ``.assign(v)`` replaces it."""
    arr = np.array(_to_array(value, dtype, "variable"), copy=True)
    return Variable(arr, name=name, trainable=trainable)


def as_tensor(value, dtype=None) -> Tensor:
    """A Tensor as is; anything else becomes a constant (Python scalars take ``dtype`` if given)."""
    if isinstance(value, Tensor):
        return value
    return constant(value, dtype=dtype)


def is_constant(t: Tensor) -> bool:
    return t.op == "constant"


def constant_value(t: Tensor):
    """The NumPy value of a constant tensor, else None."""
    return t.attrs["value"] if t.op == "constant" else None
