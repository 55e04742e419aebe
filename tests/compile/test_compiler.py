"""gc.function: calling conventions, updates, specialization and caching, generated source."""
import numpy as np
import pytest

import graphc as gc


def _abc():
    a = gc.placeholder((None, 3), "float64", name="a")
    b = gc.placeholder((3,), "float64", name="b")
    return a, b


def test_positional_and_keyword_calls_agree():
    a, b = _abc()
    f = gc.function([a, b], a * b + 1.0)
    av, bv = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    expected = av * bv + 1
    np.testing.assert_array_equal(f(av, bv), expected)
    np.testing.assert_array_equal(f(a=av, b=bv), expected)
    np.testing.assert_array_equal(f(av, b=bv), expected)


def test_single_output_returns_an_array_and_a_list_returns_a_list():
    a, b = _abc()
    av, bv = np.ones((2, 3)), np.ones(3)
    assert isinstance(gc.function([a, b], a + b)(av, bv), np.ndarray)
    out = gc.function([a, b], [a + b, a - b])(av, bv)
    assert isinstance(out, list) and len(out) == 2


def test_bad_calls_raise_clear_errors():
    a, b = _abc()
    f = gc.function([a, b], a + b)
    with pytest.raises(TypeError, match="missing 1 input\\(s\\): 'b'"):
        f(np.ones((2, 3)))
    with pytest.raises(TypeError, match="unexpected input 'c'"):
        f(np.ones((2, 3)), c=1)
    with pytest.raises(TypeError, match="takes 2 inputs \\('a', 'b'\\), got 3"):
        f(np.ones((2, 3)), np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="got input 'a' twice"):
        f(np.ones((2, 3)), np.ones(3), a=np.ones((2, 3)))
    with pytest.raises(gc.ShapeError, match="input 'a' expects shape \\(\\?, 3\\), got \\(2, 4\\)"):
        f(np.ones((2, 4)), np.ones(3))
    with pytest.raises(gc.GraphError, match="not among the inputs"):
        gc.function([a], a + b)


def test_specializes_and_caches_per_input_shape():
    a, b = _abc()
    f = gc.function([a, b], gc.reduce_mean(a * b, axis=0))
    for n in (1, 4, 4, 7, 1):
        av = np.arange(3.0 * n).reshape(n, 3)
        np.testing.assert_allclose(f(av, np.ones(3)), av.mean(axis=0))
    assert len(f._cache) == 3
    # the specialized graph has static shapes: the mean's divisor became a constant
    f(np.ones((4, 3)), np.ones(3))
    assert all(d is not None for n in f.graph.nodes for d in n.shape)


def test_updates_are_computed_from_the_values_before_the_call():
    u = gc.variable(np.array([1.0, 2.0]), name="u")
    v = gc.variable(np.array([10.0, 20.0]), name="v")
    x = gc.placeholder((), "float64", name="x")
    f = gc.function([x], u + v, updates=[(u, v * x), (v, u)])
    out = f(2.0)
    np.testing.assert_array_equal(out, [11.0, 22.0])
    np.testing.assert_array_equal(u.value, [20.0, 40.0])
    np.testing.assert_array_equal(v.value, [1.0, 2.0])


def test_variables_are_read_at_call_time():
    w = gc.variable(np.array([1.0, 2.0], dtype="float32"), name="w")
    x = gc.placeholder((2,), name="x")
    f = gc.function([x], gc.reduce_sum(w * x))
    assert f(np.ones(2)) == 3.0
    w.assign([5.0, 5.0])
    assert f(np.ones(2)) == 10.0
    with pytest.raises(gc.ShapeError):
        w.assign([1.0, 2.0, 3.0])


def test_update_shape_and_dtype_are_checked():
    w = gc.variable(np.zeros(3), name="w")
    with pytest.raises(gc.ShapeError, match="'w'"):
        gc.function([], [], updates=[(w, gc.zeros((4,), "float64"))])
    with pytest.raises(gc.GraphError):
        gc.function([], [], updates=[(gc.constant(1.0), gc.constant(2.0))])
    with pytest.raises(gc.GraphError, match="twice"):
        gc.function([], [], updates=[(w, w + 1.0), (w, w * 2.0)])


def test_optimize_false_computes_the_same_and_runs_no_pass():
    x = gc.placeholder((4,), "float64", name="x")
    y = gc.log(gc.exp(x)) * 1.0 + 0.0 + gc.sin(x) - gc.sin(x)
    xv = np.linspace(-1, 1, 4)
    fast, slow = gc.function([x], y), gc.function([x], y, optimize=False)
    np.testing.assert_allclose(fast(xv), slow(xv))
    assert "no passes ran" in slow.explain()
    assert len(fast.graph) < len(slow.graph)


