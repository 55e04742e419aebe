"""The numerics guard: gc.function(..., check_numerics=True) and
gc.debugging.enable_check_numerics() raise at the first op whose value holds NaN or Inf."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc as gc


def _line_of(marker: str) -> int:
    source, start = inspect.getsourcelines(_build)
    return start + next(i for i, line in enumerate(source) if marker in line)


def _build():
    x = gc.placeholder((3,), "float64", name="x")
    shifted = x - 1.0
    logged = gc.log(shifted)                      # marker: the op that makes the NaN
    return x, gc.exp(logged) * 2.0


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_raises_at_the_first_op_naming_it_its_inputs_and_the_line_that_built_it():
    x, y = _build()
    f = gc.function([x], y, check_numerics=True)
    np.testing.assert_allclose(f(np.array([2.0, 3.0, 4.0])), 2 * (np.array([2.0, 3.0, 4.0]) - 1))
    with pytest.raises(gc.NumericsError) as caught:
        f(np.array([2.0, 0.5, 4.0]))
    message = str(caught.value)
    assert message.startswith("check_numerics: log ")
    assert "1 NaN (of 3 values)" in message
    assert "its inputs: 'sub" in message and "(3,) float64" in message
    assert f"{__file__}:{_line_of('marker: the op')}" in message
    assert isinstance(caught.value, FloatingPointError)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_infinities_are_caught_too_and_integers_are_not_checked():
    x = gc.placeholder((2,), "float32", name="x")
    n = gc.placeholder((2,), "int64", name="n")
    f = gc.function([x, n], [gc.exp(x), n * 2], check_numerics=True)
    with pytest.raises(gc.NumericsError, match="exp .* holds 1 Inf"):
        f(np.array([1.0, 100.0], np.float32), np.array([1, 2]))


def test_off_by_default_and_the_code_holds_no_check():
    x, y = _build()
    f = gc.function([x], y)
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(np.array([2.0, 0.5, 4.0]))[1])
    assert "check_numerics" not in f.source


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_process_wide_switch_reaches_models_training_steps():
    gc.debugging.enable_check_numerics()
    try:
        model = gc.models.Sequential([gc.layers.Dense(2, input_shape=(3,))])
        model.compile(optimizer="sgd", loss="mse")
        kernel = model.layers[0].kernel
        kernel.assign(np.full(kernel.shape, np.inf, np.float32))   # a weight gone bad
        xs = np.ones((4, 3), np.float32)
        with pytest.raises(gc.NumericsError, match="check_numerics: matmul"):
            model.fit(xs, np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    finally:
        gc.debugging.disable_check_numerics()
    x, y = _build()
    assert "check_numerics" not in gc.function([x], y).source


def test_other_backends_say_they_cannot_check():
    x, y = _build()
    with pytest.raises(gc.GraphError, match="check_numerics runs on the numpy backend"):
        gc.function([x], y, backend="dask", check_numerics=True)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_the_switch_reaches_functions_compiled_before_it():
    x, y = _build()
    f = gc.function([x], y)
    bad = np.array([2.0, 0.5, 4.0])
    with np.errstate(invalid="ignore"):
        f(bad)                                  # compiled unchecked
    gc.debugging.enable_check_numerics()
    try:
        with pytest.raises(gc.NumericsError, match="check_numerics: log"):
            f(bad)
        unchecked = gc.function([x], y, check_numerics=False)   # asked for: stays unchecked
        with np.errstate(invalid="ignore"):
            assert np.isnan(unchecked(bad)[1])
        lazy = gc.function([x], y, backend="dask")              # the switch is numpy-only
        with np.errstate(invalid="ignore"):
            assert np.isnan(np.asarray(lazy(bad))[1])
    finally:
        gc.debugging.disable_check_numerics()
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(bad)[1])              # recompiled unchecked again
