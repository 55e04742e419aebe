"""Activation functions as layers, Keras' names and defaults: ``LeakyReLU``, ``PReLU`` (its
slope a learned weight), ``ELU`` and ``Softmax``. Each is one ``gc.nn`` op acting on every time
step alone, so an input mask passes on unchanged.
"""
from __future__ import annotations

from graphc import initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import ShapeError
from graphc.api.nn import elu, leaky_relu, prelu, softmax
from graphc.api.support import format_shape
from graphc.layers.base import Layer, serialize_object
from graphc.layers.registry import register

__all__ = ["ELU", "LeakyReLU", "PReLU", "Softmax"]


@register
class LeakyReLU(Layer):
    """x where x > 0, else ``alpha`` · x (Keras' default slope 0.3; ``negative_slope`` is
    Keras 3's name for ``alpha``)."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, alpha=0.3, negative_slope=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = (arguments.real(alpha, "LeakyReLU: alpha") if negative_slope is None
                      else arguments.real(negative_slope, "LeakyReLU: negative_slope"))

    def call(self, x, training=False):
        return leaky_relu(x, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class PReLU(Layer):
    """Parametric ReLU: x where x > 0, else alpha · x, with ``alpha`` a learned weight of the
    input's per-sample shape (initialized by ``alpha_initializer``, zeros as Keras).
    ``shared_axes`` (1-based, the batch being axis 0) share one alpha along those axes."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = alpha_regularizer
        self.shared_axes = (None if shared_axes is None else
                            list(arguments.indices(shared_axes, "PReLU: shared_axes", allow_int=True)))
        self.alpha = None

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ShapeError(f"{self.name} (PReLU): shared axis {axis} is not a feature axis of "
                                 f"inputs {format_shape(input_shape)}")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ShapeError(f"{self.name} (PReLU): alpha needs known sizes after the batch axis "
                             f"(or shared_axes for the unknown ones), got {format_shape(input_shape)}")
        self.alpha = self.add_weight("alpha", tuple(shape), self.alpha_initializer, self.alpha_regularizer)

    def call(self, x, training=False):
        return prelu(x, self.alpha)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": serialize_object(self.alpha_initializer, initializers),
                "alpha_regularizer": serialize_object(self.alpha_regularizer, regularizers),
                "shared_axes": self.shared_axes}


@register
class ELU(Layer):
    """x where x > 0, else alpha · (eˣ − 1)."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = arguments.real(alpha, "ELU: alpha")

    def call(self, x, training=False):
        return elu(x, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class Softmax(Layer):
    """exp(x) / Σ exp(x) along ``axis`` (the last by default)."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = arguments.index(axis, "Softmax: axis")

    def call(self, x, training=False):
        return softmax(x, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}

