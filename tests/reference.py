"""Independent references for graphc's compiled values and gradients (test-side only).

Three things the oracle tests (tests/oracles/test_oracle_numpy.py, tests/oracles/test_oracle_jax.py) share:

* ``REFERENCE``: for every op in ``graphc.ir.opdef.OPS``, a small NumPy function written
  here, from the op's documented meaning, not from its template. ``evaluate`` walks a graph in
  topological order and applies them node by node, each result a fresh read-only array: no
  memory plan, no fusion, no generated code. An op with no entry fails loudly
  (``MissingReference``), so a new op must bring its reference. ``finite_differences`` gives
  central-difference gradients of a scalar on this evaluator.
* random *recipes*: a graph described as plain data (steps over a pool of values), which
  ``build_graphc`` turns into graphc tensors and the JAX test turns into the same expression in
  JAX. They are biased towards the patterns a memory plan gets wrong: a value owning its
  buffer (a concat, an elementwise result) with a view of it (.T, s[0], s[1:], reshape,
  expand_dims, stop_gradient) that is an output or read later, while an elementwise op is the
  last direct reader of the value.
* checking helpers: calling a compiled function while asserting that the caller's arrays are
  never written and that no output shares memory with another output or an input; normwise
  comparisons; shrinking a failing recipe to a small reproducer.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import Callable

import numpy as np

import graphc as gc


# == the reference evaluator ===================================================================

class MissingReference(LookupError):
    """An op the reference evaluator has no NumPy function for."""


def same_pads(spatial, kernel, strides, dilations):
    """TensorFlow's SAME padding: out = ceil(n / s); the odd cell of padding goes last."""
    pads = []
    for n, k, s, d in zip(spatial, kernel, strides, dilations):
        span = (k - 1) * d + 1
        out = -(-n // s)
        total = max((out - 1) * s + span - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def _conv_geometry(x_shape, w_shape, attrs):
    """Padding and output size of a conv2d (NHWC input, HWIO filter)."""
    return _window_geometry(x_shape, w_shape[:2], attrs["strides"], attrs["dilations"], attrs["pads"])


def _window_geometry(x_shape, kernel, strides, dilations, pads):
    """Padding and output size of windows of ``kernel`` taps (dilated) over H and W."""
    if isinstance(pads, str):
        pads = same_pads(x_shape[1:3], kernel, strides, dilations)
    out = tuple((n + lo + hi - ((k - 1) * d + 1)) // s + 1
                for n, k, s, d, (lo, hi) in zip(x_shape[1:3], kernel, strides, dilations, pads))
    return pads, out


def _padded(x, pads, value):
    (t, b), (left, r) = pads
    n, h, w, c = x.shape
    out = np.full((n, h + t + b, w + left + r, c), value, dtype=x.dtype)
    out[:, t:t + h, left:left + w, :] = x
    return out


def _cropped(xp, pads, shape):
    (t, _), (left, _) = pads
    return xp[:, t:t + shape[1], left:left + shape[2], :]


def _tap(xp, a, b, strides, dilations, out):
    """The cells tap (a, b) of every window reads: (N, OH, OW, C), a view of ``xp``."""
    (sh, sw), (dh, dw), (oh, ow) = strides, dilations, out
    return xp[:, a * dh:a * dh + (oh - 1) * sh + 1:sh, b * dw:b * dw + (ow - 1) * sw + 1:sw, :]


def _groups(w, groups):
    """(input channel slice, output channel slice) of each group."""
    cg, o = w.shape[2], w.shape[3]
    og = o // groups
    return [(slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)) for g in range(groups)]


def ref_conv2d(x, w, attrs):
    pads, out = _conv_geometry(x.shape, w.shape, attrs)
    xp = _padded(x, pads, 0.0)
    y = np.zeros((x.shape[0],) + out + (w.shape[3],), dtype=np.result_type(x, w))
    for a, b in itertools.product(range(w.shape[0]), range(w.shape[1])):
        patch = _tap(xp, a, b, attrs["strides"], attrs["dilations"], out)
        for cin, cout in _groups(w, attrs["groups"]):
            y[..., cout] += np.einsum("nijc,co->nijo", patch[..., cin], w[a, b, :, cout])
    return y


def ref_conv2d_backprop_input(g, w, x_ref, attrs):
    pads, out = _conv_geometry(x_ref.shape, w.shape, attrs)
    dxp = np.zeros(_padded(np.zeros(x_ref.shape, g.dtype), pads, 0.0).shape, dtype=g.dtype)
    for a, b in itertools.product(range(w.shape[0]), range(w.shape[1])):
        cells = _tap(dxp, a, b, attrs["strides"], attrs["dilations"], out)
        for cin, cout in _groups(w, attrs["groups"]):
            cells[..., cin] += np.einsum("nijo,co->nijc", g[..., cout], w[a, b, :, cout])
    return _cropped(dxp, pads, x_ref.shape)


def ref_conv2d_backprop_filter(x, g, w_ref, attrs):
    pads, out = _conv_geometry(x.shape, w_ref.shape, attrs)
    xp = _padded(x, pads, 0.0)
    dw = np.zeros(w_ref.shape, dtype=g.dtype)
    for a, b in itertools.product(range(w_ref.shape[0]), range(w_ref.shape[1])):
        patch = _tap(xp, a, b, attrs["strides"], attrs["dilations"], out)
        for cin, cout in _groups(w_ref, attrs["groups"]):
            dw[a, b, :, cout] = np.einsum("nijc,nijo->co", patch[..., cin], g[..., cout])
    return dw


def _pool_geometry(shape, attrs):
    return _window_geometry(shape, attrs["pool_size"], attrs["strides"], (1, 1), attrs["pads"])


def _pool_taps(xp, attrs, out):
    kh, kw = attrs["pool_size"]
    return [_tap(xp, a, b, attrs["strides"], (1, 1), out) for a in range(kh) for b in range(kw)]


def _first_argmax(x, attrs):
    """Per window, the row-major position (in the window) of its first maximal cell."""
    pads, out = _pool_geometry(x.shape, attrs)
    windows = np.stack(_pool_taps(_padded(x, pads, -np.inf), attrs, out))
    return np.argmax(windows, axis=0), pads, out


def ref_max_pool2d(x, attrs):
    pads, out = _pool_geometry(x.shape, attrs)
    return np.max(np.stack(_pool_taps(_padded(x, pads, -np.inf), attrs, out)), axis=0)


def ref_max_pool2d_grad(x, pooled, g, attrs):
    first, pads, out = _first_argmax(x, attrs)
    dxp = np.zeros(_padded(x, pads, 0.0).shape, dtype=np.result_type(g, x))
    for k, cells in enumerate(_pool_taps(dxp, attrs, out)):
        cells += np.where(first == k, g, 0.0)
    return _cropped(dxp, pads, x.shape)


def ref_max_pool2d_select(x, v, attrs):
    first, pads, out = _first_argmax(x, attrs)
    taps = _pool_taps(_padded(v, pads, 0.0), attrs, out)
    return sum(np.where(first == k, cells, 0.0) for k, cells in enumerate(taps))


def _window_counts(shape, attrs):
    """How many real (unpadded) cells each window covers: (1, OH, OW, 1)."""
    pads, out = _pool_geometry(shape, attrs)
    ones = _padded(np.ones((1,) + tuple(shape[1:3]) + (1,)), pads, 0.0)
    return sum(_pool_taps(ones, attrs, out))


def ref_avg_pool2d(x, attrs):
    pads, out = _pool_geometry(x.shape, attrs)
    total = sum(_pool_taps(_padded(x, pads, 0.0), attrs, out))
    return (total / _window_counts(x.shape, attrs)).astype(x.dtype)


def ref_avg_pool2d_grad(g, x_ref, attrs):
    pads, out = _pool_geometry(x_ref.shape, attrs)
    share = g / _window_counts(x_ref.shape, attrs).astype(g.dtype)
    dxp = np.zeros(_padded(np.zeros(x_ref.shape, g.dtype), pads, 0.0).shape, dtype=g.dtype)
    for cells in _pool_taps(dxp, attrs, out):
        cells += share
    return _cropped(dxp, pads, x_ref.shape)


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)


