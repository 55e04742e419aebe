"""Dtype rules (API §1): weakly typed Python scalars, constants, comparisons, and the
conversion of fed values."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def run(inputs, out, *values):
    return gc.function(inputs, out)(*values)


# -- weak Python scalars ------------------------------------------------------------------------

def test_float64_times_python_float_keeps_full_precision():
    x = gc.placeholder((3,), "float64", name="x")
    xv = np.array([1.0, 3.0, 1e8 + 1.0])
    out = x * 1.0001
    assert out.dtype == np.float64
    got = run([x], out, xv)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, xv * 1.0001)            # bit for bit
    assert not np.array_equal(got, (xv * np.float32(1.0001)))  # a float32 constant would differ


def test_float32_times_python_float_stays_float32():
    x = gc.placeholder((3,), "float32", name="x")
    xv = np.array([1.0, 2.5, -3.0], dtype=np.float32)
    out = x * 0.1
    assert out.dtype == np.float32
    got = run([x], out, xv)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, xv * np.float32(0.1))


# each expression runs on a graphc tensor (lib=gc) and, for the reference, on a NumPy array
# (lib=np): NumPy 2 also treats Python scalars weakly, so both stay in the array's dtype
WEAK_EXPRESSIONS = {
    "rmul": lambda x, lib: 1.0001 * x,
    "add": lambda x, lib: x + 0.3,
    "rsub": lambda x, lib: 0.3 - x,
    "div": lambda x, lib: x / 3.0,
    "rdiv": lambda x, lib: 3.0 / x,
    "pow": lambda x, lib: x ** 2.5,
    "rpow": lambda x, lib: 2.0 ** x,
    "maximum": lambda x, lib: lib.maximum(x, 0.7),
    "minimum": lambda x, lib: lib.minimum(0.7, x),
    "where": lambda x, lib: lib.where(x > 1.5, x, 0.1),
    "clip": lambda x, lib: lib.clip(x, 0.1, 2.9),
    "int_scalars": lambda x, lib: x * 2 + 1,
}


@pytest.mark.parametrize("name", sorted(WEAK_EXPRESSIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weak_scalars_keep_the_tensor_dtype(name, dtype):
    expr = WEAK_EXPRESSIONS[name]
    x = gc.placeholder((3,), dtype, name="x")
    xv = np.array([0.5, 1.7, 2.9], dtype=dtype)
    out = expr(x, gc)
    assert out.dtype == np.dtype(dtype)
    got = run([x], out, xv)
    assert got.dtype == np.dtype(dtype)
    expected = np.asarray(expr(xv, np))
    assert expected.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, rtol=0 if dtype == "float64" else 1e-6)


def test_int_tensor_plus_python_int_stays_int():
    for dtype in ("int64", "int32", "uint8"):
        i = gc.placeholder((3,), dtype, name="i")
        out = i + 1
        assert out.dtype == np.dtype(dtype)
        got = run([i], out, np.array([1, 2, 3], dtype=dtype))
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, [2, 3, 4])


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_int_tensor_times_python_float_is_float32(dtype):
    # graphc's choice (JAX's): a Python float meeting an integer tensor gives the default float
    i = gc.placeholder((3,), dtype, name="i")
    out = i * 1.5
    assert out.dtype == np.float32
    values = np.array([1, 0, 1], dtype=dtype)
    got = run([i], out, values)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.astype(np.float32) * np.float32(1.5))


def test_int_tensor_with_python_floats_in_where_and_clip():
    i = gc.placeholder((3,), "int64", name="i")
    iv = np.array([-1, 1, 3])
    for out, expected in ((gc.clip(i, 0.5, 2.5), [0.5, 1.0, 2.5]), (gc.clip(i, 0, 2), [0, 1, 2]),
                          (gc.where(i > 0, i, 0.5), [0.5, 1.0, 3.0]), (gc.maximum(i, 0.5), [0.5, 1.0, 3.0])):
        got = run([i], out, iv)
        assert out.dtype == got.dtype
        assert got.dtype == (np.int64 if isinstance(expected[0], int) else np.float32)
        np.testing.assert_array_equal(got, expected)


def test_bool_tensor_plus_python_int_is_int64():
    b = gc.placeholder((2,), "bool", name="b")
    out = b + 1
    assert out.dtype == np.int64
    np.testing.assert_array_equal(run([b], out, np.array([True, False])), [2, 1])


def test_strong_operands_promote_like_numpy():
    x32 = gc.placeholder((2,), "float32", name="x32")
    x64 = gc.placeholder((2,), "float64", name="x64")
    i32 = gc.placeholder((2,), "int32", name="i32")
    assert (x32 + x64).dtype == np.float64
    assert (x32 + np.float64(1.0)).dtype == np.float64        # NumPy scalars are strong
    assert (x32 + np.ones(2)).dtype == np.float64             # NumPy arrays keep their dtype
    assert (x32 + np.ones(2, np.float32)).dtype == np.float32
    assert (i32 + x32).dtype == np.float64
    assert (i32 / 2).dtype == np.float64                       # true division of ints, as NumPy
    out = x32 + np.float64(1.0)
    assert run([x32], out, np.ones(2, np.float32)).dtype == np.float64


# -- constants ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,dtype", [
    (1.5, "float32"), ([1.0, 2.0], "float32"), ([[1.5], [2.5]], "float32"), (3, "int64"),
    ([1, 2, 3], "int64"), (True, "bool"), (np.float64(1.5), "float64"), (np.ones(2), "float64"),
    (np.ones(2, np.float16), "float16"), (np.arange(3, dtype=np.int32), "int32"),
    (np.array([True]), "bool"), (np.uint8(7), "uint8"),
], ids=repr)
def test_constant_dtypes(value, dtype):
    c = gc.constant(value)
    assert c.dtype == np.dtype(dtype)
    got = gc.function([], c * 1)()
    assert got.dtype == np.dtype(dtype) if dtype != "bool" else got.dtype == np.int64
    np.testing.assert_array_equal(got, np.asarray(value))


def test_constant_explicit_dtype_and_fills():
    assert gc.constant(1, dtype="float64").dtype == np.float64
    assert gc.constant([1.5], dtype="float16").dtype == np.float16
    assert gc.zeros((2,)).dtype == np.float32 and gc.ones((2,), "int32").dtype == np.int32
    assert gc.fill((2,), 1.5).dtype == np.float32 and gc.fill((2,), 3).dtype == np.int64
    x = gc.placeholder((2,), "float64", name="x")
    assert gc.zeros_like(x).dtype == np.float64 and gc.ones_like(x, dtype="int32").dtype == np.int32


def test_constant_is_frozen_copy():
    a = np.array([1.0, 2.0])
    c = gc.constant(a)
    a[0] = 99.0
    np.testing.assert_array_equal(gc.function([], c + 0.0)(), [1.0, 2.0])


@pytest.mark.parametrize("value", ["text", 1j, np.array([1 + 2j])], ids=repr)
def test_unsupported_constant_dtypes_raise(value):
    with pytest.raises(gc.DTypeError):
        gc.constant(value)


# -- comparisons and casts ------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["less", "less_equal", "greater", "greater_equal", "equal", "not_equal"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_comparisons_give_bool(op, dtype):
    x = gc.placeholder((3,), dtype, name="x")
    xv = np.array([0, 1, 2], dtype=dtype)
    out = getattr(gc, op)(x, 1)
    assert out.dtype == np.bool_
    got = run([x], out, xv)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, getattr(np, op)(xv, 1))


def test_operator_comparisons_give_bool():
    x = gc.placeholder((3,), "float64", name="x")
    for out in (x < 0.5, x <= 0.5, x > 0.5, x >= 0.5, 0.5 < x):
        assert out.dtype == np.bool_


def test_float64_comparison_with_python_float_is_exact():
    x = gc.placeholder((1,), "float64", name="x")
    # 0.1 as float64 exactly; a float32 constant would not compare equal
    assert run([x], gc.equal(x, 0.1), np.array([0.1]))[0]
    assert not run([x], gc.less(x, 0.1), np.array([0.1]))[0]


def test_cast():
    x = gc.placeholder((4,), "float64", name="x")
    xv = np.array([-1.7, -0.2, 0.5, 2.9])
    for dtype, expected in (("int32", [-1, 0, 0, 2]), ("float32", xv.astype(np.float32)),
                            ("bool", [1, 1, 1, 1])):
        out = gc.cast(x, dtype)
        assert out.dtype == np.dtype(dtype)
        got = run([x], out, xv)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, expected)
    assert gc.cast(x, "float64") is x


def test_unary_ops_keep_float_dtypes():
    for dtype in ("float16", "float32", "float64"):
        x = gc.placeholder((2,), dtype, name="x")
        xv = np.array([0.5, 1.5], dtype=dtype)
        for fn in (gc.exp, gc.log, gc.sqrt, gc.tanh, gc.sigmoid, gc.softplus, gc.relu, gc.nn.elu,
                   gc.nn.softmax, gc.square, gc.abs):
            out = fn(x)
            assert out.dtype == np.dtype(dtype), fn.__name__
            assert run([x], out, xv).dtype == np.dtype(dtype), fn.__name__


def test_reduction_dtypes_follow_numpy():
    i32 = gc.placeholder((3,), "int32", name="i32")
    b = gc.placeholder((3,), "bool", name="b")
    x32 = gc.placeholder((3,), "float32", name="x32")
    for out, values in ((gc.reduce_sum(i32), np.arange(3, dtype=np.int32)),
                        (gc.reduce_sum(b), np.array([True, True, False])),
                        (gc.reduce_mean(i32), np.arange(3, dtype=np.int32)),
                        (gc.reduce_max(i32), np.arange(3, dtype=np.int32)),
                        (gc.reduce_mean(x32), np.arange(3, dtype=np.float32)),
                        (gc.argmax(x32), np.arange(3, dtype=np.float32))):
        p = out.inputs[0]
        got = run([p], out, values)
        assert got.dtype == out.dtype, out.op
    assert gc.reduce_sum(b).dtype == np.int64
    assert gc.reduce_mean(x32).dtype == np.float32
    assert gc.argmax(x32).dtype == np.int64


def test_one_hot_dtype():
    i = gc.placeholder((2,), "int64", name="i")
    assert gc.one_hot(i, 3).dtype == np.float32
    assert run([i], gc.one_hot(i, 3, dtype="int32"), np.array([0, 2])).dtype == np.int32


# -- feeding values ----------------------------------------------------------------------------------

def test_feeding_float64_into_float32_placeholder_casts():
    x = gc.placeholder((3,), "float32", name="x")
    f = gc.function([x], x * 2.0)
    got = f(np.array([0.1, 0.2, 0.3]))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([0.1, 0.2, 0.3], dtype=np.float32) * np.float32(2))
    assert f([1, 2, 3]).dtype == np.float32          # Python ints: safe
    assert f(np.array([1, 2, 3])).dtype == np.float32


def test_feeding_ints_into_narrower_int_placeholder_casts():
    i = gc.placeholder((2,), "int32", name="i")
    got = gc.function([i], i + 1)(np.array([1, 2], dtype=np.int64))
    assert got.dtype == np.int32


@pytest.mark.parametrize("value", [np.array([1.5, 2.0]), [1.5, 2.0], np.array([1.0, 2.0], np.float32)],
                         ids=["float64", "list", "float32"])
def test_feeding_floats_into_int_placeholder_raises(value):
    i = gc.placeholder((2,), "int64", name="counts")
    f = gc.function([i], i + 1)
    with pytest.raises(gc.DTypeError, match="counts"):
        f(value)
    with pytest.raises(gc.DTypeError, match="counts"):
        f(counts=value)
