"""Convolution and pooling layers over images (``gc.layers.Conv2D``, ``MaxPooling2D``,
``AveragePooling2D``), Keras' names, arguments and defaults, channels last.

Inputs are (batch, height, width, channels) — NHWC, Keras' ``channels_last`` — and a Conv2D
kernel is (kernel_h, kernel_w, in_channels, filters) — HWIO — so each layer is one call of the
graph ops ``gc.nn.conv2d`` / ``max_pool2d`` / ``avg_pool2d`` (whose gradients are graph ops
too). Output sizes along height and width follow Keras:

    padding="valid":  out = (in - kernel) // stride + 1      (the window stays inside)
    padding="same":   out = ceil(in / stride)                (TensorFlow's SAME zero padding)

A Conv2D has kernel_h · kernel_w · in_channels · filters + filters parameters
(``Conv2D(32, 3)`` on one channel: 3·3·1·32 + 32 = 320); pooling layers have none.
"""
from __future__ import annotations

import numpy as np

from . import activations, initializers, regularizers
from .errors import ShapeError
from .layers import Layer, _serialize_object, register
from .ops.conv import avg_pool2d, conv2d, max_pool2d
from .tensor import format_shape

__all__ = ["AveragePooling2D", "Conv2D", "MaxPooling2D"]


def _pair(layer: str, what: str, value) -> tuple:
    """An int or a pair of positive ints -> (a, b) (Keras accepts both)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{layer}: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{layer}: {what} must be positive, got {value!r}")
    return pair


def _padding(layer: str, padding) -> str:
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _channels_last(layer: str, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer}: only data_format='channels_last' (NHWC) is supported, got {data_format!r}; "
                         "transpose the images to (batch, height, width, channels)")


def output_length(size, window: int, stride: int, padding: str):
    """The output size along one spatial axis (None when the input size is unknown)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1


def _image_shape(layer: Layer, input_shape, window) -> None:
    """Check a (batch, height, width, channels) input against the window (valid padding)."""
    kind = type(layer).__name__
    if len(input_shape) != 4:
        raise ShapeError(f"{layer.name} ({kind}): expects images (batch, height, width, channels), got inputs "
                         f"of shape {format_shape(input_shape)}; add a channel axis, e.g. x.reshape(-1, 8, 8, 1)")
    if getattr(layer, "padding", "valid") == "valid":
        for axis, (size, k) in enumerate(zip(input_shape[1:3], window)):
            if size is not None and size < k:
                raise ShapeError(f"{layer.name} ({kind}): the window {window} is larger than the input's "
                                 f"{'height' if axis == 0 else 'width'} {size} (inputs {format_shape(input_shape)}); "
                                 "use padding='same' or a smaller window")


@register
class Conv2D(Layer):
    """``activation(conv2d(x, kernel) + bias)``: ``filters`` learned filters of
    ``kernel_size`` slid over the image with ``strides`` (cross-correlation, as Keras).

    kernel (kh, kw, in_channels, filters) from ``kernel_initializer`` (Glorot uniform, with
    fan_in = kh·kw·in_channels and fan_out = kh·kw·filters), bias (filters,) from
    ``bias_initializer`` (zeros). Only ``dilation_rate=1`` and ``groups=1``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        if int(filters) < 1:
            raise ValueError(f"Conv2D: filters must be a positive integer, got {filters}")
        _channels_last("Conv2D", data_format)
        if _pair("Conv2D", "dilation_rate", dilation_rate) != (1, 1) or int(groups) != 1:
            raise ValueError("Conv2D: dilation_rate other than 1 and groups other than 1 are not supported")
        self.filters = int(filters)
        self.kernel_size = _pair("Conv2D", "kernel_size", kernel_size)
        self.strides = _pair("Conv2D", "strides", strides)
        self.padding = _padding("Conv2D", padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel = None
        self.bias = None

    def build(self, input_shape):
        _image_shape(self, input_shape, self.kernel_size)
        channels = input_shape[3]
        if channels is None:
            raise ShapeError(f"{self.name} (Conv2D): the number of input channels must be known, got inputs "
                             f"of shape {format_shape(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        h, w = (output_length(n, k, s, self.padding)
                for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides))
        return (input_shape[0], h, w, self.filters)

    def call(self, x, training=False):
        y = conv2d(x, self.kernel, strides=self.strides, padding=self.padding)
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _serialize_object(self.kernel_initializer, initializers),
                "bias_initializer": _serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": _serialize_object(self.kernel_regularizer, regularizers),
                "bias_regularizer": _serialize_object(self.bias_regularizer, regularizers)}


class _Pooling2D(Layer):
    """Shared by the pooling layers: ``pool_size`` windows moved by ``strides`` (default:
    ``pool_size``, so windows do not overlap), per channel."""

    _op = None   # the graph builder: max_pool2d or avg_pool2d

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        kind = type(self).__name__
        _channels_last(kind, data_format)
        self.pool_size = _pair(kind, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _pair(kind, "strides", strides)
        self.padding = _padding(kind, padding)

    def build(self, input_shape):
        _image_shape(self, input_shape, self.pool_size)

    def compute_output_shape(self, input_shape):
        h, w = (output_length(n, k, s, self.padding)
                for n, k, s in zip(input_shape[1:3], self.pool_size, self.strides))
        return (input_shape[0], h, w, input_shape[3])

    def call(self, x, training=False):
        return self._op(x, pool_size=self.pool_size, strides=self.strides, padding=self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@register
class MaxPooling2D(_Pooling2D):
    """The maximum of each window (its gradient goes to the window's first arg-max, as
    TensorFlow); with padding="same" padded cells never win."""
    _op = staticmethod(max_pool2d)


@register
class AveragePooling2D(_Pooling2D):
    """The mean of each window; with padding="same" only the unpadded cells are counted
    (TensorFlow's semantics)."""
    _op = staticmethod(avg_pool2d)
