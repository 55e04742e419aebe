"""``BatchNormalization`` (Ioffe & Szegedy, 2015) with Keras 3's semantics, masked moments
included: batch statistics in the training graph, moving statistics in the inference graph, so
which formula runs is decided by which graph is compiled, never at run time.
"""
from __future__ import annotations

from graphc import initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import ShapeError
from graphc.api import cast, square
from graphc.api.nn import batch_norm
from graphc.api import reduce_mean, reduce_sum
from graphc.api import expand_dims, reshape, squeeze
from graphc.api.support import format_shape
from graphc.layers.base import Layer, serialize_object
from graphc.layers.registry import register

__all__ = ["BatchNormalization", "masked_moments", "moments"]

# Keras' ``backend.epsilon()``: keeps the masked moments' denominator positive when every
# position of a batch is masked (distinct from the layer's own ``epsilon`` under the sqrt)
MASK_EPSILON = 1e-7


def moments(x, axes):
    """(mean, biased variance) of ``x`` over ``axes``, both with those axes removed."""
    axes = tuple(axes)
    mean = reduce_mean(x, axis=axes, keepdims=True)
    variance = reduce_mean(square(x - mean), axis=axes, keepdims=True)
    return squeeze(mean, axis=axes), squeeze(variance, axis=axes)


def masked_moments(x, mask, feature_axis):
    """(mean, biased variance) over every axis of ``x`` but ``feature_axis``, weighted by
    ``mask`` (x's shape without ``feature_axis``), both of shape (features,):

        w = mask as 0/1, broadcast over the features;  n = Σ w + 1e-7 (Keras' backend epsilon)
        μ = Σ w·x / n        σ² = Σ w·(w·x − μ)² / n

    (n counts positions, not positions × features; a fully masked batch gives μ = σ² = 0, not
    0/0). Keras 3's formula term for term (its ``w·x − μ`` rather than ``x − μ``: equal where w
    is 0 or 1, since the outer w zeroes the masked terms), so results match Keras' to rounding."""
    axes = tuple(a for a in range(x.ndim) if a != feature_axis)
    w = expand_dims(cast(mask, x.dtype), feature_axis)          # size 1 on the features: broadcasts
    count = reduce_sum(w, axis=axes, keepdims=True) + MASK_EPSILON  # positions, not × features
    weighted = w * x
    mean = reduce_sum(weighted, axis=axes, keepdims=True) / count
    variance = reduce_sum(w * square(weighted - mean), axis=axes, keepdims=True) / count
    return squeeze(mean, axis=axes), squeeze(variance, axis=axes)


