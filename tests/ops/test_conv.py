"""conv2d / pooling ops: values against direct-loop NumPy references, shape rules, build-time
errors, and every gradient rule (first and second order) against central finite differences.

The references below loop over output pixels and share no code with graphc/ops/conv.py.
Graphs are evaluated with a tiny evaluator over ``topological_order`` that runs each op's
reference semantics (``OPS[op].impl``); when ``gc.function`` / ``graphc.autodiff`` exist,
extra tests run the same checks through them.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.errors import DTypeError, ShapeError
from graphc import autodiff
from graphc.ir.graph import topological_order
from graphc.ops import conv
from graphc.backends.numpy.kernels import pool as pool_kernels
from graphc.ir.opdef import OPS
from graphc.ir.tensor import placeholder

# -- a test-local evaluator ----------------------------------------------------------------------


def evaluate(outputs, feed):
    values = {}
    for t in topological_order(outputs):
        if t.op == "placeholder":
            values[t] = np.asarray(feed[t])
        elif t.op == "constant":
            values[t] = t.attrs["value"]
        else:
            values[t] = OPS[t.op].impl(*(values[i] for i in t.inputs), **t.attrs)
    return [values[o] for o in outputs]


def run_op(node, arrays):
    """The node's op on arrays given in the order of node.inputs."""
    return OPS[node.op].impl(*arrays, **node.attrs)


# -- independent references (direct loops over output pixels) -----------------------------------


def ref_same_pads(n, k, s):
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def ref_pads(padding, hw, khw, strides):
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple(ref_same_pads(n, k, s) for n, k, s in zip(hw, khw, strides))
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    if isinstance(padding[0], int):
        return ((padding[0], padding[0]), (padding[1], padding[1]))
    return tuple(tuple(p) for p in padding)


def ref_conv2d(x, w, strides, pads, dilations=(1, 1), groups=1):
    """Output pixel by output pixel: filter oc belongs to group oc // (O/G) and reads that
    group's C/G input channels; tap (a, b) reads the padded cell (i·sh + a·dh, j·sw + b·dw)."""
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    assert cg * groups == c and o % groups == 0
    (t, b), (l, r) = pads
    sh, sw = strides
    dh, dw = dilations
    xp = np.zeros((n, h + t + b, wd + l + r, c), x.dtype)
    xp[:, t:t + h, l:l + wd, :] = x
    oh = (h + t + b - ((kh - 1) * dh + 1)) // sh + 1
    ow = (wd + l + r - ((kw - 1) * dw + 1)) // sw + 1
    y = np.zeros((n, oh, ow, o), np.float64)
    for bi in range(n):
        for i in range(oh):
            for j in range(ow):
                for oc in range(o):
                    first = (oc // (o // groups)) * cg
                    acc = 0.0
                    for a in range(kh):
                        for bb in range(kw):
                            for ci in range(cg):
                                acc += xp[bi, i * sh + a * dh, j * sw + bb * dw, first + ci] * w[a, bb, ci, oc]
                    y[bi, i, j, oc] = acc
    return y


def _windows_ref(h, wd, k, strides, pads):
    """Yield (i, j, cells): the in-bounds (row, col) cells of each window, row-major."""
    (t, b), (l, r) = pads
    sh, sw = strides
    oh = (h + t + b - k[0]) // sh + 1
    ow = (wd + l + r - k[1]) // sw + 1
    for i in range(oh):
        for j in range(ow):
            cells = []
            for a in range(k[0]):
                for bb in range(k[1]):
                    row, col = i * sh + a - t, j * sw + bb - l
                    cells.append((row, col) if 0 <= row < h and 0 <= col < wd else None)
            yield i, j, cells
    return oh, ow


def _out_hw(h, wd, k, strides, pads):
    (t, b), (l, r) = pads
    return (h + t + b - k[0]) // strides[0] + 1, (wd + l + r - k[1]) // strides[1] + 1


def ref_max_pool(x, k, strides, pads):
    n, h, wd, c = x.shape
    y = np.zeros((n, *_out_hw(h, wd, k, strides, pads), c), x.dtype)
    for i, j, cells in _windows_ref(h, wd, k, strides, pads):
        vals = [x[:, p[0], p[1], :] if p else np.full((n, c), -np.inf) for p in cells]
        y[:, i, j, :] = np.max(np.stack(vals), axis=0)
    return y


def ref_avg_pool(x, k, strides, pads):
    n, h, wd, c = x.shape
    y = np.zeros((n, *_out_hw(h, wd, k, strides, pads), c), x.dtype)
    for i, j, cells in _windows_ref(h, wd, k, strides, pads):
        valid = [p for p in cells if p]
        y[:, i, j, :] = sum(x[:, p[0], p[1], :] for p in valid) / len(valid)
    return y


def ref_max_pool_grad(x, g, k, strides, pads):
    n, h, wd, c = x.shape
    dx = np.zeros_like(x)
    for i, j, cells in _windows_ref(h, wd, k, strides, pads):
        for bi in range(n):
            for ch in range(c):
                vals = [x[bi, p[0], p[1], ch] if p else -np.inf for p in cells]
                p = cells[int(np.argmax(vals))]  # np.argmax: the FIRST maximum, row-major
                dx[bi, p[0], p[1], ch] += g[bi, i, j, ch]
    return dx


def ref_avg_pool_grad(x_shape, g, k, strides, pads):
    n, h, wd, c = x_shape
    dx = np.zeros(x_shape)
    for i, j, cells in _windows_ref(h, wd, k, strides, pads):
        valid = [p for p in cells if p]
        for p in valid:
            dx[:, p[0], p[1], :] += g[:, i, j, :] / len(valid)
    return dx


# -- finite differences --------------------------------------------------------------------------


def fd_full(f, arrays, index, eps=1e-6):
    """d f / d arrays[index], elementwise central differences (f scalar-valued)."""
    base = [np.array(a, dtype=np.float64) for a in arrays]
    x = base[index]
    out = np.zeros_like(x)
    flat = x.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        fp = f(*base)
        flat[k] = old - eps
        fm = f(*base)
        flat[k] = old
        out.reshape(-1)[k] = (fp - fm) / (2 * eps)
    return out


def fd_directional(f, arrays, index, direction, eps=1e-5):
    plus = [np.array(a, dtype=np.float64) for a in arrays]
    minus = [np.array(a, dtype=np.float64) for a in arrays]
    plus[index] = plus[index] + eps * direction
    minus[index] = minus[index] - eps * direction
    return (f(*plus) - f(*minus)) / (2 * eps)


def check_vjp(node, arrays, rng, full=False, eps=1e-6, skip=()):
    """The op's gradient rule against finite differences of <G, op(inputs)>.

    ``node`` is built over float64 placeholders, ``arrays`` their values in input order."""
    feed = dict(zip(node.inputs, arrays))
    G = rng.standard_normal(tuple(run_op(node, arrays).shape))
    gp = placeholder(G.shape, "float64", name="cotangent")
    feed[gp] = G
    cotangents = OPS[node.op].grad(node, gp)
    assert len(cotangents) == len(node.inputs)

    def f(*arrs):
        return float(np.sum(G * run_op(node, arrs)))

    for k, ct in enumerate(cotangents):
        if k in skip:
            assert ct is None, f"{node.op}: input {k} is a shape reference and gets no gradient"
            continue
        assert ct is not None, f"{node.op}: no gradient for input {k}"
        assert ct.shape == node.inputs[k].shape or all(
            a is None or a == b for a, b in zip(ct.shape, arrays[k].shape))
        (value,) = evaluate([ct], feed)
        assert value.shape == arrays[k].shape
        if full:
            expected = fd_full(f, arrays, k, eps)
            np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6,
                                       err_msg=f"{node.op} input {k}")
        else:
            for _ in range(3):
                d = rng.standard_normal(arrays[k].shape)
                np.testing.assert_allclose(np.sum(value * d), fd_directional(f, arrays, k, d),
                                           rtol=1e-6, atol=1e-6, err_msg=f"{node.op} input {k}")
    return cotangents


