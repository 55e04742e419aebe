"""Shape and type ops: cast, reshape, transpose, concat, stack, expand/squeeze, broadcasting,
basic indexing, fills — plus the shape-adjoint ops gradients need (sum_to_like, ...)."""
from __future__ import annotations

import functools
import math as _pymath

import numpy as np

from graphc.ir import arguments
from graphc.ir import dtypes
from graphc.errors import DTypeError, ShapeError
from graphc.ir.tensor import Tensor, as_tensor, format_shape
from graphc.ir import batching
from graphc.ir.batching import BatchRule, NotBatchable, aligned, index_position, reshape_to
from graphc.ir.opdef import apply, broadcast_shapes, defop, describe, normalize_axis, normalize_axes


def _static(shape) -> bool:
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
    if _static(x.shape):
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
    if _static(x.shape) and _static(ref.shape) and _pymath.prod(x.shape) != _pymath.prod(ref.shape):
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
    if x.shape == ref.shape and _static(x.shape):
        return x
    if _static(ref.shape):
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
            index = (slice(None),) * axis + (slice(start, start + x.shape[axis]),)
            grads.append(cast_like(getitem(g, index), x))
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


# -- broadcasting and its adjoint ---------------------------------------------------------------

def _broadcast_to_rule(inputs, attrs):
    (x,) = inputs
    target = attrs["shape"]
    probe = Tensor("placeholder", (), {}, target, x.dtype, name=f"shape {format_shape(target)}")
    out = broadcast_shapes("broadcast_to", x, probe)
    if len(target) < x.ndim or any(o != t for o, t in zip(out, target) if t is not None):
        raise ShapeError(f"broadcast_to: cannot broadcast {describe(x)} to {format_shape(target)}")
    return tuple(target), x.dtype


def _broadcast_to_batch(node, axes):
    return BatchRule(axes[0] + node.ndim - node.inputs[0].ndim)


defop("broadcast_to", ("x",), _broadcast_to_rule, "np.broadcast_to({x}, {shape})",
      grad=lambda n, g: [sum_to_like(g, n.inputs[0])], doc="repeat along broadcast axes", result="view", batch=_broadcast_to_batch)


def broadcast_to(x, shape):
    x = as_tensor(x, what="broadcast_to: x")
    shape = arguments.shape(shape, "broadcast_to: shape")
    if shape == x.shape:
        return x
    return apply("broadcast_to", [x], shape=shape)


def _sum_to(g, shape):
    """Sum ``g`` over the axes NumPy broadcasting added or stretched to reach g's shape."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    return np.reshape(g, shape)


def _sum_to_like_batch(node, axes):
    g, ref = node.inputs
    ga, ra = axes
    if ga is None:
        raise NotBatchable("it sums a replicated tensor down to a chunked one's shape")
    j = ga - (g.ndim - ref.ndim)
    if ra is not None:
        if ra != j:
            raise NotBatchable("its operand and its reference are chunked along different axes")
        return BatchRule(ra)
    if j < 0 or ref.shape[j] == 1:
        return BatchRule(None, "sum")   # the batch axis is summed away: a bias gradient
    raise NotBatchable("its replicated reference spans the batch axis")


defop("sum_to_like", ("g", "ref"), lambda ins, at: (ins[1].shape, ins[0].dtype),
      "sum_to({g}, np.shape({ref}))",
      grad=lambda n, g: [broadcast_like(g, n.inputs[0]), None], helpers={"sum_to": _sum_to},
      doc="sum g down to ref's (run-time) shape: the adjoint of broadcasting", result="unknown", batch=_sum_to_like_batch)


def sum_to_like(g: Tensor, x: Tensor) -> Tensor:
    """Sum ``g`` to ``x``'s shape; static reduce+reshape when both shapes are known."""
    if g.shape == x.shape and _static(x.shape):
        return g
    if _static(g.shape) and _static(x.shape):
        lead = g.ndim - x.ndim
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(x.shape)
                                          if d == 1 and g.shape[lead + i] != 1)
        out = apply("reduce_sum", [g], axis=axes, keepdims=True) if axes else g
        return reshape(out, x.shape)
    return apply("sum_to_like", [g, x])