def _log_sum_exp(z, axis):
    top = np.max(z, axis=axis, keepdims=True)
    return top + np.log(np.sum(np.exp(z - top), axis=axis, keepdims=True))


def ref_softmax_cross_entropy(labels, logits):
    return -np.sum(labels * (logits - _log_sum_exp(logits, -1)), axis=-1)


def ref_sum_to(g, shape):
    """Sum g over the axes broadcasting added (leading) or stretched (size 1 in ``shape``)."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(i for i, (want, have) in enumerate(zip(shape, g.shape)) if want == 1 and have != 1)
    return np.sum(g, axis=stretched, keepdims=True).reshape(shape)


def ref_scatter_slices(*parts, index, lengths):
    *gs, x = parts
    out = np.zeros(np.shape(x), dtype=gs[0].dtype)
    start = 0
    for g, k in zip(gs, lengths):
        out[tuple(index[start:start + k])] += g
        start += k
    return out


def ref_getitem_grad(g, x, index):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    out[index] = g
    return out


def ref_concat_part(g, *xs, axis, index):
    start = sum(x.shape[axis] for x in xs[:index])
    return np.take(g, np.arange(start, start + xs[index].shape[axis]), axis=axis)


def ref_one_hot(indices, depth, dtype):
    out = np.zeros(np.shape(indices) + (depth,), dtype=dtype)
    for pos in np.ndindex(np.shape(indices)):
        if 0 <= indices[pos] < depth:
            out[pos + (indices[pos],)] = 1
    return out


def ref_gather_grad(g, indices, x, axis):
    out = np.zeros(np.shape(x), dtype=g.dtype)
    lead = (slice(None),) * axis
    for pos in np.ndindex(np.shape(indices)):
        out[lead + (indices[pos],)] += g[lead + pos]
    return out


def ref_pinv(a):
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    cutoff = 1e-15 * max(a.shape[-2:]) * s.max(initial=0.0)
    inverse = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    return ((vt.T * inverse) @ u.T).astype(a.dtype)


def ref_reduced_count(x, axis):
    return np.asarray(math.prod(np.shape(x)[a] for a in axis), dtype=np.asarray(x).dtype)


def _binary(fn):
    return lambda ins, at: fn(*ins)


def _unary(fn):
    return lambda ins, at: fn(ins[0])


def _reduction(fn):
    return lambda ins, at: fn(ins[0], axis=at["axis"], keepdims=at["keepdims"])


def _conv(fn):
    return lambda ins, at: fn(*ins, at)


# op name -> (input arrays, attrs) -> value
REFERENCE: dict[str, Callable] = {
    # arithmetic (NumPy broadcasting)
    "add": _binary(lambda x, y: x + y),
    "sub": _binary(lambda x, y: x - y),
    "mul": _binary(lambda x, y: x * y),
    "div": _binary(lambda x, y: x / y),
    "pow": _binary(lambda x, y: x ** y),
    "maximum": _binary(lambda x, y: np.where(x >= y, x, y)),
    "minimum": _binary(lambda x, y: np.where(x <= y, x, y)),
    "equal": _binary(lambda x, y: x == y),
    "not_equal": _binary(lambda x, y: x != y),
    "less": _binary(lambda x, y: x < y),
    "less_equal": _binary(lambda x, y: x <= y),
    "greater": _binary(lambda x, y: x > y),
    "greater_equal": _binary(lambda x, y: x >= y),
    "logical_and": _binary(lambda x, y: x & y),
    "logical_or": _binary(lambda x, y: x | y),
    "logical_not": _unary(lambda x: ~x),
    # unary
    "neg": _unary(lambda x: -x),
    "exp": _unary(np.exp),
    "log": _unary(np.log),
    "log1p": _unary(np.log1p),
    "expm1": _unary(np.expm1),
    "sqrt": _unary(np.sqrt),
    "rsqrt": _unary(lambda x: 1 / np.sqrt(x)),
    "square": _unary(lambda x: x * x),
    "abs": _unary(lambda x: np.where(x < 0, -x, x)),
    "sign": _unary(np.sign),
    "sin": _unary(np.sin),
    "cos": _unary(np.cos),
    "tanh": _unary(np.tanh),
    "sigmoid": _unary(_stable_sigmoid),
    "relu": _unary(lambda x: np.where(x > 0, x, np.zeros_like(x))),
    "softplus": _unary(lambda x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))),
    "step": _unary(lambda x: (x >= 0).astype(x.dtype)),
    "stop_gradient": _unary(lambda x: x),
    "leaky_relu": lambda ins, at: np.where(ins[0] > 0, ins[0], at["alpha"] * ins[0]).astype(ins[0].dtype),
    "elu": lambda ins, at: np.where(ins[0] > 0, ins[0],
                                    at["alpha"] * (np.exp(np.minimum(ins[0], 0)) - 1)).astype(ins[0].dtype),
    "where": lambda ins, at: np.where(*ins),
    "cast": lambda ins, at: np.asarray(ins[0]).astype(at["dtype"]),
    # shapes
    "reshape": lambda ins, at: np.reshape(ins[0], at["shape"]),
    "reshape_like": lambda ins, at: np.reshape(ins[0], np.shape(ins[1])),
    "transpose": lambda ins, at: np.transpose(ins[0], at["perm"]),
    "concat": lambda ins, at: np.concatenate(ins, axis=at["axis"]),
    "concat_part": lambda ins, at: ref_concat_part(*ins, axis=at["axis"], index=at["index"]),
    "expand_dims": lambda ins, at: np.expand_dims(ins[0], at["axis"]),
    "squeeze": lambda ins, at: np.squeeze(ins[0], axis=at["axis"]),
    "broadcast_to": lambda ins, at: np.broadcast_to(ins[0], at["shape"]),
    "broadcast_like": lambda ins, at: np.broadcast_to(ins[0], np.broadcast_shapes(np.shape(ins[0]),
                                                                                  np.shape(ins[1]))),
    "sum_to_like": lambda ins, at: ref_sum_to(ins[0], np.shape(ins[1])),
    "fill": lambda ins, at: np.full(at["shape"], at["value"], dtype=at["dtype"]),
    "fill_like": lambda ins, at: np.full(np.shape(ins[0]), at["value"], dtype=at["dtype"]),
    "getitem": lambda ins, at: ins[0][at["index"]],
    "getitem_grad": lambda ins, at: ref_getitem_grad(*ins, at["index"]),
    "scatter_slices": lambda ins, at: ref_scatter_slices(*ins, index=at["index"], lengths=at["lengths"]),
    "one_hot": lambda ins, at: ref_one_hot(ins[0], at["depth"], at["dtype"]),
    "gather": lambda ins, at: np.take(ins[0], ins[1], axis=at["axis"]),
    "gather_grad": lambda ins, at: ref_gather_grad(*ins, at["axis"]),
    # linear algebra
    "matmul": _binary(np.matmul),
    "inv": _unary(np.linalg.inv),
    "pinv": _unary(ref_pinv),
    # reductions
    "reduced_count": lambda ins, at: ref_reduced_count(ins[0], at["axis"]),
    "reduce_sum": _reduction(np.sum),
    "reduce_mean": _reduction(np.mean),
    "reduce_max": _reduction(np.max),
    "reduce_min": _reduction(np.min),
    "reduce_prod": _reduction(np.prod),
    "argmax": lambda ins, at: np.argmax(ins[0], axis=at["axis"]),
    "argmin": lambda ins, at: np.argmin(ins[0], axis=at["axis"]),
    # neural-network ops (NHWC images, HWIO filters)
    "conv2d": _conv(ref_conv2d),
    "conv2d_bias": lambda ins, at: ref_conv2d(ins[0], ins[1], at) + ins[2],
    "conv2d_backprop_input": _conv(ref_conv2d_backprop_input),
    "conv2d_backprop_filter": _conv(ref_conv2d_backprop_filter),
    "max_pool2d": _conv(ref_max_pool2d),
    "max_pool2d_grad": _conv(ref_max_pool2d_grad),
    "max_pool2d_select": _conv(ref_max_pool2d_select),
    "avg_pool2d": _conv(ref_avg_pool2d),
    "avg_pool2d_grad": _conv(ref_avg_pool2d_grad),
    "softmax_cross_entropy": _binary(ref_softmax_cross_entropy),
}

# ops whose values no reference can give; tests check only their shapes and dtypes
NO_REFERENCE = {
    "random_uniform": "random: values depend on the generator's state",
    "random_normal": "random: values depend on the generator's state",
    "random_uniform_like": "random: values depend on the generator's state",
    "random_normal_like": "random: values depend on the generator's state",
}


def topological_order(roots) -> list:
    """Every node reachable from ``roots``, each after its inputs (iterative DFS)."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.inputs))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _source_value(node, feeds):
    if node.op == "placeholder":
        if node not in feeds:
            raise KeyError(f"reference: no value fed for placeholder {node.name!r}")
        return feeds[node]
    if node.op == "constant":
        return node.attrs["value"]
    if node.op == "variable":
        return node.value
    return None