# -- the cases ------------------------------------------------------------------------------------

CONV_CASES = [
    # (N, H, W, C, KH, KW, O, strides, padding)
    (1, 5, 5, 1, 3, 3, 1, 1, "valid"),
    (1, 5, 5, 1, 3, 3, 1, 1, "same"),
    (2, 6, 6, 2, 3, 3, 3, 2, "same"),
    (2, 7, 7, 3, 3, 3, 2, 2, "same"),
    (3, 4, 4, 1, 1, 1, 2, 1, "valid"),
    (1, 8, 6, 2, 5, 5, 2, 3, "same"),
    (1, 8, 6, 2, 5, 3, 2, (2, 1), "same"),
    (2, 9, 7, 4, 4, 2, 3, (1, 3), "valid"),
    (1, 6, 7, 2, 2, 4, 1, (3, 2), "same"),
    (2, 5, 6, 3, 3, 3, 2, 1, 1),
    (1, 5, 4, 2, 3, 2, 2, 2, (2, 1)),
    (1, 4, 5, 1, 5, 5, 1, 1, ((2, 2), (1, 3))),
    (1, 3, 3, 2, 5, 5, 2, 1, "same"),              # kernel larger than the input, same padding
    (1, 2, 2, 1, 3, 3, 1, 3, "same"),
    (2, 1, 7, 2, 1, 3, 2, (1, 2), "valid"),          # H == 1
    (1, 6, 6, 1, 2, 2, 1, 2, "valid"),               # stride == kernel (no overlap)
    (1, 7, 7, 2, 2, 2, 2, 3, "valid"),               # stride > kernel (gaps)
    (1, 7, 5, 2, 3, 3, 2, 2, "valid"),               # (H - KH) % s != 0: rows never read
    (2, 5, 5, 4, 4, 4, 4, 1, "same"),                # even kernel, extra pad bottom/right
]


def _random_conv_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, c, o = (int(v) for v in rng.integers(1, 4, 3))
        c = int(rng.integers(1, 5))
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        strides = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, 2))
        choice = rng.integers(0, 5)
        padding = ["valid", "same", int(rng.integers(0, 3)),
                   tuple(int(v) for v in rng.integers(0, 3, 2)),
                   tuple(tuple(int(v) for v in rng.integers(0, 3, 2)) for _ in range(2))][choice]
        pads = ref_pads(padding, (h, w), (kh, kw), (strides, strides) if isinstance(strides, int) else strides)
        if h + sum(pads[0]) < kh or w + sum(pads[1]) < kw:
            continue
        cases.append((n, h, w, c, kh, kw, o, strides, padding))
    return cases


ALL_CONV_CASES = CONV_CASES + _random_conv_cases(45, seed=7)


def _case_id(case):
    return "-".join(str(v).replace(" ", "") for v in case)


def _strides2(s):
    return (s, s) if isinstance(s, int) else tuple(s)


def _conv_graph(case, dtype="float64", static=True):
    n, h, w, c, kh, kw, o, strides, padding = case
    xshape = (n, h, w, c) if static else (None, None, None, c)
    x = placeholder(xshape, dtype, name="img")
    k = placeholder((kh, kw, c, o), dtype, name="kern")
    return x, k, conv.conv2d(x, k, strides=strides, padding=padding)


def _conv_arrays(case, rng, dtype=np.float64):
    n, h, w, c, kh, kw, o, _, _ = case
    return (rng.standard_normal((n, h, w, c)).astype(dtype),
            rng.standard_normal((kh, kw, c, o)).astype(dtype))


# -- conv2d: values and shapes --------------------------------------------------------------------

@pytest.mark.parametrize("case", ALL_CONV_CASES, ids=_case_id)
def test_conv2d_value_and_shape(case):
    rng = np.random.default_rng(0)
    x, k, y = _conv_graph(case)
    X, W = _conv_arrays(case, rng)
    (value,) = evaluate([y], {x: X, k: W})
    n, h, w, c, kh, kw, o, strides, padding = case
    pads = ref_pads(padding, (h, w), (kh, kw), _strides2(strides))
    expected = ref_conv2d(X, W, _strides2(strides), pads)
    assert y.shape == expected.shape == value.shape
    assert value.dtype == y.dtype == np.float64
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-10)
    assert y.attrs["strides"] == _strides2(strides)
    assert y.attrs["pads"] == pads


@pytest.mark.parametrize("case", ALL_CONV_CASES[::3], ids=_case_id)
def test_conv2d_symbolic_sizes(case):
    """Unknown N, H, W: "same" stays symbolic and is resolved at run time to the same value."""
    rng = np.random.default_rng(1)
    x, k, y = _conv_graph(case, static=False)
    n, h, w, c, kh, kw, o, strides, padding = case
    assert y.shape == (None, None, None, o)
    if padding == "same":
        assert y.attrs["pads"] == "same"
    X, W = _conv_arrays(case, rng)
    (value,) = evaluate([y], {x: X, k: W})
    expected = ref_conv2d(X, W, _strides2(strides), ref_pads(padding, (h, w), (kh, kw), _strides2(strides)))
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-10)


