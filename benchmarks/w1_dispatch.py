"""W1: call/dispatch overhead. h = (a + b) * (c + d) on four float64 scalars, µs per call.

Each timed repetition is a loop of CALLS calls (10 000 by default); the time per call is what is
reported. Every implementation gets inputs already in its own form (Python floats, NumPy
scalars, 0-d float64 arrays, 0-d tensors), so only the call itself is measured.
"""
from __future__ import annotations

import numpy as np

from harness import Skip, assert_close, graphc_fast_path

WORKLOAD = "W1"
TITLE = "h=(a+b)*(c+d) on four float64 scalars, µs per call"
CALLS = 10_000
VALUES = (1.0, 2.0, 3.0, 4.0)


def h(a, b, c, d):
    return (a + b) * (c + d)


def call_loop(fn, args, calls):
    """The timed unit: ``calls`` calls of ``fn(*args)``; returns the last output."""
    a, b, c, d = args
    rng = range(calls)

    def loop():
        for _ in rng:
            out = fn(a, b, c, d)
        return out
    return loop


def run(ctx):
    calls = ctx.scaled(CALLS, minimum=100)
    want = np.float64(h(*VALUES))
    arrays = tuple(np.asarray(v, dtype=np.float64) for v in VALUES)   # 0-d float64 arrays

    def check_scalar(out):
        return assert_close(np.asarray(out), np.asarray(want), rtol=1e-12, atol=0, what="h")

    def bench(impl, make, **kw):
        """``make()`` -> (function, its four inputs); raises Skip when the impl cannot run."""
        return ctx.bench(WORKLOAD, impl, lambda: call_loop(*make(), calls), check_scalar,
                         inner=calls, unit="us", **kw)

    if ctx.backend == "cupy":
        return run_gpu(ctx, calls, want)

    bench("numpy-scalar", lambda: (h, tuple(np.float64(v) for v in VALUES)), reference=True)
    bench("python-float", lambda: (h, VALUES))

    # graphc: the normal call checks and converts every input
    def make_graphc(**kwargs):
        import graphc as gc
        a, b, c, d = (gc.placeholder((), "float64", name=n) for n in "abcd")
        return gc.function([a, b, c, d], (a + b) * (c + d), **kwargs)

    bench("graphc-numpy", lambda: (make_graphc(), arrays))
    fast_how = {}

    def make_fast():
        how, f, fast = graphc_fast_path(make_graphc)
        f(*arrays)  # specialize through the checked path first
        fast_how["fast_path"] = how
        return fast, arrays
    bench("graphc-numpy-fast", make_fast, extra=fast_how)

    def make_torch():
        torch = ctx.peer("torch")
        return h, tuple(torch.tensor(v, dtype=torch.float64) for v in VALUES)
    bench("torch-eager", make_torch)

    def make_pytensor(linker=None, trust=False):
        def make():
            pytensor = ctx.peer("pytensor")
            import pytensor.tensor as pt
            from pytensor.compile.mode import Mode
            a, b, c, d = (pt.dscalar(n) for n in "abcd")
            mode = Mode(linker=linker, optimizer="fast_run") if linker else None
            f = pytensor.function([a, b, c, d], (a + b) * (c + d), mode=mode)
            f.trust_input = trust
            return f, arrays
        return make
    # PyTensor's default linker (numba in PyTensor 3), and its C virtual machine
    bench("pytensor", make_pytensor())
    bench("pytensor-trust_input", make_pytensor(trust=True))
    bench("pytensor-c", make_pytensor("cvm"))
    bench("pytensor-c-trust_input", make_pytensor("cvm", trust=True))

    def make_jax():
        jax = ctx.peer("jax")
        jax.config.update("jax_enable_x64", True)   # float64 scalars need x64 mode
        jitted = jax.jit(h)
        args = tuple(jax.numpy.asarray(v, dtype=jax.numpy.float64) for v in VALUES)
        return (lambda a, b, c, d: jitted(a, b, c, d).block_until_ready()), args
    x64 = _jax_x64(ctx)
    try:
        bench("jax-jit", make_jax)
    finally:
        if x64 is not None:
            ctx.peer("jax").config.update("jax_enable_x64", x64)


def _jax_x64(ctx):
    """JAX's x64 flag before this workload changes it (None when JAX is not usable)."""
    try:
        return bool(ctx.peer("jax").config.jax_enable_x64)
    except Skip:
        return None


def run_gpu(ctx, calls, want):
    """--backend cupy: CuPy eager scalars (reference), graphc on CuPy, PyTorch CUDA."""
    cp = ctx.xp

    def check(out):
        return assert_close(ctx.to_host(out), np.asarray(want), rtol=1e-12, atol=0, what="h")

    def bench(impl, make, **kw):
        return ctx.bench(WORKLOAD, impl, lambda: call_loop(*make(), calls), check,
                         inner=calls, unit="us", **kw)
    args = tuple(cp.asarray(v, dtype=cp.float64) for v in VALUES)
    bench("cupy-eager", lambda: (h, args), reference=True)

    def make_graphc():
        import graphc as gc
        a, b, c, d = (gc.placeholder((), "float64", name=n) for n in "abcd")
        return gc.function([a, b, c, d], (a + b) * (c + d), backend="cupy"), args
    bench("graphc-cupy", make_graphc)

    def make_torch():
        torch = ctx.peer("torch")
        if not torch.cuda.is_available():
            raise Skip("this torch build has no CUDA")
        return h, tuple(torch.tensor(v, dtype=torch.float64, device="cuda") for v in VALUES)
    bench("torch-cuda", make_torch)