def evaluate(outputs, feeds: dict, fixed: dict | None = None) -> list:
    """The value of each of ``outputs`` (Tensors) given ``feeds`` (placeholder -> array),
    computed op by op with ``REFERENCE``; every value is a fresh, read-only array whose shape
    and dtype are checked against the node's static shape and dtype. ``fixed`` (node ->
    array) overrides the values of some nodes."""
    values: dict[int, np.ndarray] = {}
    fixed = fixed or {}
    for node in topological_order(outputs):
        value = fixed[node] if node in fixed else _source_value(node, feeds)
        if value is None:
            fn = REFERENCE.get(node.op)
            if fn is None:
                why = NO_REFERENCE.get(node.op, "add a NumPy function for it to REFERENCE in tests/reference.py")
                raise MissingReference(f"reference: op {node.op!r} ({node.name}) has no reference: {why}")
            with np.errstate(all="ignore"):
                value = fn([values[id(i)] for i in node.inputs], node.attrs)
        value = np.array(value, copy=True)
        _check_static(node, value)
        value.flags.writeable = False
        values[id(node)] = value
    return [values[id(o)] for o in outputs]


def _check_static(node, value):
    if value.ndim != len(node.shape) or any(d is not None and d != v for d, v in zip(node.shape, value.shape)):
        raise AssertionError(f"reference: {node.op} {node.name!r} computed shape {value.shape}, the graph "
                             f"says {node.shape}")
    if value.dtype != node.dtype:
        raise AssertionError(f"reference: {node.op} {node.name!r} computed dtype {value.dtype}, the graph "
                             f"says {node.dtype}")


def finite_differences(loss, wrt, feeds: dict, eps: float = 1e-6) -> list:
    """Central differences of the scalar ``loss`` in each placeholder of ``wrt`` (float64),
    on the reference evaluator. Every stop_gradient keeps its value at ``feeds`` (a constant
    to differentiation), so the differences mean what ``gc.grad`` means."""
    stopped = [n for n in topological_order([loss]) if n.op == "stop_gradient"]
    fixed = dict(zip(stopped, evaluate(stopped, feeds)))
    grads = []
    for p in wrt:
        base = np.array(feeds[p], dtype=np.float64)
        g = np.zeros_like(base)
        for pos in np.ndindex(base.shape):
            total = []
            for sign in (1.0, -1.0):
                moved = base.copy()
                moved[pos] += sign * eps
                total.append(float(evaluate([loss], {**feeds, p: moved}, fixed)[0]))
            g[pos] = (total[0] - total[1]) / (2 * eps)
        grads.append(g)
    return grads