def test_conv2d_same_partially_known_shape():
    x = placeholder((None, 9, None, 2), "float32", name="img")
    k = placeholder((3, 3, 2, 5), "float32", name="kern")
    y = conv.conv2d(x, k, strides=2, padding="same")
    assert y.shape == (None, 5, None, 5)
    assert y.attrs["pads"] == "same"


@pytest.mark.parametrize("n,k,s,expected", [
    (5, 3, 2, (1, 1)), (6, 3, 2, (0, 1)), (7, 4, 1, (1, 2)), (4, 1, 3, (0, 0)),
    (28, 3, 1, (1, 1)), (28, 2, 2, (0, 0)), (3, 5, 1, (2, 2)), (2, 3, 3, (0, 1)),
])
def test_same_padding_matches_tensorflow(n, k, s, expected):
    x = placeholder((1, n, n, 1), "float32", name="img")
    w = placeholder((k, k, 1, 1), "float32", name="kern")
    y = conv.conv2d(x, w, strides=s, padding="same")
    assert y.attrs["pads"] == (expected, expected)
    assert y.shape[1] == math.ceil(n / s)


def test_conv2d_float32_mnist_shapes():
    rng = np.random.default_rng(2)
    x = placeholder((None, 28, 28, 1), "float32", name="img")
    k = placeholder((3, 3, 1, 32), "float32", name="kern")
    y = conv.conv2d(x, k, padding="same")
    assert y.shape == (None, 28, 28, 32) and y.dtype == np.float32
    X = rng.standard_normal((2, 28, 28, 1)).astype(np.float32)
    W = rng.standard_normal((3, 3, 1, 32)).astype(np.float32)
    (value,) = evaluate([y], {x: X, k: W})
    assert value.dtype == np.float32 and value.shape == (2, 28, 28, 32)
    expected = ref_conv2d(X[:1, :8, :8].astype(np.float64), W.astype(np.float64), (1, 1), ((1, 1), (1, 1)))
    # the top-left 7x7 corner does not depend on the cut at 8
    np.testing.assert_allclose(value[:1, :7, :7], expected[:, :7, :7], rtol=1e-4, atol=1e-4)


# -- conv2d: build-time errors ---------------------------------------------------------------------

def _expect(exc, fn, *words):
    with pytest.raises(exc) as info:
        fn()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def test_conv2d_errors():
    img = placeholder((2, 8, 8, 3), "float32", name="img")
    kern = placeholder((3, 3, 3, 4), "float32", name="kern")
    _expect(ShapeError, lambda: conv.conv2d(placeholder((8, 8, 3), "float32", name="img3"), kern),
            "conv2d", "img3", "kern", "(8, 8, 3)")
    _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 3, 3), "float32", name="k3")),
            "conv2d", "img", "k3", "(3, 3, 3)")
    msg = _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 3, 2, 4), "float32", name="k2")),
                  "conv2d", "img", "k2", "channels")
    assert "(2, 8, 8, 3)" in msg and "(3, 3, 2, 4)" in msg
    _expect(ShapeError, lambda: conv.conv2d(img, placeholder((9, 3, 3, 4), "float32", name="big")),
            "conv2d", "img", "big", "larger")
    _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 11, 3, 4), "float32", name="wide"), padding=1),
            "conv2d", "img", "wide", "width")
    # padding makes it fit
    assert conv.conv2d(img, placeholder((9, 3, 3, 4), "float32", name="big"), padding=1).shape == (2, 2, 8, 4)
    _expect(DTypeError, lambda: conv.conv2d(placeholder((2, 8, 8, 3), "int32", name="ints"), kern),
            "conv2d", "ints", "float")
    _expect(DTypeError, lambda: conv.conv2d(img, placeholder((3, 3, 3, 4), "float64", name="k64")),
            "conv2d", "img", "k64", "dtype")
    for bad in (dict(strides=0), dict(strides=(1, 2, 3)), dict(padding="full"), dict(padding=-1),
                dict(padding=(1, 2, 3))):
        with pytest.raises(ValueError, match="conv2d"):
            conv.conv2d(img, kern, **bad)
    for bad in (dict(strides=1.5), dict(padding=1.5), dict(strides=(1, True))):   # not integers
        with pytest.raises(TypeError, match="conv2d: (strides|padding)"):
            conv.conv2d(img, kern, **bad)


def test_backprop_op_errors():
    img = placeholder((2, 8, 8, 3), "float32", name="img")
    kern = placeholder((3, 3, 3, 4), "float32", name="kern")
    y = conv.conv2d(img, kern)
    from graphc.ir.opdef import apply
    _expect(DTypeError, lambda: apply("conv2d_backprop_input", [placeholder(y.shape, "float64", name="g64"), kern, img],
                                      **y.attrs), "conv2d_backprop_input", "g64")
    _expect(ShapeError, lambda: apply("conv2d_backprop_filter", [img, placeholder((2, 6), "float32", name="flat"), kern],
                                      **y.attrs), "conv2d_backprop_filter", "flat")


# -- conv2d: gradients -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", ALL_CONV_CASES, ids=_case_id)
def test_conv2d_gradients(case):
    rng = np.random.default_rng(3)
    x, k, y = _conv_graph(case)
    X, W = _conv_arrays(case, rng)
    gx, gw = check_vjp(y, [X, W], rng)
    assert gx.op == "conv2d_backprop_input" and gw.op == "conv2d_backprop_filter"


@pytest.mark.parametrize("case", ALL_CONV_CASES, ids=_case_id)
def test_conv2d_second_order(case):
    """The backprop ops' own gradient rules (what second derivatives are made of)."""
    rng = np.random.default_rng(4)
    x, k, y = _conv_graph(case)
    X, W = _conv_arrays(case, rng)
    g = placeholder(y.shape, "float64", name="g")
    G = rng.standard_normal(y.shape)
    bin_, bfl = OPS["conv2d"].grad(y, g)
    check_vjp(bin_, [G, W, X], rng, skip=(2,))
    check_vjp(bfl, [X, G, W], rng, skip=(2,))


