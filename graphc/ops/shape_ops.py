"""Shape and type ops: cast, reshape, transpose, concat, stack, expand/squeeze, fills.
Broadcasting and its adjoint are in graphc.ops.broadcasting, indexing (getitem, gather,
one_hot) in graphc.ops.indexing; both may import this module, not the reverse."""
from __future__ import annotations

import math as _pymath

import numpy as np

from graphc.ir import arguments
from graphc.ir import dtypes
from graphc.errors import ShapeError
from graphc.ir.tensor import Tensor, as_tensor
from graphc.ir import batching
from graphc.ir.batching import BatchRule, NotBatchable, aligned, reshape_to
from graphc.ir.opdef import apply, defop, describe, normalize_axis, normalize_axes


def is_static(shape) -> bool:
    return all(d is not None for d in shape)


# -- cast ----------------------------------------------------------------------------------

def _cast_grad(n, g):
    x = n.inputs[0]
    return [cast(g, x.dtype) if x.dtype.kind == "f" and n.dtype.kind == "f" else None]


defop("cast", ("x",), lambda ins, at: (ins[0].shape, np.dtype(at["dtype"])),
      "np.asarray({x}).astype({dtype})", grad=_cast_grad, kind="elementwise",
      doc="convert to another dtype", numpy_out="np.copyto({out}, {x}, casting='unsafe')",
      scalar={"cuda": "(({T}){x})"})  # C++ conversion: truncation toward 0, NaN -> true


def cast(x, dtype):
    x = as_tensor(x, what="cast: x")
    dt = arguments.dtype(dtype, "cast: dtype")
    if dt == x.dtype:
        return x
    return apply("cast", [x], dtype=dt.name)


# -- reshape -----------------------------------------------------------------------------

def _reshape_rule(inputs, attrs):
    (x,) = inputs
    target = attrs["shape"]
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1:
        raise ShapeError(f"reshape: at most one -1 in the target shape {target} of {describe(x)}")
    if any(d < -1 for d in target):
        raise ShapeError(f"reshape: negative size in the target shape {target} of {describe(x)}")
    known = _pymath.prod(d for d in target if d != -1)
    if is_static(x.shape):
        size = _pymath.prod(x.shape)
        if unknown:
            if known == 0 or size % known:
                raise ShapeError(f"reshape: cannot reshape {describe(x)} ({size} elements) into {target}")
            out = list(target)
            out[unknown[0]] = size // known
            return tuple(out), x.dtype
        if size != known:
            raise ShapeError(f"reshape: cannot reshape {describe(x)} ({size} elements) into {target} "
                             f"({known} elements)")
        return tuple(target), x.dtype
    return tuple(None if d == -1 else d for d in target), x.dtype


def _reshape_batch(node, axes):
    return reshape_to(node.inputs[0], axes[0], node.shape)


defop("reshape", ("x",), _reshape_rule, "{x}.reshape({shape})",
      grad=lambda n, g: [reshape_like(g, n.inputs[0])], doc="same elements, new shape (one -1 allowed)", result="view", batch=_reshape_batch)


def reshape(x, shape):
    x = as_tensor(x, what="reshape: x")
    shape = arguments.indices(shape, "reshape: shape", minimum=-1, allow_int=True)   # -1: the size that fits
    if shape == x.shape:
        return x
    return apply("reshape", [x], shape=shape)


def _reshape_like_rule(inputs, attrs):
    x, ref = inputs
    if is_static(x.shape) and is_static(ref.shape) and _pymath.prod(x.shape) != _pymath.prod(ref.shape):
        raise ShapeError(f"reshape_like: {describe(x)} and {describe(ref)} differ in size")
    return ref.shape, x.dtype


def _reshape_like_batch(node, axes):
    x, ref = node.inputs
    if axes[1] is None:
        raise NotBatchable("the shape it takes comes from a replicated tensor, so it is the whole batch's")
    if axes[0] is None:
        raise NotBatchable("it reshapes a replicated tensor into a chunked one's shape")
    rule = reshape_to(x, axes[0], ref.shape)
    if rule.axis != axes[1]:
        raise NotBatchable("its operand and its reference are chunked along different axes")
    return rule


