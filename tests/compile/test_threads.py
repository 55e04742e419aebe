"""What is guaranteed when compiled functions run on several threads (README: threads and
processes): calls updating the same variables run one at a time, a call's result does not
depend on what other threads run, and every output is the caller's own array."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as gc


def _in_threads(work, threads=8):
    errors = []

    def run():
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors, errors


def test_concurrent_updates_are_never_lost():
    w = gc.variable(np.zeros((), np.float64), name="w")
    x = gc.placeholder((), "float64", name="x")
    f = gc.function([x], w, updates=[(w, w + x)])

    def work():
        for _ in range(25):
            f(1.0)
    _in_threads(work)
    assert w.value == 8 * 25


def test_two_functions_updating_overlapping_variables_neither_lose_nor_deadlock():
    a = gc.variable(np.zeros(3), name="a")
    b = gc.variable(np.zeros(3), name="b")
    inc_ab = gc.function([], a, updates=[(a, a + 1), (b, b + 1)])
    inc_ba = gc.function([], b, updates=[(b, b + 10), (a, a + 10)])

    def work():
        for _ in range(20):
            inc_ab()
            inc_ba()
    _in_threads(work, threads=6)
    np.testing.assert_array_equal(a.value, np.full(3, 6 * 20 * 11.0))
    np.testing.assert_array_equal(b.value, np.full(3, 6 * 20 * 11.0))


def test_results_do_not_depend_on_other_threads():
    rng = np.random.default_rng(0)
    # one function whose products graphc splits itself (BLAS serial during its calls), and one
    # that leaves BLAS its threads (it calls LAPACK) with a product graphc would split over the
    # inner dimension (another rounding) if it ran while the first has BLAS serial
    xa = gc.placeholder((512, 512), "float64", name="xa")
    big = gc.function([xa], gc.reduce_sum(gc.tanh(xa @ xa), axis=0))
    xb = gc.placeholder((32, 16384), "float64", name="xb")
    m = gc.placeholder((4, 4), "float64", name="m")
    wb = rng.standard_normal((16384, 32))
    small = gc.function([xb, m], [xb @ gc.constant(wb), gc.linalg.inv(m)])
    va, vb = rng.standard_normal((512, 512)), rng.standard_normal((32, 16384))
    vm = np.eye(4) + 0.1 * rng.standard_normal((4, 4))
    alone_a, alone_b = big(va), small(vb, vm)[0]
    mismatches = []

    def work():
        for _ in range(3):
            if not np.array_equal(big(va), alone_a) or not np.array_equal(small(vb, vm)[0], alone_b):
                mismatches.append(1)
    _in_threads(work, threads=3)
    assert not mismatches


def test_an_output_that_is_a_new_value_is_not_the_variable_storage():
    w = gc.variable(np.ones(3), name="w")
    new = w * 2
    f = gc.function([], [new, w], updates=[(w, new)])
    out_new, out_old = f()
    out_new[:] = -1
    out_old[:] = -5
    np.testing.assert_array_equal(w.value, [2.0, 2.0, 2.0])


def test_merged_outputs_are_distinct_arrays():
    x = gc.placeholder((3,), "float64", name="x")
    f = gc.function([x], [gc.exp(x), gc.exp(x), x, x.T, gc.reshape(x, (3, 1))])
    xv = np.array([0.0, 1.0, 2.0])
    outs = f(xv)
    for i, a in enumerate(outs):
        assert not np.shares_memory(a, xv)
        for b in outs[i + 1:]:
            assert not np.shares_memory(a, b)
    outs[0][:] = 0
    np.testing.assert_array_equal(outs[1], np.exp(xv))


@pytest.mark.parametrize("optimize", [True, False])
def test_a_variable_never_takes_the_callers_array(optimize):
    w = gc.variable(np.zeros((2, 2)), name="w")
    x = gc.placeholder((2, 2), "float64", name="x")
    f = gc.function([x], gc.reduce_sum(x), updates=[(w, gc.transpose(x))], optimize=optimize)
    xv = np.arange(4.0).reshape(2, 2)
    f(xv)
    xv[:] = 100
    np.testing.assert_array_equal(w.value, [[0.0, 2.0], [1.0, 3.0]])


def test_blas_kinds_take_turns_under_a_stream_of_overlapping_calls():
    from graphc.backends.numpy import blas_threads
    gate = blas_threads._Gate()
    stop = threading.Event()

    def stream():
        while not stop.is_set():
            gate.enter("found")
            stop.wait(0.005)
            gate.exit()
    streams = [threading.Thread(target=stream) for _ in range(3)]
    for t in streams:
        t.start()
    entered = threading.Event()

    def serial():
        gate.enter("serial")
        entered.set()
        gate.exit()
    waiter = threading.Thread(target=serial)
    waiter.start()
    try:
        assert entered.wait(2.0), "a serial call waited for ever behind overlapping calls"
    finally:
        stop.set()
        for t in streams + [waiter]:
            t.join()


def test_a_thread_inside_the_gate_enters_again():
    from graphc.backends.numpy import blas_threads
    gate = blas_threads._Gate()
    gate.enter("found")
    gate.enter("serial")     # must not wait for itself
    gate.exit()
    gate.exit()
