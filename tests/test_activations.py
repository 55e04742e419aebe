"""gc.activations: every name against its NumPy formula, and the lookup rules."""
import numpy as np
import pytest

import graphc as gc
from graphc import activations

X = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0], [-1000.0, -1e-3, 1e-3, 2.0, 1000.0]])


def _sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


EXPECTED = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "softplus": lambda x: np.logaddexp(0, x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "step": lambda x: (x >= 0).astype(x.dtype),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
    "silu": lambda x: x * _sigmoid(x),
    "log_softmax": lambda x: (x - x.max(-1, keepdims=True))
    - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_activation_matches_its_formula(name):
    x = gc.placeholder((None, 5), "float64", name="x")
    out = gc.function([x], activations.get(name)(x))(X)
    np.testing.assert_allclose(out, EXPECTED[name](X), rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(out))


def test_the_api_names_all_resolve():
    for name in "linear relu sigmoid tanh softmax softplus elu leaky_relu step".split():
        assert callable(activations.get(name))
        assert activations.get(name.upper()) is activations.get(name)


def test_none_is_linear_and_callables_pass_through():
    assert activations.get(None) is activations.linear
    fn = lambda t: t * 2.0  # noqa: E731
    assert activations.get(fn) is fn


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown activation 'relu6'.*leaky_relu.*softmax"):
        activations.get("relu6")
    with pytest.raises(ValueError, match="valid names"):
        activations.get(3)


def test_step_is_one_at_zero_and_softmax_rows_sum_to_one():
    x = gc.placeholder((None, 5), "float32", name="x")
    step, soft = gc.function([x], [activations.step(x), activations.softmax(x)])(X.astype(np.float32))
    assert step[0, 2] == 1.0 and step[0, 1] == 0.0
    np.testing.assert_allclose(soft.sum(axis=-1), 1.0, rtol=1e-6)
    assert step.dtype == np.float32 and soft.dtype == np.float32


def test_serialize_round_trips_builtin_activations():
    for name in activations.names():
        fn = activations.get(name)
        assert activations.get(activations.serialize(fn)) is fn
    assert activations.serialize(None) == "linear"
    assert activations.serialize("ReLU") == "relu"
    with pytest.raises(ValueError, match="cannot serialize"):
        activations.serialize(lambda t: t)


def test_activation_gradients_match_finite_differences():
    x = gc.placeholder((2, 5), "float64", name="x")
    xv = np.array([[-2.0, -0.5, 0.3, 0.7, 2.0], [-1.1, -0.2, 0.1, 1.3, 2.5]])
    for name in ("sigmoid", "tanh", "softmax", "softplus", "elu", "leaky_relu", "selu", "silu", "softsign"):
        weights = gc.constant(np.arange(10.0).reshape(2, 5) / 10)
        y = gc.reduce_sum(activations.get(name)(x) * weights)
        gc.check_grad(y, x, {x: xv})
