"""The CUDA backend's code generation, checked without a GPU.

* every elementwise op has a CUDA template, every other op a device lowering;
* the CUDA source of every kernel of a set of representative graphs compiles with nvcc for
  sm_80 (what NVRTC does on a GPU machine), and float32 kernels contain no float64 arithmetic;
* the generated scalar code runs on the CPU (backends/cupy/host_harness.py: the element and
  index functions are host-callable) and agrees with NumPy, op by op over dtypes and special
  values (NaN, ±inf, ±0, ties, integer wrap-around), and kernel by kernel for fused graphs
  with broadcasting, several outputs and reductions;
* the generated host code is valid Python that lowers every step of training graphs;
* without a usable GPU, the backend says precisely why (real behaviour, nothing mocked).

Tests needing nvcc skip with the reason where it is absent; tests/gpu/ runs the kernels.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import numpy as np
import pytest

from graphc import backend_registry
import graphc as gc
from graphc.backends.cupy import cuda_codegen, host_codegen, host_harness, lowering
from graphc.backends.cupy.backend import CupyBackend
from graphc import passes
from graphc.plan import memory
from graphc.plan.feeds import convert as _convert
from graphc.plan.program import Program
from graphc.ir.opdef import OPS
from graphc.plan.schedule import schedule

NVCC = host_harness.find_nvcc()
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed (looked on PATH and "
                                                      "under /usr/local/cuda*): CUDA sources not compiled")


# -- helpers ----------------------------------------------------------------------------------

def program_of(inputs, outputs, updates=(), name="f"):
    """What gc.function hands a backend: the optimized, scheduled, memory-planned Program."""
    fn = gc.function(inputs, outputs, updates=list(updates), name=name)
    graph, ins = fn._graph_for(tuple(p.shape for p in fn.inputs))
    graph, _ = passes.run(graph)
    steps = schedule(graph)
    return Program(fn.name, ins, graph, steps, memory.plan(steps, graph), fn._single, _convert)


def kernels_of(inputs, outputs, updates=()):
    return host_codegen.generate(program_of(inputs, outputs, updates)).kernels


def reference(kernel, feeds: dict):
    """NumPy values (graphc's NumPy backend) of a kernel's inputs and outputs, from the
    graph's placeholder feeds."""
    ps = list(feeds)
    wanted = list(kernel.inputs) + list(kernel.outputs)
    values = gc.function(ps, wanted, optimize=False)(*feeds.values())
    return values[:len(kernel.inputs)], values[len(kernel.inputs):]


def host_check(cases, rtol32=2e-6, rtol64=1e-13):
    """cases: (CudaKernel, kernel-input values, expected outputs). Runs every kernel's scalar
    code on the CPU in one nvcc build and compares."""
    runs = []
    for ck, input_values, expected in cases:
        arrays = {}
        for t, v in zip(ck.kernel.inputs, input_values):
            param = next((p for p in ck.inputs if p.tensor is t), None)
            if param is not None:
                arrays[param.name] = v
        runs.append((ck, arrays, expected))
    results = host_harness.run_on_host([(ck, arrays) for ck, arrays, _ in runs])
    for (ck, _, expected), got in zip(runs, results):
        by_tensor = {id(p.tensor): got[p.name] for p in ck.outputs + ck.reductions}
        for t, want in zip(ck.kernel.outputs, expected):
            value = by_tensor[id(t)]
            want = np.asarray(want)
            assert value.dtype == want.dtype, f"{ck.kernel.describe()}: {t.name} dtype {value.dtype} != {want.dtype}"
            assert value.shape == want.shape, f"{ck.kernel.describe()}: {t.name} shape"
            where = f"{ck.kernel.describe()}: {t.name!r}"
            if want.dtype.kind in "biu":
                np.testing.assert_array_equal(value, want, err_msg=where)
            else:
                rtol = rtol32 if want.dtype == np.float32 else rtol64
                np.testing.assert_allclose(value, want, rtol=rtol, atol=rtol * 1e-3, err_msg=where)


# -- coverage of the registry ----------------------------------------------------------------------

ELEMENTWISE = sorted(name for name, od in OPS.items() if od.kind == "elementwise")


def test_every_elementwise_op_has_a_cuda_template():
    missing = [name for name in ELEMENTWISE if not (OPS[name].scalar or {}).get("cuda")]
    assert not missing, (f"elementwise ops without scalar={{'cuda': ...}} in their defop (the GPU "
                         f"backend cannot put them in a kernel): {missing}")


def test_every_other_op_has_a_device_lowering():
    others = sorted(name for name, od in OPS.items() if od.kind != "elementwise")
    missing = []
    for name in others:
        try:
            lowering.device_template(name)
        except gc.BackendUnavailable:
            missing.append(name)
    assert not missing, f"ops the CuPy backend cannot lower (add them to backends/cupy/lowering.py): {missing}"
    assert not (lowering.SAME_AS_NUMPY & set(lowering.DEVICE_TEMPLATES))
    assert not set(lowering.DEVICE_TEMPLATES) - set(OPS), "lowering.py names ops that do not exist"


def test_an_op_without_a_lowering_is_named():
    with pytest.raises(gc.BackendUnavailable, match="cannot lower op 'no_such_op'"):
        lowering.device_template("no_such_op")


# -- the element-wise op table: dtypes and special values -------------------------------------------

SPECIAL = np.array([-np.inf, -100.0, -3.5, -1.0, -0.5, -0.0, 0.0, 1e-30, 0.5, 1.0, 2.0, 3.5, 20.0,
                    100.0, np.inf, np.nan])
INTS = {"int8": [-128, -7, -1, 0, 1, 3, 100, 127], "uint8": [0, 1, 2, 7, 100, 200, 254, 255],
        "int32": [-2**31, -70000, -3, 0, 1, 5, 46341, 2**31 - 1],
        "int64": [-2**63, -2**40, -3, -1, 0, 2, 3037000500, 2**63 - 1]}
FLOAT_UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid",
               "softplus"]
