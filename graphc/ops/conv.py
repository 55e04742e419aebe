"""Convolution and pooling over images: NHWC inputs, HWIO filters (TensorFlow's layout).

Below is the ops' contract, which every backend's kernels implement and so is spelled out whole.
Ops (each one ``defop`` with its shape/dtype rule, NumPy reference and gradient rule):

  conv2d(x, w)                          y[n,i,j,o] = sum_{a,b,c} xp[n, i*sh + a*dh, j*sw + b*dw, g(o)*Cg + c] w[a,b,c,o]
  conv2d_backprop_input(g, w, x_ref)    the adjoint of conv2d in x (x_ref: the run-time shape)
  conv2d_backprop_filter(x, g, w_ref)   the adjoint of conv2d in w (w_ref: the run-time shape)
  max_pool2d(x), avg_pool2d(x)          windows over H and W, per channel
  max_pool2d_grad(x, out, g)            each window's cotangent to its first arg-max cell
  max_pool2d_select(x, v)               v read at each window's first arg-max cell (the adjoint
                                        of max_pool2d_grad in g, for second derivatives)
  avg_pool2d_grad(g, x_ref)             each window's cotangent spread over its valid cells

Attributes: ``strides=(sh, sw)``, ``pads=((top, bottom), (left, right))`` and, for the pools,
``pool_size=(kh, kw)``; the three conv ops also carry ``dilations=(dh, dw)`` (tap (a, b) of a
window reads the cell a·dh rows and b·dw columns from its corner: the window spans the
EFFECTIVE size (k − 1)·d + 1, which is what padding and output sizes are computed from) and
``groups=G`` (grouped convolution, Keras' semantics: the C input channels and the O filters are
split into G consecutive blocks, filter block g sees only input block g, so the filter is
(KH, KW, C/G, O); G = C is a depthwise convolution, see ``depthwise_conv2d``). ``pads`` is
the string "same" when TensorFlow's SAME padding could not be resolved at build time (H, W or
the kernel size unknown); the kernels then compute it from the run-time shapes. SAME: out =
ceil(in / stride), total padding max((out - 1) * stride + k_eff - in, 0), the odd cell at the
bottom/right.

Each op's helper names are bound to plain-NumPy references (``conv_reference``); the NumPy
backend binds its own faster kernels to the same names.
"""
from __future__ import annotations

from graphc.ir import arguments
from graphc.errors import DTypeError, ShapeError
from graphc.ir import batching
from graphc.ir.opdef import apply, defop, describe
from graphc.ir.tensor import Tensor, as_tensor
from graphc.ops.conv_reference import REFERENCES

# -- argument normalisation ----------------------------------------------------------------


def _pair(op: str, what: str, value, minimum: int) -> tuple:
    """An int or a pair of ints -> (a, b), each >= minimum."""
    return arguments.pair(value, f"{op}: {what}", minimum=minimum)


def same_pads(size: int, k: int, s: int) -> tuple:
    """TensorFlow's SAME padding along one axis: (before, after)."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2)


def _normalize_padding(op: str, padding, spatial, kernel, strides):
    """padding -> ((top, bottom), (left, right)), or "same" when it cannot be resolved yet.

    ``spatial`` = (H, W) and ``kernel`` = (KH, KW), entries None where unknown."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            if any(d is None for d in (*spatial, *kernel)):
                return "same"
            return tuple(same_pads(n, k, s) for n, k, s in zip(spatial, kernel, strides))
        raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a pair, got {padding!r}")
    forms = "'valid', 'same', an int, (ph, pw) or ((top, bottom), (left, right))"
    if arguments.is_integer(padding):
        p = arguments.index(padding, f"{op}: padding", minimum=0)
        pads = ((p, p), (p, p))
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        if all(isinstance(v, (tuple, list)) for v in padding):
            pads = tuple(arguments.pair(v, f"{op}: padding[{k}]", minimum=0) for k, v in enumerate(padding))
        else:
            ph, pw = (arguments.index(v, f"{op}: padding[{k}]", minimum=0) for k, v in enumerate(padding))
            pads = ((ph, ph), (pw, pw))
    elif isinstance(padding, (tuple, list)):
        raise ValueError(f"{op}: padding must be {forms}, got {padding!r}")
    else:
        raise TypeError(f"{op}: padding must be {forms}, got {type(padding).__name__} {padding!r}")
    return pads


