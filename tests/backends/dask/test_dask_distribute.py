"""graphc on a Dask cluster of two worker processes (300 MiB memory limit each): data-parallel
``fit`` gives single-process training's loss curve; ``predict`` and a compiled pipeline run out
of core on data larger than a worker's memory; a worker killed mid-computation is replaced,
its tasks rerun, and the result is unchanged."""
import os
import signal
import time

import numpy as np
import pytest

import graphc as gc

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

WORKER_MEMORY = 300 * 2**20


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       memory_limit=WORKER_MEMORY, dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


def _digits(n=480):
    x, y = gc.datasets.load_digits()
    return x[:n].astype(np.float32) / 16, y[:n]


def _mlp(seed=3, optimizer=None):
    L = gc.layers
    model = gc.models.Sequential([L.Dense(32, activation="relu", input_shape=(64,)), L.Dense(10)], seed=seed)
    model.compile(optimizer=optimizer or gc.optimizers.Adam(1e-2),
                  loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_data_parallel_fit_equals_single_process_training(client):
    x, y = _digits()
    single, parallel = _mlp(), _mlp()
    want = single.fit(x, y, epochs=4, batch_size=96, verbose=0, validation_split=0.2)
    got = parallel.fit(x, y, epochs=4, batch_size=96, verbose=0, validation_split=0.2, distribute=client)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got.history[key], want.history[key], rtol=2e-5, err_msg=key)
    assert got.history["loss"][-1] < 0.8 * got.history["loss"][0]      # it learns
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # one tree sums every gradient, the loss and the accuracy count; one task applies Adam
    step = gc.distribute.DataParallelStep(parallel, client)
    step(x[:96], y[:96], np.ones(96, np.float32))
    plan = step.function._last.executable.last_plan
    assert [r.name for r in plan.regions] == ["chunk0", "once1"]
    assert len(plan.regions[0].partials) >= 5 and set(plan.regions[0].combine) == {"sum"}
    assert sum(n.op == "matmul" for n in plan.regions[0].partials) == 2   # x.T @ g per layer
    assert plan.regions[1].outputs and not plan.regions[1].chunked


def test_data_parallel_cnn_with_batch_norm_on_local_threads():
    # batch statistics are exact over the global batch: a sum over the shards first, then
    # every shard normalizes with it (several rounds of tree reductions per step)
    L = gc.layers
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 1), dtype=np.float32), rng.integers(0, 4, 64)

    def model():
        m = gc.models.Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)), L.MaxPooling2D(2),
                                  L.BatchNormalization(), L.Flatten(), L.Dense(4)], seed=1)
        m.compile(optimizer=gc.optimizers.SGD(0.05), loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m
    single, parallel = model(), model()
    want = single.fit(x, y, epochs=2, batch_size=32, verbose=0).history["loss"]
    got = parallel.fit(x, y, epochs=2, batch_size=32, verbose=0,
                       distribute=gc.distribute.DataParallel("threads", shards=4)).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_npy_files_larger_than_memory_in_and_out(client, tmp_path):
    x, _ = _digits(300)
    np.save(tmp_path / "x.npy", x)
    model = _mlp()
    xd = gc.distribute.from_npy(tmp_path / "x.npy", rows=64)      # read block by block by the workers
    assert xd.chunks[0] == (64, 64, 64, 64, 44)
    with dask.config.set(scheduler=client):
        gc.distribute.to_npy(gc.distribute.predict(model, xd), tmp_path / "p.npy")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x), rtol=1e-5, atol=1e-6)