NUMERIC_UNARY = ["neg", "square", "abs", "sign", "relu", "step"]
BINARY_ARITH = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"]
COMPARE = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]


def _pair_grid(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.repeat(a, len(b)).astype(a.dtype), np.tile(b, len(a)).astype(b.dtype)


def _op_cases():
    """(label, placeholders, output tensor, feeds) for every elementwise op over dtypes."""
    cases = []

    def add(label, arrays, build):
        ps = [gc.placeholder(a.shape, a.dtype, name=f"x{i}") for i, a in enumerate(arrays)]
        out = build(*ps)
        if out.op != "placeholder":  # cast to its own dtype is no op
            cases.append((label, ps, out, arrays))

    for dt in ("float32", "float64"):
        x = SPECIAL.astype(dt)
        for op in FLOAT_UNARY + NUMERIC_UNARY + ["stop_gradient"]:
            add(f"{op}[{dt}]", [x], getattr(gc, op) if hasattr(gc, op) else getattr(gc.nn, op))
        add(f"leaky_relu[{dt}]", [x], lambda t: gc.nn.leaky_relu(t, alpha=0.1))
        add(f"elu[{dt}]", [x], lambda t: gc.nn.elu(t, alpha=1.7))
        a, b = _pair_grid(SPECIAL.astype(dt), SPECIAL.astype(dt))
        for op in BINARY_ARITH + COMPARE + ["logical_and", "logical_or"]:
            add(f"{op}[{dt},{dt}]", [a, b], getattr(gc, op))
        add(f"logical_not[{dt}]", [x], gc.logical_not)
        add(f"where[{dt}]", [x > 0, x, x[::-1].copy()], gc.where)
        for target in ("bool", "float32", "float64"):
            add(f"cast[{dt}->{target}]", [x], lambda t, target=target: gc.cast(t, target))
        finite = np.array([-130.7, -3.9, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 3.9, 127.9, 250.5], dt)
        for target in ("int8", "uint8", "int32", "int64"):
            # float -> int truncates toward zero; out-of-range values are undefined in C and
            # differ between NumPy builds, so only values the target holds
            info = np.iinfo(target)
            held = finite[(finite > info.min - 1) & (finite < info.max + 1)]
            add(f"cast[{dt}->{target}]", [held], lambda t, target=target: gc.cast(t, target))
    for dt, values in INTS.items():
        x = np.array(values, dt)
        for op in NUMERIC_UNARY:
            add(f"{op}[{dt}]", [x], getattr(gc, op) if hasattr(gc, op) else getattr(gc.nn, op))
        a, b = _pair_grid(x, x)
        for op in ["add", "sub", "mul", "div", "maximum", "minimum"] + COMPARE + ["logical_and", "logical_or"]:
            add(f"{op}[{dt},{dt}]", [a, b], getattr(gc, op))
        small = np.array([0, 1, 2, 3, 5, 7], dt) if dt != "uint8" else np.array([0, 1, 2, 3, 5, 7], dt)
        base = np.array([-3, -1, 0, 1, 2, 3], dt) if dt != "uint8" else np.array([0, 1, 2, 3, 4, 5], dt)
        pa, pb = _pair_grid(base, small)
        add(f"pow[{dt},{dt}]", [pa, pb], gc.pow)   # NumPy raises for negative exponents
        add(f"logical_not[{dt}]", [x], gc.logical_not)
        for target in ("bool", "int8", "uint8", "int64", "float32", "float64"):
            add(f"cast[{dt}->{target}]", [x], lambda t, target=target: gc.cast(t, target))
    bools = np.array([True, False, True, True, False])
    a, b = _pair_grid(bools, bools)
    for op in ["add", "mul", "logical_and", "logical_or"] + COMPARE:
        add(f"{op}[bool,bool]", [a, b], getattr(gc, op))
    add("logical_not[bool]", [bools], gc.logical_not)
    add("cast[bool->float32]", [bools], lambda t: gc.cast(t, "float32"))
    add("cast[bool->int32]", [bools], lambda t: gc.cast(t, "int32"))
    # mixed dtypes: NumPy's loops compute in the promoted dtype
    i32 = np.array([-5, -1, 0, 1, 3, 16777217, 2**31 - 1], "int32")
    f32 = np.array([-2.5, -1.0, 0.0, np.nan, 3.0, 16777216.0, np.inf], "float32")
    for op in ["add", "sub", "mul", "div", "maximum", "minimum", "pow"] + COMPARE:
        add(f"{op}[int32,float32]", [i32, f32], getattr(gc, op))
    u8 = np.array([0, 1, 5, 200, 255, 7, 3], "uint8")
    i64 = np.array([-1, 1, -300, 200, 256, 2**40, 3], "int64")
    for op in ["add", "sub", "mul", "maximum", "minimum", "less", "equal"]:
        add(f"{op}[uint8,int64]", [u8, i64], getattr(gc, op))
    add("add[bool,int8]", [np.array([True, False, True]), np.array([127, -128, 5], "int8")], gc.add)
    add("where[broadcast]", [np.array([[True], [False]]), np.array([1.5, 2.5, np.nan], "float32"),
                             np.array(7.0, "float64")], gc.where)
    return cases


OP_CASES = _op_cases()


def test_the_op_cases_cover_every_elementwise_op():
    covered = set()
    for _, _, out, _ in OP_CASES:
        covered.add(out.op)
    assert set(ELEMENTWISE) <= covered, f"no CUDA value case for {sorted(set(ELEMENTWISE) - covered)}"


@needs_nvcc
def test_every_elementwise_op_matches_numpy_on_the_host():
    """Each op as a one-op kernel (how the backend lowers an unfused op), its generated scalar
    code run on the CPU against the op's own NumPy template, over dtypes and special values."""
    cases = []
    for label, ps, out, arrays in OP_CASES:
        node = out
        kernel = cuda_codegen.single_op_kernel(node)
        ck = cuda_codegen.generate(kernel, label)
        with np.errstate(all="ignore"):
            want = OPS[node.op].impl(*arrays, **node.attrs)
        want = np.asarray(want).astype(node.dtype)
        cases.append((ck, [arrays[ps.index(i)] for i in kernel.inputs], [np.broadcast_to(want, node.shape)]))
    host_check(cases, rtol32=4e-6, rtol64=1e-14)


@needs_nvcc
def test_every_elementwise_op_compiles_for_the_gpu():
    kernels = [cuda_codegen.generate(cuda_codegen.single_op_kernel(out), label) for label, _, out, _ in OP_CASES]
    ptx = host_harness.compile_ptx(kernels)
    assert len(ptx) == len({k.name for k in kernels}) and all(".entry" in text for text in ptx.values())


# -- representative graphs ---------------------------------------------------------------------------

def _elementwise_chain(n=4096):
    x = gc.placeholder((n,), "float32", name="x")
    y = gc.sigmoid(1.5 * x + 0.5) * gc.tanh(x) + 0.1 * x * x
    return [x], [y], {x: np.random.default_rng(1).normal(size=n).astype(np.float32) * 4}


def _dense_relu(batch=64):
    rng = np.random.default_rng(2)
    x = gc.placeholder((batch, 32), "float32", name="x")
    w = gc.constant(rng.normal(size=(32, 20)).astype(np.float32), name="w")
    b = gc.placeholder((20,), "float32", name="b")
    return [x, b], [gc.relu(gc.matmul(x, w) + b)], {
        x: rng.normal(size=(batch, 32)).astype(np.float32), b: rng.normal(size=20).astype(np.float32)}


def _softmax_xent_and_grad(dtype="float32"):
    rng = np.random.default_rng(3)
    z = gc.placeholder((16, 10), dtype, name="z")
    labels = gc.placeholder((16,), "int64", name="labels")
    p = gc.nn.softmax(z)
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(labels, 10, dtype), z))
    (gz,) = gc.grad(loss, [z])
    lse = gc.logsumexp(z, axis=1)
    return [z, labels], [p, loss, gz, lse], {z: (rng.normal(size=(16, 10)) * 3).astype(dtype),
                                             labels: rng.integers(0, 10, 16)}


