"""W2: elementwise fusion. x: 2**24 float32 (normal, seed 0);
y = sigmoid(1.5*x + 0.5) * tanh(x) + 0.1*x*x.

Also times np.copyto(dst, x) on the same array — one read and one write of it, the
memory-bandwidth limit for any kernel producing y — and reports graphc's fraction of it
(bandwidth_fraction = copy time / graphc time).
"""
from __future__ import annotations

import math

import numpy as np

from harness import Skip, assert_close

WORKLOAD = "W2"
TITLE = "y = sigmoid(1.5x+0.5)*tanh(x) + 0.1x² on 2**24 float32, ms per call"
SIZE = 2 ** 24
EXPR = "sigmoid(1.5*x + 0.5) * tanh(x) + 0.1*x*x"
RTOL, ATOL = 1e-5, 1e-6   # float32: a few ulp of libm/XLA/SLEEF differences in exp and tanh


def numpy_eager(x):
    """The reference: NumPy, one temporary per operation, sigmoid as 1 / (1 + exp(-z))."""
    z = 1.5 * x + 0.5
    return 1 / (1 + np.exp(-z)) * np.tanh(x) + 0.1 * x * x


def numpy_out_buffers(x):
    """NumPy with preallocated out= buffers: no allocation per call."""
    t1, t2, out = np.empty_like(x), np.empty_like(x), np.empty_like(x)

    def y():
        np.multiply(x, np.float32(-1.5), out=t1)       # -z = -(1.5x + 0.5)
        np.subtract(t1, np.float32(0.5), out=t1)
        np.exp(t1, out=t1)
        np.add(t1, np.float32(1), out=t1)
        np.reciprocal(t1, out=t1)                        # sigmoid(z)
        np.tanh(x, out=t2)
        np.multiply(t1, t2, out=t1)
        np.multiply(x, x, out=t2)
        np.multiply(t2, np.float32(0.1), out=t2)
        np.add(t1, t2, out=out)
        return out
    return y