# == checking helpers ==========================================================================

def normwise_error(got, want) -> float:
    """max |got - want| / max(1, max |want|): small for rounding, O(1) for a wrong value."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    if got.size == 0:
        return 0.0
    if not (np.array_equal(np.isnan(got), np.isnan(want)) and np.isfinite(want[~np.isnan(want)]).all()):
        return math.inf
    ok = ~np.isnan(want)
    scale = max(1.0, float(np.max(np.abs(want[ok]), initial=0.0)))
    return float(np.max(np.abs(got[ok] - want[ok]), initial=0.0)) / scale


def assert_close(got, want, tol: float, what: str):
    got_a = np.asarray(got)
    want_a = np.asarray(want)
    assert got_a.shape == want_a.shape, f"{what}: shape {got_a.shape}, expected {want_a.shape}"
    err = normwise_error(got_a, want_a)
    if err > tol:
        diff = np.abs(np.asarray(got_a, np.float64) - np.asarray(want_a, np.float64))
        where = np.unravel_index(int(np.nanargmax(diff)), diff.shape) if diff.size else ()
        raise AssertionError(
            f"{what}: normwise error {err:.3g} > {tol:g}; worst at {where}: got "
            f"{got_a[where] if diff.size else got_a!r}, expected {want_a[where] if diff.size else want_a!r}\n"
            f"got:\n{_short(got_a)}\nexpected:\n{_short(want_a)}")


def _short(a) -> str:
    return np.array2string(np.asarray(a), precision=6, threshold=40, edgeitems=3)


def call_checked(fn, args, what: str = "call") -> list:
    """``fn(*args)`` as a list, asserting that the caller's arrays are bitwise unchanged and
    that no output shares memory with another output or with an input."""
    before = [(np.shape(a), np.asarray(a).dtype, np.asarray(a).tobytes()) for a in args]
    result = fn(*args)
    outs = list(result) if isinstance(result, (list, tuple)) else [result]
    for k, (a, (shape, dtype, data)) in enumerate(zip(args, before)):
        a = np.asarray(a)
        assert a.shape == shape and a.dtype == dtype and a.tobytes() == data, (
            f"[input written] {what}: the call wrote into the caller's input array #{k} {shape}")
    arrays = [(f"output {j}", o) for j, o in enumerate(outs) if isinstance(o, np.ndarray)]
    for (name_a, a), (name_b, b) in itertools.combinations(arrays, 2):
        assert not np.shares_memory(a, b), f"[aliasing] {what}: {name_a} and {name_b} share memory"
    for name, o in arrays:
        for k, a in enumerate(args):
            if isinstance(a, np.ndarray):
                assert not np.shares_memory(o, a), f"[aliasing] {what}: {name} shares memory with input #{k}"
    return outs


def weighted_loss(inputs, outputs):
    """Weight placeholders shaped like ``outputs`` (None batch sizes included), the loss
    sum(reduce_sum(output_i * w_i)) and its gc.grad in every input."""
    weights = [gc.placeholder(o.shape, o.dtype, name=f"w{k}") for k, o in enumerate(outputs)]
    loss = sum(gc.reduce_sum(o * w) for o, w in zip(outputs, weights))
    return weights, loss, gc.grad(loss, inputs)


def raise_failures(failures: list):
    """Raise the first of ``failures`` (exceptions), naming the others in one line each."""
    if not failures:
        return
    first = failures[0]
    if len(failures) > 1 and isinstance(first, AssertionError):
        more = "\n".join(f"  also: {type(e).__name__}: {str(e).splitlines()[0]}" for e in failures[1:])
        raise AssertionError(f"{first}\n{more}") from first
    raise first


# == random recipes ============================================================================

@dataclasses.dataclass(frozen=True)
class Step:
    """One value made from earlier ones: ``kind`` names an entry of the step tables
    (GRAPHC_STEPS here, JAX_STEPS in the JAX test), ``args`` are pool positions."""
    kind: str
    args: tuple
    params: tuple = ()   # (name, value) pairs: axis, perm, index, arrays of offsets, ...

    @property
    def kwargs(self) -> dict:
        return dict(self.params)


@dataclasses.dataclass
class Recipe:
    """A random graph as data. The pool holds the inputs, then one value per step; a shape
    entry None is the batch size, fed at call time."""
    seed: int
    input_shapes: list
    steps: list
    shapes: list            # the shape of every pool value
    outputs: list           # pool positions

    @property
    def batched(self) -> bool:
        return any(d is None for s in self.input_shapes for d in s)

    def input_values(self, batch: int = 4, seed: int | None = None) -> list:
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return [rng.uniform(-2.0, 2.0, concrete(s, batch)) for s in self.input_shapes]

    def output_shapes(self, batch: int) -> list:
        return [concrete(self.shapes[k], batch) for k in self.outputs]

    def describe(self) -> str:
        n = len(self.input_shapes)
        lines = [f"v{k} = placeholder({_fmt_shape(s)}, float64)" for k, s in enumerate(self.input_shapes)]
        for j, step in enumerate(self.steps):
            args = ", ".join(f"v{a}" for a in step.args)
            params = "".join(f", {k}={_fmt_param(v)}" for k, v in step.params)
            lines.append(f"v{n + j} = {step.kind}({args}{params})    # {_fmt_shape(self.shapes[n + j])}")
        lines.append("outputs: [" + ", ".join(f"v{k}" for k in self.outputs) + "]")
        return "\n".join(lines)


def concrete(shape, batch: int) -> tuple:
    return tuple(batch if d is None else d for d in shape)


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("B" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_param(v) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= 6:
            return "array(" + np.array2string(v, precision=3, separator=", ").replace("\n", "") + ")"
        return f"array{_fmt_shape(v.shape)}"
    return repr(v)


# -- how each step kind is built in graphc (the JAX test has the same table for JAX) -----------

def _const(c):
    return gc.constant(c)


GRAPHC_STEPS: dict[str, Callable] = {
    # unary, same shape
    "neg": lambda a: -a,
    "sin": gc.sin,
    "cos": gc.cos,
    "tanh": gc.tanh,
    "sigmoid": gc.sigmoid,
    "softplus": gc.softplus,
    "stop_gradient": gc.stop_gradient,
    "exp": gc.exp,
    "expm1": gc.expm1,
    "square": gc.square,
    "log_pos": lambda a: gc.log(gc.square(a) + 0.5),
    "sqrt_pos": lambda a: gc.sqrt(gc.square(a) + 0.25),
    "rsqrt_pos": lambda a: gc.rsqrt(gc.square(a) + 0.5),
    "log1p_sq": lambda a: gc.log1p(gc.square(a)),
    "affine": lambda a, p, q: a * p + q,
    "rsub": lambda a, q: q - a,
    "relu": lambda a, c: gc.relu(a + _const(c)),
    "abs": lambda a, c: gc.abs(a + _const(c)),
    "leaky_relu": lambda a, c, alpha: gc.leaky_relu(a + _const(c), alpha),
    "elu": lambda a, c, alpha: gc.elu(a + _const(c), alpha),
    "sign": lambda a, c: gc.sign(a + _const(c)),
    "softmax": lambda a, axis: gc.nn.softmax(a, axis=axis),
    "log_softmax": lambda a, axis: gc.nn.log_softmax(a, axis=axis),
    # binary, broadcasting
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_safe": lambda a, b: a / (1.0 + gc.square(b)),
    "maximum": lambda a, b, c: gc.maximum(a, b + _const(c)),
    "minimum": lambda a, b, c: gc.minimum(a, b + _const(c)),
    "pow_safe": lambda a, b: gc.pow(gc.square(a) + 0.5, gc.tanh(b)),
    "where": lambda a, b: gc.where(a > 0.0, a, b * 0.5),
    # reductions
    "reduce_sum": lambda a, axis, keepdims: gc.reduce_sum(a, axis=axis, keepdims=keepdims),
    "reduce_mean": lambda a, axis, keepdims: gc.reduce_mean(a, axis=axis, keepdims=keepdims),
    "reduce_max": lambda a, c, axis, keepdims: gc.reduce_max(a + _const(c), axis=axis, keepdims=keepdims),
    "reduce_min": lambda a, c, axis, keepdims: gc.reduce_min(a + _const(c), axis=axis, keepdims=keepdims),
    "reduce_prod": lambda a, axis, keepdims: gc.reduce_prod(a, axis=axis, keepdims=keepdims),
    "logsumexp": lambda a, axis, keepdims: gc.logsumexp(a, axis=axis, keepdims=keepdims),
    # linear algebra and shapes
    "matmul": lambda a, b: a @ b,
    "matmul_const": lambda a, w: a @ _const(w),
    "T": lambda a: a.T,
    "transpose": lambda a, perm: gc.transpose(a, perm),
    "reshape": lambda a, shape: gc.reshape(a, shape),
    "getitem": lambda a, index: a[index],
    "expand_dims": lambda a, axis: gc.expand_dims(a, axis),
    "squeeze": lambda a, axis: gc.squeeze(a, axis),
    "concat": lambda *xs, axis: gc.concat(list(xs), axis=axis),
    "stack": lambda *xs, axis: gc.stack(list(xs), axis=axis),
    "broadcast_to": lambda a, shape: gc.broadcast_to(a, shape),
    "gather": lambda a, indices, axis: gc.gather(a, _const(indices), axis=axis),
}


def build_graphc(recipe: Recipe):
    """(input placeholders, output tensors) of ``recipe`` in graphc."""
    inputs = [gc.placeholder(s, "float64", name=f"v{k}") for k, s in enumerate(recipe.input_shapes)]
    pool = list(inputs)
    for step in recipe.steps:
        pool.append(GRAPHC_STEPS[step.kind](*(pool[a] for a in step.args), **step.kwargs))
    for k, (t, shape) in enumerate(zip(pool, recipe.shapes)):
        assert t.shape == tuple(shape), (f"graphc infers {t.shape} for v{k}, the recipe {shape}:\n"
                                          + recipe.describe())
    return inputs, [pool[k] for k in recipe.outputs]


# -- the generator ------------------------------------------------------------------------------

UNARY_KINDS = ["neg", "sin", "cos", "tanh", "sigmoid", "softplus", "stop_gradient", "exp", "expm1",
               "square", "log_pos", "sqrt_pos", "rsqrt_pos", "log1p_sq", "affine", "rsub", "relu", "abs",
               "leaky_relu", "elu", "sign"]
BINARY_KINDS = ["add", "sub", "mul", "div_safe", "maximum", "minimum", "pow_safe", "where"]
REDUCE_KINDS = ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "logsumexp"]
VIEW_KINDS = ["T", "transpose", "getitem", "reshape", "expand_dims", "stop_gradient", "squeeze",
              "broadcast_to"]
BIG_BATCH = 300   # the largest batch the tests feed: bounds on sums over the batch use it


def _broadcast(s1, s2):
    """NumPy broadcasting where None is the batch size; None when the shapes do not broadcast."""
    out = []
    for k in range(max(len(s1), len(s2)), 0, -1):
        a = s1[-k] if k <= len(s1) else 1
        b = s2[-k] if k <= len(s2) else 1
        if a == b or b == 1:
            out.append(a)
        elif a == 1:
            out.append(b)
        else:
            return None
    return tuple(out)


def _batch_size(d):
    return BIG_BATCH if d is None else d


class _Generator:
    """Grows a pool of values; ``bound`` keeps a rough bound on each value's magnitude so exp,
    square and products stay finite."""

    def __init__(self, seed: int, batched: bool, sizes=(2, 3, 4)):
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        r, c = (int(v) for v in self.rng.choice(sizes, size=2))
        first = (None,) if batched else (r,)
        templates = [[first + (c,), (c,)], [first + (c,), first + (c,)], [first + (r, c), (c,)],
                     [first + (c,), (1, c), (c, 1) if not batched else (c,)], [first + (c,), (r, 1, c)]]
        self.input_shapes = templates[int(self.rng.integers(len(templates)))]
        self.shapes = list(self.input_shapes)
        self.bounds = [2.0] * len(self.shapes)
        self.steps: list[Step] = []
        self.forced: list[int] = []

    # -- helpers ---------------------------------------------------------------------------
    def pick(self, candidates=None) -> int:
        """A pool position, recent values more likely (deep chains)."""
        if candidates is None:
            candidates = range(len(self.shapes))
        candidates = list(candidates)
        weights = np.array([1.0 + k for k in candidates])
        return int(self.rng.choice(candidates, p=weights / weights.sum()))

    def add(self, kind, args, value_shape, bound, **params) -> int:
        self.steps.append(Step(kind, tuple(args), tuple(params.items())))
        self.shapes.append(tuple(value_shape))
        self.bounds.append(float(bound))
        return len(self.shapes) - 1

    def offsets(self, shape) -> np.ndarray:
        """Random offsets broadcastable to ``shape`` (batch axes size 1): added before a kink
        (relu, abs, max) so no two compared values tie and no value sits on the kink."""
        return np.round(self.rng.uniform(-0.5, 0.5, tuple(1 if d is None else d for d in shape)), 3)

    def choice(self, items):
        return items[int(self.rng.integers(len(items)))]

    # -- one step of each family -------------------------------------------------------------
    def unary(self, a: int, kind: str | None = None) -> int:
        kind = kind or self.choice(UNARY_KINDS)
        s, b = self.shapes[a], self.bounds[a]
        if kind in ("exp", "expm1") and b > 3.0:
            kind = "tanh"
        if kind == "square" and b > 30.0:
            kind = "sin"
        if kind in ("softmax", "log_softmax") and not s:
            kind = "neg"
        bounds = {"neg": b, "sin": 1, "cos": 1, "tanh": 1, "sigmoid": 1, "softplus": b + 1,
                  "stop_gradient": b, "exp": math.exp(min(b, 3.0)), "expm1": math.exp(min(b, 3.0)),
                  "square": b * b, "log_pos": max(1.0, math.log(b * b + 0.5)), "sqrt_pos": b + 0.5,
                  "rsqrt_pos": 1.5, "log1p_sq": math.log1p(b * b), "affine": 1.5 * b + 0.5, "rsub": b + 1,
                  "relu": b + 0.5, "abs": b + 0.5, "leaky_relu": b + 0.5, "elu": b + 0.5, "sign": 1,
                  "softmax": 1, "log_softmax": 2 * b + 7}
        params = {}
        if kind in ("relu", "abs", "leaky_relu", "elu", "sign"):
            params["c"] = self.offsets(s)
        if kind in ("leaky_relu", "elu"):
            params["alpha"] = self.choice([0.1, 0.3, 1.0])
        if kind == "affine":
            params["p"], params["q"] = self.choice([1.5, -0.5, 2.0]), self.choice([0.25, -1.0])
        if kind == "rsub":
            params["q"] = self.choice([1.0, -0.5])
        if kind in ("softmax", "log_softmax"):
            params["axis"] = int(self.rng.integers(-len(s), len(s)))
        return self.add(kind, [a], s, bounds[kind], **params)

    def binary(self, a: int, kind: str | None = None) -> int | None:
        kind = kind or self.choice(BINARY_KINDS)
        partners = [k for k in range(len(self.shapes)) if _broadcast(self.shapes[a], self.shapes[k]) is not None]
        b = self.pick(partners)
        shape = _broadcast(self.shapes[a], self.shapes[b])
        ba, bb = self.bounds[a], self.bounds[b]
        bound = {"add": ba + bb, "sub": ba + bb, "mul": ba * bb, "div_safe": ba, "maximum": ba + bb + 0.5,
                 "minimum": ba + bb + 0.5, "pow_safe": max(ba * ba + 0.5, 2.0), "where": max(ba, bb)}[kind]
        if bound > 1e4:
            return None
        params = {"c": self.offsets(self.shapes[b])} if kind in ("maximum", "minimum") else {}
        return self.add(kind, [a, b], shape, bound, **params)

    def reduce(self, a: int, kind: str | None = None) -> int | None:
        s = self.shapes[a]
        if not s:
            return None
        kind = kind or self.choice(REDUCE_KINDS)
        if kind == "reduce_prod" and self.bounds[a] > 1.0:
            return None
        form = int(self.rng.integers(4))
        if form == 0:
            axis = None
            axes = tuple(range(len(s)))
        elif form == 1 and len(s) > 1:
            axes = tuple(sorted(int(v) for v in self.rng.choice(len(s), size=2, replace=False)))
            axis = axes
        else:
            axis = int(self.rng.integers(-len(s), len(s)))
            axes = (axis % len(s),)
        keepdims = bool(self.rng.integers(2))
        shape = tuple(1 if k in axes else d for k, d in enumerate(s)) if keepdims else \
            tuple(d for k, d in enumerate(s) if k not in axes)
        count = math.prod(_batch_size(s[k]) for k in axes)
        b = self.bounds[a]
        bound = {"reduce_sum": b * count, "reduce_mean": b, "reduce_max": b + 0.5, "reduce_min": b + 0.5,
                 "reduce_prod": 1.0, "logsumexp": b + math.log(count)}[kind]
        params = {"c": self.offsets(s)} if kind in ("reduce_max", "reduce_min") else {}
        return self.add(kind, [a], shape, bound, **params, axis=axis, keepdims=keepdims)

    def matmul(self, a: int) -> int | None:
        s = self.shapes[a]
        if not s:
            return None
        k = s[-1]
        rows = s[:-1]
        partners = [j for j, t in enumerate(self.shapes) if len(t) in (1, 2) and t[0] == k
                    and (len(s) > 1 or len(t) == 2)]
        if partners and self.rng.integers(2):
            b = self.pick(partners)
            t = self.shapes[b]
            bound = self.bounds[a] * self.bounds[b] * _batch_size(k)
            if bound > 1e4:
                return None
            return self.add("matmul", [a, b], rows + t[1:], bound)
        if k is None:
            return None
        n = int(self.rng.integers(2, 5))
        w = np.round(self.rng.normal(size=(k, n)) / math.sqrt(k), 3)
        return self.add("matmul_const", [a], rows + (n,), self.bounds[a] * 2 * math.sqrt(k), w=w)

    def view(self, a: int, kind: str | None = None) -> int | None:
        """A view of ``a``: a value that may share its memory."""
        s, b = self.shapes[a], self.bounds[a]
        kind = kind or self.choice(VIEW_KINDS)
        if kind in ("T", "transpose") and len(s) >= 2:
            if kind == "T":
                return self.add("T", [a], s[::-1], b)
            perm = tuple(int(p) for p in self.rng.permutation(len(s)))
            if perm == tuple(range(len(s))):
                perm = perm[::-1]
            return self.add("transpose", [a], tuple(s[p] for p in perm), b, perm=perm)
        if kind == "getitem" and s:
            index, shape = self._index(s)
            return self.add("getitem", [a], shape, b, index=index)
        if kind == "reshape":
            return self._reshape(a)
        if kind == "expand_dims":
            axis = int(self.rng.integers(-len(s) - 1, len(s) + 1))
            shape = list(s)
            shape.insert(axis % (len(s) + 1), 1)
            return self.add("expand_dims", [a], shape, b, axis=axis)
        if kind == "squeeze":
            ones = [k for k, d in enumerate(s) if d == 1]
            if not ones:
                return None
            axis = self.choice(ones)
            return self.add("squeeze", [a], s[:axis] + s[axis + 1:], b, axis=axis)
        if kind == "broadcast_to" and None not in s:
            shape = tuple(int(self.rng.integers(2, 4)) if d == 1 else d for d in s)
            if shape == s or self.rng.integers(2):
                shape = (int(self.rng.integers(2, 4)),) + shape
            return self.add("broadcast_to", [a], shape, b, shape=shape)
        if kind == "stop_gradient":
            return self.add("stop_gradient", [a], s, b)
        return None

    def _index(self, s):
        """A random basic index of a value of shape ``s`` and the result's shape."""
        index, shape = [], []
        for d in s:
            form = int(self.rng.integers(4))
            if form == 0:                                    # an integer
                if d is None:
                    index.append(self.choice([0, -1]))
                else:
                    index.append(int(self.rng.integers(-d, d)))
            elif form == 1 and d is not None and d > 1:      # a slice start:stop
                start = int(self.rng.integers(0, d - 1))
                stop = int(self.rng.integers(start + 1, d + 1))
                index.append(slice(start, stop))
                shape.append(stop - start)
            elif form == 2:                                  # a reversed or strided slice
                step = self.choice([-1, 2]) if d is not None else -1
                index.append(slice(None, None, step))
                shape.append(d if d is None else len(range(d)[::step]))
            else:
                index.append(slice(None))
                shape.append(d)
        if self.rng.integers(4) == 0:
            at = int(self.rng.integers(len(index) + 1))
            index.insert(at, None)
            shape.insert(sum(1 for i in index[:at] if not isinstance(i, int)), 1)
        if all(isinstance(i, slice) and i == slice(None) for i in index):
            index[0] = 0 if s[0] is None else s[0] - 1
            shape = shape[1:]
        return tuple(index), tuple(shape)

    def _reshape(self, a: int) -> int | None:
        s = self.shapes[a]
        if None in s[1:]:
            return None
        lead = s[:1] if s and s[0] is None else ()
        rest = s[len(lead):]
        size = math.prod(rest)
        dims = _factorization(size, self.rng)
        shape = lead + tuple(dims)
        target = list(dims)
        if not lead and self.rng.integers(3) == 0:
            target[int(self.rng.integers(len(target)))] = -1   # one size left to infer
        target = (-1,) * len(lead) + tuple(target)
        if shape == s:
            return None
        return self.add("reshape", [a], shape, self.bounds[a], shape=target)

    def concat(self, a: int, same: bool = False) -> int | None:
        s = self.shapes[a]
        axes = [k for k, d in enumerate(s) if d is not None]
        if not axes:
            return None
        axis = self.choice(axes)
        partners = [j for j, t in enumerate(self.shapes)
                    if len(t) == len(s) and all(u == v for k, (u, v) in enumerate(zip(s, t)) if k != axis)
                    and t[axis] is not None]
        b = a if same or self.rng.integers(3) == 0 else self.pick(partners)
        parts = [a, b] if self.rng.integers(4) else [a, b, a]
        shape = list(s)
        shape[axis] = sum(self.shapes[p][axis] for p in parts)
        if self.rng.integers(4) == 0:
            axis -= len(s)
        return self.add("concat", parts, shape, max(self.bounds[p] for p in parts), axis=axis)

    def stack(self, a: int) -> int:
        s = self.shapes[a]
        b = self.pick([j for j, t in enumerate(self.shapes) if t == s])
        axis = int(self.rng.integers(0, len(s) + 1))
        shape = list(s)
        shape.insert(axis, 2)
        return self.add("stack", [a, b], shape, max(self.bounds[a], self.bounds[b]), axis=axis)

    def gather(self, a: int) -> int | None:
        s = self.shapes[a]
        axes = [k for k, d in enumerate(s) if d is not None]
        if not axes:
            return None
        axis = self.choice(axes)
        shape_i = self.choice([(3,), (2, 2), ()])
        indices = self.rng.integers(0, s[axis], shape_i).astype(np.int64)
        return self.add("gather", [a], s[:axis] + shape_i + s[axis + 1:], self.bounds[a],
                        indices=indices, axis=axis)

    # -- motifs ----------------------------------------------------------------------------------
    def view_then_in_place(self):
        """s owns its buffer; a view of s is an output or is read later; an elementwise op is
        the last direct reader of s (the op a memory plan is tempted to run in place)."""
        a = self.pick()
        s = self.concat(a, same=bool(self.rng.integers(2))) if self.rng.integers(2) else None
        if s is None:
            s = self.unary(a, self.choice(["affine", "sin", "tanh", "square", "neg"]))
        v = None
        for _ in range(8):
            v = self.view(s)
            if v is not None:
                break
        if v is None:
            v = self.view(s, "stop_gradient")
        e = self.unary(s, self.choice(["exp", "exp", "tanh", "neg", "affine", "square", "sin"]))
        if self.rng.integers(2):
            self.forced += [v, e]
        else:
            later = self.unary(v, self.choice(["affine", "neg", "sin"]))
            self.forced += [later] + ([e] if self.rng.integers(2) else [])

    def elementwise_over_view(self):
        """An elementwise op whose operand is a view (or stop_gradient) of an input or a
        broadcast: it must never write through into the caller's array or a broadcast view."""
        a = self.pick(range(len(self.input_shapes))) if self.rng.integers(2) else self.pick()
        v = self.view(a, self.choice(["stop_gradient", "T", "broadcast_to", "getitem", "reshape"]))
        if v is None:
            v = self.view(a, "stop_gradient")
        if self.rng.integers(2):
            e = self.unary(v, self.choice(["exp", "tanh", "neg", "relu", "affine"]))
        else:
            e = self.binary(v, self.choice(["maximum", "add", "mul"])) or self.unary(v, "neg")
        self.forced.append(e)

    def grow(self, n_steps: int):
        families = {"unary": 3, "binary": 3, "reduce": 1.5, "matmul": 1, "view": 3, "concat": 1,
                    "stack": 0.5, "gather": 0.5, "softmax": 0.5}
        names = list(families)
        weights = np.array([families[n] for n in names])
        while len(self.steps) < n_steps:
            family = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
            a = self.pick()
            if family == "unary":
                self.unary(a)
            elif family == "binary":
                self.binary(a)
            elif family == "reduce":
                self.reduce(a)
            elif family == "matmul":
                self.matmul(a)
            elif family == "view":
                self.view(a)
            elif family == "concat":
                self.concat(a)
            elif family == "stack":
                self.stack(a)
            elif family == "gather":
                self.gather(a)
            else:
                self.unary(a, self.choice(["softmax", "log_softmax"]))

    def outputs(self) -> list:
        n_inputs = len(self.input_shapes)
        made = list(range(n_inputs, len(self.shapes)))
        read = {a for step in self.steps for a in step.args}
        sinks = [k for k in made if k not in read] or made
        picked = list(dict.fromkeys(self.forced))
        for _ in range(int(self.rng.integers(1, 3))):
            picked.append(self.pick(sinks if self.rng.integers(4) else made))
        if self.rng.integers(8) == 0:
            picked.append(self.pick(range(n_inputs)))        # an input returned as it is
        if self.rng.integers(8) == 0:
            picked.append(picked[0])                         # the same value twice
        picked = list(dict.fromkeys(picked)) if self.rng.integers(2) else picked
        order = self.rng.permutation(len(picked))
        return [picked[int(k)] for k in order]