def _broadcast_multi_output():
    rng = np.random.default_rng(4)
    x = gc.placeholder((6, 5, 8), "float64", name="x")
    row = gc.placeholder((5, 1), "float32", name="row")
    col = gc.placeholder((8,), "float64", name="col")
    a = gc.exp(x - row) * col
    b = gc.where(a > 1.0, a, -a)
    c = gc.sqrt(gc.abs(b) + 1.0)
    return [x, row, col], [a, b, c], {x: rng.normal(size=(6, 5, 8)), row: rng.normal(size=(5, 1)).astype(np.float32),
                                      col: rng.normal(size=8)}


def _mixed_dtypes():
    rng = np.random.default_rng(5)
    i = gc.placeholder((4, 7), "int32", name="i")
    f = gc.placeholder((7,), "float32", name="f")
    m = gc.placeholder((4, 1), "bool", name="m")
    k = gc.placeholder((4, 7), "int64", name="k")
    s = i * 3 + k                      # int64
    q = gc.where(m, gc.cast(i, "float32") * f, f)   # float32
    r = gc.logical_or(s > 0, m)        # bool
    t = s / (k + 100)                  # true division of ints: float64
    u = gc.cast(q, "int8") + gc.cast(r, "int8")
    return [i, f, m, k], [s, q, r, t, u], {
        i: rng.integers(-50, 50, (4, 7)).astype(np.int32), f: rng.normal(size=7).astype(np.float32) * 10,
        m: np.array([[True], [False], [True], [False]]), k: rng.integers(-99, 99, (4, 7))}


