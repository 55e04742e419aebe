"""Error paths of API §5: raised as early as possible (at graph-building time for static
shapes), of the documented type, with a message naming the op, the shapes/dtypes and the
tensors involved."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import graphc as gc
from graphc.ops import math as m
from graphc.ir.opdef import OPS


def ph(shape, name, dtype="float32"):
    return gc.placeholder(shape, dtype, name=name)


def message(excinfo) -> str:
    return str(excinfo.value)


def assert_mentions(text, *parts):
    for part in parts:
        assert part in text, f"{part!r} missing from the message: {text}"


def test_error_types_subclass_builtins():
    assert issubclass(gc.ShapeError, ValueError)
    assert issubclass(gc.DTypeError, TypeError)
    assert issubclass(gc.GraphError, ValueError)
    assert issubclass(gc.BackendUnavailable, RuntimeError)


# -- shapes, at graph-building time ------------------------------------------------------------

def test_matmul_inner_dimensions():
    x, w = ph((32, 784), "x"), ph((100, 10), "w")
    with pytest.raises(gc.ShapeError) as e:
        x @ w
    assert_mentions(message(e), "matmul", "x", "w", "(32, 784)", "(100, 10)")


def test_matmul_suggests_transpose():
    x, w = ph((32, 784), "x"), ph((10, 784), "w")
    with pytest.raises(gc.ShapeError) as e:
        gc.matmul(x, w)
    assert_mentions(message(e), "matmul", "(32, 784)", "(10, 784)", "w.T")


def test_matmul_batch_mismatch_and_scalars():
    with pytest.raises(gc.ShapeError) as e:
        gc.matmul(ph((2, 3, 4), "a"), ph((5, 4, 2), "b"))
    assert_mentions(message(e), "matmul", "a", "b")
    with pytest.raises(gc.ShapeError, match="matmul"):
        gc.matmul(ph((3,), "v"), 2.0)


def test_broadcasting_mismatch():
    a, b = ph((3, 4), "a"), ph((5,), "b")
    for build in (lambda: a + b, lambda: gc.mul(a, b), lambda: gc.maximum(a, b), lambda: a < b):
        with pytest.raises(gc.ShapeError) as e:
            build()
        assert_mentions(message(e), "'a'", "'b'", "(3, 4)", "(5,)")
    with pytest.raises(gc.ShapeError) as e:
        a + b
    assert message(e).startswith("add")


def test_where_broadcasting_mismatch():
    with pytest.raises(gc.ShapeError) as e:
        gc.where(ph((3,), "c", "bool"), ph((3,), "x"), ph((4,), "y"))
    assert_mentions(message(e), "where", "'c'", "'x'", "'y'", "(4,)")


def test_reshape_size_mismatch():
    with pytest.raises(gc.ShapeError) as e:
        gc.reshape(ph((3, 4), "r"), (5, 2))
    assert_mentions(message(e), "reshape", "'r'", "(3, 4)", "(5, 2)", "12")
    with pytest.raises(gc.ShapeError, match="reshape"):
        gc.reshape(ph((3, 4), "r"), (5, -1))
    with pytest.raises(gc.ShapeError, match="-1"):
        gc.reshape(ph((3, 4), "r"), (-1, -1))


def test_concat_mismatches():
    with pytest.raises(gc.ShapeError) as e:
        gc.concat([ph((3, 4), "c1"), ph((3,), "c2")])
    assert_mentions(message(e), "concat", "rank", "'c1'", "'c2'", "(3, 4)", "(3,)")
    with pytest.raises(gc.ShapeError) as e:
        gc.concat([ph((3, 4), "c1"), ph((2, 5), "c2")], axis=1)
    assert_mentions(message(e), "concat", "axis 0", "(3, 4)", "(2, 5)")
    with pytest.raises(gc.ShapeError, match="concat"):
        gc.concat([])


def test_stack_mismatch():
    with pytest.raises(gc.ShapeError) as e:
        gc.stack([ph((2, 3), "s1"), ph((3, 2), "s2")])
    assert_mentions(message(e), "stack", "'s1'", "'s2'", "(2, 3)", "(3, 2)")


@pytest.mark.parametrize("build,op", [
    (lambda x: gc.transpose(x, (1, 0, 2)), "transpose"),
    (lambda x: gc.transpose(x, (2, 0)), "transpose"),
    (lambda x: gc.transpose(x, (0, 0)), "transpose"),
    (lambda x: gc.squeeze(x, 0), "squeeze"),
    (lambda x: gc.expand_dims(x, 5), "expand_dims"),
    (lambda x: gc.broadcast_to(x, (4, 3)), "broadcast_to"),
    (lambda x: gc.broadcast_to(x, (3,)), "broadcast_to"),
    (lambda x: gc.reduce_sum(x, axis=2), "reduce_sum"),
    (lambda x: gc.reduce_mean(x, axis=(0, 0)), "reduce_mean"),
    (lambda x: gc.argmax(x, axis=-3), "argmax"),
    (lambda x: gc.concat([x, x], axis=2), "concat"),
    (lambda x: gc.gather(x, gc.constant([0, 2])), "gather"),
    (lambda x: gc.nn.maxout(x, 2), "maxout"),
    (lambda x: gc.linalg.inv(x), "inv"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_shape_errors_name_the_op_and_tensor(build, op):
    x = ph((2, 3), "data")
    with pytest.raises(gc.ShapeError) as e:
        build(x)
    assert_mentions(message(e), op, "'data'", "(2, 3)")


@pytest.mark.parametrize("index", [5, -3, (0, 0, 0), (Ellipsis, 0, Ellipsis)], ids=repr)
def test_getitem_errors(index):
    x = ph((2, 3), "data")
    with pytest.raises(gc.ShapeError, match="getitem"):
        x[index]


def test_getitem_with_a_tensor_points_to_gather():
    x = ph((2, 3), "data")
    with pytest.raises(gc.ShapeError) as e:
        x[gc.constant(1)]
    assert_mentions(message(e), "getitem", "'data'", "gather")
    with pytest.raises(gc.ShapeError, match="step"):
        x[::0]


def test_negative_dimensions():
    with pytest.raises(gc.ShapeError, match="negative"):
        gc.placeholder((-1, 2))
    with pytest.raises(gc.ShapeError, match="negative"):
        gc.zeros((2, -3))
    with pytest.raises(gc.ShapeError, match="negative"):
        gc.random.uniform((-2,))


def test_len_of_unknown_or_scalar():
    with pytest.raises(gc.ShapeError, match="'batch'"):
        len(ph((None, 3), "batch"))
    with pytest.raises(gc.ShapeError, match="'s'"):
        len(ph((), "s"))


# -- dtypes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [gc.exp, gc.log, gc.sqrt, gc.tanh, gc.sigmoid, gc.sin, gc.softplus,
                                gc.nn.elu, gc.nn.leaky_relu], ids=lambda f: f.__name__)
def test_float_only_ops_reject_ints(fn):
    counts = ph((3,), "counts", "int64")
    with pytest.raises(gc.DTypeError) as e:
        fn(counts)
    assert_mentions(message(e), fn.__name__, "'counts'", "int64", "cast")


def test_numeric_ops_reject_bool():
    flags = ph((3,), "flags", "bool")
    for build, op in ((lambda: -flags, "neg"), (lambda: flags - flags, "sub"), (lambda: abs(flags), "abs"),
                      (lambda: gc.reduce_mean(flags), "reduce_mean"),
                      (lambda: gc.matmul(flags, flags), "matmul")):
        with pytest.raises(gc.DTypeError) as e:
            build()
        assert_mentions(message(e), op, "'flags'", "bool")


def test_other_dtype_errors():
    x = ph((3,), "x")
    with pytest.raises(gc.DTypeError, match="where.*'x'"):
        gc.where(x, x, x)
    with pytest.raises(gc.DTypeError, match="one_hot.*'x'"):
        gc.one_hot(x, 4)
    with pytest.raises(gc.DTypeError, match="gather.*'x'"):
        gc.gather(x, x)
    with pytest.raises(gc.DTypeError, match="inv"):
        gc.linalg.inv(ph((2, 2), "m", "int64"))
    with pytest.raises(gc.DTypeError, match="norm"):
        gc.linalg.norm(ph((2,), "v", "int64"))
    with pytest.raises(gc.DTypeError, match="complex"):
        gc.placeholder((2,), "complex64")
    with pytest.raises(gc.DTypeError):
        gc.cast(x, "complex64")
    with pytest.raises(gc.DTypeError, match="float"):
        gc.random.normal((2,), dtype="int32")


def test_grad_of_int_output():
    i = ph((3,), "i", "int64")
    with pytest.raises(gc.DTypeError, match="float"):
        gc.grad(gc.reduce_sum(i), i)


# -- differentiation ------------------------------------------------------------------------------

def test_grad_of_non_scalar():
    x = ph((32, 784), "x")
    y = gc.tanh(x)
    with pytest.raises(gc.ShapeError) as e:
        gc.grad(y, x)
    assert_mentions(message(e), "grad", "scalar", y.name, "(32, 784)")


def test_grad_with_respect_to_non_tensor():
    x = ph((), "x")
    with pytest.raises(gc.GraphError, match="grad"):
        gc.grad(x * 2.0, [np.ones(2)])


def test_check_grad_names_the_input(monkeypatch):
    x = ph((3,), "weights", "float64")
    y = gc.reduce_sum(gc.sin(x))
    assert gc.check_grad(y, x, {x: np.array([0.1, 0.2, 0.3])}) < 1e-6
    # a deliberately wrong gradient rule (10% too large) must be caught, naming the input
    wrong = dataclasses.replace(OPS["sin"], grad=lambda n, g: [g * m.cos(n.inputs[0]) * 1.1])
    monkeypatch.setitem(OPS, "sin", wrong)
    with pytest.raises(AssertionError, match="'weights'"):
        gc.check_grad(y, x, {x: np.array([0.1, 0.2, 0.3])})


# -- compiling and calling ------------------------------------------------------------------------

def test_missing_feed_names_the_placeholder():
    x, bias = ph((3,), "x"), ph((3,), "bias")
    y = x + bias
    with pytest.raises(gc.GraphError) as e:
        y.eval({x: np.ones(3)})
    assert_mentions(message(e), "'bias'")
    f = gc.function([x, bias], y)
    with pytest.raises(TypeError) as e:   # a call missing an argument, as in Python
        f(np.ones(3))
    assert_mentions(message(e), "'bias'")
    with pytest.raises(gc.GraphError) as e:
        gc.function([x], y)
    assert_mentions(message(e), "'bias'")


def test_feeding_a_wrong_shape_names_the_placeholder():
    x = ph((None, 3), "images")
    f = gc.function([x], x * 2.0)
    for bad in (np.ones((2, 4)), np.ones(3), np.ones((1, 2, 3))):
        with pytest.raises(gc.ShapeError) as e:
            f(bad)
        assert_mentions(message(e), "'images'", "(?, 3)", str(bad.shape))


def test_run_time_shapes_that_do_not_fit_together():
    a, b = ph((None,), "a"), ph((None,), "b")
    f = gc.function([a, b], a + b)
    with pytest.raises(gc.ShapeError) as e:
        f(np.ones(3), np.ones(4))
    assert_mentions(message(e), "add", "a=(3,)", "b=(4,)")


def test_unknown_backend():
    x = ph((), "x")
    with pytest.raises(gc.BackendUnavailable) as e:
        gc.function([x], x * 2.0, backend="no-such-backend")
    assert_mentions(message(e), "no-such-backend", "numpy")


def test_truth_value_of_a_tensor():
    x = ph((3,), "x")
    with pytest.raises(gc.GraphError) as e:
        if x > 0:
            pass
    assert_mentions(message(e), "where")
    with pytest.raises(gc.GraphError, match="'x'"):
        bool(x)


def test_inputs_must_be_placeholders():
    x = ph((3,), "x")
    y = x * 2.0
    with pytest.raises(gc.GraphError, match="placeholder"):
        gc.function([y], y)
    with pytest.raises(gc.GraphError, match="placeholder"):
        gc.function([gc.constant(1.0)], y)
    with pytest.raises(gc.GraphError, match="placeholder"):
        gc.function([np.ones(3)], y)
    with pytest.raises(gc.GraphError, match="'x'"):
        gc.function([x, x], y)


def test_call_argument_errors():
    x = ph((3,), "x")
    f = gc.function([x], x * 2.0)
    with pytest.raises(TypeError, match="'nope'"):
        f(nope=np.ones(3))
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones(3), x=np.ones(3))
    with pytest.raises(TypeError, match="takes 1 inputs"):
        f(np.ones(3), np.ones(3))
    with pytest.raises(gc.GraphError, match="'nope'"):
        (x * 2.0).eval({"nope": np.ones(3)})


def test_updates_on_a_non_variable():
    x = ph((3,), "x")
    with pytest.raises(gc.GraphError, match="variable"):
        gc.function([x], x * 2.0, updates=[(x, x * 2.0)])
    with pytest.raises(gc.GraphError, match="variable"):
        gc.function([x], x * 2.0, updates=[(gc.constant(np.zeros(3, np.float32)), x)])
    with pytest.raises(gc.GraphError):
        gc.function([x], x * 2.0, updates=[x])


def test_update_shape_and_dtype_mismatch():
    x = ph((3,), "x")
    v = gc.variable(np.zeros(3, np.float32), name="w")
    with pytest.raises(gc.ShapeError) as e:
        gc.function([x], x, updates=[(v, gc.concat([x, x]))])
    assert_mentions(message(e), "'w'", "(3,)", "(6,)")
    counter = gc.variable(np.zeros(3, np.int64), name="counter")
    with pytest.raises(gc.DTypeError, match="'counter'"):
        gc.function([x], x, updates=[(counter, x)])
    with pytest.raises(gc.GraphError, match="'w'"):
        gc.function([x], x, updates=[(v, x), (v, x * 2.0)])


def test_variable_assign_errors():
    v = gc.variable(np.zeros(3), name="w")
    with pytest.raises(gc.ShapeError, match="'w'"):
        v.assign(np.zeros(4))
    with pytest.raises(gc.DTypeError, match="'w'"):
        gc.variable(np.zeros(3, np.int64), name="w").assign(np.ones(3) * 0.5)


def test_norm_orders_that_need_an_svd():
    matrix = ph((2, 3), "matrix")
    for order in ("nuc", 2, -2):
        with pytest.raises(gc.GraphError, match="norm"):
            gc.linalg.norm(matrix, ord=order)