defop("reshape_like", ("x", "ref"), _reshape_like_rule, "np.reshape({x}, np.shape({ref}))",
      grad=lambda n, g: [reshape_like(g, n.inputs[0]), None],
      doc="reshape x to the (run-time) shape of ref", result="view", batch=_reshape_like_batch)


def reshape_like(x: Tensor, ref: Tensor) -> Tensor:
    """Reshape ``x`` to ``ref``'s shape: a static reshape when that shape is known."""
    if x.shape == ref.shape and is_static(x.shape):
        return x
    if is_static(ref.shape):
        return reshape(x, ref.shape)
    return apply("reshape_like", [x, ref])


# -- transpose -----------------------------------------------------------------------------

def _transpose_rule(inputs, attrs):
    (x,) = inputs
    perm = attrs["perm"]
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: perm {perm} is not a permutation of the {x.ndim} axes of {describe(x)}")
    return tuple(x.shape[p] for p in perm), x.dtype


def _transpose_grad(n, g):
    inverse = tuple(int(i) for i in np.argsort(n.attrs["perm"]))
    return [transpose(g, inverse)]


def _transpose_batch(node, axes):
    return BatchRule(node.attrs["perm"].index(axes[0]))


defop("transpose", ("x",), _transpose_rule, "{x}.transpose({perm})", grad=_transpose_grad,
      doc="permute axes (default: reverse them)", result="view", batch=_transpose_batch)


def transpose(x, perm=None):
    x = as_tensor(x, what="transpose: x")
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        given = arguments.indices(perm, "transpose: perm")
        if len(given) != x.ndim or any(not -x.ndim <= p < x.ndim for p in given):
            raise ShapeError(f"transpose: perm {given} is not a permutation of the {x.ndim} axes "
                             f"of {describe(x)}")
        perm = tuple(p % x.ndim for p in given)
    if perm == tuple(range(x.ndim)):
        return x
    return apply("transpose", [x], perm=perm)


# -- concat / stack ------------------------------------------------------------------------

def _concat_rule(inputs, attrs):
    axis = attrs["axis"]
    first = inputs[0]
    out = list(first.shape)
    total = 0
    for t in inputs:
        if t.ndim != first.ndim:
            raise ShapeError("concat: inputs differ in rank: " + ", ".join(describe(u) for u in inputs))
        for ax in range(first.ndim):
            if ax == axis:
                continue
            a, b = out[ax], t.shape[ax]
            if a is not None and b is not None and a != b:
                raise ShapeError(f"concat: sizes differ on axis {ax} (only axis {axis} may differ): "
                                 + ", ".join(describe(u) for u in inputs))
            out[ax] = a if a is not None else b
        total = None if (total is None or t.shape[axis] is None) else total + t.shape[axis]
    out[axis] = total
    return tuple(out), dtypes.promote(*(t.dtype for t in inputs))


def _concat_grad(n, g):
    axis = n.attrs["axis"]
    xs = n.inputs
    if all(x.shape[axis] is not None for x in xs):
        grads, start = [], 0
        for x in xs:
            # the getitem op built directly, with the index already in indexing.getitem's
            # normalized form (every axis, plain-int slice bounds): this module does not import
            # graphc.ops.indexing (it imports this one)
            index = ((slice(None),) * axis + (slice(start, start + x.shape[axis]),)
                     + (slice(None),) * (g.ndim - axis - 1))
            grads.append(cast_like(apply("getitem", [g], index=index), x))
            start += x.shape[axis]
        return grads
    return [cast_like(apply("concat_part", [g, *xs], axis=axis, index=i), x) for i, x in enumerate(xs)]


def cast_like(g, x):
    return cast(g, x.dtype) if x.dtype.kind == "f" else None


