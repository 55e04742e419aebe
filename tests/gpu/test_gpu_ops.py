"""Every op of tests/op_table.py, and its gradient, on the CuPy backend against the NumPy
backend; every elementwise op over dtypes and special values (the cases of
tests/backends/cupy/test_cuda_codegen.py) against its NumPy template; device residency of inputs,
outputs and variables."""
from __future__ import annotations

import numpy as np
import pytest

from tests.gpu.gpu_support import assert_same, host, require_gpu

require_gpu()

import cupy  # noqa: E402

import graphc as gc  # noqa: E402
from graphc.ir.opdef import OPS  # noqa: E402
from tests.op_table import COMPOSITES, ROWS  # noqa: E402
from tests.backends.cupy.test_cuda_codegen import OP_CASES, _elementwise_chain  # noqa: E402
from tests.ops.test_ops import build, ids, scalar_objective  # noqa: E402

LOCAL = [r for r in ROWS + COMPOSITES if r.covered_by is None]
VALUE_ROWS = [r for r in LOCAL if r.ref is not None]
RANDOM_ROWS = [r for r in LOCAL if r.op.startswith("random")]
GRAD_ROWS = [r for r in LOCAL if r.grad]


def _float32(arrays):
    return [a.astype(np.float32) if np.asarray(a).dtype == np.float64 else a for a in arrays]


@pytest.mark.parametrize("row", VALUE_ROWS, ids=ids(VALUE_ROWS))
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_op_value_matches_numpy(row, precision):
    inputs = list(row.inputs) if precision == "float64" else _float32(row.inputs)
    ps, out = build(row, inputs)
    want = gc.function(ps, out)(*inputs)
    got = gc.function(ps, out, backend="cupy")(*inputs)
    assert isinstance(got, cupy.ndarray)
    tol = (1e-10, 1e-12) if precision == "float64" else (2e-5, 2e-6)
    assert_same(got, want, *tol, what=row.id)


@pytest.mark.parametrize("row", GRAD_ROWS, ids=ids(GRAD_ROWS))
def test_op_gradient_matches_numpy(row):
    ps, out = build(row)
    value = gc.function(ps, out)(*row.inputs)
    y = scalar_objective(out, value, row.id)
    wrt = [ps[i] for i in row.grad]
    grads = gc.grad(y, wrt)
    want = gc.function(ps, grads)(*row.inputs)
    got = gc.function(ps, grads, backend="cupy")(*row.inputs)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, 1e-9, 1e-11, what=f"{row.id}: d/d input {row.grad[k]}")


@pytest.mark.parametrize("row", RANDOM_ROWS, ids=ids(RANDOM_ROWS))
def test_random_ops_are_seeded_and_shaped(row):
    ps, out = build(row)
    first = gc.function(ps, out, backend="cupy")
    again = gc.function(ps, out, backend="cupy")
    a, b = first(*row.inputs), first(*row.inputs)
    c = again(*row.inputs)
    assert isinstance(a, cupy.ndarray) and a.dtype == out.dtype
    assert a.shape == gc.function(ps, out)(*row.inputs).shape
    assert not np.array_equal(host(a), host(b)), "each call draws fresh samples"
    np.testing.assert_array_equal(host(a), host(c))  # a fresh compile replays the sequence


def test_random_statistics():
    x = gc.random.uniform((200000,), 2.0, 5.0, seed=3)
    y = gc.random.normal((200000,), 1.0, 2.0, seed=4)
    u, n = (host(v) for v in gc.function([], [x, y], backend="cupy")())
    assert 2.0 <= u.min() and u.max() < 5.0 and abs(u.mean() - 3.5) < 0.02
    assert abs(n.mean() - 1.0) < 0.03 and abs(n.std() - 2.0) < 0.03


@pytest.mark.parametrize("case", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_elementwise_op_semantics_over_dtypes(case):
    """The generated CUDA of each op, on the device, against the op's NumPy template: NaN,
    ±inf, ±0, ties, integer wrap-around, mixed-dtype promotion, casts."""
    label, ps, out, arrays = case
    with np.errstate(all="ignore"):
        want = np.broadcast_to(np.asarray(OPS[out.op].impl(*arrays, **out.attrs)).astype(out.dtype), out.shape)
    got = gc.function(ps, out, backend="cupy")(*arrays)
    assert_same(got, want, 4e-6 if out.dtype == np.float32 else 1e-14, 0.0, what=label)


def test_device_inputs_outputs_and_variables():
    rng = np.random.default_rng(0)
    x = gc.placeholder((None, 4), "float32", name="x")
    w = gc.variable(rng.normal(size=(4, 3)).astype(np.float32), name="w")
    y = gc.relu(gc.matmul(x, w) + 1.0)
    loss = gc.reduce_sum(y)
    (gw,) = gc.grad(loss, [w])
    w0 = w.value.copy()
    step = gc.function([x], [y, loss], updates=[(w, w - 0.1 * gw)], backend="cupy")
    xv = rng.normal(size=(5, 4)).astype(np.float32)
    got_y, got_loss = step(cupy.asarray(xv))          # a device input stays on the device
    assert isinstance(got_y, cupy.ndarray) and isinstance(w.value, cupy.ndarray)
    want_y = np.maximum(xv @ w0 + 1.0, 0)
    np.testing.assert_allclose(host(got_y), want_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(w.value), w0 - 0.1 * xv.T @ (want_y > 0).astype(np.float32),
                               rtol=1e-5, atol=1e-6)
    step(xv[:2])                                       # NumPy input, another batch size
    assert len(step._cache) == 2
    with pytest.raises(gc.ShapeError, match="input 'x' expects shape"):
        step(cupy.zeros((3, 5), "float32"))
    with pytest.raises(gc.DTypeError, match="cannot feed"):
        step(cupy.zeros((3, 4), "float32") > 0)


def test_an_elementwise_chain_runs_as_one_generated_kernel():
    inputs, outputs, feeds = _elementwise_chain(1 << 20)
    fn = gc.function(inputs, outputs, backend="cupy")
    got = fn(*feeds.values())
    want = gc.function(inputs, outputs)(*feeds.values())
    assert_same(got[0], want[0], 2e-6, 1e-6, what="W2")
    assert fn.source.count("KERNEL_") >= 1 and len(fn._last.executable.kernels) == 1