def test_data_parallel_embedding_lstm_on_local_threads():
    # gathers from a replicated table per shard; the table's gradient is a scatter-add per
    # shard, summed by the tree; the unrolled LSTM slices the time axis, never the batch
    L = gc.layers
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 20, (48, 6)), rng.integers(0, 3, 48)

    def model():
        m = gc.models.Sequential([L.Embedding(20, 8, mask_zero=True, input_shape=(6,)), L.LSTM(8), L.Dense(3)], seed=2)
        m.compile(optimizer="adam", loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m
    single, parallel = model(), model()
    want = single.fit(x, y, epochs=2, batch_size=24, verbose=0).history["loss"]
    got = parallel.fit(x, y, epochs=2, batch_size=24, verbose=0,
                       distribute=gc.distribute.DataParallel("threads", shards=3)).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for a, b in zip(parallel.get_weights(), single.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_predict_on_the_cluster_matches_predict(client):
    x, y = _digits(300)
    model = _mlp()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    want = model.predict(x)
    lazy = gc.distribute.predict(model, da.from_array(x, chunks=(70, 64)))
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (70, 70, 70, 70, 20)
    with dask.config.set(scheduler=client):
        np.testing.assert_allclose(lazy.compute(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gc.distribute.predict(model, x, distribute=client), want, rtol=1e-5, atol=1e-6)


def _pipeline():
    """W2's expression, summed per row and over everything, over rows of 1024 float32."""
    x = gc.placeholder((None, 1024), "float32", name="x")
    y = gc.sigmoid(1.5 * x + 0.5) * gc.tanh(x) + 0.1 * x * x
    return x, y


def _big(rows):
    return da.random.default_rng(0).standard_normal((rows, 1024), dtype=np.float32, chunks=(8192, 1024))


def test_out_of_core_pipeline_larger_than_a_worker(client, tmp_path):
    x, y = _pipeline()
    f = gc.function([x], [gc.reduce_sum(y, axis=1), gc.reduce_sum(y)], backend="dask")
    xd = _big(128 * 1024)                         # 512 MiB: more than a worker's 300 MiB
    assert xd.nbytes > 1.5 * WORKER_MEMORY
    per_row, total = f(xd)
    path = tmp_path / "rows.npy"
    with dask.config.set(scheduler=client):   # rows written to disk by the workers, block by block
        _, total = dask.compute(gc.distribute.to_npy(per_row, path, compute=False), total)
        head = xd[:16384].compute()
    rows = np.load(path, mmap_mode="r")
    assert rows.shape == (128 * 1024,)
    z = 1 / (1 + np.exp(-(1.5 * head + 0.5))) * np.tanh(head) + 0.1 * head * head
    np.testing.assert_allclose(rows[:16384], z.sum(axis=1), rtol=1e-4)
    np.testing.assert_allclose(total, rows.sum(dtype=np.float64), rtol=1e-5)
    rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
    assert max(rss.values()) < WORKER_MEMORY


def test_a_killed_worker_is_replaced_and_the_result_is_unchanged(client):
    x, y = _pipeline()
    f = gc.function([x], gc.reduce_sum(y), backend="dask")
    xd = _big(96 * 1024)
    with dask.config.set(scheduler=client):
        want = f(xd).compute()
    pids = client.run(os.getpid)
    future = client.compute(f(xd))
    victim = sorted(pids)[0]
    deadline = time.time() + 30
    while not client.processing().get(victim) and time.time() < deadline:
        time.sleep(0.01)
    assert client.processing().get(victim), "the worker never got a task"
    os.kill(pids[victim], signal.SIGKILL)   # mid-computation
    got = future.result(timeout=120)
    assert got == want                      # same chunks, same tree: bit for bit
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != set(pids.values())   # the nanny started a new one


def test_the_dask_benchmark_runs_and_checks_every_implementation():
    from tests.benchmarks.test_benchmarks import parse, run_suite
    proc = run_suite("W7", "--quick", "--size-scale", "0.01", "--reps", "2", "--peers", "none", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = parse(proc.stdout)
    impls = [r["impl"] for r in rows]
    assert impls.count("graphc-dask-cluster-2w") == 2 and "graphc-dask-cluster-1w" in impls
    assert all(r["checked"] == "reference" or r["checked"].startswith("ok") for r in rows)
    assert not parse(proc.stdout, "FAIL")
