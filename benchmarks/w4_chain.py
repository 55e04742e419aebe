"""W4: compile time and scaling with graph size. A chain x = tanh(W_i @ x + b_i) of 200 layers
on a 64-vector, loss = sum(x); the gradient w.r.t. every W_i and b_i.

Reported per implementation: first_result_s = wall time to build the graph, differentiate,
compile and get the first result; then the steady time per call (median_ms). graphc and the
hand-written NumPy loop run at every depth (50/100/200/400/1000); the peers at 200 layers.
PyTensor runs in a child process with a timeout and a memory cap, since at this depth it recurses
past Python's limit; what happens is reported. --slow adds, likewise in children, torch.compile
(minutes to compile) and PyTensor's C linker with the recursion limit raised.

Run alone: ``python3 benchmarks/run.py W4``. (``python3 benchmarks/w4_chain.py --child ...``
is the child process's entry point.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from harness import Skip, assert_all_close, run_child

WORKLOAD = "W4"
TITLE = "200-layer tanh(W x + b) chain on a 64-vector: grad w.r.t. all W_i, b_i; first result and per call"
DEPTHS = (50, 100, 200, 400, 1000)
QUICK_DEPTHS = (50, 200)
MAIN_DEPTH = 200
WIDTH = 64
RTOL, ATOL = 2e-3, 1e-5        # float32 through up to 1000 matmuls and tanh
MEMORY_FRACTION = 0.4         # of this machine's RAM, for a PyTensor child (its numba compile of
                               # the 200-layer graph grew past 16 GB before it was stopped)
CHILD_TIMEOUT_S = 60           # PyTensor at default settings fails fast; compiles take longer
SLOW_TIMEOUT_S = 400           # --slow: torch.compile ~1 min, PyTensor with the limit raised ~2.5 min


def weights(depth, seed=0):
    rng = np.random.default_rng(seed)
    return ([rng.normal(0, 0.1, (WIDTH, WIDTH)).astype(np.float32) for _ in range(depth)],
            [rng.normal(0, 0.1, WIDTH).astype(np.float32) for _ in range(depth)])


def input_vector():
    return np.random.default_rng(1).normal(size=WIDTH).astype(np.float32)


def numpy_chain(ws, bs, x0, xp=np):
    """Forward and backward by hand: the reference. Returns [loss, dW_0, db_0, dW_1, ...]."""
    hs = [x0]
    for W, b in zip(ws, bs):
        hs.append(xp.tanh(W @ hs[-1] + b))
    grads = []
    g = xp.ones_like(hs[-1])
    for W, h_out, h_in in zip(reversed(ws), reversed(hs[1:]), reversed(hs[:-1])):
        gz = g * (1 - h_out * h_out)
        grads.append((xp.outer(gz, h_in), gz))
        g = W.T @ gz
    flat = [hs[-1].sum()]
    for gW, gb in reversed(grads):
        flat += [gW, gb]
    return flat


def depths_for(ctx):
    """--quick runs fewer depths at full size; only an explicit --size-scale shrinks them."""
    base = QUICK_DEPTHS if ctx.quick else DEPTHS
    scale = ctx.explicit_scale or 1.0
    depths = sorted({max(2, round(d * scale)) for d in base})
    return depths, max(2, round(MAIN_DEPTH * scale))


def run(ctx):
    depths, main = depths_for(ctx)
    x0 = input_vector()
    for depth in depths:
        ws, bs = weights(depth)
        want = numpy_chain(ws, bs, x0)
        group = f"W4@{depth}"
        label = f"W4 ({depth} layers)"
        kw = dict(group=group, label=label)

        def check(outs, want=want):
            return assert_all_close([np.asarray(o) for o in outs], want, RTOL, ATOL)

        xp = ctx.xp
        wd, bd, xd = ([xp.asarray(w) for w in ws], [xp.asarray(b) for b in bs], xp.asarray(x0))
        ref_name = "numpy-by-hand" if ctx.backend == "numpy" else "cupy-by-hand"
        ctx.bench(WORKLOAD, ref_name, lambda: (lambda: numpy_chain(wd, bd, xd, xp)),
                  lambda outs: check([ctx.to_host(o) for o in outs]), reference=True,
                  extra={"depth": depth}, **kw)

        gc_extra = {"depth": depth}

        def make_graphc(ws=ws, bs=bs, depth=depth, gc_extra=gc_extra):
            f, _, seconds = graphc_chain(depth, ws, bs, x0, backend=ctx.backend)
            gc_extra["first_result_s"] = seconds
            return lambda: f(xd)
        ctx.bench(WORKLOAD, f"graphc-{ctx.backend}", make_graphc,
                  lambda outs: check([ctx.to_host(o) for o in outs]), extra=gc_extra, **kw)

        if depth == main and ctx.backend == "numpy":
            run_peers(ctx, depth, ws, bs, x0, check, kw)


def graphc_chain(depth, ws, bs, x0, backend="numpy"):
    """Build, differentiate, compile and run once; returns (function, first outputs, seconds)."""
    import graphc as gc
    start = time.perf_counter()
    x = gc.placeholder((WIDTH,), "float32", name="x")
    params, h = [], x
    for i in range(depth):
        W, b = gc.variable(ws[i], name=f"W{i}"), gc.variable(bs[i], name=f"b{i}")
        params += [W, b]
        h = gc.tanh(W @ h + b)
    loss = gc.reduce_sum(h)
    f = gc.function([x], [loss] + gc.grad(loss, params), backend=backend)
    first = f(x0)
    return f, first, time.perf_counter() - start


# -- peers at the main depth -------------------------------------------------------------------------------

def run_peers(ctx, depth, ws, bs, x0, check, kw):
    def first_then_steady(peer, build_and_run, extra):
        """``build_and_run(module)`` -> (steady callable, first outputs); first_result_s goes to
        extra. Importing the peer and its one-time start-up are not counted."""
        def build():
            module = ctx.peer(peer)
            WARM_UP[peer](module)
            start = time.perf_counter()
            steady, first = build_and_run(module)
            extra["first_result_s"] = time.perf_counter() - start
            done = [False]

            def timed():
                if not done[0]:
                    done[0] = True
                    return first
                return steady()
            return timed
        return build

    def torch_eager(torch):
        params = []
        for W, b in zip(ws, bs):
            params += [torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)]
        xt = torch.from_numpy(x0)

        def call():
            h = xt
            for i in range(0, len(params), 2):
                h = torch.tanh(params[i] @ h + params[i + 1])
            loss = h.sum()
            return [loss.detach()] + list(torch.autograd.grad(loss, params))
        return call, [o.numpy() for o in call()]
    extra = {"depth": depth}
    ctx.bench(WORKLOAD, "torch-eager", first_then_steady("torch", torch_eager, extra), check, extra=extra, **kw)

    def jax_unrolled(jax):
        jnp = jax.numpy

        def loss_fn(params, x):
            h = x
            for i in range(0, len(params), 2):
                h = jnp.tanh(params[i] @ h + params[i + 1])
            return h.sum()
        f = jax.jit(jax.value_and_grad(loss_fn))
        params = [jax.device_put(a) for pair in zip(ws, bs) for a in pair]
        xj = jax.device_put(x0)

        def call():
            loss, grads = f(params, xj)
            jax.block_until_ready(grads)
            return [loss] + list(grads)
        return call, [np.asarray(o) for o in call()]
    extra = {"depth": depth}
    ctx.bench(WORKLOAD, "jax-jit", first_then_steady("jax", jax_unrolled, extra), check, extra=extra, **kw)

    def jax_scan(jax):
        jnp = jax.numpy

        def loss_fn(Ws, bs_, x):
            def layer(h, wb):
                return jnp.tanh(wb[0] @ h + wb[1]), None
            h, _ = jax.lax.scan(layer, x, (Ws, bs_))
            return h.sum()
        f = jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))
        Ws, Bs, xj = jax.device_put(np.stack(ws)), jax.device_put(np.stack(bs)), jax.device_put(x0)

        def call():
            loss, (gW, gb) = f(Ws, Bs, xj)
            jax.block_until_ready(gb)
            return loss, gW, gb

        def flat(out):
            loss, gW, gb = (np.asarray(o) for o in out)
            return [loss] + [a for i in range(len(gW)) for a in (gW[i], gb[i])]
        first = flat(call())
        return call, first
    extra = {"depth": depth}
    # the steady call returns stacked gradients; the first (checked) result is split per layer
    ctx.bench(WORKLOAD, "jax-jit-scan", first_then_steady("jax", jax_scan, extra), check, extra=extra, **kw)

    run_in_child(ctx, "pytensor", depth, kw)
    if ctx.slow:
        run_in_child(ctx, "pytensor-c", depth, kw, raise_limit=True)
        run_in_child(ctx, "torch-compile", depth, kw)
    else:
        ctx.fail(WORKLOAD, "torch-compile", "not run by default (1-2 minutes to compile at 200 "
                 "layers); use --slow", extra={"depth": depth}, kind="SKIP")


def _total_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024 ** 3
    except (ValueError, OSError, AttributeError):
        return 8.0


def _warm_torch(torch):
    """PyTorch's one-time autograd start-up is not part of this graph's first-result time."""
    w = torch.ones(2, requires_grad=True)
    torch.autograd.grad(torch.tanh(w).sum(), [w])


def _warm_jax(jax):
    """JAX's one-time start-up (backend, compiler) is not part of any graph's compile time."""
    jax.jit(lambda v: v + 1)(np.zeros(2, np.float32)).block_until_ready()


WARM_UP = {"torch": _warm_torch, "jax": _warm_jax}


def run_in_child(ctx, impl, depth, kw, raise_limit=False):
    """A peer in a child process with a timeout; its outcome becomes a RESULT, SKIP or FAIL line."""
    name = impl + ("-recursionlimit" if raise_limit else "")
    if ctx.impls is not None and name not in ctx.impls:
        return
    module = "pytensor" if impl.startswith("pytensor") else "torch"
    memory_gb = max(1, int(_total_memory_gb() * MEMORY_FRACTION))
    try:
        ctx.peer(module)
    except Skip as exc:
        ctx.fail(WORKLOAD, name, str(exc), extra={"depth": depth}, kind="SKIP")
        return
    timeout = SLOW_TIMEOUT_S if (ctx.slow and (raise_limit or impl == "torch-compile")) else (
        CHILD_TIMEOUT_S // 2 if ctx.quick else CHILD_TIMEOUT_S)
    argv = [os.path.abspath(__file__), "--child", impl, "--depth", str(depth), "--reps", str(ctx.reps)]
    if raise_limit:
        argv += ["--recursion-limit", "1000000"]
    if module == "pytensor":   # its compile can take all the memory of a shared machine: cap it
        argv += ["--memory-limit-gb", str(memory_gb)]
    rc, out, err, seconds = run_child(argv, timeout)
    report, phase = None, "start-up"
    for line in out.splitlines():
        if line.startswith("CHILD "):
            message = json.loads(line[len("CHILD "):])
            if "phase" in message:
                phase = f"{message['phase']} (entered at {message['at_s']:.1f} s)"
            else:
                report = message
    extra = {"depth": depth}
    if rc is None:
        ctx.fail(WORKLOAD, name, f"still running after the {timeout} s timeout, in {phase}", extra=extra)
    elif report is None:
        if rc < 0:
            import signal
            how = f"killed by {signal.Signals(-rc).name}" + (" (out of memory?)" if rc == -9 else "")
        else:
            how = f"exited with status {rc}: {(err.strip().splitlines() or [''])[-1]}"
        ctx.fail(WORKLOAD, name, f"child process {how} after {seconds:.0f} s, in {phase}", extra=extra)
    elif "error" in report:
        ctx.fail(WORKLOAD, name, report["error"], extra=extra)
    else:
        extra["first_result_s"] = report["first_result_s"]
        ctx.record(WORKLOAD, name, report["median_s"], report["min_s"], report["n"],
                   checked=report["checked"], extra=extra, **kw)


# -- the child process -------------------------------------------------------------------------------------

def child(impl, depth, reps, recursion_limit, memory_limit_gb=0):
    """Build, differentiate, compile and run ``impl`` at ``depth``; print CHILD json lines: each
    phase as it starts, then the outcome."""
    import statistics
    import threading
    if memory_limit_gb:
        import resource
        limit = memory_limit_gb * 1024 ** 3
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    begin = time.perf_counter()

    def say(**kw):
        print("CHILD " + json.dumps(kw), flush=True)

    class Phase(dict):
        """state["phase"] = name also tells the parent, so a timeout or a crash names the phase."""
        def __setitem__(self, key, value):
            super().__setitem__(key, value)
            if key == "phase":
                say(phase=value, at_s=time.perf_counter() - begin)
    state = Phase()
    state["phase"] = "import"

    def work():
        ws, bs = weights(depth)
        x0 = input_vector()
        want = numpy_chain(ws, bs, x0)
        start = time.perf_counter()
        try:
            if impl in ("pytensor", "pytensor-c"):
                call = _pytensor_chain(ws, bs, x0, state, linker="cvm" if impl == "pytensor-c" else None)
            elif impl == "torch-compile":
                call = _torch_compile_chain(ws, bs, x0, state)
            else:
                raise ValueError(f"unknown child impl {impl!r}")
            state["phase"] = "first call"
            first = call()
        except RecursionError as exc:
            say(error=f"RecursionError in {state['phase']} after {time.perf_counter() - start:.1f} s "
                      f"(recursion limit {sys.getrecursionlimit()}): {exc}")
            return
        except MemoryError:
            say(error=f"MemoryError in {state['phase']} after {time.perf_counter() - start:.1f} s "
                      f"(address space capped at {memory_limit_gb} GB)")
            return
        except Exception as exc:
            say(error=f"{type(exc).__name__} in {state['phase']} after {time.perf_counter() - start:.1f} s: {exc}")
            return
        first_s = time.perf_counter() - start
        try:
            checked = "ok:" + assert_all_close([np.asarray(o) for o in first], want, RTOL, ATOL)
        except AssertionError as exc:
            say(error="check against the NumPy reference failed: " + " ".join(str(exc).split())[:300])
            return
        call()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        say(first_result_s=first_s, median_s=statistics.median(times), min_s=min(times), n=reps,
            checked=checked)

    if recursion_limit:
        sys.setrecursionlimit(recursion_limit)
        threading.stack_size(512 * 1024 * 1024)   # deep Python recursion needs a deep C stack
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    else:
        work()


def _pytensor_chain(ws, bs, x0, state, linker=None):
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode
    state["phase"] = "build"
    x = pt.vector("x", dtype="float32")
    params, h = [], x
    for W, b in zip(ws, bs):
        Wv, bv = pytensor.shared(W), pytensor.shared(b)
        params += [Wv, bv]
        h = pt.tanh(Wv @ h + bv)
    loss = h.sum()
    state["phase"] = "grad"
    grads = pytensor.grad(loss, params)
    state["phase"] = "compile"
    f = pytensor.function([x], [loss] + grads,
                          mode=Mode(linker=linker, optimizer="fast_run") if linker else None)
    f.trust_input = True
    return lambda: f(x0)


def _torch_compile_chain(ws, bs, x0, state):
    import torch
    state["phase"] = "build"
    params = []
    for W, b in zip(ws, bs):
        params += [torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)]
    xt = torch.from_numpy(x0)

    def forward(x, *ps):
        h = x
        for i in range(0, len(ps), 2):
            h = torch.tanh(ps[i] @ h + ps[i + 1])
        return h.sum()
    compiled = torch.compile(forward)
    state["phase"] = "compile + first call"

    def call():
        loss = compiled(xt, *params)
        return [loss.detach().numpy()] + [g.numpy() for g in torch.autograd.grad(loss, params)]
    return call


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description="W4 child process (used by benchmarks/run.py W4)")
    ap.add_argument("--child", required=True, choices=("pytensor", "pytensor-c", "torch-compile"))
    ap.add_argument("--depth", type=int, default=MAIN_DEPTH)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--recursion-limit", type=int, default=0)
    ap.add_argument("--memory-limit-gb", type=int, default=0)
    a = ap.parse_args()
    child(a.child, a.depth, a.reps, a.recursion_limit, a.memory_limit_gb)
