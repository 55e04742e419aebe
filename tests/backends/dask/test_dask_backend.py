"""backend="dask": graphs run chunk by chunk by Dask compute what the NumPy backend computes.

Random graphs (tests/passes/test_random_graphs.py's generator) on Dask's local scheduler and on a
real LocalCluster of two worker processes; the chunk-local / once / tree-reduction plan; lazy
in, lazy out; replicated operands split to the chunks' rows; clear GraphErrors, before
anything runs, for graphs that cannot be chunked; the diagram of the regions; graphc without
dask installed."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphc as gc
from tests.passes.test_random_graphs import _grow, _values

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


@st.composite
def chunkable_graph(draw, rows, cols):
    """test_random_graphs' generator, grown deeper (reductions over the batch feeding later
    ops, so plans have several levels); every graph it makes can be chunked along x's rows."""
    x = gc.placeholder((rows, cols), "float64", name="x")
    v = gc.placeholder((cols,), "float64", name="v")
    pool = [x, v, gc.constant(0.5, dtype="float64")]
    _grow(draw, pool, rows, cols, draw(st.integers(2, 8)))
    if draw(st.booleans()):  # a statistic over the batch that later rows use, like batch norm
        a = draw(st.sampled_from([t for t in pool if t.shape == (rows, cols)]))
        pool.append(a - gc.reduce_mean(a, axis=0))
    _grow(draw, pool, rows, cols, draw(st.integers(1, 8)))
    outs = draw(st.lists(st.sampled_from(pool[3:] or [x]), min_size=1, max_size=3, unique_by=id))
    return [x, v], outs


def _check(got, want, tol=1e-9):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunkable_graph(13, 6), st.integers(0, 2**31 - 1), st.sampled_from([1, 4, 5, 13]), st.booleans())
def test_random_graphs_equal_the_numpy_backend(graph, seed, rows, optimize):
    inputs, outs = graph
    xv, vv = _values((13, 6), seed)
    want = gc.function(inputs, outs, optimize=False)(xv, vv)
    f = gc.function(inputs, outs, backend="dask", optimize=optimize)
    lazy = f(da.from_array(xv, chunks=(rows, 6)), vv)
    assert all(isinstance(o, da.Array) for o in lazy)
    _check(dask.compute(*lazy, scheduler="sync"), want)
    _check(f(xv, vv), want)   # NumPy in, NumPy out (one task, nothing chunked)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunkable_graph(40, 5), st.integers(0, 2**31 - 1))
def test_random_graphs_on_a_cluster_of_worker_processes(client, graph, seed):
    inputs, outs = graph
    xv, vv = _values((40, 5), seed)
    want = gc.function(inputs, outs)(xv, vv)
    f = gc.function(inputs, outs, backend="dask")
    with dask.config.set(scheduler=client):
        _check(dask.compute(*f(da.from_array(xv, chunks=(7, 5)), vv)), want)


def test_plan_per_chunk_regions_tree_reductions_and_once_tasks():
    x = gc.placeholder((None, 4), "float32", name="x")
    w = gc.variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3), name="w")
    h = gc.relu(x @ w)
    loss = gc.reduce_mean(gc.square(h))
    f = gc.function([x], loss, updates=[(w, w - 0.1 * gc.grad(loss, w))], backend="dask")
    xv = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    ref = gc.function([x], loss, updates=[(w, w - 0.1 * gc.grad(loss, w))])
    w_before = w.value.copy()
    want = ref(xv)
    w_ref = w.value.copy()
    w.assign(w_before)
    got = f(da.from_array(xv, chunks=(4, 4)))   # updates: computed at once, NumPy back
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(w.value, w_ref, rtol=1e-6, atol=1e-7)
    plan = f._last.executable.last_plan
    assert [r.name for r in plan.regions] == ["chunk0", "once1"]
    chunk, once = plan.regions
    assert chunk.chunked and not once.chunked
    # the loss's sum and the gradient x.T @ g are the partials of one tree
    assert sorted(n.op for n in chunk.partials) == ["matmul", "reduce_sum"]
    assert chunk.combine == ["sum", "sum"]
    source = f.source
    assert "# plan (Dask runs it):" in source and "combined (sum) by one Dask tree reduction" in source
    assert "# --- region chunk0: runs per chunk" in source and "# --- region once1: runs once" in source


def test_lazy_in_lazy_out_numpy_in_numpy_out():
    x = gc.placeholder((None, 3), "float64", name="x")
    f = gc.function([x], [gc.exp(x) * 2.0, gc.reduce_sum(x, axis=0)], backend="dask")
    xv = np.arange(30.0).reshape(10, 3) / 10
    rows, total = f(da.from_array(xv, chunks=(4, 3)))
    assert isinstance(rows, da.Array) and rows.chunks == ((4, 4, 2), (3,))
    assert isinstance(total, da.Array) and total.chunks == ((3,),)
    np.testing.assert_allclose(rows.compute(scheduler="threads"), np.exp(xv) * 2)
    np.testing.assert_allclose(total.compute(scheduler="threads"), xv.sum(axis=0))
    rows, total = f(xv)
    assert isinstance(rows, np.ndarray) and isinstance(total, np.ndarray)
    np.testing.assert_allclose(total, xv.sum(axis=0))


