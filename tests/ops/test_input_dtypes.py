"""Every input dtype works on every call, whatever Python or NumPy value is fed.

The first call binds through ``Function._bind``; later calls of a function with static input
shapes go through checks generated inline, so each case is called three times.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"]


def _values(dtype: np.dtype, shape):
    """Values a user may feed for an input of ``dtype`` and ``shape``, each with the array
    graphc must see."""
    base = np.arange(1, 1 + int(np.prod(shape, dtype=int))).reshape(shape) % 5
    exact = base.astype(dtype)
    cases = [("numpy exact", exact), ("list", exact.tolist())]
    if shape == ():
        python = {"b": bool(exact), "i": int(exact), "u": int(exact), "f": float(exact)}[dtype.kind]
        cases += [("python", python), ("numpy scalar", dtype.type(exact)), ("0-d array", np.array(exact))]
    # a narrower or wider value of the same kind, cast by graphc
    other = {"b": None, "i": "int64" if dtype != np.int64 else "int8",
             "u": "uint64" if dtype != np.uint64 else "uint8",
             "f": "float64" if dtype != np.float64 else "float32"}[dtype.kind]
    if other is not None:
        cases.append((f"numpy {other}", exact.astype(other)))
    return exact, cases


def _op(x):
    return gc.logical_not(x) if x.dtype.kind == "b" else x + x


def _reference(a):
    return np.logical_not(a) if a.dtype.kind == "b" else a + a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_every_dtype_every_value_every_call(dtype, shape):
    dt = np.dtype(dtype)
    exact, cases = _values(dt, shape)
    x = gc.placeholder(shape, dtype, name="x")
    f = gc.function([x], _op(x))
    want = _reference(exact)
    for label, value in cases:
        for call in range(3):
            got = f(value)
            assert np.asarray(got).dtype == want.dtype, (label, call)
            np.testing.assert_array_equal(got, want, err_msg=f"{label}, call {call}")


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "uint32"])
def test_integers_that_do_not_fit_are_refused_not_wrapped(dtype):
    x = gc.placeholder((), dtype, name="n")
    f = gc.function([x], x + 1)
    f(1)
    too_big = int(np.iinfo(dtype).max) + 1
    for call in range(2):
        with pytest.raises(gc.DTypeError, match=f"input 'n' is {dtype}.*{too_big}"):
            f(too_big)
        with pytest.raises(gc.DTypeError, match=f"input 'n' is {dtype}"):
            f(np.array([too_big], dtype=np.int64)[0])


def test_values_of_another_kind_are_refused_naming_the_input():
    n = gc.placeholder((), "int32", name="n")
    f = gc.function([n], n + 1)
    for call in range(2):
        with pytest.raises(gc.DTypeError, match="input 'n' is int32; cannot feed a float64"):
            f(2.5)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix itself
def test_matrix_inputs_become_plain_arrays():
    m = np.matrix([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a = gc.placeholder((2, 3), "float64", name="a")
    f = gc.function([a], [gc.reduce_sum(a, axis=0), a * a])
    for call in range(2):
        total, square = f(m)
        assert type(total) is np.ndarray and total.shape == (3,)
        np.testing.assert_array_equal(total, [5.0, 7.0, 9.0])
        np.testing.assert_array_equal(square, np.asarray(m) ** 2)   # elementwise, not m @ m


def test_ragged_values_are_a_shape_error_naming_the_input():
    a = gc.placeholder((2, None), "float64", name="a")
    f = gc.function([a], a * 2)
    with pytest.raises(gc.ShapeError, match="input 'a'.*not a rectangular array"):
        f([[1.0, 2.0], [3.0]])
