"""Numerical accuracy against independent references: the logistic sigmoid and its gradients
over the whole float range (exact values from Python's decimal module, 50 digits), and
gc.nn.maxout along every axis (a NumPy loop over the groups; gradients by finite differences).
"""
from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest

import graphc as gc
from graphc.ir.opdef import OPS


def exact(f, values, dtype, digits=50):
    """f of each value computed in decimal arithmetic (``digits`` significant digits), rounded
    once to float64, then to ``dtype`` (float32: at most half an ulp more)."""
    with localcontext() as ctx:
        ctx.prec = digits
        out = [float(f(Decimal(float(v)))) for v in np.ravel(values)]
    return np.array(out, dtype=np.float64).astype(dtype).reshape(np.shape(values))


def logistic(d):
    return 1 / (1 + (-d).exp())


def ulps(got, want):
    """|got - want| in units of the last place of want (subnormal spacing where want is subnormal)."""
    got, want = np.asarray(got), np.asarray(want)
    return np.abs(got.astype(np.float64) - want.astype(np.float64)) / np.spacing(np.abs(want)).astype(np.float64)


# the whole range where the sigmoid is neither 0 nor 1, and past it on both sides
RANGES = {"float64": (-746.0, 40.0), "float32": (-104.0, 18.0)}


def sample(dtype, n=4001):
    lo, hi = RANGES[dtype]
    grid = np.linspace(lo, hi, n)
    rng = np.random.default_rng(0)
    points = [grid, rng.uniform(lo, hi, 1000), rng.uniform(-3.0, 3.0, 200),
              np.array([-745.13, -709.0, -700.0, -88.7, -38.0, -35.0, -20.0, -1e-30, 1e-30, 36.7])]
    return np.unique(np.concatenate(points)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimize", [True, False])
def test_sigmoid_is_accurate_to_a_few_ulps_over_the_whole_range(dtype, optimize):
    xs = sample(dtype)
    x = gc.placeholder(xs.shape, dtype, name="x")
    got = gc.function([x], gc.sigmoid(x), optimize=optimize)(xs)
    want = exact(logistic, xs, dtype)
    assert got.dtype == np.dtype(dtype)
    err = ulps(got, want)
    assert err.max() <= 3, f"{err.max()} ulps at x = {xs[err.argmax()]}"


def test_sigmoid_far_left_is_exp_x_not_zero():
    """The values of the issue: 0.5 tanh(x / 2) + 0.5 was 3 % off at -35 and 0 below -38."""
    xs = np.array([-35.0, -38.0, -700.0, -720.0, -745.0])
    got = gc.function([], gc.sigmoid(gc.constant(xs)), optimize=False)()
    np.testing.assert_allclose(got[:3], [6.305116760146989e-16, 3.1391327920480296e-17,
                                         9.859676543759770e-305], rtol=1e-15)
    assert got[3] == exact(logistic, -720.0, "float64") and got[4] == 5e-324  # subnormals


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_special_values(dtype):
    xs = np.array([-np.inf, -0.0, 0.0, np.inf, np.nan, 1e4, -1e4], dtype)
    x = gc.placeholder(xs.shape, dtype, name="x")
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow on the way
        got = gc.function([x], gc.sigmoid(x))(xs)
    assert got[0] == 0.0 and got[1] == 0.5 and got[2] == 0.5 and got[3] == 1.0 and np.isnan(got[4])
    assert got[5] == 1.0 and got[6] == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_template_forms_agree_on_scalars_blocks_and_in_place(dtype):
    """The op's template (0-d NumPy scalars included), its out= form in a blocked fused kernel
    (large input), and in place over its input give the same bits."""
    logistic_helper = OPS["sigmoid"].helpers["logistic"]
    xs = np.random.default_rng(1).uniform(*RANGES[dtype], 200_000).astype(dtype)
    whole = logistic_helper(xs)
    scalar = logistic_helper(xs.dtype.type(xs[7]))
    assert isinstance(scalar, np.generic) and scalar.dtype == xs.dtype and scalar == whole[7]
    in_place = xs.copy()
    assert logistic_helper(in_place, in_place) is in_place
    assert np.array_equal(in_place, whole)
    x = gc.placeholder(xs.shape, dtype, name="x")
    fused = gc.function([x], gc.sigmoid(x) * 2.0)
    assert "logistic(" in fused.source
    np.testing.assert_array_equal(fused(xs), whole * 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimize", [True, False])
def test_sigmoid_gradient_is_accurate(dtype, optimize):
    """σ'(x) = σ(x) σ(-x): to a few ulps for x <= 0 (down to the subnormals), and to ulp(1) σ(x)
    absolutely for x > 0, where 1 - σ(x) cancels (JAX's and TensorFlow's formula)."""
    xs = sample(dtype)
    x = gc.placeholder(xs.shape, dtype, name="x")
    got = gc.function([x], gc.grad(gc.reduce_sum(gc.sigmoid(x)), x), optimize=optimize)(xs)
    want = exact(lambda d: logistic(d) * logistic(-d), xs, dtype)
    left = xs <= 0
    normal = np.abs(want) >= np.finfo(dtype).tiny
    err = ulps(got[left & normal], want[left & normal])
    assert err.max() <= 4, f"{err.max()} ulps at x = {xs[left & normal][err.argmax()]}"
    subnormal = left & ~normal
    assert np.all(np.abs(got[subnormal] - want[subnormal]) <= 2 * np.finfo(dtype).smallest_subnormal)
    eps = np.finfo(dtype).eps
    assert np.all(np.abs(got[~left].astype(np.float64) - want[~left]) <= eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimize", [True, False])
def test_log_sigmoid_and_log_one_minus_sigmoid_have_finite_accurate_gradients(dtype, optimize):
    """d/dx log σ(x) = σ(-x) and d/dx log(1 - σ(x)) = -σ(x), for x down to -700 and up to 700:
    the chain rule's g / σ(x) overflows there, so the sigmoid's gradient cancels the quotient."""
    xs = np.array([-700.0, -100.0, -40.0, -20.0, -1.0, -0.0, 0.5, 20.0, 40.0, 100.0, 700.0], dtype)
    x = gc.placeholder(xs.shape, dtype, name="x")
    pos = gc.log(gc.sigmoid(x))
    neg = gc.log(1.0 - gc.sigmoid(x))
    g_pos, g_neg = gc.function([x], gc.grad(gc.reduce_sum(pos), [x]) + gc.grad(gc.reduce_sum(neg), [x]),
                               optimize=optimize)(xs)
    assert np.all(np.isfinite(g_pos)) and np.all(np.isfinite(g_neg))
    assert ulps(g_pos, exact(lambda d: logistic(-d), xs, dtype)).max() <= 3
    assert ulps(g_neg, exact(lambda d: -logistic(d), xs, dtype)).max() <= 3
    if optimize:  # and the values, through -softplus(-x) and -softplus(x)
        v_pos, v_neg = gc.function([x], [pos, neg])(xs)
        # ln(1 + e**-700) needs 700 / ln(10) ≈ 304 digits past 1
        want = exact(lambda d: -(1 + (-d).exp()).ln(), xs, dtype, digits=400)
        np.testing.assert_allclose(v_pos, want, rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(v_neg, exact(lambda d: -(1 + d.exp()).ln(), xs, dtype, digits=400),
                                   rtol=4 * np.finfo(dtype).eps)


def test_sigmoid_cuda_template_is_accurate_over_the_whole_range():
    """The CUDA template's formula, compiled by nvcc and run on the host (its libm's exp; the
    device's exp is within 1-2 ulps of it), against the exact values."""
    from graphc.backends.cupy import cuda_codegen, host_harness
    if host_harness.find_nvcc() is None:
        pytest.skip("nvcc is not installed: the CUDA template is not compiled")
    cases, wanted = [], []
    for dtype in ("float32", "float64"):
        xs = np.concatenate([sample(dtype, n=1001), np.array([-np.inf, np.inf, -0.0], dtype)])
        node = gc.sigmoid(gc.placeholder(xs.shape, dtype, name="x"))
        ck = cuda_codegen.generate(cuda_codegen.single_op_kernel(node), f"sigmoid_{dtype}")
        (param,) = ck.inputs
        cases.append((ck, {param.name: xs}))
        wanted.append((ck, exact(logistic, np.nan_to_num(xs, posinf=1e4, neginf=-1e4), dtype), xs))
    for (ck, want, xs), got in zip(wanted, host_harness.run_on_host(cases)):
        (value,) = [got[p.name] for p in ck.outputs]
        err = ulps(value, want)
        assert err.max() <= 3, f"{ck.name}: {err.max()} ulps at x = {xs[err.argmax()]}"


def test_log_sigmoid_gradient_with_other_readers_of_the_sigmoid():
    """When σ(x) is read elsewhere too, its cotangent is a sum and the plain formula applies."""
    x = gc.placeholder((3,), "float64", name="x")
    s = gc.sigmoid(x)
    y = gc.reduce_sum(gc.log(s) + 3.0 * s)
    xs = np.array([-2.0, 0.1, 3.0])
    got = gc.function([x], gc.grad(y, x))(xs)
    sig = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(got, (1 - sig) + 3.0 * sig * (1 - sig), rtol=1e-14)


# -- maxout: groups of consecutive features along the given axis ----------------------------

def maxout_reference(x, units, axis):
    """Unit j is the max of features j·k ... j·k + k - 1 along ``axis``: a loop over the units."""
    k = x.shape[axis] // units
    parts = [np.take(x, np.arange(j * k, (j + 1) * k), axis=axis).max(axis=axis) for j in range(units)]
    return np.stack(parts, axis=axis)


MAXOUT_CASES = [((4, 6), 2), ((4, 6), 3), ((6, 4, 6), 2), ((2, 6, 4, 6), 3), ((4, 3, 2, 6), 1)]


@pytest.mark.parametrize("shape, units", MAXOUT_CASES)
def test_maxout_groups_along_every_axis(shape, units):
    x_value = np.random.default_rng(len(shape) * 10 + units).standard_normal(shape)
    x = gc.placeholder(shape, "float64", name="x")
    checked = 0
    for axis in range(-len(shape), len(shape)):
        if shape[axis] % units:
            continue
        out = gc.nn.maxout(x, units, axis=axis)
        want = maxout_reference(x_value, units, axis)
        assert out.shape == want.shape
        np.testing.assert_array_equal(gc.function([x], out)(x_value), want)
        checked += 1
    assert checked >= 2


def test_maxout_axis_0_of_a_4x3_matrix():
    """The issue's example: groups of rows, never a mix of columns."""
    x = np.arange(12.0).reshape(4, 3) * np.array([1.0, -1.0, 1.0])
    got = gc.function([], gc.nn.maxout(gc.constant(x), 2, axis=0))()
    np.testing.assert_array_equal(got, [[3.0, -1.0, 5.0], [9.0, -7.0, 11.0]])


@pytest.mark.parametrize("shape, units", [((4, 6), 2), ((6, 4, 6), 2), ((2, 6, 4, 6), 3)])
def test_maxout_gradient_matches_finite_differences(shape, units):
    rng = np.random.default_rng(3)
    x_value = rng.standard_normal(shape)  # ties (where max has no derivative) have probability 0
    for axis in range(len(shape)):
        if shape[axis] % units:
            continue
        out_shape = list(shape)
        out_shape[axis] = units
        w = rng.standard_normal(out_shape)
        x = gc.placeholder(shape, "float64", name="x")
        (grad,) = gc.grad(gc.reduce_sum(gc.nn.maxout(x, units, axis=axis) * w), [x])
        got = gc.function([x], grad)(x_value)
        h = 1e-6
        numeric = np.zeros(shape)
        for i in np.ndindex(*shape):
            step = np.zeros(shape)
            step[i] = h
            numeric[i] = (np.sum(maxout_reference(x_value + step, units, axis) * w)
                          - np.sum(maxout_reference(x_value - step, units, axis) * w)) / (2 * h)
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8)


def test_maxout_with_an_unknown_batch_size():
    x = gc.placeholder((None, 6, 4), "float64", name="x")
    f = gc.function([x], gc.nn.maxout(x, 3, axis=1))
    x_value = np.random.default_rng(4).standard_normal((5, 6, 4))
    np.testing.assert_array_equal(f(x_value), maxout_reference(x_value, 3, 1))


@pytest.mark.parametrize("units, error", [(0, ValueError), (2.0, TypeError), (4, gc.ShapeError)])
def test_maxout_refuses_bad_unit_counts(units, error):
    with pytest.raises(error, match="maxout"):
        gc.nn.maxout(gc.placeholder((2, 6), name="x"), units, axis=1)
