"""Function.profile: per-step wall times from an instrumented copy of the generated code."""
import numpy as np

import graphc as gc
from graphc.ir.fusion import FusionGroup
from graphc.plan.schedule import schedule


def _train_step():
    x = gc.placeholder((64, 32), "float64", name="x")
    w = gc.variable(np.random.default_rng(0).normal(size=(32, 16)), name="w")
    loss = gc.reduce_mean(gc.square(gc.tanh(x @ w) - 1.0))
    (gw,) = gc.grad(loss, [w])
    return x, w, gc.function([x], loss, updates=[(w, w - 0.1 * gw)])


def test_profile_times_every_step_and_trains_nothing():
    x, w, step = _train_step()
    xv = np.random.default_rng(1).normal(size=(64, 32))
    before = w.value.copy()
    prof = step.profile(xv, repeat=3)
    np.testing.assert_array_equal(w.value, before)  # variables put back
    steps = schedule(step.graph)
    computed = [s for s in steps if isinstance(s, FusionGroup) or s.inputs]
    assert sorted(r.index for r in prof.steps) == [steps.index(s) for s in computed]
    assert all(r.seconds >= 0 for r in prof.steps) and prof.total > 0
    assert [r.seconds for r in prof.steps] == sorted((r.seconds for r in prof.steps), reverse=True)
    assert any(r.what.startswith("kernel: matmul+epilogue") for r in prof.steps)
    text = str(prof)
    assert "3 calls" in text and "#" in text
    # the real function is untouched: one call still trains
    step(xv)
    assert not np.array_equal(w.value, before)


def test_profile_of_a_function_with_unknown_batch_size_uses_the_call_shapes():
    x = gc.placeholder((None, 8), "float32", name="x")
    f = gc.function([x], gc.reduce_sum(gc.exp(x) * 2.0, axis=1))
    prof = f.profile(np.ones((5, 8), "float32"), repeat=2)
    assert prof.calls == 2 and prof.steps
    np.testing.assert_allclose(f(np.ones((5, 8), "float32")), np.full(5, 16 * np.e), rtol=1e-6)