def _reductions():
    rng = np.random.default_rng(6)
    x = gc.placeholder((5, 6, 7), "float32", name="x")
    i = gc.placeholder((5, 6, 7), "int32", name="i")
    e = gc.exp(x) * 2.0
    outs = [gc.reduce_sum(e, axis=2), gc.reduce_mean(e, axis=(0, 2), keepdims=True),
            gc.reduce_max(e, axis=1), gc.reduce_min(e), gc.reduce_sum(gc.square(x)),
            gc.reduce_sum(i * 2, axis=0), gc.reduce_mean(i + 1, axis=1), gc.reduce_max(i - 3, axis=(0, 1)),
            gc.reduce_sum(gc.cast(x > 0.0, "float32"), axis=1), gc.reduce_min(i * i, axis=2, keepdims=True)]
    xv = rng.normal(size=(5, 6, 7)).astype(np.float32)
    xv[1, 2, 3] = np.nan  # max/min propagate NaN
    return [x, i], outs, {x: xv, i: rng.integers(-1000, 1000, (5, 6, 7)).astype(np.int32)}


def _long_reduction():
    # few output elements, long rows: several blocks per output element plus a combine step
    x = gc.placeholder((3, 50000), "float64", name="x")
    y = gc.placeholder((200000,), "float32", name="y")
    outs = [gc.reduce_sum(gc.square(x), axis=1), gc.reduce_max(gc.exp(y * 0.001)),
            gc.reduce_mean(gc.tanh(y))]
    rng = np.random.default_rng(7)
    return [x, y], outs, {x: rng.normal(size=(3, 50000)), y: rng.normal(size=200000).astype(np.float32)}