@pytest.mark.parametrize("case", CONV_CASES[:6] + [CONV_CASES[9], CONV_CASES[11]], ids=_case_id)
def test_conv2d_gradients_elementwise_fd(case):
    rng = np.random.default_rng(5)
    x, k, y = _conv_graph(case)
    X, W = _conv_arrays(case, rng)
    check_vjp(y, [X, W], rng, full=True)
    G = rng.standard_normal(y.shape)
    bin_, bfl = OPS["conv2d"].grad(y, placeholder(y.shape, "float64", name="g"))
    check_vjp(bin_, [G, W, X], rng, full=True, skip=(2,))
    check_vjp(bfl, [X, G, W], rng, full=True, skip=(2,))


@pytest.mark.parametrize("case", ALL_CONV_CASES[::4], ids=_case_id)
def test_conv2d_gradients_symbolic_same(case):
    """Gradient graphs built with unknown spatial sizes compute the same values."""
    rng = np.random.default_rng(6)
    xs, ks, ys = _conv_graph(case, static=True)
    xd, kd, yd = _conv_graph(case, static=False)
    X, W = _conv_arrays(case, rng)
    G = rng.standard_normal(run_op(ys, [X, W]).shape)
    gs, gd = placeholder(G.shape, "float64"), placeholder((None, None, None, G.shape[3]), "float64")
    static = evaluate(OPS["conv2d"].grad(ys, gs), {xs: X, ks: W, gs: G})
    dynamic = evaluate(OPS["conv2d"].grad(yd, gd), {xd: X, kd: W, gd: G})
    for a, b in zip(static, dynamic):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# -- conv2d: dilation and groups --------------------------------------------------------------------

DG_CASES = [
    # (N, H, W, C, KH, KW, O, strides, padding, dilations, groups)
    (1, 7, 7, 1, 3, 3, 1, 1, "valid", 2, 1),
    (2, 8, 9, 2, 3, 3, 3, 1, "same", 2, 1),
    (1, 9, 8, 2, 3, 2, 2, 1, "same", (3, 2), 1),           # odd/even effective windows (7, 3)
    (1, 9, 9, 1, 2, 2, 2, 1, "same", 3, 1),                # even kernel, dilated: span 4
    (1, 6, 7, 2, 3, 3, 2, 2, "same", 2, 1),                # strides and dilation together
    (2, 7, 6, 3, 2, 3, 2, (2, 1), 1, (1, 2), 1),
    (1, 5, 5, 2, 3, 3, 2, 1, ((2, 1), (0, 3)), 2, 1),
    (1, 3, 3, 1, 3, 3, 1, 1, "same", 2, 1),                # span 5 > input 3 with SAME padding
    (2, 6, 6, 4, 3, 3, 6, 1, "valid", 1, 2),               # grouped
    (1, 7, 6, 6, 3, 2, 3, 1, "same", 1, 3),                # one filter per group
    (2, 6, 7, 6, 2, 2, 6, (2, 1), "same", 1, 2),
    (1, 8, 8, 4, 3, 3, 8, 1, "same", 2, 4),                # groups = C: depthwise, multiplier 2
    (2, 5, 6, 3, 3, 3, 3, 1, "same", 1, 3),                # depthwise, multiplier 1
    (1, 9, 7, 3, 2, 3, 6, 2, "valid", 1, 3),               # depthwise, strided
    (1, 9, 9, 4, 3, 3, 4, 1, 2, (2, 1), 2),                # everything at once
    (1, 4, 4, 8, 1, 1, 4, 1, "valid", 1, 4),               # 1x1 grouped (a block-diagonal GEMM)
]


def _random_dg_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.integers(1, 3))
        groups = int(rng.choice([1, 2, 3, 4]))
        c = groups * int(rng.integers(1, 3))
        o = groups * int(rng.integers(1, 3))
        h, w = (int(v) for v in rng.integers(1, 11, 2))
        kh, kw = (int(v) for v in rng.integers(1, 4, 2))
        dil = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, 2))
        strides = int(rng.integers(1, 3)) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = ["valid", "same", int(rng.integers(0, 3))][rng.integers(0, 3)]
        span = tuple((k - 1) * d + 1 for k, d in zip((kh, kw), _strides2(dil)))
        pads = ref_pads(padding, (h, w), span, _strides2(strides))
        if h + sum(pads[0]) < span[0] or w + sum(pads[1]) < span[1]:
            continue
        cases.append((n, h, w, c, kh, kw, o, strides, padding, dil, groups))
    return cases


ALL_DG_CASES = DG_CASES + _random_dg_cases(40, seed=17)