def _broadcast_like_rule(inputs, attrs):
    x, ref = inputs
    out = broadcast_shapes("broadcast_like", x, ref)
    return out, x.dtype


defop("broadcast_like", ("x", "ref"), _broadcast_like_rule, "np.broadcast_to({x}, np.broadcast_shapes(np.shape({x}), np.shape({ref})))",
      grad=lambda n, g: [sum_to_like(g, n.inputs[0]), None],
      doc="broadcast x against ref's (run-time) shape", result="view", batch=batching.elementwise)


def broadcast_like(x: Tensor, ref: Tensor) -> Tensor:
    out_shape = broadcast_shapes("broadcast_like", x, ref)
    if out_shape == x.shape and _static(x.shape):
        return x
    if _static(out_shape):
        return broadcast_to(x, out_shape)
    return apply("broadcast_like", [x, ref])


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
    if _static(t.shape):
        return fill(t.shape, value, dt)
    return apply("fill_like", [t], value=dt.type(value).item(), dtype=dt.name)


def zeros_like(t, dtype=None):
    return _fill_like(t, 0, dtype)


def ones_like(t, dtype=None):
    return _fill_like(t, 1, dtype)


def shape(x) -> tuple:
    """The static shape (None for sizes known only at call time)."""
    return as_tensor(x, what="shape: x").shape


# -- basic indexing -----------------------------------------------------------------------------

def _normalize_index(x: Tensor, index) -> tuple:
    """Expand Ellipsis, check types and static bounds; returns a tuple of int/slice/None."""
    if not isinstance(index, tuple):
        index = (index,)
    for item in index:
        if isinstance(item, Tensor) or isinstance(item, (list, np.ndarray)):
            raise ShapeError(f"getitem: only basic indexing (ints, slices, None, ...) on {describe(x)}; "
                             "use gc.gather for index tensors")
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"getitem: a bool index ({item!r}) on {describe(x)} is a mask, which basic "
                            "indexing does not take; use gc.where or an integer")
        if not (item is None or item is Ellipsis or isinstance(item, slice) or arguments.is_integer(item)):
            raise TypeError(f"getitem: unsupported index {item!r} on {describe(x)}: use integers, slices, "
                            "None or ...")
    consumed = sum(1 for i in index if i is not None and i is not Ellipsis)
    if consumed > x.ndim:
        raise ShapeError(f"getitem: too many indices ({consumed}) for {describe(x)}")
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("getitem: at most one Ellipsis")
    if any(i is Ellipsis for i in index):
        pos = next(k for k, i in enumerate(index) if i is Ellipsis)
        index = index[:pos] + (slice(None),) * (x.ndim - consumed) + index[pos + 1:]
    else:
        index = index + (slice(None),) * (x.ndim - consumed)
    out, axis = [], 0
    for item in index:
        if item is None:
            out.append(None)
            continue
        dim = x.shape[axis]
        if not isinstance(item, slice):
            item = arguments.index(item, "getitem: index")
            if dim is not None and not -dim <= item < dim:
                raise ShapeError(f"getitem: index {item} is out of bounds for axis {axis} with size {dim} "
                                 f"of {describe(x)}")
            if dim is not None:
                item %= dim
        else:
            item = slice(*(_slice_part(v, part) for part, v in (("start", item.start), ("stop", item.stop),
                                                                   ("step", item.step))))
            if item.step == 0:
                raise ShapeError("getitem: slice step cannot be zero")
        out.append(item)
        axis += 1
    return tuple(out)


def _slice_part(value, part: str):
    if value is None or type(value) is int:
        return value
    return arguments.index(value, f"getitem: slice {part}")


def _getitem_rule(inputs, attrs):
    (x,) = inputs
    shape, axis = [], 0
    for item in attrs["index"]:
        if item is None:
            shape.append(1)
            continue
        dim = x.shape[axis]
        axis += 1
        if isinstance(item, int):
            continue
        if dim is not None:
            shape.append(len(range(*item.indices(dim))))
        else:
            shape.append(None)
    return tuple(shape), x.dtype


def _getitem_batch(node, axes):
    x = node.inputs[0]
    return BatchRule(index_position(node.attrs["index"], axes[0], x.shape[axes[0]]))


