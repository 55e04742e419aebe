"""Python's operators on Tensors, each building the op of the same name.

They are installed on ``Tensor`` when the op layer loads, because the IR sits below the ops and
knows none of them (JAX installs its array methods the same way)."""
from __future__ import annotations

from graphc.ir.tensor import Tensor
from graphc.ops import indexing, linalg, math, shape_ops


def _binary(build, reflected=False):
    if reflected:
        def method(self, other):
            return build(other, self)
    else:
        def method(self, other):
            return build(self, other)
    return method


def _transposed(self) -> Tensor:
    """Reversed axes, like ndarray.T."""
    return shape_ops.transpose(self)


def _positive(self) -> Tensor:
    return self


_METHODS = {
    "__add__": _binary(math.add), "__radd__": _binary(math.add, True),
    "__sub__": _binary(math.sub), "__rsub__": _binary(math.sub, True),
    "__mul__": _binary(math.mul), "__rmul__": _binary(math.mul, True),
    "__truediv__": _binary(math.div), "__rtruediv__": _binary(math.div, True),
    "__pow__": _binary(math.pow), "__rpow__": _binary(math.pow, True),
    "__matmul__": _binary(linalg.matmul), "__rmatmul__": _binary(linalg.matmul, True),
    # comparisons are elementwise and give bool tensors; == stays identity (Tensors are dict keys)
    "__lt__": _binary(math.less), "__le__": _binary(math.less_equal),
    "__gt__": _binary(math.greater), "__ge__": _binary(math.greater_equal),
    "__neg__": math.neg, "__pos__": _positive, "__abs__": math.abs,
    "__getitem__": indexing.getitem,   # basic slicing, integer indexing, None/newaxis
    "T": property(_transposed),
}


def install() -> None:
    for name, method in _METHODS.items():
        setattr(Tensor, name, method)
