"""backend="c": fused elementwise kernels compiled by the system C++ compiler from the same
element functions the CUDA backend launches, checked against NumPy computed op by op (the op
table's independent references), with broadcasting, several outputs, int and bool dtypes and
NaN/Inf; small kernels stay NumPy; a missing compiler is a named BackendUnavailable."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backends.c import compiler, kernels
from graphc.ir.opdef import OPS
from tests.op_table import ROWS
from tests.passes.test_random_graphs import _values, random_graph

try:
    compiler.toolchain()
    NO_COMPILER = None
except compiler.CompilerMissing as exc:
    NO_COMPILER = str(exc)
needs_compiler = pytest.mark.skipif(NO_COMPILER is not None, reason=f"no C++ compiler here: {NO_COMPILER}")

ELEMENTWISE_ROWS = [r for r in ROWS if r.ref is not None and OPS[r.op].kind == "elementwise"
                    and r.op != "stop_gradient"]


def _then(t):
    """A second op after the row's own, so the row forms a fused group (a lone op is not one)."""
    return gc.logical_not(t) if t.dtype == bool else t * 2


def _then_ref(v):
    v = np.asarray(v)
    return np.logical_not(v) if v.dtype == bool else v * v.dtype.type(2)


@needs_compiler
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_elementwise_row_of_the_op_table_runs_compiled_and_matches_numpy(monkeypatch, dtype):
    monkeypatch.setattr(kernels, "MIN_ELEMENTS", 1)   # the table's arrays are small
    feeds, outputs, expected = [], [], []
    for row in ELEMENTWISE_ROWS:
        arrays = [a.astype(dtype) if np.asarray(a).dtype == np.float64 else np.asarray(a) for a in row.inputs]
        phs = [gc.placeholder(a.shape, a.dtype) for a in arrays]
        outputs.append(_then(row.build(*phs)))
        expected.append((row.id, _then_ref(row.ref(*arrays))))
        feeds.append((phs, arrays))
    inputs = [p for phs, _ in feeds for p in phs]
    f = gc.function(inputs, outputs, backend="c")
    got = f(*[a for _, arrays in feeds for a in arrays])
    assert "_cpu(int threads" in f.source and "ckernel" in f.source
    compiled = f.source.count("= ckernel")
    assert compiled >= len(ELEMENTWISE_ROWS) - 2, f"only {compiled} groups compiled"
    rtol = 1e-12 if dtype == "float64" else 2e-6
    for (name, want), value in zip(expected, got):
        if dtype == "float64":   # the table's references compute float32 rows in float64
            assert value.dtype == want.dtype, name
        np.testing.assert_allclose(value, want, rtol=rtol, atol=rtol, err_msg=name)


@needs_compiler
def test_broadcasting_several_outputs_and_special_values_match_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 128)).astype("float32")
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    b = rng.normal(size=(128,)).astype("float32")
    px, pb = gc.placeholder(x.shape, "float32", name="x"), gc.placeholder(b.shape, "float32", name="b")
    h = gc.tanh(px * 1.5 + pb)
    out1, out2 = gc.maximum(h, 0.0) - pb, gc.exp(h) * px
    f = gc.function([px, pb], [out1, out2], backend="c")
    a, c = f(x, b)
    assert "= ckernel" in f.source
    hn = np.tanh(x * np.float32(1.5) + b)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(a, np.maximum(hn, np.float32(0)) - b, rtol=2e-6, atol=2e-6)
        np.testing.assert_allclose(c, np.exp(hn) * x, rtol=2e-6, atol=2e-6)
    assert np.isnan(a[0, 0]) and np.isnan(c[0, 0])
    assert np.signbit(c[0, 3]) == np.signbit(np.exp(hn[0, 3]) * x[0, 3])


@needs_compiler
def test_integer_arithmetic_wraps_as_numpy_and_bools_stay_bools():
    i = np.arange(-40000, 40000, dtype=np.int32) * 40000
    pi = gc.placeholder(i.shape, "int32", name="i")
    f = gc.function([pi], [pi * 3 + 7, gc.logical_and(pi > 0, pi < 2 ** 30)], backend="c")
    wrapped, mask = f(i)
    assert "= ckernel" in f.source
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(wrapped, i * np.int32(3) + np.int32(7))
    np.testing.assert_array_equal(mask, (i > 0) & (i < 2 ** 30))


@needs_compiler
def test_small_kernels_stay_numpy_lines():
    x = gc.placeholder((10,), "float64", name="x")
    f = gc.function([x], gc.exp(x) * 2 + 1, backend="c")
    np.testing.assert_allclose(f(np.arange(10.0)), np.exp(np.arange(10.0)) * 2 + 1)
    assert "ckernel" not in f.source


def test_without_a_compiler_the_backend_is_unavailable_saying_what_is_missing(tmp_path):
    code = ("import graphc as gc\n"
            "print('c' in gc.backends())\n"
            "x = gc.placeholder((3,))\n"
            "try:\n    gc.function([x], x * 2, backend='c')\n"
            "except gc.BackendUnavailable as exc:\n    print(exc)\n")
    env = {k: v for k, v in os.environ.items() if k != "CXX"}
    env["PATH"] = str(tmp_path)   # an empty directory: no compiler anywhere
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "False"
    assert "cannot run here" in out and "no C++ compiler" in out and "c++: not found on PATH" in out


@needs_compiler
@pytest.mark.parametrize("op, reference", [("exp", np.exp), ("tanh", np.tanh), ("sigmoid", None)])
def test_float32_exp_tanh_and_sigmoid_are_within_two_ulps_with_numpys_special_values(op, reference):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-110, 90, 1 << 16), rng.normal(size=1 << 16) * 3, np.linspace(-1, 1, 4001),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72, 88.73, -103.9, -104.0, 1e-30, -1e-30, 1e-45]])
    x = x.astype(np.float32)
    px = gc.placeholder(x.shape, "float32", name="x")
    y = getattr(gc, op)(px)
    # one more op, so that the op is in a fused group: min(y, +inf) is y exactly (NaN and -0 too)
    f = gc.function([px], gc.minimum(y, gc.constant(np.inf, "float32")), backend="c")
    got = f(x)
    assert "= ckernel" in f.source
    with np.errstate(all="ignore"):
        wide = x.astype(np.float64)
        exact = 1 / (1 + np.exp(-wide)) if reference is None else reference(wide)
    want = exact.astype(np.float32)
    special = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(np.isnan(got[special]), np.isnan(want[special]))
    same = ~np.isnan(want) & special
    np.testing.assert_array_equal(got[same], want[same])
    np.testing.assert_array_equal(np.signbit(got[same]), np.signbit(want[same]))
    finite = ~special
    ulps = np.abs(got[finite] - exact[finite]) / np.spacing(np.abs(want[finite]))
    assert ulps.max() <= 2.5, f"{op}: {ulps.max():.2f} ulp at x = {x[finite][np.argmax(ulps)]}"


@needs_compiler
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graph(300, 256), st.integers(0, 2**31 - 1))
def test_random_graphs_on_c_equal_the_unoptimized_numpy_program(graph, seed):
    inputs, outs = graph
    values = _values((300, 256), seed)
    compiled = gc.function(inputs, outs, backend="c")
    reference = gc.function(inputs, outs, optimize=False)
    for a, b in zip(compiled(*values), reference(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
