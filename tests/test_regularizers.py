"""gc.regularizers: penalties and their gradients against the formulas."""
import numpy as np
import pytest

import graphc as gc
from graphc import regularizers

W = np.array([[0.5, -1.0], [2.0, -0.25]])


def value(reg, w=W):
    return float(gc.function([], reg(gc.constant(w)))())


def test_l1_is_l1_times_sum_of_abs():
    assert value(regularizers.L1(0.1)) == pytest.approx(0.1 * 3.75)
    assert value(regularizers.L1()) == pytest.approx(0.01 * 3.75)  # Keras default 0.01


def test_l2_is_l2_times_sum_of_squares_without_a_half():
    assert value(regularizers.L2(0.1)) == pytest.approx(0.1 * (0.25 + 1 + 4 + 0.0625))
    assert value(regularizers.L2()) == pytest.approx(0.01 * 5.3125)


def test_l1l2_is_the_sum_and_defaults_to_nothing():
    assert value(regularizers.L1L2(l1=0.1, l2=0.2)) == pytest.approx(0.1 * 3.75 + 0.2 * 5.3125)
    assert value(regularizers.L1L2()) == 0.0


def test_penalty_is_a_scalar_of_the_weight_dtype():
    w = gc.variable(W.astype(np.float32), name="w")
    for reg in (regularizers.L1(), regularizers.L2(), regularizers.L1L2(0.1, 0.1), regularizers.L1L2()):
        out = reg(w)
        assert out.shape == () and out.dtype == np.float32


def test_gradients():
    w = gc.variable(W, name="w")
    g1, g2 = gc.function([], [gc.grad(regularizers.L1(0.3)(w), w), gc.grad(regularizers.L2(0.3)(w), w)])()
    np.testing.assert_allclose(g1, 0.3 * np.sign(W))
    np.testing.assert_allclose(g2, 0.6 * W)
    gc.check_grad(regularizers.L1L2(0.1, 0.2)(w), w, {})


def test_negative_factors_are_rejected():
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(-1.0)


def test_get_and_config_round_trip():
    assert regularizers.get(None) is None
    reg = regularizers.L1L2(0.1, 0.2)
    assert regularizers.get(reg) is reg
    assert type(regularizers.get("l1")) is regularizers.L1 and regularizers.get("l1").l1 == 0.01
    assert type(regularizers.get("L2")) is regularizers.L2
    assert type(regularizers.get("l1_l2")) is regularizers.L1L2
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    for r in (regularizers.L1(0.5), regularizers.L2(0.25), reg):
        again = regularizers.deserialize(regularizers.serialize(r))
        assert type(again) is type(r) and again.get_config() == r.get_config()
        assert regularizers.get(regularizers.serialize(r)).get_config() == r.get_config()
