"""The core layers, Keras' names and arguments: ``InputLayer`` (``Input``), ``Dense``,
``Maxout`` (a Dense layer then a maximum over groups of features), ``Activation``, ``Dropout``
and ``Flatten``. Each adds one or a few graph ops; they need nothing but the base class.
"""
from __future__ import annotations

import math

from graphc import activations, initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import ShapeError
from graphc.api.nn import dropout, maxout
from graphc.api import matmul
from graphc.api import reshape
from graphc.api.support import format_shape
from graphc.layers.base import Layer, serialize_object, unique_name
from graphc.layers.registry import register

__all__ = ["Activation", "Dense", "Dropout", "Flatten", "Input", "InputLayer", "Maxout"]


def _last_dim(layer: Layer, input_shape) -> int:
    if len(input_shape) < 2 or input_shape[-1] is None:
        raise ShapeError(f"{layer.name} ({type(layer).__name__}): needs inputs of shape (batch, ..., features) "
                         f"with a known number of features, got {format_shape(input_shape)}")
    return input_shape[-1]


@register
class InputLayer(Layer):
    """Declares the input shape of a model (``shape`` without the batch dimension). It has no
    weights and adds no nodes; ``summary()`` does not list it (as Keras 3)."""

    def __init__(self, shape=None, batch_size=None, name=None, dtype="float32", input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("Input: give the shape of one sample, e.g. Input(shape=(784,))")
        shape = arguments.shape(shape, "Input: shape", allow_unknown=True)
        batch_size = arguments.index(batch_size, "Input: batch_size", minimum=1, allow_none=True)
        super().__init__(name=name or unique_name("input_layer"), input_shape=shape, dtype=dtype, **kwargs)
        self.auto_named = name is None
        self.batch_size = batch_size

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training=False):
        return x

    def get_config(self):
        config = super().get_config()
        config["shape"] = config.pop("input_shape")
        config["batch_size"] = self.batch_size
        return config


Input = InputLayer  # Keras: layers.Input(shape) in a Sequential's layer list


@register
class Dense(Layer):
    """``activation(x @ kernel + bias)``: a fully connected layer of ``units`` outputs.

    kernel (features, units) from ``kernel_initializer`` (Glorot uniform), bias (units,) from
    ``bias_initializer`` (zeros); regularizers add their penalties to the training loss.
    Inputs of rank > 2 are transformed along their last axis (like Keras).
    """

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.units = arguments.index(units, "Dense: units", minimum=1)
        self.activation_name = activation
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        features = _last_dim(self, input_shape)
        self.kernel = self.add_weight("kernel", (features, self.units), self.kernel_initializer,
                                      self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x, training=False):
        y = matmul(x, self.kernel)
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": serialize_object(self.kernel_initializer, initializers),
                "bias_initializer": serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": serialize_object(self.kernel_regularizer, regularizers),
                "bias_regularizer": serialize_object(self.bias_regularizer, regularizers)}


@register
class Maxout(Layer):
    """Maxout (Goodfellow et al., 2013): a Dense layer to ``units · pieces`` linear features,
    then the maximum over each group of ``pieces``: output unit j is
    ``max(z[j·pieces], ..., z[j·pieces + pieces − 1])`` with ``z = x @ kernel + bias``
    (consecutive features form a group, as ``gc.nn.maxout``). Parameters:
    features · units · pieces + units · pieces."""

    def __init__(self, units, pieces, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.units = arguments.index(units, "Maxout: units", minimum=1)
        self.pieces = arguments.index(pieces, "Maxout: pieces", minimum=1)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        features = _last_dim(self, input_shape)
        width = self.units * self.pieces
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (width,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, x, training=False):
        z = matmul(x, self.kernel)
        if self.use_bias:
            z = z + self.bias
        return maxout(z, self.units, axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces, "use_bias": self.use_bias,
                "kernel_initializer": serialize_object(self.kernel_initializer, initializers),
                "bias_initializer": serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": serialize_object(self.kernel_regularizer, regularizers)}


@register
class Activation(Layer):
    """Applies an activation by name (``"relu"``, ``"softmax"``, ...) or a callable."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x, training=False):
        return self.activation(x)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@register
class Dropout(Layer):
    """Inverted dropout in the training graph: each element is zeroed with probability
    ``rate`` and the survivors scaled by 1/(1 − rate); the inference graph passes x through
    unchanged (so evaluation needs no rescaling). A fresh mask on every training step;
    ``seed`` makes the sequence of masks reproducible."""

    supports_masking = True   # acts on each time step alone: a mask passes on

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = arguments.rate(rate, "Dropout: rate")

    def call(self, x, training=False):
        return dropout(x, self.rate, training=training, seed=self.seed)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


@register
class Flatten(Layer):
    """(batch, d1, d2, ...) → (batch, d1·d2·...); the sizes after the batch must be known."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            raise ShapeError(f"{self.name} (Flatten): the sizes after the batch dimension must be known, "
                             f"got {format_shape(input_shape)}")
        return (input_shape[0], math.prod(rest))

    def call(self, x, training=False):
        if x.ndim == 2:
            return x
        return reshape(x, (-1, math.prod(x.shape[1:])))
