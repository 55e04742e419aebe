"""Activation functions by name (``gc.activations``), as Keras' ``activation="relu"``.

Each activation is a function Tensor -> Tensor built from graph ops, so layers that use one
get its gradient, fusion and rendering for free. ``get`` turns a layer's ``activation``
argument (a name, a callable or None) into such a function; ``serialize`` turns it back into
the name a saved model stores.
"""
from __future__ import annotations

from graphc import api as gc


def linear(x):
    """The identity: f(x) = x (Keras' ``activation=None``)."""
    return x


def relu(x):
    """max(x, 0)."""
    return gc.nn.relu(x)


def sigmoid(x):
    """1 / (1 + e^-x)."""
    return gc.nn.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return gc.nn.tanh(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (the last one by default)."""
    return gc.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) computed without underflow."""
    return gc.nn.log_softmax(x, axis=axis)


def softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return gc.nn.softplus(x)


def softsign(x):
    """x / (1 + |x|)."""
    return x / (gc.abs(x) + 1.0)


def elu(x, alpha=1.0):
    """x if x > 0 else alpha * (e^x - 1)."""
    return gc.nn.elu(x, alpha=alpha)


def selu(x):
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return gc.nn.elu(x, alpha=alpha) * scale


def leaky_relu(x, negative_slope=0.2):
    """x if x > 0 else negative_slope * x; the default slope 0.2 is Keras 3's
    ``keras.activations.leaky_relu`` (``gc.nn.leaky_relu`` defaults to 0.01 as PyTorch)."""
    return gc.nn.leaky_relu(x, alpha=negative_slope)


def silu(x):
    """x * sigmoid(x) (a.k.a. swish)."""
    return x * gc.nn.sigmoid(x)


swish = silu


def exponential(x):
    """e^x."""
    return gc.exp(x)


def step(x):
    """Heaviside step: 1 where x >= 0, else 0 (the perceptron's output; gradient 0)."""
    return gc.nn.step(x)


_BY_NAME = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "softplus": softplus,
    "softsign": softsign,
    "elu": elu,
    "selu": selu,
    "leaky_relu": leaky_relu,
    "silu": silu,
    "swish": silu,
    "exponential": exponential,
    "step": step,
}


def names() -> list[str]:
    """The activation names ``get`` accepts."""
    return sorted(_BY_NAME)


def get(identifier):
    """The activation for ``identifier``: a name (see ``names()``), a callable (returned as
    is), or None (the identity, ``linear``)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; valid names: {', '.join(names())}")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"activation must be a name, a callable or None, got {identifier!r}; "
                     f"valid names: {', '.join(names())}")


def serialize(activation) -> str:
    """The name of a built-in activation (what a saved model stores)."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return get(activation) and activation.lower()
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    raise ValueError(f"cannot serialize activation {activation!r}: only the built-in activations "
                     f"({', '.join(names())}) can be saved by name")


def deserialize(name):
    """Inverse of ``serialize``."""
    return get(name)
