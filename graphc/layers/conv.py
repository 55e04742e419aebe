"""Convolution and pooling layers, Keras' names, arguments and defaults, channels last:
``Conv2D``, ``DepthwiseConv2D``, ``MaxPooling2D``, ``AveragePooling2D`` and the global poolings.
Images are (batch, height, width, channels) (NHWC) and kernels (kh, kw, in_channels / groups,
filters) (HWIO), so each layer is one call of a graph op (``gc.nn.conv2d``, ``max_pool2d``,
``avg_pool2d``) whose gradient is graph ops too.
"""
from __future__ import annotations

from graphc import activations, initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import ShapeError
from graphc.api.nn import avg_pool2d, conv2d, max_pool2d
from graphc.api.support import effective_kernel
from graphc.api import cast, where
from graphc.api import reduce_max, reduce_mean, reduce_sum
from graphc.api import expand_dims, reshape
from graphc.api.support import format_shape
from graphc.layers.base import Layer, serialize_object
from graphc.layers.registry import register

__all__ = ["AveragePooling2D", "Conv2D", "DepthwiseConv2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling2D"]


def _pair(layer: str, what: str, value) -> tuple:
    """An int or a pair of positive ints -> (a, b) (Keras accepts both)."""
    return arguments.pair(value, f"{layer}: {what}", minimum=1)


def _padding(layer: str, padding) -> str:
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def _channels_last(layer: str, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer}: only data_format='channels_last' (NHWC) is supported, got {data_format!r}; "
                         "transpose the images to (batch, height, width, channels)")


def output_length(size, window: int, stride: int, padding: str):
    """The output size along one spatial axis (None when the input size is unknown), as Keras,
    for a window spanning ``window`` pixels (dilation included):

        padding="valid":  out = (in - window) // stride + 1      (the window stays inside)
        padding="same":   out = ceil(in / stride)                (TensorFlow's SAME zero padding)
    """
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    return (size - window) // stride + 1


def _dilation(layer: str, dilation_rate, strides) -> tuple:
    """dilation_rate as a pair; Keras 3 refuses it above 1 together with strides above 1."""
    dilation = _pair(layer, "dilation_rate", dilation_rate)
    if max(dilation) > 1 and max(strides) > 1:
        raise ValueError(f"{layer}: strides > 1 together with dilation_rate > 1 is not supported (as Keras), got "
                         f"strides={strides} and dilation_rate={dilation}; gc.nn.conv2d computes it if you need it")
    return dilation


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


class _Conv(Layer):
    """What Conv2D and DepthwiseConv2D share: the window (kernel_size, strides, padding,
    dilation_rate), the bias, the activation, output shapes. A subclass creates ``kernel`` in
    ``build`` and says how many ``groups`` and output channels the convolution has."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
                 activation=None, use_bias=True, bias_initializer="zeros", bias_regularizer=None,
                 input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        kind = type(self).__name__
        _channels_last(kind, data_format)
        self.kernel_size = _pair(kind, "kernel_size", kernel_size)
        self.strides = _pair(kind, "strides", strides)
        self.dilation_rate = _dilation(kind, dilation_rate, self.strides)
        self.padding = _padding(kind, padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = bias_initializer
        self.bias_regularizer = bias_regularizer
        self.kernel = None
        self.bias = None

    @property
    def window(self) -> tuple:
        """The span of the dilated kernel: (k − 1)·d + 1 pixels along each axis."""
        return effective_kernel(self.kernel_size, self.dilation_rate)

    def _input_channels(self, input_shape) -> int:
        _image_shape(self, input_shape, self.window)
        channels = input_shape[3]
        if channels is None:
            raise ShapeError(f"{self.name} ({type(self).__name__}): the number of input channels must be known, "
                             f"got inputs of shape {format_shape(input_shape)}")
        return channels

    def output_channels(self, input_shape) -> int:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        h, w = (output_length(n, k, s, self.padding)
                for n, k, s in zip(input_shape[1:3], self.window, self.strides))
        return (input_shape[0], h, w, self.output_channels(input_shape))

    def convolve(self, x):
        raise NotImplementedError

    def call(self, x, training=False):
        y = self.convolve(x)
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "bias_initializer": serialize_object(self.bias_initializer, initializers),
                "bias_regularizer": serialize_object(self.bias_regularizer, regularizers)}


@register
class Conv2D(_Conv):
    """``activation(conv2d(x, kernel) + bias)``: ``filters`` learned filters of
    ``kernel_size`` slid over the image with ``strides`` (cross-correlation, as Keras), their
    taps ``dilation_rate`` pixels apart, in ``groups`` independent channel groups.

    kernel (kh, kw, in_channels / groups, filters) from ``kernel_initializer`` (Glorot uniform,
    with fan_in = kh·kw·in_channels/groups and fan_out = kh·kw·filters), bias (filters,) from
    ``bias_initializer`` (zeros): kh·kw·(in_channels / groups)·filters + filters parameters
    (``Conv2D(32, 3)`` on one channel: 3·3·1·32 + 32 = 320). ``groups=G`` splits the channels
    and the filters into G blocks, filter block g seeing input block g only (both counts
    divisible by G).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, input_shape=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         input_shape=input_shape, **kwargs)
        self.filters = arguments.index(filters, "Conv2D: filters", minimum=1)
        self.groups = arguments.index(groups, "Conv2D: groups", minimum=1)
        if self.filters % self.groups:
            raise ValueError(f"Conv2D: the number of filters must be divisible by groups, got filters={filters} "
                             f"and groups={groups}")
        self.kernel_initializer = kernel_initializer
        self.kernel_regularizer = kernel_regularizer

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ShapeError(f"{self.name} (Conv2D): the {channels} input channels are not divisible by "
                             f"groups={self.groups} (inputs {format_shape(input_shape)})")
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)

    def output_channels(self, input_shape):
        return self.filters

    def convolve(self, x):
        return conv2d(x, self.kernel, strides=self.strides, padding=self.padding, dilations=self.dilation_rate,
                      groups=self.groups)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": serialize_object(self.kernel_initializer, initializers),
                "kernel_regularizer": serialize_object(self.kernel_regularizer, regularizers)}