def _factorization(size: int, rng) -> list:
    """``size`` as a product of one to three factors, in random order."""
    dims, rest = [], size
    for _ in range(int(rng.integers(0, 3))):
        divisors = [d for d in range(2, rest) if rest % d == 0]
        if not divisors:
            break
        d = int(rng.choice(divisors))
        dims.append(d)
        rest //= d
    dims.append(rest)
    rng.shuffle(dims)
    return dims


def random_recipe(seed: int, batched: bool = False, sizes=(2, 3, 4)) -> Recipe:
    """A random graph of 4 to 16 steps over 2-3 float64 inputs whose sizes are drawn from
    ``sizes``; ``batched``: the first input's leading size is None (fed at call time)."""
    g = _Generator(seed, batched, sizes)
    for _ in range(int(g.rng.integers(0, 3))):
        g.grow(len(g.steps) + int(g.rng.integers(1, 5)))
        motif = int(g.rng.integers(3))
        if motif == 0:
            g.view_then_in_place()
        elif motif == 1:
            g.elementwise_over_view()
    g.grow(len(g.steps) + int(g.rng.integers(2, 8)))
    return Recipe(seed, list(g.input_shapes), g.steps, g.shapes, g.outputs())


# -- shrinking a failing recipe ----------------------------------------------------------------