def _mlp_train_step():
    rng = np.random.default_rng(8)
    x = gc.placeholder((32, 12), "float32", name="x")
    y = gc.placeholder((32,), "int64", name="y")
    w1 = gc.variable(rng.normal(size=(12, 16)).astype(np.float32) * 0.3, name="w1")
    b1 = gc.variable(np.zeros(16, np.float32), name="b1")
    w2 = gc.variable(rng.normal(size=(16, 4)).astype(np.float32) * 0.3, name="w2")
    h = gc.relu(gc.matmul(x, w1) + b1)
    logits = gc.matmul(h, w2)
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, 4), logits))
    grads = gc.grad(loss, [w1, b1, w2])
    updates = [(v, v - 0.1 * g) for v, g in zip([w1, b1, w2], grads)]
    return [x, y], [loss], {x: rng.normal(size=(32, 12)).astype(np.float32), y: rng.integers(0, 4, 32)}, updates


GRAPHS = {"w2": _elementwise_chain, "dense_bias_relu": _dense_relu, "softmax_xent_grad": _softmax_xent_and_grad,
          "softmax_xent_grad_f64": lambda: _softmax_xent_and_grad("float64"),
          "broadcast_multi_output": _broadcast_multi_output, "mixed_dtypes": _mixed_dtypes,
          "reductions": _reductions, "long_reduction": _long_reduction}


@needs_nvcc
@pytest.mark.parametrize("name", sorted(GRAPHS) + ["mlp_train_step"])
def test_generated_kernels_compile_with_nvcc(name):
    if name == "mlp_train_step":
        inputs, outputs, _, updates = _mlp_train_step()
    else:
        inputs, outputs, _ = GRAPHS[name]()
        updates = ()
    kernels = kernels_of(inputs, outputs, updates)
    assert kernels, "expected at least one CUDA kernel"
    ptx = host_harness.compile_ptx(kernels)
    assert all(f".entry {entry}" in ptx[k.name] for k in kernels for entry in k.entries)