@register
class DepthwiseConv2D(_Conv):
    """Each input channel convolved with its own ``depth_multiplier`` filters (no mixing of
    channels): ``activation(depthwise_conv2d(x, kernel) + bias)``, output channel
    c·depth_multiplier + m.

    kernel (kh, kw, in_channels, depth_multiplier) from ``depthwise_initializer`` (Glorot
    uniform on that shape, as Keras), bias (in_channels·depth_multiplier,):
    kh·kw·in_channels·depth_multiplier + in_channels·depth_multiplier parameters. It is the
    conv2d op with groups = in_channels over the kernel viewed as (kh, kw, 1,
    in_channels·depth_multiplier).
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None, input_shape=None,
                 **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         input_shape=input_shape, **kwargs)
        self.depth_multiplier = arguments.index(depth_multiplier, "DepthwiseConv2D: depth_multiplier", minimum=1)
        self.depthwise_initializer = depthwise_initializer
        self.depthwise_regularizer = depthwise_regularizer

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, self.depth_multiplier),
                                      self.depthwise_initializer, self.depthwise_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer,
                                        self.bias_regularizer)

    def output_channels(self, input_shape):
        return None if input_shape[3] is None else input_shape[3] * self.depth_multiplier

    def convolve(self, x):
        kh, kw, channels, mult = self.kernel.shape
        grouped = reshape(self.kernel, (kh, kw, 1, channels * mult))
        return conv2d(x, grouped, strides=self.strides, padding=self.padding, dilations=self.dilation_rate,
                      groups=channels)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": serialize_object(self.depthwise_initializer, initializers),
                "depthwise_regularizer": serialize_object(self.depthwise_regularizer, regularizers)}


class _Pooling2D(Layer):
    """Shared by the pooling layers: ``pool_size`` windows moved by ``strides`` (default:
    ``pool_size``, so windows do not overlap), per channel; no parameters."""

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


class _GlobalPooling(Layer):
    """Shared by the global pooling layers: one value per channel over every step (1D:
    (batch, steps, features) -> (batch, features)) or pixel (2D: (batch, h, w, channels) ->
    (batch, channels)); ``keepdims=True`` keeps the pooled axes with size 1."""

    RANK = 1   # spatial axes pooled

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        _channels_last(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    @property
    def axes(self) -> tuple:
        return tuple(range(1, self.RANK + 1))

    def build(self, input_shape):
        if len(input_shape) != self.RANK + 2:
            what = "sequences (batch, steps, features)" if self.RANK == 1 else "images (batch, height, width, channels)"
            raise ShapeError(f"{self.name} ({type(self).__name__}): expects {what}, got inputs of shape "
                             f"{format_shape(input_shape)}")

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0],) + (1,) * self.RANK + (input_shape[-1],)
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


@register
class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps of (batch, steps, features). With a mask (batch, steps) — e.g.
    from ``Embedding(mask_zero=True)`` — the mean over the unmasked steps only (a sequence with
    every step masked gives 0/0 = nan, as Keras). Consumes the mask."""

    supports_masking = True

    def call(self, x, training=False, mask=None):
        if mask is None:
            return reduce_mean(x, axis=1, keepdims=self.keepdims)
        keep = expand_dims(cast(mask, "bool"), 2)
        total = reduce_sum(where(keep, x, 0.0), axis=1, keepdims=self.keepdims)
        return total / reduce_sum(cast(keep, x.dtype), axis=1, keepdims=self.keepdims)

    def compute_mask(self, x, mask=None):
        return None


@register
class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps of (batch, steps, features) (a mask is not honoured, as
    Keras: the layer drops it with a warning)."""

    def call(self, x, training=False):
        return reduce_max(x, axis=1, keepdims=self.keepdims)


@register
class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width of (batch, height, width, channels)."""

    RANK = 2

    def call(self, x, training=False):
        return reduce_mean(x, axis=(1, 2), keepdims=self.keepdims)


@register
class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over height and width of (batch, height, width, channels)."""

    RANK = 2

    def call(self, x, training=False):
        return reduce_max(x, axis=(1, 2), keepdims=self.keepdims)