@register
class BatchNormalization(Layer):
    """Normalize each feature c of ``axis`` (the last: the channels of an image, the units of
    a Dense output) with the batch's statistics while training and the moving statistics at
    inference:

        training graph   μ_B = mean of x over every other axis (the batch, height, width ...)
                         σ²_B = mean of (x − μ_B)² over those axes (the biased variance)
                         y = γ · (x − μ_B) / sqrt(σ²_B + ε) + β
                         and, applied by the compiled training step after each batch,
                         moving_mean     ← momentum · moving_mean     + (1 − momentum) · μ_B
                         moving_variance ← momentum · moving_variance + (1 − momentum) · σ²_B
        inference graph  y = γ · (x − moving_mean) / sqrt(moving_variance + ε) + β

    γ (``gamma``, ones) and β (``beta``, zeros) are learned; the moving statistics (zeros and
    ones at first) are non-trainable weights, so a layer on C features has 4C parameters of
    which 2C are non-trainable. The moving statistics are registered with ``add_update`` in the
    training ``call``; ``Sequential`` adds them to the ``updates`` of its compiled training
    step. A frozen layer (``trainable=False``) runs the inference formula in both graphs and
    updates nothing (as Keras 3).

    Masks (Keras 3's masked moments): a mask covers every axis but the feature axis, in order —
    (batch, steps) for (batch, steps, features) inputs, e.g. from ``Embedding(mask_zero=True)``
    — and, in the training graph only, makes μ_B and σ²_B those of the unmasked positions
    (``masked_moments``). They then normalize ALL positions (masked ones too, as Keras) and feed
    the moving-statistics update, so padding steps appended to a batch change neither. The
    inference graph ignores the mask, and the mask passes on unchanged. A mask of any other
    shape raises ``ShapeError`` (Keras raises for a wrong rank; for ``axis`` other than the last
    it would broadcast the mask against the wrong axes)."""

    supports_masking = True   # normalizing changes no position's validity: the mask passes on

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        self.axis = arguments.index(axis, "BatchNormalization: axis")
        self.momentum = arguments.real(momentum, "BatchNormalization: momentum", minimum=0.0, maximum=1.0)
        self.epsilon = arguments.real(epsilon, "BatchNormalization: epsilon")
        if not self.epsilon > 0.0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer = beta_regularizer
        self.gamma_regularizer = gamma_regularizer
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def _feature_axis(self, ndim):
        if not -ndim <= self.axis < ndim or ndim < 2:
            raise ShapeError(f"{self.name} (BatchNormalization): axis {self.axis} is not an axis of inputs "
                             f"of rank {ndim}")
        axis = self.axis % ndim
        if axis == 0:
            raise ShapeError(f"{self.name} (BatchNormalization): axis 0 is the batch axis; normalize a "
                             "feature axis (the last, by default)")
        return axis

    def build(self, input_shape):
        axis = self._feature_axis(len(input_shape))
        features = input_shape[axis]
        if features is None:
            raise ShapeError(f"{self.name} (BatchNormalization): the size of axis {self.axis} must be known, "
                             f"got inputs of shape {format_shape(input_shape)}")
        shape = (features,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, self.moving_variance_initializer,
                                               trainable=False)

    def _broadcastable(self, v, ndim, axis):
        """A (C,) tensor shaped to broadcast against the input along ``axis``."""
        if v is None or axis == ndim - 1:
            return v
        return reshape(v, tuple(-1 if a == axis else 1 for a in range(ndim)))

    def _check_mask(self, x, mask, axis):
        """The mask must cover exactly the non-feature axes of ``x``, in order; anything else
        (e.g. a (batch, steps) mask on (batch, steps, h, c) inputs) would weight the wrong
        positions, so it is refused at build time rather than broadcast."""
        expected = tuple(d for a, d in enumerate(x.shape) if a != axis)
        if mask.ndim != len(expected) or any(a is not None and b is not None and a != b
                                             for a, b in zip(mask.shape, expected)):
            raise ShapeError(f"{self.name} (BatchNormalization): the mask must have the inputs' shape without "
                             f"the feature axis {self.axis}, {format_shape(expected)} for inputs "
                             f"{format_shape(x.shape)}; got a mask of shape {format_shape(mask.shape)}")

    def call(self, x, training=False, mask=None):
        axis = self._feature_axis(x.ndim)
        if mask is not None:
            self._check_mask(x, mask, axis)
        if training and self.trainable:
            if mask is None:
                mean, variance = moments(x, tuple(a for a in range(x.ndim) if a != axis))
            else:
                mean, variance = masked_moments(x, mask, axis)
            m = self.momentum
            self.add_update(self.moving_mean, self.moving_mean * m + mean * (1.0 - m))
            self.add_update(self.moving_variance, self.moving_variance * m + variance * (1.0 - m))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        ndim = x.ndim
        return batch_norm(x, self._broadcastable(mean, ndim, axis), self._broadcastable(variance, ndim, axis),
                          offset=self._broadcastable(self.beta, ndim, axis),
                          scale=self._broadcastable(self.gamma, ndim, axis), epsilon=self.epsilon)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize_object(self.beta_initializer, initializers),
                "gamma_initializer": serialize_object(self.gamma_initializer, initializers),
                "moving_mean_initializer": serialize_object(self.moving_mean_initializer, initializers),
                "moving_variance_initializer": serialize_object(self.moving_variance_initializer, initializers),
                "beta_regularizer": serialize_object(self.beta_regularizer, regularizers),
                "gamma_regularizer": serialize_object(self.gamma_regularizer, regularizers)}
