"""W7: graphc beyond one process, on Dask (backend="dask"). Not in the default set: it starts
LocalClusters of worker processes (``python3 benchmarks/run.py W7``).

W7 (elementwise): W2's expression y = sigmoid(1.5x+0.5)*tanh(x) + 0.1x² on 2**28 float32
(1 GiB), ms per evaluation of y. Eager NumPy (the reference) and graphc's NumPy backend run in
this process on x in its memory; graphc on Dask computes y chunk by chunk (16 chunks of 2**24):
with the threaded scheduler (this process, y gathered into one NumPy array), and on a
LocalCluster of 2 worker processes × 1 thread where x already lives in the workers' memory and
y stays there (``persist``: nothing crosses to this process).

W7 (data-parallel step): W3's training step (MLP 784-512-512-10, batch 256, Adam) as one graph
compiled with backend="dask", each batch split into one shard per worker: per-shard forward and
backward, one tree reduction of the partial gradients, one task for the Adam update; ms per
step (steps/s = 1000 / ms), on LocalClusters of 1 and 2 worker processes and on local threads;
the reference is graphc's NumPy backend in this process. Every implementation is checked
against the NumPy reference (W2's y; W3's loss and weights after one step) before it is timed.
"""
from __future__ import annotations

import numpy as np

from harness import Skip, assert_all_close, assert_close

import w2_elementwise as w2
import w3_mlp_step as w3

WORKLOAD = "W7"
TITLE = "graphc on Dask: W2 on 2**28 float32 (LocalCluster vs one process); data-parallel W3 steps"
SIZE = 2 ** 28
CHUNK = 2 ** 24


def available():
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        return f"dask[array,distributed] is not installed ({exc}): pip install graphc[dask]"
    return None


def cluster(workers):
    import distributed
    c = distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                 dashboard_address=None, silence_logs=40)
    return c, distributed.Client(c, set_as_default=False)


def run(ctx):
    import dask
    if ctx.backend != "numpy":
        raise Skip("W7 runs on the CPU (--backend numpy)")
    elementwise(ctx, dask)
    data_parallel(ctx, dask)


def elementwise(ctx, dask):
    import dask.array as da
    import distributed
    import graphc as gc
    n = ctx.scaled(SIZE, minimum=4096)
    chunk = max(1024, ctx.scaled(CHUNK, minimum=256))
    label = f"W7 (W2 on 2^{int(round(np.log2(n)))})"
    group = "W7-elementwise"
    extra = {"size": n, "chunk": chunk}
    c, client = cluster(2)
    try:
        # x lives on the workers (made there, as a cluster's data would be); this process gets
        # a copy for the one-process implementations and the reference
        xd = da.random.default_rng(0).standard_normal(n, dtype=np.float32, chunks=chunk)
        xd = client.persist(xd)
        with client.as_current():
            distributed.wait(xd)
        x = client.compute(xd).result()
        want = w2.numpy_eager(x)

        def check(out):
            return assert_close(out, want, w2.RTOL, w2.ATOL, what="y")
        ctx.bench(WORKLOAD, "numpy", lambda: (lambda: w2.numpy_eager(x)), check, reference=True,
                  group=group, label=label, extra=dict(extra))
        xp = gc.placeholder((None,), "float32", name="x")
        expr = gc.sigmoid(1.5 * xp + 0.5) * gc.tanh(xp) + 0.1 * xp * xp

        def make_numpy():
            f = gc.function([xp], expr)
            return lambda: f(x)
        ctx.bench(WORKLOAD, "graphc-numpy", make_numpy, check, group=group, label=label)

        def make_threads():
            f = gc.function([xp], expr, backend="dask")
            xl = da.from_array(x, chunks=chunk)
            return lambda: f(xl).compute(scheduler="threads")
        ctx.bench(WORKLOAD, "graphc-dask-threads", make_threads, check, group=group, label=label)

        def make_cluster():
            f = gc.function([xp], expr, backend="dask")

            def y_on_the_workers():
                y = client.persist(f(xd))
                with client.as_current():
                    distributed.wait(y)
                return y
            first = [True]

            def timed():
                if first[0]:           # the checked run brings y back once
                    first[0] = False
                    return client.compute(y_on_the_workers()).result()
                return y_on_the_workers()
            return timed
        ctx.bench(WORKLOAD, "graphc-dask-cluster-2w", make_cluster, check, group=group, label=label,
                  extra={"workers": 2, "y_stays_on_workers": "yes"})
    finally:
        client.close()
        c.close()


def data_parallel(ctx, dask):
    from graphc.backends.dask import Shards
    n = ctx.scaled(w3.BATCH, minimum=8)
    params0 = w3.initial_weights()
    x, y = w3.batch(n)
    ref = w3.HandWritten(params0)
    ref_loss = ref.step(x, y)
    ref_params = [p.copy() for p in ref.params]
    label, group = f"W7 (data-parallel W3, batch {n})", "W7-data-parallel"

    def check(state):
        loss, params = state
        note = assert_close(np.asarray(loss, np.float32), np.asarray(ref_loss, np.float32), w3.LOSS_RTOL, 0,
                            what="loss after one step")
        names = ["W1", "b1", "W2", "b2", "W3", "b3"]
        return "loss_" + note + ",weights_" + assert_all_close(
            [np.asarray(p) for p in params], ref_params, w3.W_RTOL, w3.W_ATOL, names=names)

    def steps_per_s(median_s):
        return {"steps_per_s": 1.0 / median_s}

    def stepper(backend, shards, scheduler):
        def build():
            step = w3.graphc_step(params0, n, backend=backend)
            rows = -(-n // shards)
            cut = range(0, n, rows)
            if backend == "numpy":
                def one():
                    return step.fn(x, y)
            else:
                xs, ys = Shards([x[lo:lo + rows] for lo in cut]), Shards([y[lo:lo + rows] for lo in cut])

                def one():
                    with dask.config.set(scheduler=scheduler):
                        return step.fn(xs, ys)
            loss = one()
            state = (loss, [v.value for v in step.params])
            first = [True]

            def timed():
                if first[0]:
                    first[0] = False
                    return state
                return one()
            return timed
        return build

    ctx.bench(WORKLOAD, "graphc-numpy", stepper("numpy", 1, None), check, reference=True, group=group,
              label=label, annotate=steps_per_s)
    ctx.bench(WORKLOAD, "graphc-dask-threads", stepper("dask", 2, "threads"), check, group=group, label=label,
              annotate=steps_per_s, extra={"shards": 2})
    for workers in (1, 2):
        c, client = cluster(workers)
        try:
            ctx.bench(WORKLOAD, f"graphc-dask-cluster-{workers}w", stepper("dask", workers, client), check,
                      group=group, label=label, annotate=steps_per_s, extra={"shards": workers})
        finally:
            client.close()
            c.close()