def test_mean_over_uneven_chunks_is_weighted_by_chunk_length():
    x = gc.placeholder((None, 2), "float64", name="x")
    xv = np.random.default_rng(1).normal(size=(11, 2))
    f = gc.function([x], [gc.reduce_mean(x, axis=0), gc.reduce_mean(x), gc.reduce_max(x, axis=0),
                          gc.reduce_min(x), gc.reduce_prod(1.0 + 0.01 * x, axis=0)],
                    backend="dask", optimize=False)
    got = dask.compute(*f(da.from_array(xv, chunks=((5, 1, 3, 2), (2,)))), scheduler="sync")
    _check(got, [xv.mean(axis=0), xv.mean(), xv.max(axis=0), xv.min(), (1.0 + 0.01 * xv).prod(axis=0)])
    assert f._last.executable.last_plan.regions[0].combine == ["mean", "mean", "max", "min", "prod"]


def test_chunked_inputs_are_aligned_and_replicated_operands_split_to_rows():
    x = gc.placeholder((12, 3), "float32", name="x")
    y = gc.placeholder((12,), "int64", name="y")
    logits = x * 2.0
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, 3), logits))
    f = gc.function([x, y], loss, backend="dask")
    xv = np.random.default_rng(2).normal(size=(12, 3)).astype(np.float32)
    yv = np.arange(12) % 3
    want = gc.function([x, y], loss)(xv, yv)
    # y as NumPy: replicated, each chunk reads its own rows of it
    np.testing.assert_allclose(f(da.from_array(xv, chunks=(5, 3)), yv).compute(scheduler="sync"), want, rtol=1e-6)
    plan = f._last.executable.last_plan
    assert any(split is not None for region in plan.regions for _, split in region.inputs)
    # y as a dask.array chunked differently: rechunked to x's chunks
    got = f(da.from_array(xv, chunks=(5, 3)), da.from_array(yv, chunks=3)).compute(scheduler="sync")
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_reshape_keeps_chunks_when_rows_stay_whole():
    x = gc.placeholder((8, 3, 2), "float32", name="x")
    flat = gc.reshape(x, (8, 6))          # merges the axes after the batch: rows stay whole
    long = gc.reshape(x, (48,))           # 6 values per row
    f = gc.function([x], [gc.reduce_sum(flat * flat, axis=1), gc.reshape(long * 2.0, (6, 8))], backend="dask")
    xv = np.arange(48, dtype=np.float32).reshape(8, 3, 2)
    a, b = dask.compute(*f(da.from_array(xv, chunks=(4, 3, 2))), scheduler="sync")
    np.testing.assert_allclose(a, (xv.reshape(8, 6) ** 2).sum(axis=1))
    np.testing.assert_allclose(b, (xv.reshape(48) * 2).reshape(6, 8))
    with pytest.raises(gc.GraphError, match="multiples of 4 rows"):
        f(da.from_array(xv, chunks=(2, 3, 2)))   # 2 rows = 12 values: 1.5 rows of 8


@pytest.mark.parametrize("build, why", [
    (lambda x: gc.argmax(x, axis=0), "position of the winner"),
    (lambda x: x[2:5], "slices the batch axis"),
    (lambda x: x[3], "picks one index"),
    (lambda x: gc.concat([x, x], axis=0), "along the batch axis"),
    (lambda x: gc.reshape(gc.transpose(x), (-1,)), "merges or splits the batch axis"),
    (lambda x: x @ gc.transpose(x), "chunked along two axes"),
    (lambda x: gc.transpose(x) @ gc.transpose(x), "the contracted axis, the other along another"),
])
def test_graphs_that_cannot_be_chunked_fail_before_anything_runs(build, why):
    x = gc.placeholder((6, 6), "float32", name="x")
    f = gc.function([x], build(x), backend="dask")
    ran = []

    def block(b):
        ran.append(1)
        return b
    xd = da.from_array(np.ones((6, 6), np.float32), chunks=(2, 6)).map_blocks(
        block, meta=np.empty((0, 0), np.float32))
    with pytest.raises(gc.GraphError, match=why) as info:
        f(xd)
    assert "backend 'dask'" in str(info.value) and "'x' along axis 0" in str(info.value)
    assert not ran


def test_random_ops_draw_per_chunk_reproducibly():
    x = gc.placeholder((None, 4), "float32", name="x")
    f = gc.function([x], gc.nn.dropout(x, 0.5, seed=7), backend="dask")
    xd = da.ones((40, 4), chunks=(10, 4), dtype=np.float32)
    a = f(xd).compute(scheduler="sync")
    b = f(xd).compute(scheduler="sync")
    assert set(np.unique(a)) <= {0.0, 2.0} and 0.3 < (a == 0).mean() < 0.7
    assert not np.array_equal(a, b)                       # a fresh sample per call
    assert not any(np.array_equal(a[:10], a[k:k + 10]) for k in (10, 20, 30))   # and per chunk


def test_render_shows_what_runs_per_chunk_and_the_tree():
    x = gc.placeholder((None, 4), "float32", name="x")
    f = gc.function([x], [gc.tanh(x) * 2.0, gc.reduce_sum(gc.square(x), axis=0)], backend="dask")
    f(da.zeros((8, 4), chunks=(2, 4), dtype=np.float32))
    dot = gc.to_dot(f)
    assert "chunk0: per chunk (4 chunks)" in dot
    assert "Dask tree reduction (sum)" in dot
    assert "tree reduction" in f._last.executable.summary()


def test_graphc_imports_and_explains_without_dask():
    code = ("import sys; sys.modules['dask'] = None; sys.modules['dask.array'] = None\n"
            "import graphc as gc\n"
            "x = gc.placeholder((3,), name='x')\n"
            "assert 'dask' not in gc.backends()\n"
            "try:\n"
            "    gc.function([x], x * 2, backend='dask')\n"
            "except gc.BackendUnavailable as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "dask is not installed: pip install graphc[dask]" in out.stdout