def _dg_graph(case, static=True):
    n, h, w, c, kh, kw, o, strides, padding, dil, groups = case
    x = placeholder((n, h, w, c) if static else (None, None, None, c), "float64", name="img")
    k = placeholder((kh, kw, c // groups, o), "float64", name="kern")
    return x, k, conv.conv2d(x, k, strides=strides, padding=padding, dilations=dil, groups=groups)


def _dg_arrays(case, rng):
    n, h, w, c, kh, kw, o, _, _, _, groups = case
    return rng.standard_normal((n, h, w, c)), rng.standard_normal((kh, kw, c // groups, o))


def _dg_reference(case, X, W):
    n, h, w, c, kh, kw, o, strides, padding, dil, groups = case
    span = tuple((k - 1) * d + 1 for k, d in zip((kh, kw), _strides2(dil)))
    pads = ref_pads(padding, (h, w), span, _strides2(strides))
    return ref_conv2d(X, W, _strides2(strides), pads, _strides2(dil), groups), pads


@pytest.mark.parametrize("case", ALL_DG_CASES, ids=_case_id)
def test_conv2d_dilated_grouped_value_and_shape(case):
    rng = np.random.default_rng(20)
    x, k, y = _dg_graph(case)
    X, W = _dg_arrays(case, rng)
    (value,) = evaluate([y], {x: X, k: W})
    expected, pads = _dg_reference(case, X, W)
    assert y.shape == expected.shape == value.shape
    np.testing.assert_allclose(value, expected, rtol=1e-10, atol=1e-10)
    assert y.attrs["pads"] == pads
    assert y.attrs["dilations"] == _strides2(case[9]) and y.attrs["groups"] == case[10]


@pytest.mark.parametrize("case", ALL_DG_CASES[::3], ids=_case_id)
def test_conv2d_dilated_grouped_symbolic_sizes(case):
    """Unknown N, H, W: SAME padding with dilation is resolved at run time from the span."""
    rng = np.random.default_rng(21)
    x, k, y = _dg_graph(case, static=False)
    X, W = _dg_arrays(case, rng)
    if case[8] == "same":
        assert y.attrs["pads"] == "same"
    (value,) = evaluate([y], {x: X, k: W})
    np.testing.assert_allclose(value, _dg_reference(case, X, W)[0], rtol=1e-10, atol=1e-10)
    G = rng.standard_normal(value.shape)
    xs, ks, ys = _dg_graph(case)
    gs, gd = placeholder(G.shape, "float64"), placeholder((None, None, None, G.shape[3]), "float64")
    static = evaluate(OPS["conv2d"].grad(ys, gs), {xs: X, ks: W, gs: G})
    dynamic = evaluate(OPS["conv2d"].grad(y, gd), {x: X, k: W, gd: G})
    for a, b in zip(static, dynamic):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ALL_DG_CASES, ids=_case_id)
def test_conv2d_dilated_grouped_gradients(case):
    """First order (conv2d's rule) and the backprop ops' own rules (second order), by finite
    differences along random directions; the attributes travel to every gradient node."""
    rng = np.random.default_rng(22)
    x, k, y = _dg_graph(case)
    X, W = _dg_arrays(case, rng)
    gx, gw = check_vjp(y, [X, W], rng)
    for node in (gx, gw):
        assert {key: node.attrs[key] for key in ("dilations", "groups")} == \
            {"dilations": y.attrs["dilations"], "groups": y.attrs["groups"]}
    G = rng.standard_normal(y.shape)
    bin_, bfl = OPS["conv2d"].grad(y, placeholder(y.shape, "float64", name="g"))
    for second in check_vjp(bin_, [G, W, X], rng, skip=(2,)) + check_vjp(bfl, [X, G, W], rng, skip=(2,)):
        assert second is None or second.attrs["groups"] == y.attrs["groups"]


@pytest.mark.parametrize("case", DG_CASES[::2], ids=_case_id)
def test_conv2d_dilated_grouped_gradients_elementwise_fd(case):
    rng = np.random.default_rng(23)
    x, k, y = _dg_graph(case)
    X, W = _dg_arrays(case, rng)
    check_vjp(y, [X, W], rng, full=True)
    G = rng.standard_normal(y.shape)
    bin_, bfl = OPS["conv2d"].grad(y, placeholder(y.shape, "float64", name="g"))
    check_vjp(bin_, [G, W, X], rng, full=True, skip=(2,))
    check_vjp(bfl, [X, G, W], rng, full=True, skip=(2,))


def test_conv2d_dilated_grouped_through_check_grad_and_second_order():
    """gc.check_grad on a dilated grouped conv, then grad of |grad|^2 (what the second
    derivatives are made of) against finite differences of the compiled first gradient."""
    rng = np.random.default_rng(24)
    x = placeholder((2, 7, 6, 4), "float64", name="img")
    k = placeholder((3, 2, 2, 4), "float64", name="kern")
    X, W = rng.standard_normal((2, 7, 6, 4)), rng.standard_normal((3, 2, 2, 4))
    y = gc.nn.conv2d(x, k, strides=1, padding="same", dilation_rate=(2, 3), groups=2)
    loss = gc.reduce_sum(gc.tanh(y) * gc.constant(rng.standard_normal(y.shape)))
    gc.check_grad(loss, [x, k], {x: X, k: W})
    gx, gk = gc.grad(loss, [x, k])
    first = gc.function([x, k], [gx, gk])
    hx, hk = gc.grad(gc.reduce_sum(gx * gx) + gc.reduce_sum(gk * gk), [x, k])
    second = gc.function([x, k], [hx, hk])

    def loss2_np(Xa, Wa):
        a, b = first(Xa, Wa)
        return float(np.sum(a * a) + np.sum(b * b))

    hxv, hkv = second(X, W)
    np.testing.assert_allclose(hkv, fd_full(loss2_np, [X, W], 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hxv, fd_full(loss2_np, [X, W], 0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mult,strides,padding,dil", [(1, 1, "same", 1), (2, 1, "valid", 2),
                                                      (3, (2, 1), "same", 1), (1, 1, "same", (1, 2))])
def test_depthwise_conv2d(mult, strides, padding, dil):
    """depthwise_conv2d = each channel convolved alone with its own filters; output channel
    c·M + m is channel c's filter m (TensorFlow's and Keras' order)."""
    rng = np.random.default_rng(25)
    X, W = rng.standard_normal((2, 7, 8, 3)), rng.standard_normal((3, 3, 3, mult))
    x = placeholder((None, 7, 8, 3), "float64", name="img")
    k = placeholder((3, 3, 3, mult), "float64", name="kern")
    y = conv.depthwise_conv2d(x, k, strides=strides, padding=padding, dilations=dil)
    assert y.op == "conv2d" and y.attrs["groups"] == 3 and y.shape[3] == 3 * mult
    (value,) = evaluate([y], {x: X, k: W})
    span = tuple((3 - 1) * d + 1 for d in _strides2(dil))
    pads = ref_pads(padding, (7, 8), span, _strides2(strides))
    for c in range(3):
        alone = ref_conv2d(X[..., c:c + 1], W[:, :, c:c + 1, :], _strides2(strides), pads, _strides2(dil))
        np.testing.assert_allclose(value[..., c * mult:(c + 1) * mult], alone, rtol=1e-10, atol=1e-10)
    with pytest.raises(ShapeError, match=r"depthwise_conv2d: channels differ.*expects 3"):
        conv.depthwise_conv2d(placeholder((1, 7, 8, 4), "float64", name="four"), k)


def test_conv2d_dilation_and_group_errors():
    img = placeholder((2, 8, 8, 6), "float32", name="img")
    msg = _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 3, 4, 6), "float32", name="k4"), groups=2),
                  "conv2d", "img", "k4", "groups=2", "4·2 = 8")
    assert "(2, 8, 8, 6)" in msg and "C_in/groups" in msg
    _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 3, 2, 5), "float32", name="k5"), groups=3),
            "conv2d", "k5", "5 filters", "not divisible by groups=3")
    _expect(ShapeError, lambda: conv.conv2d(img, placeholder((3, 3, 6, 4), "float32", name="k3"), dilations=4),
            "conv2d", "img", "k3", "height", "dilated: (3 - 1)·4 + 1", "larger")
    # SAME padding makes the dilated window fit; output ceil(H / s)
    same = conv.conv2d(img, placeholder((3, 3, 6, 4), "float32", name="k3"), padding="same", dilations=4)
    assert same.shape == (2, 8, 8, 4) and same.attrs["pads"] == ((4, 4), (4, 4))
    for bad in (dict(dilations=0), dict(dilations=(1, 2, 3)), dict(groups=0),
                dict(dilations=2, dilation_rate=3)):
        with pytest.raises(ValueError, match="conv2d"):
            conv.conv2d(img, placeholder((3, 3, 6, 4), "float32", name="kern"), **bad)
    with pytest.raises(TypeError, match="conv2d: groups must be an integer"):
        conv.conv2d(img, placeholder((3, 3, 6, 4), "float32", name="kern"), groups=1.5)
    from graphc.ir.opdef import apply
    y = conv.conv2d(img, placeholder((3, 3, 3, 4), "float32", name="kg"), groups=2)
    _expect(ShapeError, lambda: apply("conv2d_backprop_input", [placeholder(y.shape, "float32", name="g"),
                                      placeholder((3, 3, 2, 4), "float32", name="k2"), img], **y.attrs),
            "conv2d_backprop_input", "x_ref", "k2", "groups=2")
    _expect(ShapeError, lambda: apply("conv2d", [img, placeholder((3, 3, 6, 4), "float32", name="kern")],
                                      strides=(1, 1), pads=((0, 0), (0, 0))),
            "conv2d", "dilations")