def _prune(recipe: Recipe) -> Recipe:
    """Drop the steps no output depends on, renumbering the pool."""
    n = len(recipe.input_shapes)
    needed = set(recipe.outputs)
    for j in range(len(recipe.steps) - 1, -1, -1):
        if n + j in needed:
            needed.update(recipe.steps[j].args)
    mapping = {k: k for k in range(n)}
    steps, shapes = [], list(recipe.input_shapes)
    for j, step in enumerate(recipe.steps):
        if n + j in needed:
            mapping[n + j] = n + len(steps)
            steps.append(dataclasses.replace(step, args=tuple(mapping[a] for a in step.args)))
            shapes.append(recipe.shapes[n + j])
    return Recipe(recipe.seed, recipe.input_shapes, steps, shapes, [mapping[k] for k in recipe.outputs])


def _bypass(recipe: Recipe, j: int, by: int) -> Recipe:
    """Every use of step j's value replaced by pool value ``by`` (of the same shape)."""
    n = len(recipe.input_shapes)
    swap = {n + j: by}
    steps = [dataclasses.replace(s, args=tuple(swap.get(a, a) for a in s.args)) for s in recipe.steps]
    return _prune(Recipe(recipe.seed, recipe.input_shapes, steps, recipe.shapes,
                         [swap.get(k, k) for k in recipe.outputs]))