def _concat_batch(node, axes):
    rule = aligned(node, axes, range(len(node.inputs)))
    if rule.axis == node.attrs["axis"]:
        raise NotBatchable("it joins tensors along the batch axis")
    return rule


defop("concat", ("*xs",), _concat_rule, "np.concatenate([{xs}], axis={axis})", grad=_concat_grad,
      doc="join tensors along an existing axis", result="new", batch=_concat_batch)


def _concat_part(g, *xs, axis, index):
    start = sum(x.shape[axis] for x in xs[:index])
    sl = [slice(None)] * g.ndim
    sl[axis] = slice(start, start + xs[index].shape[axis])
    return g[tuple(sl)]


def _concat_part_grad(n, g):
    # the adjoint of cutting part `index` out of the cotangent: g in its place, zeros elsewhere
    xs, axis, index = n.inputs[1:], n.attrs["axis"], n.attrs["index"]
    pieces = [g if i == index else zeros_like(x, dtype=g.dtype) for i, x in enumerate(xs)]
    return [concat(pieces, axis=axis)] + [None] * len(xs)


# inputs: the cotangent g, then every input of the concat (for their run-time sizes)
def _concat_part_batch(node, axes):
    if axes[0] is None:
        raise NotBatchable("it cuts a replicated cotangent to a chunked tensor's size")
    if axes[0] == node.attrs["axis"]:
        raise NotBatchable("it cuts along the batch axis")
    return BatchRule(axes[0])


defop("concat_part", ("*parts",),
      lambda ins, at: (ins[1 + at["index"]].shape, ins[0].dtype),
      "concat_part({parts}, axis={axis}, index={index})",
      grad=_concat_part_grad, helpers={"concat_part": _concat_part},
      doc="the slice of a concat's cotangent that belongs to input `index` (run-time sizes)", result="unknown", batch=_concat_part_batch)


def _tensor_list(op: str, xs) -> list:
    """The tensors of concat/stack: a list or tuple of tensors or arrays."""
    if isinstance(xs, Tensor) or not isinstance(xs, (list, tuple)):
        raise TypeError(f"{op}: xs must be a list or tuple of tensors, got {type(xs).__name__}")
    return [as_tensor(x, what=f"{op}: xs[{k}]") for k, x in enumerate(xs)]


def concat(xs, axis=0):
    xs = _tensor_list("concat", xs)
    if not xs:
        raise ShapeError("concat: needs at least one tensor")
    if len(xs) == 1:
        return xs[0]
    axis = normalize_axis("concat", xs[0], axis)
    return apply("concat", xs, axis=axis)


def stack(xs, axis=0):
    xs = _tensor_list("stack", xs)
    if not xs:
        raise ShapeError("stack: needs at least one tensor")
    ndim = xs[0].ndim
    axis = arguments.index(axis, "stack: axis")
    if not -(ndim + 1) <= axis <= ndim:
        raise ShapeError(f"stack: axis {axis} is out of range for the {ndim + 1}-d stack of {describe(xs[0])}")
    axis %= ndim + 1
    for x in xs:
        if x.ndim != ndim or any(a is not None and b is not None and a != b for a, b in zip(x.shape, xs[0].shape)):
            raise ShapeError("stack: all tensors must have the same shape: " + ", ".join(describe(x) for x in xs))
    return concat([expand_dims(x, axis) for x in xs], axis=axis)


# -- expand_dims / squeeze -------------------------------------------------------------------

def _expand_rule(inputs, attrs):
    (x,) = inputs
    axis = attrs["axis"]
    shape = list(x.shape)
    shape.insert(axis, 1)
    return tuple(shape), x.dtype


def _expand_dims_batch(node, axes):
    a = axes[0]
    return BatchRule(a + (node.attrs["axis"] <= a))


defop("expand_dims", ("x",), _expand_rule, "{x}[(slice(None),) * {axis} + (None,)]",
      grad=lambda n, g: [reshape_like(g, n.inputs[0])], doc="insert a size-1 axis", result="view", batch=_expand_dims_batch)