def test_conv2d_defaults_carry_unit_dilation_and_one_group():
    y = conv.conv2d(placeholder((1, 5, 5, 2), "float32"), placeholder((3, 3, 2, 4), "float32"))
    assert y.attrs == {"strides": (1, 1), "pads": ((0, 0), (0, 0)), "dilations": (1, 1), "groups": 1}


# -- pooling --------------------------------------------------------------------------------------------

POOL_CASES = [
    # (N, H, W, C, pool_size, strides, padding)
    (1, 4, 4, 1, 2, None, "valid"),
    (2, 5, 5, 2, 2, None, "valid"),
    (2, 5, 5, 2, 2, None, "same"),
    (1, 7, 6, 3, 3, 2, "same"),
    (1, 7, 6, 3, 3, 1, "same"),
    (3, 6, 7, 1, (2, 3), (1, 2), "same"),
    (1, 6, 7, 2, (3, 2), (2, 1), "valid"),
    (2, 8, 8, 4, 3, 3, "same"),
    (1, 3, 3, 1, 3, 1, "same"),
    (1, 9, 9, 2, 4, 2, "same"),
    (1, 5, 5, 1, 1, 1, "valid"),
    (1, 2, 2, 1, 5, 2, "same"),           # window larger than the input
    (1, 6, 5, 2, 3, 2, 1),                # explicit padding (valid cells only in the average)
    (2, 5, 6, 1, (2, 3), 1, ((1, 0), (0, 2))),
]


def _random_pool_cases(count, seed):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        h, w = (int(v) for v in rng.integers(1, 10, 2))
        pool = int(rng.integers(1, 5)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 5, 2))
        strides = [None, int(rng.integers(1, 4)), tuple(int(v) for v in rng.integers(1, 4, 2))][rng.integers(0, 3)]
        padding = ["valid", "same"][rng.integers(0, 2)]
        p2 = _strides2(pool)
        if padding == "valid" and (h < p2[0] or w < p2[1]):
            continue
        cases.append((n, h, w, c, pool, strides, padding))
    return cases


ALL_POOL_CASES = POOL_CASES + _random_pool_cases(30, seed=11)


def _pool_params(case):
    n, h, w, c, pool, strides, padding = case
    p2 = _strides2(pool)
    s2 = p2 if strides is None else _strides2(strides)
    return p2, s2, ref_pads(padding, (h, w), p2, s2)


