"""The IR node: an immutable, symbolic Tensor, and its Python operator overloads.

A Tensor is the output of one op applied to input Tensors with attributes. It
never changes after construction; passes build new Tensors. ``==`` is identity
(Tensors are dict keys); use ``gc.equal`` for the elementwise comparison.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys

import numpy as np

from graphc.ir import dtypes
from graphc.ir import arguments
from graphc.errors import DTypeError, GraphError, ShapeError

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


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # graphc/


def _user_site():
    """The first frame outside graphc: the line of the user's program that built a node."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


def _auto_name(op: str) -> str:
    counter = _name_counts.setdefault(op, itertools.count())
    return f"{op}_{next(counter)}"


def format_shape(shape) -> str:
    """(None, 3) -> '(?, 3)': how shapes appear in messages and diagrams."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class Attributes(dict):
    """A node's attributes: a dict that cannot change once built (passes build new nodes)."""

    __slots__ = ()

    def _immutable(self, *args, **kwargs):
        raise TypeError("a node's attributes cannot change: build a new node (graphc.ir.opdef.apply)")

    __setitem__ = __delitem__ = __ior__ = _immutable
    clear = pop = popitem = setdefault = update = _immutable

    def __reduce__(self):
        return Attributes, (dict(self),)


_NO_ATTRIBUTES = Attributes()
_FIELDS = frozenset({"op", "inputs", "attrs", "shape", "dtype", "name", "tag", "id", "site"})


class Tensor:
    """A symbolic value: ``op`` applied to ``inputs`` with ``attrs``; immutable once built.

    ``shape`` is a tuple whose entries are ints or None (known only at call time).
    """

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "name", "tag", "id", "site", "__weakref__")
    # NumPy must not broadcast its ufuncs over a Tensor: np.array + t calls t.__radd__.
    __array_ufunc__ = None

    def __init__(self, op: str, inputs, attrs: dict, shape, dtype, name=None, tag=None, site=None):
        init = object.__setattr__
        init(self, "op", op)
        init(self, "inputs", tuple(inputs))
        init(self, "attrs", attrs if type(attrs) is Attributes else (Attributes(attrs) if attrs else _NO_ATTRIBUTES))
        init(self, "shape", tuple(shape))
        init(self, "dtype", np.dtype(dtype))
        init(self, "id", next(_ids))
        init(self, "name", name if name is not None else _auto_name(op))
        init(self, "tag", tag if tag is not None else (_tag_stack[-1] if _tag_stack else None))
        # (file, line, function) that built it, for error messages
        init(self, "site", site if site is not None else _user_site())

    def __setattr__(self, field, value):
        if field in _FIELDS:
            raise AttributeError(f"tensor {self.name!r} is immutable ({field} cannot change): "
                                 "passes build new nodes instead")
        object.__setattr__(self, field, value)

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

    def __repr__(self) -> str:
        return f"<Tensor {self.name!r} op={self.op} shape={format_shape(self.shape)} dtype={self.dtype}>"

    def __str__(self) -> str:
        return f"{self.name}: {self.op} {format_shape(self.shape)} {self.dtype}"

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

    # The operators (+ - * / ** @, comparisons, [], .T), .eval() and the Jupyter display need
    # the ops, the compiler and Graphviz, which sit above the IR: graphc.ops.tensor_methods,
    # graphc.compile.function and graphc.render install them on this class when they load.


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
        arr = to_array(new, None, f"assign: variable {self.name!r}", weak=False)
        if arr.shape != self.shape:
            raise ShapeError(
                f"assign: variable {self.name!r} has shape {format_shape(self.shape)}, "
                f"the new value has shape {format_shape(arr.shape)}")
        if not np.can_cast(arr.dtype, self.dtype, "same_kind"):
            raise DTypeError(f"assign: variable {self.name!r} is {self.dtype}, cannot take a {arr.dtype} value")
        self._value = np.array(arr, dtype=self.dtype, copy=True)
        return self

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} shape={format_shape(self.shape)} dtype={self.dtype}>"


# -- sources of a graph -----------------------------------------------------------------

def placeholder(shape=(), dtype="float32", name=None) -> Tensor:
    """A graph input fed at call time; None in ``shape`` is a size known only then."""
    shape = arguments.shape(shape, "placeholder: shape", allow_unknown=True)
    return Tensor("placeholder", (), {}, shape, arguments.dtype(dtype, "placeholder: dtype"), name=name)


def to_array(value, dtype, what: str, weak: bool = True) -> np.ndarray:
    """``value`` as a NumPy array of a dtype graphc supports, or a ShapeError (ragged nested
    lists) / DTypeError (strings, objects, values ``dtype`` cannot hold) naming ``what``.
    ``weak``: Python floats (and lists of them) -> float32, ints -> int64; NumPy arrays and
    scalars keep their dtype."""
    if isinstance(value, Tensor):
        raise GraphError(f"{what}: the value must be a NumPy array or (nested lists of) numbers, "
                         f"got the symbolic tensor {value.name!r}")
    target = None if dtype is None else arguments.dtype(dtype, f"{what}: dtype")
    try:
        arr = np.asarray(value, dtype=target)
    except (ValueError, TypeError, OverflowError) as exc:
        if _is_ragged(value):
            raise ShapeError(f"{what}: the value is a ragged nested sequence (its lists differ in "
                             f"length), got {arguments.shown(value)}") from None
        into = f" as {target}" if target is not None else ""
        raise DTypeError(f"{what}: cannot represent {arguments.shown(value)}{into} ({exc})") from None
    if weak and target is None and not isinstance(value, (np.ndarray, np.generic)):
        if arr.dtype.kind == "f":
            arr = arr.astype(dtypes.DEFAULT_FLOAT)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(dtypes.DEFAULT_INT)
    if arr.dtype.kind not in "biuf":
        raise DTypeError(f"{what}: unsupported value {arguments.shown(value)} of dtype {arr.dtype} (graphc "
                         "supports bool, integers and floats)")
    return arr


def _is_ragged(value) -> bool:
    """Whether nested lists/tuples differ in length, or mix scalars and sequences, at some depth."""
    level = [value]
    while True:
        seqs = [v for v in level if isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim)]
        if not seqs:
            return False
        if len(seqs) != len(level) or len({len(v) for v in seqs}) > 1:
            return True
        level = [item for v in seqs for item in v]


def constant(value, dtype=None, name=None) -> Tensor:
    """A literal. The value is copied and frozen."""
    return _frozen(to_array(value, dtype, "constant"), name)


def _frozen(arr: np.ndarray, name=None) -> Tensor:
    arr = np.array(arr, copy=True)
    arr.flags.writeable = False
    return Tensor("constant", (), {"value": arr}, arr.shape, arr.dtype, name=name)


def variable(value, dtype=None, name=None, trainable=True) -> Variable:
    """Persistent state: ``.value`` reads/writes the current array, ``.assign(v)`` replaces it."""
    arr = np.array(to_array(value, dtype, "variable"), copy=True)
    return Variable(arr, name=name, trainable=trainable)


def as_tensor(value, dtype=None, what: str = "constant") -> Tensor:
    """A Tensor as is; anything else becomes a constant (Python scalars take ``dtype`` if given).
    ``what`` (e.g. ``"reshape: x"``) names the op and argument when the value is no array."""
    if isinstance(value, Tensor):
        return value
    return _frozen(to_array(value, dtype, what))
