"""The on-disk compile cache: an equal graph, built again (here or in another process),
skips the passes and computes the same thing with its own variables and random seeds."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc.compile import cache as compile_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache directory, and a signing key outside it (never the real home's)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(tmp_path / "config" / "cache.key"))
    saved, before = dict(compile_cache._state), dict(compile_cache.stats)
    gc.set_cache_dir(directory)
    yield directory
    compile_cache._state.update(saved)
    compile_cache.stats.update(before)


def _delta(before, key):
    return compile_cache.stats[key] - before[key]


def _mlp_step(w_value):
    """A training step: loss of a tanh layer, SGD update of w."""
    x = gc.placeholder((None, 3), "float64", name="x")
    w = gc.variable(w_value, name="w")
    loss = gc.reduce_mean(gc.square(gc.tanh(x @ w) - 0.5))
    (gw,) = gc.grad(loss, [w])
    return x, w, gc.function([x], loss, updates=[(w, w - 0.1 * gw)])


def _reference_step(xv, wv):
    h = np.tanh(xv @ wv)
    loss = np.mean((h - 0.5) ** 2)
    gw = xv.T @ (2 * (h - 0.5) * (1 - h ** 2)) / h.size
    return loss, wv - 0.1 * gw


def test_off_unless_a_directory_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    monkeypatch.setenv("GRAPHC_CACHE_KEY", str(tmp_path / "cache.key"))
    saved = dict(compile_cache._state)
    compile_cache._state.update(dir=None, env_read=False)  # as in a fresh process
    try:
        assert gc.cache_dir() is None
        x = gc.placeholder((2,), name="x")
        gc.function([x], x * 2.0)(np.ones(2, "float32"))
    finally:
        compile_cache._state.update(saved)
    assert not any(tmp_path.iterdir())  # no entry, not even a key


def test_an_equal_graph_built_again_loads_from_the_cache_and_binds_its_own_variables(cache):
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(5, 3))
    before = dict(compile_cache.stats)
    _, _, step1 = _mlp_step(rng.normal(size=(3, 2)))
    step1(xv)
    assert _delta(before, "misses") == 1 and _delta(before, "writes") == 1
    assert len(list(cache.glob("*.entry"))) == 1

    w2 = rng.normal(size=(3, 2))
    _, w, step2 = _mlp_step(w2)  # new tensors, new variable, another value
    loss = step2(xv)
    assert _delta(before, "hits") == 1
    expected_loss, expected_w = _reference_step(xv, w2)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-12)
    np.testing.assert_allclose(w.value, expected_w, rtol=1e-12)
    assert "compile_cache" in step2.explain() and "fuse_elementwise" in step2.explain()
    assert len(step2.kernels) == len(step1.kernels)
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp")]  # atomic writes


def test_different_constants_or_shapes_are_different_entries(cache):
    x = gc.placeholder((None,), "float64", name="x")
    f = gc.function([x], gc.exp(x) * 2.0)
    g = gc.function([x], gc.exp(x) * 3.0)
    np.testing.assert_allclose(f(np.zeros(4)), 2.0)
    np.testing.assert_allclose(g(np.zeros(4)), 3.0)
    np.testing.assert_allclose(f(np.zeros(7)), 2.0)
    assert len(list(cache.glob("*.entry"))) == 3


def test_large_folded_constants_and_random_draws_survive_the_round_trip(cache):
    table = np.arange(200.0).reshape(20, 10)

    def build():
        x = gc.placeholder((20, 10), "float64", name="x")
        c = gc.constant(table) * 2.0 + 1.0  # folded into a new 200-element constant
        a = gc.random.uniform((20, 10), dtype="float64", seed=7)
        b = gc.random.uniform((20, 10), dtype="float64", seed=8)
        return gc.function([x], [x + c, a, b])

    first = build()(np.zeros((20, 10)))
    before = dict(compile_cache.stats)
    again = build()(np.zeros((20, 10)))
    assert _delta(before, "hits") == 1
    np.testing.assert_array_equal(again[0], table * 2 + 1)
    np.testing.assert_array_equal(again[1], first[1])  # each draw keeps its own seed
    np.testing.assert_array_equal(again[2], first[2])
    assert not np.array_equal(again[1], again[2])


def test_an_unreadable_entry_is_compiled_again_and_rewritten(cache):
    x = gc.placeholder((3,), "float64", name="x")
    gc.function([x], gc.sin(x) + 1.0)(np.zeros(3))
    (entry,) = cache.glob("*.entry")
    entry.write_bytes(b"not an archive")
    before = dict(compile_cache.stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = gc.function([x], gc.sin(x) + 1.0)(np.full(3, 0.5))
    np.testing.assert_allclose(out, np.sin(0.5) + 1.0)
    assert _delta(before, "discarded") == 1 and _delta(before, "writes") == 1
    assert any("discarded entry" in str(w.message) and str(entry) in str(w.message) for w in caught)
    before = dict(compile_cache.stats)
    gc.function([x], gc.sin(x) + 1.0)(np.zeros(3))
    assert _delta(before, "hits") == 1


def test_another_process_reuses_the_entry(cache):
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        x = gc.placeholder((4, 4), "float64", name="x")
        w = gc.variable(np.eye(4), name="w")
        y = gc.nn.softmax(x @ w + 1.0)
        print(gc.function([x], gc.grad(gc.reduce_sum(y * y), [x])[0])(np.ones((4, 4))).sum())
        from graphc.compile import cache as compile_cache
        print(compile_cache.stats["hits"], compile_cache.stats["writes"])
    """)
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache))
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           check=True).stdout.split() for _ in range(2)]
    assert runs[0][0] == runs[1][0]  # same value
    assert runs[0][1:] == ["0", "1"] and runs[1][1:] == ["1", "0"]  # written once, then read