def _distinct(shape, rng):
    """Values with no ties and gaps of 0.1 (finite differences never cross an arg-max)."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * 0.1 - size * 0.05).astype(np.float64)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", ALL_POOL_CASES, ids=_case_id)
def test_pool_value_and_shape(kind, case):
    rng = np.random.default_rng(8)
    n, h, w, c, pool, strides, padding = case
    x = placeholder((n, h, w, c), "float64", name="img")
    build = conv.max_pool2d if kind == "max" else conv.avg_pool2d
    y = build(x, pool, strides, padding)
    p2, s2, pads = _pool_params(case)
    X = rng.standard_normal((n, h, w, c))
    (value,) = evaluate([y], {x: X})
    expected = (ref_max_pool if kind == "max" else ref_avg_pool)(X, p2, s2, pads)
    assert y.shape == value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    if padding == "same":
        assert y.shape[1:3] == (math.ceil(h / s2[0]), math.ceil(w / s2[1]))
    # unknown sizes: the same values, "same" resolved at run time
    xd = placeholder((None, None, None, c), "float64", name="img")
    yd = build(xd, pool, strides, padding)
    assert yd.shape == (None, None, None, c)
    np.testing.assert_allclose(evaluate([yd], {xd: X})[0], expected, rtol=1e-12, atol=1e-12)


def test_avg_pool_same_counts_only_valid_cells():
    """TensorFlow: avg_pool2d(ones, 3, 2, 'same') is all ones; padding is not averaged in."""
    x = placeholder((1, 4, 4, 1), "float32", name="img")
    X = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = conv.avg_pool2d(x, 3, 2, "same")  # pads ((0, 1), (0, 1))
    (value,) = evaluate([y], {x: X})
    expected = np.array([[5.0, 6.5], [11.0, 12.5]], np.float32)  # tf.nn.avg_pool2d's values
    np.testing.assert_allclose(value[0, :, :, 0], expected)
    (ones,) = evaluate([y], {x: np.ones_like(X)})
    np.testing.assert_allclose(ones, 1.0)
    assert value.dtype == np.float32


def test_max_pool_same_padding_never_wins():
    x = placeholder((1, 3, 3, 1), "float32", name="img")
    X = -np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1) * 100
    (value,) = evaluate([conv.max_pool2d(x, 2, 2, "same")], {x: X})
    np.testing.assert_array_equal(value[0, :, :, 0], [[-100, -300], [-700, -900]])


def test_max_pool_grad_ties_go_to_first_cell():
    x = placeholder((1, 4, 4, 1), "float64", name="img")
    X = np.array([[1, 1, 0, 2],
                  [1, 1, 2, 2],
                  [3, 0, 5, 5],
                  [0, 3, 5, 5]], np.float64).reshape(1, 4, 4, 1)
    y = conv.max_pool2d(x, 2)
    g = placeholder(y.shape, "float64", name="g")
    (dx,) = OPS["max_pool2d"].grad(y, g)
    assert dx.op == "max_pool2d_grad"
    G = np.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 2, 2, 1)
    (value,) = evaluate([dx], {x: X, g: G})
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 3], expected[2, 0], expected[2, 2] = 10, 20, 30, 40
    np.testing.assert_array_equal(value[0, :, :, 0], expected)


def test_max_pool_grad_overlapping_windows_add():
    x = placeholder((1, 3, 3, 1), "float64", name="img")
    X = np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]], np.float64).reshape(1, 3, 3, 1)
    y = conv.max_pool2d(x, 2, 1)  # four windows, all with the centre as the max
    g = placeholder(y.shape, "float64", name="g")
    (dx,) = OPS["max_pool2d"].grad(y, g)
    (value,) = evaluate([dx], {x: X, g: np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)})
    assert value[0, 1, 1, 0] == 10 and np.count_nonzero(value) == 1


@pytest.mark.parametrize("case", ALL_POOL_CASES, ids=_case_id)
def test_max_pool_grad_value_with_ties(case):
    """Integer-valued inputs (many ties) against the reference's first-arg-max routing."""
    rng = np.random.default_rng(9)
    n, h, w, c, pool, strides, padding = case
    x = placeholder((n, h, w, c), "float64", name="img")
    y = conv.max_pool2d(x, pool, strides, padding)
    p2, s2, pads = _pool_params(case)
    X = rng.integers(0, 3, (n, h, w, c)).astype(np.float64)
    G = rng.standard_normal(y.shape)
    g = placeholder(y.shape, "float64", name="g")
    (dx,) = OPS["max_pool2d"].grad(y, g)
    (value,) = evaluate([dx], {x: X, g: G})
    np.testing.assert_allclose(value, ref_max_pool_grad(X, G, p2, s2, pads), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool", [2, 3])
@pytest.mark.parametrize("split", [False, True])
def test_max_pool_grad_non_finite_cotangent(pool, split, monkeypatch):
    """Non-overlapping windows with ties and ±inf in the cotangent: inf reaches only its
    window's first arg-max cell, every other cell is exactly 0 (no inf·0 = nan); with ``split``
    the batch is shared over the kernel threads."""
    if split:
        monkeypatch.setattr(pool_kernels, "PARALLEL_MIN_ELEMENTS", 1)
    rng = np.random.default_rng(11)
    n, c = 6, 3
    X = rng.integers(0, 2, (n, 2 * pool, 3 * pool, c)).astype(np.float64)
    G = rng.standard_normal((n, 2, 3, c))
    G[0, 0, 0, 0], G[3, 1, 2, 1], G[5, 0, 1, 2] = np.inf, -np.inf, np.inf
    value = pool_kernels.nn_max_pool2d_grad(X, None, G, (pool, pool), (pool, pool), ((0, 0), (0, 0)))
    want = ref_max_pool_grad(X, G, (pool, pool), (pool, pool), ((0, 0), (0, 0)))
    assert not np.isnan(value).any()
    np.testing.assert_array_equal(value, want)


@pytest.mark.parametrize("pool", [(2, 2), (3, 2), (1, 3)])
@pytest.mark.parametrize("split", [False, True])
def test_max_pool_grad_from_pooled_values(pool, split, monkeypatch):
    """Windows tiling x exactly, distinct values: routed by comparing x with the pooled output
    (_route_by_pooled), never by the tap-by-tap path; the same cells as the reference. With
    ``split`` the batch is shared over the kernel threads."""
    if split:
        monkeypatch.setattr(pool_kernels, "PARALLEL_MIN_ELEMENTS", 1)
    taps = []
    monkeypatch.setattr(pool_kernels, "_route_to_first_max", lambda *a: taps.append(a))
    rng = np.random.default_rng(12)
    n, c = 6, 5
    X = _distinct((n, 2 * pool[0], 3 * pool[1], c), rng).astype(np.float32)
    G = rng.standard_normal((n, 2, 3, c)).astype(np.float32)
    Y = pool_kernels.nn_max_pool2d(X, pool, pool, ((0, 0), (0, 0)))
    value = pool_kernels.nn_max_pool2d_grad(X, Y, G, pool, pool, ((0, 0), (0, 0)))
    np.testing.assert_array_equal(value, ref_max_pool_grad(X, G, pool, pool, ((0, 0), (0, 0))))
    assert value.dtype == np.float32 and taps == []


@pytest.mark.parametrize("pool", [(2, 2), (3, 2)])
@pytest.mark.parametrize("values", ["ties", "ties and nan", "constant"])
def test_max_pool_grad_from_pooled_values_with_ties(pool, values, monkeypatch):
    """Ties (integer values, or a constant image as a zero background gives after a
    convolution) and NaN windows on the pooled-values path: ties go to the first cell, a NaN
    window routes nothing, as the tap-by-tap path does; every cell as the reference."""
    taps = []
    monkeypatch.setattr(pool_kernels, "_route_to_first_max", lambda *a: taps.append(a))
    rng = np.random.default_rng(13)
    n, c = 4, 3
    shape = (n, 2 * pool[0], 3 * pool[1], c)
    X = np.full(shape, 0.25) if values == "constant" else rng.integers(0, 3, shape).astype(np.float64)
    G = rng.standard_normal((n, 2, 3, c))
    want_input = X.copy()
    if values == "ties and nan":
        X[2, 1, 1, 0] = np.nan                                    # window (0, 0) of image 2
        want_input[2, :pool[0], :pool[1], 0] = -np.inf            # matches and routes nothing
    Y = pool_kernels.nn_max_pool2d(X, pool, pool, ((0, 0), (0, 0)))
    value = pool_kernels.nn_max_pool2d_grad(X, Y, G, pool, pool, ((0, 0), (0, 0)))
    want = ref_max_pool_grad(want_input, G, pool, pool, ((0, 0), (0, 0)))
    if values == "ties and nan":
        want[2, :pool[0], :pool[1], 0] = 0.0
    np.testing.assert_array_equal(value, want)
    assert taps == []


@pytest.mark.parametrize("case", ALL_POOL_CASES, ids=_case_id)
def test_avg_pool_grad_value(case):
    rng = np.random.default_rng(10)
    n, h, w, c, pool, strides, padding = case
    x = placeholder((n, h, w, c), "float64", name="img")
    y = conv.avg_pool2d(x, pool, strides, padding)
    p2, s2, pads = _pool_params(case)
    G = rng.standard_normal(y.shape)
    g = placeholder(y.shape, "float64", name="g")
    (dx,) = OPS["avg_pool2d"].grad(y, g)
    assert dx.op == "avg_pool2d_grad"
    (value,) = evaluate([dx], {x: rng.standard_normal((n, h, w, c)), g: G})
    np.testing.assert_allclose(value, ref_avg_pool_grad((n, h, w, c), G, p2, s2, pads), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ALL_POOL_CASES, ids=_case_id)
def test_pool_gradients_fd(case):
    """First and second order: max_pool2d, max_pool2d_grad, max_pool2d_select, avg_pool2d,
    avg_pool2d_grad against finite differences (distinct inputs: no arg-max ties)."""
    rng = np.random.default_rng(12)
    n, h, w, c, pool, strides, padding = case
    x = placeholder((n, h, w, c), "float64", name="img")
    X = _distinct((n, h, w, c), rng)
    full = int(np.prod(X.shape)) <= 80

    ymax = conv.max_pool2d(x, pool, strides, padding)
    (mgrad,) = check_vjp(ymax, [X], rng, full=full)
    G = rng.standard_normal(ymax.shape)
    # max_pool2d_grad(x, out, g): gradient only through g (a gather at the arg-max cells)
    cts = check_vjp(mgrad, [X, run_op(ymax, [X]), G], rng, full=full, skip=(0, 1))
    select = cts[2]
    assert select.op == "max_pool2d_select"
    check_vjp(select, [X, rng.standard_normal(X.shape)], rng, full=full, skip=(0,))

    yavg = conv.avg_pool2d(x, pool, strides, padding)
    (agrad,) = check_vjp(yavg, [X], rng, full=full)
    check_vjp(agrad, [rng.standard_normal(yavg.shape), X], rng, full=full, skip=(1,))


def test_pool_errors():
    img = placeholder((2, 8, 8, 3), "float32", name="img")
    _expect(ShapeError, lambda: conv.max_pool2d(placeholder((8, 8, 3), "float32", name="img3")),
            "max_pool2d", "img3", "(8, 8, 3)")
    _expect(ShapeError, lambda: conv.avg_pool2d(img, 9), "avg_pool2d", "img", "larger")
    _expect(DTypeError, lambda: conv.max_pool2d(placeholder((1, 4, 4, 1), "int64", name="ints")),
            "max_pool2d", "ints", "float")
    for bad in (dict(pool_size=0), dict(strides=(1, 0)), dict(padding="full"), dict(padding=2)):
        with pytest.raises(ValueError, match="avg_pool2d"):
            conv.avg_pool2d(img, **bad)
    y = conv.max_pool2d(img, 3, padding="same")
    assert y.shape == (2, 3, 3, 3) and y.attrs["strides"] == (3, 3)
    assert conv.avg_pool2d(img).shape == (2, 4, 4, 3)


# -- through autodiff and the compiler ------------------------------------------------------------

def test_conv_through_autodiff_and_function():
    total = gc.reduce_sum
    rng = np.random.default_rng(13)
    x = placeholder((2, 7, 6, 2), "float64", name="img")
    k = placeholder((3, 2, 2, 3), "float64", name="kern")
    X, W = rng.standard_normal((2, 7, 6, 2)), rng.standard_normal((3, 2, 2, 3))
    y = conv.conv2d(x, k, strides=(2, 1), padding="same")
    z = conv.avg_pool2d(conv.max_pool2d(y * y, 2, 1, "same"), 2, padding="same")
    loss = total(z * z)
    gx, gk = autodiff.grad(loss, [x, k])
    f = gc.function([x, k], [loss, gx, gk])
    lval, gxv, gkv = f(X, W)

    def loss_np(Xa, Wa):
        yy = ref_conv2d(Xa, Wa, (2, 1), ref_pads("same", (7, 6), (3, 2), (2, 1)))
        m = ref_max_pool(yy * yy, (2, 2), (1, 1), ref_pads("same", yy.shape[1:3], (2, 2), (1, 1)))
        a = ref_avg_pool(m, (2, 2), (2, 2), ref_pads("same", m.shape[1:3], (2, 2), (2, 2)))
        return float(np.sum(a * a))

    np.testing.assert_allclose(lval, loss_np(X, W), rtol=1e-10)
    np.testing.assert_allclose(gkv, fd_full(loss_np, [X, W], 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gxv, fd_full(loss_np, [X, W], 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimize", [False, True], ids=["unoptimized", "optimized"])
def test_conv_second_order_through_autodiff(optimize):
    """grad of |grad|^2 through conv2d, max_pool2d and avg_pool2d (uses conv2d_backprop_*'s,
    max_pool2d_grad's and avg_pool2d_grad's own rules) vs finite differences of the compiled
    first-order gradient."""
    rng = np.random.default_rng(15)
    x = placeholder((2, 6, 5, 2), "float64", name="img")
    k = placeholder((3, 3, 2, 2), "float64", name="kern")
    X, W = rng.standard_normal((2, 6, 5, 2)), rng.standard_normal((3, 3, 2, 2))
    y = gc.nn.conv2d(x, k, strides=(1, 2), padding="same")
    z = gc.nn.avg_pool2d(gc.nn.max_pool2d(y, 2, 1, "same"), 2, padding="same")
    loss = gc.reduce_sum(z * z * z)
    gx, gk = autodiff.grad(loss, [x, k])
    first = gc.function([x, k], [gx, gk], optimize=optimize)
    loss2 = gc.reduce_sum(gx * gx) + gc.reduce_sum(gk * gk)
    hx, hk = autodiff.grad(loss2, [x, k])
    second = gc.function([x, k], [hx, hk], optimize=optimize)

    def loss2_np(Xa, Wa):
        a, b = first(Xa, Wa)
        return float(np.sum(a * a) + np.sum(b * b))

    hxv, hkv = second(X, W)
    np.testing.assert_allclose(hkv, fd_full(loss2_np, [X, W], 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hxv, fd_full(loss2_np, [X, W], 0), rtol=1e-5, atol=1e-5)


def test_depthwise_conv2d_is_public_in_gc_nn_and_matches_a_loop():
    rng = np.random.default_rng(3)
    xv, wv = rng.normal(size=(2, 5, 5, 3)), rng.normal(size=(3, 3, 3, 2))
    x = gc.placeholder(xv.shape, "float64", name="x")
    out = gc.function([x], gc.nn.depthwise_conv2d(x, gc.constant(wv), padding="same"))(xv)
    xp = np.pad(xv, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = np.zeros((2, 5, 5, 6))
    for c in range(3):
        for m in range(2):
            for a in range(3):
                for b in range(3):
                    ref[..., c * 2 + m] += xp[:, a:a + 5, b:b + 5, c] * wv[a, b, c, m]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