def test_source_is_real_python_with_one_line_per_operation():
    x = gc.placeholder((3,), name="x")
    f = gc.function([x], gc.tanh(x) * 2.0 + gc.exp(x))
    src = f.source
    compile(src, "<test>", "exec")
    for call in ("np.tanh(in_x)", "np.exp(in_x)", "np.multiply", "np.add"):
        assert call in src
    assert src.count("\n    t") == 4


def test_outputs_are_fresh_arrays_even_for_constants_and_variables():
    c = gc.constant(np.array([1.0, 2.0]))
    w = gc.variable(np.array([3.0]), name="w")
    f = gc.function([], [c, w])
    out_c, out_w = f()
    out_c[0] = 99.0  # must not corrupt the graph's constant
    out_w[0] = 99.0
    np.testing.assert_array_equal(f()[0], [1.0, 2.0])
    np.testing.assert_array_equal(w.value, [3.0])


def test_eval_with_feed_dict_by_tensor_or_name():
    x = gc.placeholder((2,), name="x")
    y = x * 3.0
    np.testing.assert_array_equal(y.eval({x: [1.0, 2.0]}), [3.0, 6.0])
    np.testing.assert_array_equal(y.eval({"x": [1.0, 2.0]}), [3.0, 6.0])
    with pytest.raises(gc.GraphError, match="missing"):
        y.eval({})


def test_runtime_shape_mismatch_names_the_op():
    a = gc.placeholder((None,), "float64", name="a")
    b = gc.placeholder((None,), "float64", name="b")
    f = gc.function([a, b], a + b)
    with pytest.raises(gc.ShapeError, match="add"):
        f(np.ones(3), np.ones(4))


def test_backends_lists_numpy_and_unknown_backend_is_unavailable():
    assert "numpy" in gc.backends()
    x = gc.placeholder(name="x")
    with pytest.raises(gc.BackendUnavailable):
        gc.function([x], x, backend="no-such-backend")


def test_random_ops_draw_fresh_samples_and_seeds_reproduce():
    r = gc.random.normal((5,), seed=7)
    f1, f2 = gc.function([], r), gc.function([], r)
    first, second = f1(), f1()
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(f2(), first)
    np.testing.assert_array_equal(f2(), second)
    # CSE must not merge two distinct random draws
    pair = gc.function([], [gc.random.uniform((3,), seed=1), gc.random.uniform((3,), seed=2)])
    a, b = pair()
    assert not np.array_equal(a, b)


def test_checked_entry_converts_and_rejects_like_the_general_path():
    a = gc.placeholder((), "float32", name="a")
    v = gc.placeholder((3,), "float64", name="v")
    f = gc.function([a, v], a * gc.reduce_sum(v))
    for scalar in (2.0, 2, np.float32(2.0), np.float64(2.0), np.array(2.0)):
        out = f(scalar, np.ones(3))
        assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out == 6.0  # f32 * f64
    np.testing.assert_array_equal(f(2.0, [1.0, 1.0, 1.0]), 6.0)  # a list is converted
    with pytest.raises(gc.ShapeError, match="'v'"):
        f(2.0, np.ones(4))
    with pytest.raises(gc.DTypeError, match="'v'"):
        f(2.0, np.ones(3, dtype=complex))
    with pytest.raises(gc.ShapeError, match="'a'"):
        f(np.ones(2), np.ones(3))
    assert "_checked" in f.source


def test_trusted_path_skips_checks_but_computes_the_same():
    x = gc.placeholder((), "float64", name="x")
    f = gc.function([x], gc.exp(x) * 2.0)
    assert f.trusted(np.float64(0.5)) == f(0.5) == np.exp(0.5) * 2


def test_checked_entry_takes_exact_0d_arrays_and_nd_arrays_without_copying():
    a = gc.placeholder((), "float64", name="a")
    v = gc.placeholder((3,), "float64", name="v")
    f = gc.function([a, v], a * v)
    vv = np.arange(3.0)
    np.testing.assert_array_equal(f(np.array(2.0), vv), 2.0 * vv)      # 0-d array of a's dtype
    np.testing.assert_array_equal(f(np.array(2, dtype=np.int32), vv), 2.0 * vv)  # converted
    with pytest.raises(gc.DTypeError, match="'a'"):
        f(np.array(2.0 + 1j), vv)