def run(ctx):
    n = ctx.scaled(SIZE, minimum=1024)
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    want = numpy_eager(x)
    extra_size = {"size": n} if n != SIZE else {}

    def check(out):
        return assert_close(ctx.to_host(out), want, RTOL, ATOL, what="y")

    if ctx.backend == "cupy":
        return run_gpu(ctx, x, check, extra_size)

    ctx.bench(WORKLOAD, "numpy", lambda: (lambda: numpy_eager(x)), check, reference=True,
              extra=dict(extra_size))

    dst = np.empty_like(x)
    copy = ctx.bench(WORKLOAD, "copy-bandwidth-limit", lambda: (lambda: np.copyto(dst, x) or dst),
                     lambda out: assert_close(out, x, 0, 0, what="copy"), annotate=bandwidth(x))

    ctx.bench(WORKLOAD, "numpy-out-buffers", lambda: numpy_out_buffers(x), check)

    def make_graphc(backend="numpy"):
        import graphc as gc
        xp = gc.placeholder((n,), "float32", name="x")
        y = gc.sigmoid(1.5 * xp + 0.5) * gc.tanh(xp) + 0.1 * xp * xp
        f = gc.function([xp], y, backend=backend)
        return lambda: f(x)
    ctx.bench(WORKLOAD, "graphc-numpy", make_graphc, check, annotate=fraction_of(copy))
    ctx.bench(WORKLOAD, "graphc-c", lambda: make_graphc("c"), check, annotate=fraction_of(copy))

    def make_jax():
        jax = ctx.peer("jax")
        jnp = jax.numpy
        f = jax.jit(lambda v: jax.nn.sigmoid(1.5 * v + 0.5) * jnp.tanh(v) + 0.1 * v * v)
        xj = jax.device_put(x)
        return lambda: f(xj).block_until_ready()
    ctx.bench(WORKLOAD, "jax-jit", make_jax, check)

    def torch_y(torch):
        return lambda v: torch.sigmoid(1.5 * v + 0.5) * torch.tanh(v) + 0.1 * v * v

    def make_torch():
        torch = ctx.peer("torch")
        xt, f = torch.from_numpy(x), torch_y(torch)
        return lambda: f(xt)
    ctx.bench(WORKLOAD, "torch-eager", make_torch, check)

    compile_extra = {}

    def make_torch_compile():
        if ctx.quick:
            raise Skip("--quick skips torch.compile (tens of seconds to compile)")
        torch = ctx.peer("torch")
        import time
        xt = torch.from_numpy(x)
        start = time.perf_counter()
        try:
            f = torch.compile(torch_y(torch))
            f(xt)
        except Exception as exc:  # no C++ compiler, inductor unsupported, ...
            raise Skip(f"torch.compile does not work here: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
        compile_extra["compile_s"] = time.perf_counter() - start
        return lambda: f(xt)
    ctx.bench(WORKLOAD, "torch-compile", make_torch_compile, check, extra=compile_extra)

    def make_numexpr():
        ne = ctx.peer("numexpr")
        out = np.empty_like(x)
        # float32 array with Python-float constants: numexpr keeps float32 (checked below)
        text = "1 / (1 + exp(-(1.5*x + 0.5))) * tanh(x) + 0.1*x*x"
        return lambda: ne.evaluate(text, local_dict={"x": x}, out=out)
    ctx.bench(WORKLOAD, "numexpr", make_numexpr, check)

    def make_numba():
        numba = ctx.peer("numba")
        c15, c05, c1, c01 = (np.float32(v) for v in (1.5, 0.5, 1.0, 0.1))

        @numba.vectorize(["float32(float32)"], target="parallel")
        def kernel(v):
            return c1 / (c1 + math.exp(-(c15 * v + c05))) * math.tanh(v) + c01 * v * v
        out = np.empty_like(x)
        return lambda: kernel(x, out=out)
    ctx.bench(WORKLOAD, "numba-parallel", make_numba, check)

    def make_pytensor(linker=None):
        def make():
            pytensor = ctx.peer("pytensor")
            import pytensor.tensor as pt
            from pytensor.compile.mode import Mode
            v = pt.vector("x", dtype="float32")
            c = {k: pt.constant(np.float32(k)) for k in (1.5, 0.5, 0.1)}
            y = pt.sigmoid(c[1.5] * v + c[0.5]) * pt.tanh(v) + c[0.1] * v * v
            mode = Mode(linker=linker, optimizer="fast_run") if linker else None
            f = pytensor.function([v], y, mode=mode)
            f.trust_input = True
            return lambda: f(x)
        return make
    ctx.bench(WORKLOAD, "pytensor", make_pytensor(), check)
    ctx.bench(WORKLOAD, "pytensor-c", make_pytensor("cvm"), check)


def bandwidth(x):
    """RESULT field of the copy: GB/s moved (x read once, written once)."""
    return lambda median_s: {"GB_per_s": 2 * x.nbytes / median_s / 1e9}


def fraction_of(copy):
    """RESULT field of graphc: the copy time over graphc's (1.0 = at the bandwidth limit)."""
    def fields(median_s):
        if copy is None:
            return {}
        return {"bandwidth_fraction": copy.median_s / median_s}
    return fields


def run_gpu(ctx, x, check, extra_size):
    """--backend cupy: CuPy eager (reference), the copy limit, graphc on CuPy, PyTorch CUDA."""
    cp = ctx.xp
    xd = cp.asarray(x)

    def cupy_eager():
        z = 1.5 * xd + 0.5
        return 1 / (1 + cp.exp(-z)) * cp.tanh(xd) + 0.1 * xd * xd
    ctx.bench(WORKLOAD, "cupy-eager", lambda: cupy_eager, check, reference=True, extra=dict(extra_size))
    dst = cp.empty_like(xd)
    copy = ctx.bench(WORKLOAD, "copy-bandwidth-limit", lambda: (lambda: cp.copyto(dst, xd) or dst),
                     lambda out: assert_close(ctx.to_host(out), x, 0, 0, what="copy"), annotate=bandwidth(x))

    def make_graphc():
        import graphc as gc
        xp = gc.placeholder(x.shape, "float32", name="x")
        f = gc.function([xp], gc.sigmoid(1.5 * xp + 0.5) * gc.tanh(xp) + 0.1 * xp * xp, backend="cupy")
        return lambda: f(xd)
    ctx.bench(WORKLOAD, "graphc-cupy", make_graphc, check, annotate=fraction_of(copy))

    def make_torch():
        torch = ctx.peer("torch")
        if not torch.cuda.is_available():
            raise Skip("this torch build has no CUDA")
        xt = torch.from_numpy(x).cuda()
        return lambda: torch.sigmoid(1.5 * xt + 0.5) * torch.tanh(xt) + 0.1 * xt * xt
    ctx.bench(WORKLOAD, "torch-cuda", make_torch, lambda out: check(out.cpu().numpy()))