@needs_nvcc
def test_float32_kernels_have_no_float64_arithmetic():
    """Templates write literals as ({T})0.5 and call CUDA's float overloads: a float32 kernel
    must not compute in float64 (a bare 0.5 would promote; that costs 32x on many GPUs)."""
    inputs, outputs, _ = _elementwise_chain()
    kernels = kernels_of(inputs, outputs)
    x = gc.placeholder((64,), "float32", name="x")
    # (not sin and cos: CUDA's sinf reduces huge arguments with one float64 multiply)
    for op in [op for op in FLOAT_UNARY if op not in ("sin", "cos")] + NUMERIC_UNARY:
        kernels.append(cuda_codegen.generate(cuda_codegen.single_op_kernel(
            (getattr(gc, op) if hasattr(gc, op) else getattr(gc.nn, op))(x))))
    kernels.append(cuda_codegen.generate(cuda_codegen.single_op_kernel(gc.nn.elu(x, 0.3))))
    kernels.append(cuda_codegen.generate(cuda_codegen.single_op_kernel(gc.pow(x, x))))
    for name, ptx in host_harness.compile_ptx(kernels).items():
        assert ".entry" in ptx
        assert not re.search(r"\.f64\b", ptx), f"{name} computes in float64:\n{ptx}"


@needs_nvcc
def test_fused_kernels_match_numpy_on_the_host():
    cases = []
    for name, build in sorted(GRAPHS.items()):
        inputs, outputs, feeds = build()
        for ck in kernels_of(inputs, outputs):
            ins, outs = reference(ck.kernel, feeds)
            cases.append((ck, ins, outs))
    inputs, outputs, feeds, updates = _mlp_train_step()
    for ck in kernels_of(inputs, outputs, updates):
        ins, outs = reference(ck.kernel, feeds)
        cases.append((ck, ins, outs))
    host_check(cases, rtol32=2e-5, rtol64=1e-12)


# -- structure of the generated code -------------------------------------------------------------------

def test_an_elementwise_chain_is_one_cuda_kernel_with_its_constants_inlined():
    inputs, outputs, _ = _elementwise_chain()
    module = host_codegen.generate(program_of(inputs, outputs))
    (ck,) = module.kernels
    assert [p.name for p in ck.inputs] == ["in0"]          # x only: 1.5, 0.5, 0.1 are literals
    assert "(1.5f)" in ck.source and "(0.5f)" in ck.source
    assert not any(kind == "constant" for kind, _ in module.bindings.values())
    body = module.source[module.source.index("def fn_f("):]
    assert len(re.findall(r"^    gc_\w+\(", body, re.M)) == 1   # one launch per call


def test_dense_bias_relu_is_a_gemm_then_one_epilogue_kernel():
    inputs, outputs, _ = _dense_relu()
    module = host_codegen.generate(program_of(inputs, outputs))
    body = module.source[module.source.index("def fn_f("):]
    assert "np.matmul(" in body
    (ck,) = module.kernels
    assert ck.kernel.anchor is not None and [m.op for m in ck.kernel.members] == ["add", "relu"]
    assert body.index("np.matmul(") < body.index(ck.passes[0].entry + "(")


def test_reduction_kernels_use_blocks_per_row_and_combine_long_rows():
    inputs, outputs, _ = _long_reduction()
    kernels = kernels_of(inputs, outputs)
    chunked = [p for k in kernels for p in k.passes if p.chunks > 1]
    assert chunked and all(p.combine for p in chunked)
    inputs, outputs, _ = _softmax_xent_and_grad()
    passes_ = [p for k in kernels_of(inputs, outputs) for p in k.passes if p.axes is not None]
    assert passes_ and all(p.chunks == 1 and p.block == 32 for p in passes_)  # rows of 10