# -- shape and dtype rules -------------------------------------------------------------------

def _float_inputs(op: str, named):
    """All tensors float and of one dtype; ``named`` is [(role, tensor), ...]."""
    for role, t in named:
        if t.dtype.kind != "f":
            raise DTypeError(f"{op}: {role} must be a float tensor, got {describe(t)}; "
                             f"use gc.cast({role}, 'float32')")
    dts = {t.dtype for _, t in named}
    if len(dts) > 1:
        listing = ", ".join(f"{role} {describe(t)}" for role, t in named)
        raise DTypeError(f"{op}: inputs must have the same dtype: {listing}")
    return named[0][1].dtype


def _rank4(op: str, role: str, t: Tensor, layout: str, others):
    if t.ndim != 4:
        listing = "".join(f", {r} {describe(u)}" for r, u in others)
        raise ShapeError(f"{op}: {role} must be 4-D {layout}, got {role} {describe(t)}{listing}")


def effective_kernel(kernel, dilations) -> tuple:
    """The span of a dilated window along each axis: (k - 1)·d + 1 (None stays None)."""
    return tuple(None if k is None else (k - 1) * d + 1 for k, d in zip(kernel, dilations))


def _spatial_out(op, x_desc, k_desc, spatial, kernel, strides, pads, dilations=(1, 1)):
    """(OH, OW) with None where unknown; raises when the (dilated) kernel exceeds the padded
    input."""
    out = []
    for axis, (n, k, s, d) in enumerate(zip(spatial, effective_kernel(kernel, dilations), strides,
                                            dilations)):
        if pads == "same":
            out.append(None if n is None else -(-n // s))
            continue
        lo, hi = pads[axis]
        if n is None or k is None:
            out.append(None)
            continue
        padded = n + lo + hi
        if padded < k:
            span = f"{k}" if d == 1 else f"{k}, dilated: ({(k - 1) // d + 1} - 1)·{d} + 1"
            raise ShapeError(
                f"{op}: the {'height' if axis == 0 else 'width'} of the window ({span}) is larger than "
                f"the padded input ({n} + {lo} + {hi} = {padded}): {x_desc}, {k_desc}")
        out.append((padded - k) // s + 1)
    return tuple(out)


def _check_conv_attrs(op, attrs):
    strides, pads = attrs["strides"], attrs["pads"]
    if not (isinstance(strides, tuple) and len(strides) == 2 and min(strides) >= 1):
        raise ShapeError(f"{op}: bad strides attribute {strides!r}")
    if pads != "same" and not (isinstance(pads, tuple) and len(pads) == 2):
        raise ShapeError(f"{op}: bad pads attribute {pads!r}")
    return strides, pads


def _check_filter_attrs(op, attrs):
    """The conv ops' dilations=(dh, dw) and groups=G attributes, checked."""
    dilations, groups = attrs.get("dilations"), attrs.get("groups")
    if not (isinstance(dilations, tuple) and len(dilations) == 2 and all(arguments.is_integer(d) for d in dilations)
            and min(dilations) >= 1):
        raise ShapeError(f"{op}: bad dilations attribute {dilations!r} (expected a pair of ints >= 1)")
    if not (arguments.is_integer(groups) and groups >= 1):
        raise ShapeError(f"{op}: bad groups attribute {groups!r} (expected an int >= 1)")
    return dilations, groups


def _check_groups(op, x_role, x, w, groups):
    """x's channels = the filter's C_in·groups, and the filter count divisible by groups."""
    c, wc, o = x.shape[3], w.shape[2], w.shape[3]
    if c is not None and wc is not None and c != wc * groups:
        if groups == 1:
            raise ShapeError(f"{op}: channels differ: {x_role} {describe(x)} has {c} channels, "
                             f"filter w {describe(w)} (KH, KW, C_in, C_out) expects {wc}")
        raise ShapeError(f"{op}: channels differ: {x_role} {describe(x)} has {c} channels, filter w "
                         f"{describe(w)} (KH, KW, C_in/groups, C_out) with groups={groups} expects "
                         f"{wc}·{groups} = {wc * groups}")
    if o is not None and o % groups:
        raise ShapeError(f"{op}: the {o} filters of w {describe(w)} are not divisible by groups={groups} "
                         f"(each group of input channels needs as many filters)")


def _conv2d_rule(inputs, attrs):
    x, w = inputs
    strides, pads = _check_conv_attrs("conv2d", attrs)
    dilations, groups = _check_filter_attrs("conv2d", attrs)
    _rank4("conv2d", "x", x, "(N, H, W, C)", [("w", w)])
    _rank4("conv2d", "w", w, "(KH, KW, C_in, C_out)", [("x", x)])
    dtype = _float_inputs("conv2d", [("x", x), ("w", w)])
    _check_groups("conv2d", "x", x, w, groups)
    oh, ow = _spatial_out("conv2d", f"x {describe(x)}", f"filter w {describe(w)}",
                          x.shape[1:3], w.shape[0:2], strides, pads, dilations)
    return (x.shape[0], oh, ow, w.shape[3]), dtype


def _all_rank4(op, named):
    """Each (role, tensor) must be 4-d; a message names the others too, for context."""
    for role, t in named:
        _rank4(op, role, t, "", [(r, u) for r, u in named if u is not t])


def _conv2d_bias_rule(inputs, attrs):
    x, w, b = inputs
    shape, dtype = _conv2d_rule((x, w), attrs)
    o = shape[3]
    if b.dtype != dtype or any(d != 1 for d in b.shape[:-1]) or (b.shape and b.shape[-1] not in (o, None)) \
            or not b.shape:
        raise ShapeError(f"conv2d_bias: the bias {describe(b)} must hold one {dtype} value per output "
                         f"channel ({o}), as (O,) or (1, ..., O), for x {describe(x)} and w {describe(w)}")
    return shape, dtype


def _conv2d_backprop_input_rule(inputs, attrs):
    g, w, x_ref = inputs
    op = "conv2d_backprop_input"
    _check_conv_attrs(op, attrs)
    _, groups = _check_filter_attrs(op, attrs)
    _all_rank4(op, [("g", g), ("w", w), ("x_ref", x_ref)])
    dtype = _float_inputs(op, [("g", g), ("w", w)])
    if None not in (g.shape[3], w.shape[3]) and g.shape[3] != w.shape[3]:
        raise ShapeError(f"{op}: channels differ: g {describe(g)} vs filter w {describe(w)}")
    _check_groups(op, "x_ref", x_ref, w, groups)
    return x_ref.shape, dtype


def _conv2d_backprop_filter_rule(inputs, attrs):
    x, g, w_ref = inputs
    op = "conv2d_backprop_filter"
    _check_conv_attrs(op, attrs)
    _, groups = _check_filter_attrs(op, attrs)
    _all_rank4(op, [("x", x), ("g", g), ("w_ref", w_ref)])
    dtype = _float_inputs(op, [("x", x), ("g", g)])
    _check_groups(op, "x", x, w_ref, groups)
    return w_ref.shape, dtype


def _check_pool_attrs(op, attrs):
    pool = attrs["pool_size"]
    if not (isinstance(pool, tuple) and len(pool) == 2 and min(pool) >= 1):
        raise ShapeError(f"{op}: bad pool_size attribute {pool!r}")
    strides, pads = _check_conv_attrs(op, attrs)
    return pool, strides, pads


def _pool_rule(op):
    def infer(inputs, attrs):
        (x,) = inputs
        pool, strides, pads = _check_pool_attrs(op, attrs)
        _rank4(op, "x", x, "(N, H, W, C)", [])
        dtype = _float_inputs(op, [("x", x)])
        oh, ow = _spatial_out(op, f"x {describe(x)}", f"pool_size {pool}", x.shape[1:3], pool,
                              strides, pads)
        return (x.shape[0], oh, ow, x.shape[3]), dtype
    return infer


def _pool_grad_rule(op, ref_index, value_indices):
    """Shape of inputs[ref_index]; inputs[value_indices] float and of its dtype."""
    def infer(inputs, attrs):
        _check_pool_attrs(op, attrs)
        named = [(f"input {i}", t) for i, t in enumerate(inputs)]
        _all_rank4(op, named)
        dtype = _float_inputs(op, [named[i] for i in value_indices])
        return inputs[ref_index].shape, dtype
    return infer


def _select_rule(inputs, attrs):
    x, v = inputs
    op = "max_pool2d_select"
    pool, strides, pads = _check_pool_attrs(op, attrs)
    _rank4(op, "x", x, "(N, H, W, C)", [("v", v)])
    _rank4(op, "v", v, "(N, H, W, C)", [("x", x)])
    dtype = _float_inputs(op, [("x", x), ("v", v)])
    if any(a is not None and b is not None and a != b for a, b in zip(x.shape, v.shape)):
        raise ShapeError(f"{op}: v must be shaped like x: x {describe(x)}, v {describe(v)}")
    oh, ow = _spatial_out(op, f"x {describe(x)}", f"pool_size {pool}", x.shape[1:3], pool,
                          strides, pads)
    return (x.shape[0], oh, ow, x.shape[3]), dtype


# -- gradient rules (graph nodes only) ---------------------------------------------------------


def _conv_attrs(n: Tensor) -> dict:
    return {k: n.attrs[k] for k in ("strides", "pads", "dilations", "groups")}


def _pool_attrs(n: Tensor) -> dict:
    return {"pool_size": n.attrs["pool_size"], "strides": n.attrs["strides"], "pads": n.attrs["pads"]}


def _conv2d_grad(n, g):
    x, w = n.inputs
    at = _conv_attrs(n)
    return [apply("conv2d_backprop_input", [g, w, x], **at),
            apply("conv2d_backprop_filter", [x, g, w], **at)]


def _conv2d_bias_grad(n, g):
    from graphc.ops.reduce import reduce_sum
    from graphc.ops.shape_ops import reshape
    x, w, b = n.inputs
    at = _conv_attrs(n)
    db = reduce_sum(g, axis=(0, 1, 2))
    return [apply("conv2d_backprop_input", [g, w, x], **at), apply("conv2d_backprop_filter", [x, g, w], **at),
            db if b.ndim == 1 else reshape(db, b.shape)]


def _conv2d_backprop_input_grad(n, gg):
    # dx = B_in(g, w) is bilinear: <gg, B_in(g, w)> = <conv2d(gg, w), g> = <B_f(gg, g), w>
    g, w, x_ref = n.inputs
    at = _conv_attrs(n)
    return [apply("conv2d", [gg, w], **at), apply("conv2d_backprop_filter", [gg, g, w], **at), None]


def _conv2d_backprop_filter_grad(n, gw):
    # dw = B_f(x, g) is bilinear: <gw, B_f(x, g)> = <conv2d(x, gw), g> = <B_in(g, gw), x>
    x, g, w_ref = n.inputs
    at = _conv_attrs(n)
    return [apply("conv2d_backprop_input", [g, gw, x], **at), apply("conv2d", [x, gw], **at), None]


def _max_pool2d_grad(n, g):
    (x,) = n.inputs
    return [apply("max_pool2d_grad", [x, n, g], **_pool_attrs(n))]


def _max_pool2d_grad_grad(n, gg):
    # linear in g, piecewise constant in x (the arg-max positions): its adjoint in g is a
    # gather at the arg-max cells
    x, _, _ = n.inputs
    return [None, None, apply("max_pool2d_select", [x, gg], **_pool_attrs(n))]


def _max_pool2d_select_grad(n, h):
    x, _ = n.inputs
    at = _pool_attrs(n)
    return [None, apply("max_pool2d_grad", [x, apply("max_pool2d", [x], **at), h], **at)]


def _avg_pool2d_grad(n, g):
    (x,) = n.inputs
    return [apply("avg_pool2d_grad", [g, x], **_pool_attrs(n))]


def _avg_pool2d_grad_grad(n, gg):
    return [apply("avg_pool2d", [gg], **_pool_attrs(n)), None]


# -- the ops -----------------------------------------------------------------------------------

defop("conv2d", ("x", "w"), _conv2d_rule, "nn_conv2d({x}, {w}, {strides}, {pads}, {dilations}, {groups})",
      grad=_conv2d_grad, helpers=REFERENCES,
      doc="2-D convolution (cross-correlation), x NHWC, w (KH, KW, C_in/groups, C_out), dilated, grouped", result="new", batch=batching.nhwc(0))
defop("conv2d_bias", ("x", "w", "b"), _conv2d_bias_rule,
      "nn_conv2d_bias({x}, {w}, {b}, {strides}, {pads}, {dilations}, {groups})",
      grad=_conv2d_bias_grad, helpers=REFERENCES,
      doc="conv2d(x, w) + b with b one value per output channel (the conv_bias pass makes it): "
          "the bias is added to each chunk of the GEMM's result while it is in cache", result="unknown", batch=batching.nhwc(0))
defop("conv2d_backprop_input", ("g", "w", "x_ref"), _conv2d_backprop_input_rule,
      "nn_conv2d_backprop_input({g}, {w}, {x_ref}, {strides}, {pads}, {dilations}, {groups})",
      grad=_conv2d_backprop_input_grad, helpers=REFERENCES,
      doc="gradient of conv2d w.r.t. its input; x_ref gives the run-time input shape only", result="unknown", batch=batching.nhwc(0, 2))
defop("conv2d_backprop_filter", ("x", "g", "w_ref"), _conv2d_backprop_filter_rule,
      "nn_conv2d_backprop_filter({x}, {g}, {w_ref}, {strides}, {pads}, {dilations}, {groups})",
      grad=_conv2d_backprop_filter_grad, helpers=REFERENCES,
      doc="gradient of conv2d w.r.t. its filter; w_ref gives the run-time filter shape only", result="unknown", batch=batching.nhwc(0, 1, combine="sum"))
defop("max_pool2d", ("x",), _pool_rule("max_pool2d"),
      "nn_max_pool2d({x}, {pool_size}, {strides}, {pads})",
      grad=_max_pool2d_grad, helpers=REFERENCES, doc="max over H x W windows (padding cells are -inf)", result="unknown", batch=batching.nhwc(0))
defop("max_pool2d_grad", ("x", "out", "g"), _pool_grad_rule("max_pool2d_grad", 0, (0, 2)),
      "nn_max_pool2d_grad({x}, {out}, {g}, {pool_size}, {strides}, {pads})",
      grad=_max_pool2d_grad_grad, helpers=REFERENCES,
      doc="gradient of max_pool2d: each window's cotangent to its first maximal cell (summed)", result="unknown", batch=batching.nhwc(0, 1, 2))
defop("max_pool2d_select", ("x", "v"), _select_rule,
      "nn_max_pool2d_select({x}, {v}, {pool_size}, {strides}, {pads})",
      grad=_max_pool2d_select_grad, helpers=REFERENCES,
      doc="v (shaped like x) read at each window's first maximal cell of x", result="unknown", batch=batching.nhwc(0, 1))
defop("avg_pool2d", ("x",), _pool_rule("avg_pool2d"),
      "nn_avg_pool2d({x}, {pool_size}, {strides}, {pads})",
      grad=_avg_pool2d_grad, helpers=REFERENCES,
      doc="mean over H x W windows, counting only unpadded cells (TensorFlow's SAME semantics)", result="unknown", batch=batching.nhwc(0))
defop("avg_pool2d_grad", ("g", "x_ref"), _pool_grad_rule("avg_pool2d_grad", 1, (0,)),
      "nn_avg_pool2d_grad({g}, {x_ref}, {pool_size}, {strides}, {pads})",
      grad=_avg_pool2d_grad_grad, helpers=REFERENCES,
      doc="gradient of avg_pool2d; x_ref gives the run-time input shape only", result="unknown", batch=batching.nhwc(0, 1))


# -- public builders (gc.nn.conv2d, gc.nn.max_pool2d, gc.nn.avg_pool2d) --------------------------

def _spatial(t: Tensor):
    return tuple(t.shape[1:3]) if t.ndim == 4 else (None, None)


def conv2d(x, w, strides=1, padding="valid", dilations=1, groups=1, dilation_rate=None) -> Tensor:
    """2-D convolution (cross-correlation, as TensorFlow) of x (N, H, W, C) with w
    (KH, KW, C/groups, O).

    ``strides``: an int or (sh, sw). ``padding``: "valid", "same" (TensorFlow's SAME), an int
    (the same on every side), (ph, pw), or ((top, bottom), (left, right)).
    ``dilations`` (or Keras' name ``dilation_rate``): an int or (dh, dw); the window's taps are
    d cells apart, so it spans KH_eff = (KH - 1)·dh + 1 rows. ``groups``: C and O split into
    that many blocks, filter block g convolving input block g only (Keras' ``groups``).
    Result (N, OH, OW, O), OH = (H + top + bottom - KH_eff) // sh + 1."""
    x, w = as_tensor(x, what="conv2d: x"), as_tensor(w, what="conv2d: w")
    strides = _pair("conv2d", "strides", strides, 1)
    dilations = _pair("conv2d", "dilations", dilations, 1)
    if dilation_rate is not None:
        rate = _pair("conv2d", "dilation_rate", dilation_rate, 1)
        if dilations not in ((1, 1), rate):
            raise ValueError(f"conv2d: give dilations or dilation_rate, not both "
                             f"(dilations={dilations}, dilation_rate={rate})")
        dilations = rate
    groups = arguments.index(groups, "conv2d: groups", minimum=1)
    kernel = tuple(w.shape[0:2]) if w.ndim == 4 else (None, None)
    pads = _normalize_padding("conv2d", padding, _spatial(x), effective_kernel(kernel, dilations), strides)
    return apply("conv2d", [x, w], strides=strides, pads=pads, dilations=dilations, groups=groups)


def depthwise_conv2d(x, w, strides=1, padding="valid", dilations=1, dilation_rate=None) -> Tensor:
    """Depthwise convolution (TensorFlow's ``depthwise_conv2d``): each of the C channels of x
    (N, H, W, C) convolved with its own ``depth_multiplier`` filters, w (KH, KW, C, M); output
    channel c·M + m is channel c's filter m. The conv2d op with groups = C over w viewed as
    (KH, KW, 1, C·M)."""
    from graphc.ops.shape_ops import reshape
    x, w = as_tensor(x, what="depthwise_conv2d: x"), as_tensor(w, what="depthwise_conv2d: w")
    if w.ndim != 4 or None in w.shape:
        raise ShapeError(f"depthwise_conv2d: the filter must be 4-D (KH, KW, C, depth_multiplier) with "
                         f"known sizes, got w {describe(w)}")
    kh, kw, c, mult = w.shape
    if x.ndim == 4 and x.shape[3] is not None and x.shape[3] != c:
        raise ShapeError(f"depthwise_conv2d: channels differ: x {describe(x)} has {x.shape[3]} channels, "
                         f"filter w {describe(w)} (KH, KW, C, depth_multiplier) expects {c}")
    return conv2d(x, reshape(w, (kh, kw, 1, c * mult)), strides, padding, dilations, groups=c,
                  dilation_rate=dilation_rate)


def _pool(op, x, pool_size, strides, padding):
    x = as_tensor(x, what=f"{op}: x")
    pool = _pair(op, "pool_size", pool_size, 1)
    strides = pool if strides is None else _pair(op, "strides", strides, 1)
    pads = _normalize_padding(op, padding, _spatial(x), pool, strides)
    if pads != "same" and any(p >= k for side, k in zip(pads, pool) for p in side):
        raise ValueError(f"{op}: padding {padding!r} must be smaller than pool_size {pool} "
                         "(a window may not lie wholly in the padding)")
    return apply(op, [x], pool_size=pool, strides=strides, pads=pads)


def max_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """Max over pool_size windows of x (N, H, W, C); strides default to pool_size.

    padding "valid" or "same" (TensorFlow's: padded cells never win), or explicit as conv2d.
    The gradient goes to the first maximal cell of each window (row-major), summed where
    windows overlap."""
    return _pool("max_pool2d", x, pool_size, strides, padding)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid") -> Tensor:
    """Mean over pool_size windows of x (N, H, W, C); strides default to pool_size.

    With padding the mean counts only the unpadded cells of each window (TensorFlow's SAME)."""
    return _pool("avg_pool2d", x, pool_size, strides, padding)