def expand_dims(x, axis):
    x = as_tensor(x, what="expand_dims: x")
    axis = arguments.index(axis, "expand_dims: axis")
    if not -(x.ndim + 1) <= axis <= x.ndim:
        raise ShapeError(f"expand_dims: axis {axis} is out of range for {describe(x)}")
    return apply("expand_dims", [x], axis=axis % (x.ndim + 1))


def _squeeze_rule(inputs, attrs):
    (x,) = inputs
    axes = attrs["axis"]
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"squeeze: axis {a} of {describe(x)} has size {x.shape[a]}, not 1")
    return tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype


def _squeeze_batch(node, axes):
    a = axes[0]
    if a in node.attrs["axis"]:
        raise NotBatchable("it drops the batch axis")
    return BatchRule(a - sum(1 for s in node.attrs["axis"] if s < a))


defop("squeeze", ("x",), _squeeze_rule, "{x}.squeeze({axis})",
      grad=lambda n, g: [reshape_like(g, n.inputs[0])], doc="drop size-1 axes", result="view", batch=_squeeze_batch)


def squeeze(x, axis=None):
    x = as_tensor(x, what="squeeze: x")
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = normalize_axes("squeeze", x, axis)
    if not axes:
        return x
    return apply("squeeze", [x], axis=axes)


# -- fills -----------------------------------------------------------------------------------

defop("fill", (), lambda ins, at: (at["shape"], np.dtype(at["dtype"])),
      "np.full({shape}, {value}, dtype={dtype})", kind="source", doc="a tensor of one value")
defop("fill_like", ("ref",), lambda ins, at: (ins[0].shape, np.dtype(at["dtype"])),
      "np.full(np.shape({ref}), {value}, dtype={dtype})", grad=lambda n, g: [None],
      doc="a tensor of one value, shaped like ref (only ref's shape is read: no gradient)", result="unknown", batch=batching.same_axis)


def fill(shape, value, dtype=None):
    """A tensor of ``shape`` filled with ``value`` (dtype from the value: float -> float32)."""
    return _fill("fill", shape, value, dtype)


def _fill(op, shape, value, dtype):
    shape = arguments.shape(shape, f"{op}: shape")
    dt = _fill_dtype(op, value, dtype)
    return apply("fill", [], shape=shape, value=dt.type(value).item(), dtype=dt.name)


def _fill_dtype(op, value, dtype) -> np.dtype:
    """The dtype of a fill: ``dtype``, else the value's (a Python float -> float32); the value
    must be a number or a bool."""
    if dtype is not None:
        dt = arguments.dtype(dtype, f"{op}: dtype")
    if isinstance(value, Tensor) or np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biuf":
        raise TypeError(f"{op}: value must be a number or a bool, got {type(value).__name__} {value!r:.60}")
    if dtype is not None:
        return dt
    return dtypes.python_scalar_dtype(value) if dtypes.is_python_scalar(value) else np.asarray(value).dtype


def zeros(shape, dtype="float32"):
    return _fill("zeros", shape, 0, dtype)


def ones(shape, dtype="float32"):
    return _fill("ones", shape, 1, dtype)


def _fill_like(t, value, dtype):
    op = "zeros_like" if value == 0 else "ones_like"
    t = as_tensor(t, what=f"{op}: t")
    dt = t.dtype if dtype is None else arguments.dtype(dtype, f"{op}: dtype")
    if is_static(t.shape):
        return fill(t.shape, value, dt)
    return apply("fill_like", [t], value=dt.type(value).item(), dtype=dt.name)


def zeros_like(t, dtype=None):
    return _fill_like(t, 0, dtype)


def ones_like(t, dtype=None):
    return _fill_like(t, 1, dtype)


def shape(x) -> tuple:
    """The static shape (None for sizes known only at call time)."""
    return as_tensor(x, what="shape: x").shape