defop("getitem", ("x",), _getitem_rule, "{x}[{index}]",
      grad=lambda n, g: [apply("getitem_grad", [g, n.inputs[0]], index=n.attrs["index"])],
      doc="basic indexing: ints, slices, None", result="view", batch=_getitem_batch)


def _scatter_basic(g, x, index):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    out[index] = g
    return out


def _getitem_grad_batch(node, axes):
    g, x = node.inputs
    ga, xa = axes
    if xa is None:
        raise NotBatchable("it scatters into a replicated tensor's shape")
    if ga != index_position(node.attrs["index"], xa, x.shape[xa]):
        raise NotBatchable("its cotangent and its reference are chunked along different axes")
    return BatchRule(xa)


defop("getitem_grad", ("g", "x"), lambda ins, at: (ins[1].shape, ins[0].dtype),
      "scatter_basic({g}, {x}, {index})",
      grad=lambda n, g: [getitem(g, n.attrs["index"]), None], helpers={"scatter_basic": _scatter_basic},
      doc="the cotangent of getitem: g placed into zeros shaped like x", result="unknown", batch=_getitem_grad_batch)


def _split_indices(attrs) -> list:
    """scatter_slices' indices: ``index`` is every normalized index laid end to end (a flat
    tuple of ints, slices and None, so passes/cse.py can freeze it), ``lengths`` their sizes."""
    flat, out, start = attrs["index"], [], 0
    for k in attrs["lengths"]:
        out.append(tuple(flat[start:start + k]))
        start += k
    return out


def _scatter_slices(*parts, index, lengths):
    *gs, x = parts
    out = np.zeros(np.shape(x), dtype=gs[0].dtype)
    start = 0
    for g, k in zip(gs, lengths):
        out[index[start:start + k]] += g   # += : overlapping slices add
        start += k
    return out


def _scatter_slices_rule(inputs, attrs):
    *gs, x = inputs
    if not gs or len(gs) != len(attrs["lengths"]) or sum(attrs["lengths"]) != len(attrs["index"]):
        raise ShapeError(f"scatter_slices: {len(gs)} cotangents for {len(attrs['lengths'])} indices")
    for g, index in zip(gs, _split_indices(attrs)):
        want, _ = _getitem_rule([x], {"index": index})
        if g.ndim != len(want) or any(a is not None and b is not None and a != b
                                      for a, b in zip(g.shape, want)):
            raise ShapeError(f"scatter_slices: {describe(g)} does not fit {describe(x)}[{index}]")
        if g.dtype != gs[0].dtype:
            raise DTypeError(f"scatter_slices: cotangents of different dtypes: {describe(gs[0])}, "
                             f"{describe(g)}")
    return x.shape, gs[0].dtype


def _scatter_slices_grad(n, g):
    return [getitem(g, index) for index in _split_indices(n.attrs)] + [None]


# inputs: the cotangents g_1..g_k of k basic-index slices of x, then x (for its run-time shape)
def _scatter_slices_batch(node, axes):
    *gs, x = node.inputs
    xa = axes[-1]
    if xa is None:
        raise NotBatchable("it scatters into a replicated tensor's shape")
    flat, start = node.attrs["index"], 0
    for g, ga, k in zip(gs, axes, node.attrs["lengths"]):
        index = tuple(flat[start:start + k])
        start += k
        if ga != index_position(index, xa, x.shape[xa]):
            raise NotBatchable("a cotangent and the reference are chunked along different axes")
    return BatchRule(xa)


defop("scatter_slices", ("*parts",), _scatter_slices_rule,
      "scatter_slices({parts}, index={index}, lengths={lengths})",
      grad=_scatter_slices_grad, helpers={"scatter_slices": _scatter_slices},
      doc="the summed cotangents of many getitems of x: each g_i added into x[index_i] of one "
          "zero array shaped like x", result="unknown", batch=_scatter_slices_batch)


def scatter_slices(gs, indices, x):
    """One node summing getitem_grad(g_i, x) with index_i over i (indices already normalized)."""
    gs, x = [as_tensor(g) for g in gs], as_tensor(x)
    indices = [tuple(i) for i in indices]
    return apply("scatter_slices", [*gs, x], index=tuple(e for i in indices for e in i),
                 lengths=tuple(len(i) for i in indices))