def shrink(recipe: Recipe, still_fails: Callable[[Recipe], bool], budget_s: float = 5.0) -> Recipe:
    """A smaller recipe that still fails: outputs dropped, steps bypassed, dead steps pruned,
    greedily, within ``budget_s`` seconds."""
    deadline = time.monotonic() + budget_s
    best = _prune(recipe)
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        candidates = []
        if len(best.outputs) > 1:
            candidates += [dataclasses.replace(best, outputs=best.outputs[:k] + best.outputs[k + 1:])
                           for k in range(len(best.outputs))]
        n = len(best.input_shapes)
        for j in range(len(best.steps) - 1, -1, -1):
            for a in dict.fromkeys(best.steps[j].args):
                if best.shapes[a] == best.shapes[n + j]:
                    candidates.append(_bypass(best, j, a))
        for candidate in candidates:
            if time.monotonic() > deadline:
                break
            candidate = _prune(candidate)
            try:
                fails = still_fails(candidate)
            except Exception:  # noqa: BLE001 - a variant the generator would not make
                fails = False
            if fails:
                best, changed = candidate, True
                break
    return best


def failure_class(exc: BaseException) -> str:
    """What kind of failure: the [tag] an assertion starts with, else the exception's type."""
    text = str(exc)
    if isinstance(exc, AssertionError) and text.startswith("["):
        return text[:text.index("]") + 1]
    return type(exc).__name__


def shrink_failure(recipe: Recipe, check: Callable[[Recipe], None], budget_s: float = 5.0):
    """Run ``check(recipe)``; if it fails, fail with the recipe and a shrunk recipe that
    fails the same way (the reproducer to read first)."""
    try:
        check(recipe)
    except Exception as exc:  # noqa: BLE001 - graphc's own errors are failures too
        kind = failure_class(exc)

        def same_failure(candidate):
            try:
                check(candidate)
            except Exception as again:  # noqa: BLE001
                return failure_class(again) == kind
            return False
        small = shrink(recipe, same_failure, budget_s)
        try:
            check(small)
            small_error = "(the shrunk recipe passes?)"
        except Exception as again:  # noqa: BLE001
            small_error = f"{type(again).__name__}: {again}"
        raise AssertionError(
            f"{type(exc).__name__}: {exc}\n\nrecipe (seed {recipe.seed}):\n{recipe.describe()}\n\n"
            f"shrunk reproducer:\n{small.describe()}\nfails with {small_error}") from exc
