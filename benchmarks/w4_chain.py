"""W4 of shared/BENCHMARKS.md: a deep chain x = tanh(W_i @ x + b_i) on a 64-vector, loss = sum(x).

Measures, per depth: wall time to build the graph, differentiate w.r.t. every W_i and b_i,
compile, and get the first result; then the steady per-call time against a hand-written NumPy
forward+backward loop (checked to agree first). Prints RESULT lines.

    python3 benchmarks/w4_chain.py [--depths 50,100,200,400] [--reps 20]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import graphc as gc


def weights(depth, seed=0):
    rng = np.random.default_rng(seed)
    return ([rng.normal(0, 0.1, (64, 64)).astype("float32") for _ in range(depth)],
            [rng.normal(0, 0.1, 64).astype("float32") for _ in range(depth)])


def graphc_chain(depth, ws, bs, x0):
    start = time.perf_counter()
    x = gc.placeholder((64,), "float32", name="x")
    params, h = [], x
    for i in range(depth):
        W, b = gc.variable(ws[i], name=f"W{i}"), gc.variable(bs[i], name=f"b{i}")
        params += [W, b]
        h = gc.tanh(W @ h + b)
    loss = gc.reduce_sum(h)
    f = gc.function([x], [loss] + gc.grad(loss, params))
    first = f(x0)
    return f, first, time.perf_counter() - start


def numpy_chain(ws, bs, x0):
    """Forward and backward by hand: the reference and the steady-state peer."""
    hs = [x0]
    for W, b in zip(ws, bs):
        hs.append(np.tanh(W @ hs[-1] + b))
    grads = []
    g = np.ones_like(hs[-1])
    for W, h_out, h_in in zip(reversed(ws), reversed(hs[1:]), reversed(hs[:-1])):
        gz = g * (1 - h_out * h_out)
        grads.append((np.outer(gz, h_in), gz))
        g = W.T @ gz
    flat = [hs[-1].sum()]
    for gW, gb in reversed(grads):
        flat += [gW, gb]
    return flat


def timed(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="50,100,200,400")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args(argv)
    x0 = np.random.default_rng(1).normal(size=64).astype("float32")
    for depth in (int(d) for d in args.depths.split(",")):
        ws, bs = weights(depth)
        f, first, to_first = graphc_chain(depth, ws, bs, x0)
        reference = numpy_chain(ws, bs, x0)
        for got, want in zip(first, reference):
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-5)
        med_np, min_np = timed(lambda: numpy_chain(ws, bs, x0), args.reps)
        med_gc, min_gc = timed(lambda: f(x0), args.reps)
        print(f"RESULT workload=W4 depth={depth} impl=graphc-numpy first_result_s={to_first:.3f} "
              f"median_ms={med_gc * 1e3:.3f} min_ms={min_gc * 1e3:.3f} n={args.reps} "
              f"ratio_vs_numpy={med_gc / med_np:.2f}")
        print(f"RESULT workload=W4 depth={depth} impl=numpy-by-hand median_ms={med_np * 1e3:.3f} "
              f"min_ms={min_np * 1e3:.3f} n={args.reps} ratio_vs_numpy=1.00")


if __name__ == "__main__":
    main()