def getitem(x, index):
    x = as_tensor(x)
    index = _normalize_index(x, index)
    if all(isinstance(i, slice) and i == slice(None) for i in index):
        return x
    return apply("getitem", [x], index=index)


# -- one_hot / gather ----------------------------------------------------------------------------

def _one_hot(indices, depth, dtype):
    return np.equal(indices[..., None], _arange(depth)).astype(dtype)


@functools.lru_cache(maxsize=64)
def _arange(depth):
    return np.arange(depth)


def _one_hot_rule(inputs, attrs):
    (idx,) = inputs
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: indices must be integers, got {describe(idx)}")
    return idx.shape + (attrs["depth"],), np.dtype(attrs["dtype"])


defop("one_hot", ("indices",), _one_hot_rule, "one_hot({indices}, {depth}, {dtype})",
      grad=lambda n, g: [None], helpers={"one_hot": _one_hot},
      doc="1 at each index along a new last axis of size depth (out-of-range -> all zeros)", result="new", batch=batching.same_axis)


def one_hot(indices, depth, dtype="float32"):
    indices = as_tensor(indices, what="one_hot: indices")
    depth = arguments.index(depth, "one_hot: depth", minimum=0)
    return apply("one_hot", [indices], depth=depth, dtype=arguments.dtype(dtype, "one_hot: dtype").name)


def _gather_rule(inputs, attrs):
    x, idx = inputs
    axis = attrs["axis"]
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"gather: indices must be integers, got {describe(idx)}")
    return x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype


def _gather_grad_impl(g, indices, x, axis):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    moved = np.moveaxis(out, axis, 0)
    gm = np.moveaxis(g, tuple(range(axis, axis + np.ndim(indices))), tuple(range(np.ndim(indices))))
    np.add.at(moved, indices, gm)
    return out


def _gather_batch(node, axes):
    x, idx = node.inputs
    xa, ia = axes
    axis = node.attrs["axis"]
    if xa is not None and ia is not None:
        raise NotBatchable("both the table and the indices are chunked")
    if xa is not None:
        if xa == axis:
            raise NotBatchable("it picks rows of the batch axis by index")
        return BatchRule(xa if xa < axis else xa + idx.ndim - 1)
    return BatchRule(axis + ia)


def _gather_grad_batch(node, axes):
    g, idx, x = node.inputs
    ga, ia, xa = axes
    axis = node.attrs["axis"]
    if xa is None and ia is not None and ga == axis + ia:
        return BatchRule(None, "sum")   # rows scatter-added into a replicated table (embeddings)
    if ia is None and xa is not None and xa != axis and ga == (xa if xa < axis else xa + idx.ndim - 1):
        return BatchRule(xa)
    raise NotBatchable("its cotangent, indices and table are not chunked consistently")


defop("gather", ("x", "indices"), _gather_rule, "np.take({x}, {indices}, axis={axis})",
      grad=lambda n, g: [apply("gather_grad", [g, n.inputs[1], n.inputs[0]], axis=n.attrs["axis"]), None],
      doc="take slices of x at integer indices along an axis", result="new", batch=_gather_batch)
defop("gather_grad", ("g", "indices", "x"), lambda ins, at: (ins[2].shape, ins[0].dtype),
      "gather_grad({g}, {indices}, {x}, {axis})",
      grad=lambda n, g: [gather(g, n.inputs[1], n.attrs["axis"]), None, None],
      helpers={"gather_grad": _gather_grad_impl},
      doc="the cotangent of gather: g scatter-added into zeros shaped like x", result="unknown", batch=_gather_grad_batch)


def gather(x, indices, axis=0):
    x = as_tensor(x, what="gather: x")
    indices = as_tensor(indices, what="gather: indices")
    axis = normalize_axis("gather", x, axis)
    iv = indices.attrs.get("value") if indices.op == "constant" else None
    if iv is not None and x.shape[axis] is not None and iv.size and (iv.max() >= x.shape[axis] or iv.min() < -x.shape[axis]):
        raise ShapeError(f"gather: index out of range for axis {axis} of {describe(x)} "
                         f"(indices span {iv.min()}..{iv.max()})")
    return apply("gather", [x, indices], axis=axis)