def test_host_code_is_python_that_lowers_every_step_of_training_graphs():
    rng = np.random.default_rng(9)
    graphs = []
    inputs, outputs, _, updates = _mlp_train_step()
    graphs.append((inputs, outputs, updates))
    # a small CNN with dropout (random ops), pooling and its gradients
    x = gc.placeholder((2, 8, 8, 3), "float32", name="x")
    k = gc.variable(rng.normal(size=(3, 3, 3, 4)).astype(np.float32), name="k")
    h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, k, padding="same")), 2)
    h = gc.nn.dropout(gc.nn.avg_pool2d(h, 2, strides=1), 0.3, seed=1)
    loss = gc.reduce_sum(gc.square(h))
    (gk,) = gc.grad(loss, [k])
    graphs.append(([x], [loss], [(k, k - 0.01 * gk)]))
    # embedding lookup (gather) and its scatter-add gradient, slicing, concat
    ids = gc.placeholder((5, 3), "int64", name="ids")
    table = gc.variable(rng.normal(size=(10, 4)).astype(np.float32), name="table")
    e = gc.gather(table, ids)
    s = gc.concat([e[:, 0], gc.reshape(e[:, 1:], (5, 8))], axis=1)
    loss = gc.reduce_mean(gc.tanh(s))
    (gt,) = gc.grad(loss, [table])
    graphs.append(([ids], [loss, gc.argmax(s, axis=1)], [(table, table - gt)]))
    for inputs, outputs, updates in graphs:
        module = host_codegen.generate(program_of(inputs, outputs, updates))
        compile(module.source, "<generated>", "exec")
        assert "_value = contiguous(" in module.source   # updates stay on the device
        for kind, payload in module.bindings.values():
            assert kind in ("constant", "variable", "rng")


def test_sources_are_cached_by_code_not_by_names():
    a = kernels_of(*_elementwise_chain()[:2])[0]
    b = kernels_of(*_elementwise_chain()[:2])[0]   # same graph built again: new node names
    assert a.source != b.source and a.code == b.code and a.name == b.name


def test_float16_is_refused_with_a_clear_error():
    x = gc.placeholder((4,), "float16", name="x")
    with pytest.raises(gc.GraphError, match="no C type for float16"):
        cuda_codegen.generate(cuda_codegen.single_op_kernel(x * x))


def test_zero_size_max_has_no_identity():
    x = gc.placeholder((3, 0), "float32", name="x")
    y = gc.reduce_max(gc.exp(x) * 2.0, axis=1)  # a fused kernel with a reduction
    with pytest.raises(gc.ShapeError, match="no identity"):
        kernels_of([x], [y])


# -- availability: real behaviour on this machine ---------------------------------------------------------

HAS_CUPY = importlib.util.find_spec("cupy") is not None


def test_unavailable_reason_says_what_is_missing():
    reason = CupyBackend().unavailable_reason()
    if reason is None:
        pytest.skip("CuPy and a CUDA device are usable here: tests/gpu/ covers this machine")
    if not HAS_CUPY:
        assert "CuPy is not installed" in reason and "graphc[gpu]" in reason
    else:
        assert any(w in reason for w in ("driver", "device", "does not import")), reason
    assert "cupy" not in gc.backends()
    x = gc.placeholder((3,), "float32", name="x")
    with pytest.raises(gc.BackendUnavailable) as info:
        gc.function([x], x * 2.0, backend="cupy")
    assert reason in str(info.value) and "backend 'cupy' cannot run here" in str(info.value)
    with pytest.raises(gc.BackendUnavailable, match="cannot run here"):
        (x * 2.0).eval({x: np.ones(3, np.float32)}, backend="cupy")
    model = gc.models.Sequential([gc.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(gc.BackendUnavailable, match=re.escape(reason)):
        model.compile(optimizer="sgd", loss="mse", backend="cupy")


def test_without_cupy_the_reason_is_the_install_hint():
    """A fresh interpreter in which ``import cupy`` fails (as where it is not installed)."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import graphc as gc\n"
            "from graphc.backends.cupy.backend import CupyBackend\n"
            "print(CupyBackend().unavailable_reason()); print(gc.backends())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "CuPy is not installed" in out and "pip install 'graphc[gpu]'" in out
    assert "'numpy'" in out and "'cupy'" not in out   # (other backends, e.g. dask, may be usable)


def test_the_package_imports_without_cupy():
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import graphc.backends.cupy, graphc.backends.cupy.backend, graphc.backends.cupy.host_codegen, "
            "graphc.backends.cupy.cuda_codegen, graphc.backends.cupy.device_ops, graphc.backends.cupy.runtime\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ok"


def test_backend_registry_knows_cupy():
    assert "cupy" in backend_registry.known()
    assert backend_registry._FACTORIES.get("cupy") is CupyBackend
