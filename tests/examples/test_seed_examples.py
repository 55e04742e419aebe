"""The seed documents' worked examples, as tests."""
import numpy as np
import pytest

import graphc as gc


def test_h_equals_a_plus_b_times_c_plus_d():
    a, b, c, d = (gc.placeholder(name=n) for n in "abcd")
    h = (a + b) * (c + d)
    f = gc.function([a, b, c, d], [h] + gc.grad(h, [a, c]))
    h_val, dh_da, dh_dc = f(1.0, 2.0, 3.0, 4.0)
    assert float(h_val) == 21.0
    assert float(dh_da) == 7.0  # c + d
    assert float(dh_dc) == 3.0  # a + b
    assert all(isinstance(v, np.ndarray) for v in (h_val, dh_da, dh_dc))
    # 0-d values run as NumPy scalars with Python's operators
    assert "def " in f.source and "in_a + in_b" in f.source and "in_c + in_d" in f.source
    assert "cse" in f.explain() and "fold_constants" in f.explain()


def test_forward_pass_arithmetic_of_a_small_network():
    # a 2-2-1 network with sigmoid hidden units, worked by hand
    x = gc.placeholder((2,), "float64", name="x")
    w1 = gc.constant(np.array([[0.1, 0.3], [0.2, 0.4]]))
    b1 = gc.constant(np.array([0.1, -0.1]))
    w2 = gc.constant(np.array([0.5, -0.5]))
    h = gc.sigmoid(x @ w1 + b1)
    y = gc.reduce_sum(h * w2)
    xv = np.array([1.0, 2.0])
    z1 = np.array([1 * 0.1 + 2 * 0.2 + 0.1, 1 * 0.3 + 2 * 0.4 - 0.1])  # [0.6, 1.0]
    h1 = 1 / (1 + np.exp(-z1))
    expected = 0.5 * h1[0] - 0.5 * h1[1]
    assert gc.function([x], y)(xv) == pytest.approx(expected, rel=1e-12)


def test_closed_form_linear_regression_matches_lstsq():
    rng = np.random.default_rng(0)
    x_data = rng.normal(size=(50, 3))
    y_data = x_data @ np.array([1.5, -2.0, 0.5]) + 0.3 + rng.normal(scale=0.01, size=50)
    X = gc.placeholder((None, 4), "float64", name="X")
    y = gc.placeholder((None,), "float64", name="y")
    W = gc.linalg.pinv(X) @ y
    design = np.hstack([np.ones((50, 1)), x_data])
    w = gc.function([X, y], W)(design, y_data)
    expected, *_ = np.linalg.lstsq(design, y_data, rcond=None)
    np.testing.assert_allclose(w, expected, rtol=1e-10, atol=1e-12)


def test_gradient_descent_learns_y_equals_2x_minus_1():
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    ys = 2 * xs - 1
    x = gc.placeholder((None,), "float64", name="x")
    y = gc.placeholder((None,), "float64", name="y")
    w = gc.variable(0.0, dtype="float64", name="w")
    b = gc.variable(0.0, dtype="float64", name="b")
    loss = gc.reduce_mean(gc.square(w * x + b - y))
    gw, gb = gc.grad(loss, [w, b])
    lr = 0.05
    step = gc.function([x, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])
    first = step(xs, ys)
    for _ in range(2000):
        last = step(xs, ys)
    assert last < 1e-8 < first
    assert w.value == pytest.approx(2.0, abs=1e-4)
    assert b.value == pytest.approx(-1.0, abs=1e-4)
