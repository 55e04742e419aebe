"""Layers: the building blocks of ``gc.models.Sequential`` (Keras' names and arguments).

A layer turns a symbolic input Tensor into a symbolic output Tensor. It owns its weights as
``gc.variable``s, created once by ``build(input_shape)`` from initializers (so a layer has
weights only after it has seen the size of its input), and adds graph nodes in
``call(x, training)``. ``training`` is a Python bool fixed while the graph is built: a model
compiles one graph with ``training=True`` (its training step: dropout active) and one with
``training=False`` (evaluation and prediction), so behaviour never branches at run time.

Writing a layer: subclass ``Layer``, create weights in ``build`` with ``add_weight``, build
the output in ``call``, give its output shape in ``compute_output_shape`` (the default keeps
the input shape) and its constructor arguments in ``get_config``. A layer that keeps running
state (e.g. batch statistics) registers ``add_update(variable, new_value)`` in its training
``call``; the model applies those updates in its compiled training step.

Shapes include the batch dimension as ``None``: ``Dense(128)`` on ``(None, 784)`` gives
``(None, 128)``. A layer that takes integer inputs (Embedding) sets ``input_dtype``; a model
starting with it feeds int64. Seeds: ``seed=`` on a layer makes its random initial weights
(and dropout masks) reproducible; ``Sequential(seed=...)`` seeds every layer that has none.

Masks (Keras' mechanism for padded sequences). A layer may attach a MASK to its output: a bool
Tensor (batch, steps), true for the time steps that hold data — ``Embedding(mask_zero=True)``
makes ``ids != 0``. A Tensor is an immutable node with fixed slots (no room for a Keras-style
``_keras_mask`` attribute), so the mask lives in a side table keyed by the output Tensor
(weakly, so it dies with the graph): ``get_mask(t)``. ``Layer.__call__`` looks up the input's mask, passes it to ``call``
when ``call`` takes a ``mask`` argument (the recurrent layers, GlobalAveragePooling1D,
BatchNormalization, the wrappers), and
attaches ``compute_mask(x, mask)`` to the output: by default the input's mask passes on
unchanged if the layer ``supports_masking`` (Dense, Activation, Dropout, the activation layers,
BatchNormalization),
and is dropped — with a warning, as Keras 3 — otherwise (Flatten, Conv2D, ...). Nothing else is
needed from a model: ``Sequential`` calls its layers one after the other, so masks travel with
the tensors. Masks exist only while graphs are built; compiled functions never see them.

This module holds the base class and the dense family; the later families live in modules of
their own, re-exported here: ``layers_conv`` (Conv2D, DepthwiseConv2D, MaxPooling2D,
AveragePooling2D, the global poolings), ``layers_normalization`` (BatchNormalization),
``layers_recurrent`` (SimpleRNN, LSTM, GRU: unrolled over the time steps),
``layers_embedding`` (Embedding) and ``layers_wrappers`` (Masking, TimeDistributed, Bidirectional).
"""
from __future__ import annotations

import contextlib
import contextvars
import inspect
import itertools
import math
import re
import warnings
import weakref

import numpy as np

from graphc import activations, arguments, initializers, regularizers
from graphc.errors import ShapeError
from graphc.compile.host import to_host
from graphc.api.nn import dropout, elu, leaky_relu, maxout, prelu, softmax
from graphc.ops.linalg import matmul
from graphc.ops.shape_ops import reshape
from graphc.ir.tensor import Tensor, as_tensor, format_shape, variable

__all__ = ["ELU", "GRU", "LSTM", "Activation", "AveragePooling2D", "BatchNormalization", "Bidirectional", "Conv2D",
           "Dense", "DepthwiseConv2D", "Dropout", "Embedding", "Flatten", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer",
           "LeakyReLU", "Masking", "MaxPooling2D", "Maxout", "PReLU", "SimpleRNN", "Softmax", "TimeDistributed",
           "deserialize", "get_mask", "serialize"]

_name_counters: dict[str, itertools.count] = {}


def unique_name(base: str) -> str:
    """Keras' automatic names: dense, dense_1, dense_2, ... per base name, per process."""
    n = next(_name_counters.setdefault(base, itertools.count()))
    return base if n == 0 else f"{base}_{n}"


def _snake(class_name: str) -> str:
    """Keras' automatic layer names: Dense -> dense, Conv2D -> conv2d, SimpleRNN -> simple_rnn,
    MaxPooling2D -> max_pooling2d, LeakyReLU -> leaky_re_lu, PReLU -> p_re_lu."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def derive_seed(seed, *path) -> int | None:
    """A seed for a sub-part (a weight, a layer) from a parent seed; None stays None."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), *path]).generate_state(1)[0])


# -- masks: a side table from a layer's output Tensor to its mask (see the module docstring) --------

_masks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_mask(t) -> Tensor | None:
    """The mask a layer attached to its output ``t`` (a bool Tensor (batch, steps)), or None."""
    return _masks.get(t) if isinstance(t, Tensor) else None


def _attach_masks(outputs, masks) -> None:
    """Record ``masks`` for ``outputs`` (a Tensor and a mask, or lists of both)."""
    if isinstance(outputs, (list, tuple)):
        if not isinstance(masks, (list, tuple)):
            masks = [masks] + [None] * (len(outputs) - 1)
        pairs = zip(outputs, masks)
    else:
        pairs = [(outputs, masks)]
    for out, mask in pairs:
        if mask is not None and isinstance(out, Tensor):
            _masks[out] = mask


_takes_mask: dict = {}


def _call_takes_mask(cls) -> bool:
    """Whether ``cls.call`` has a ``mask`` parameter (looked up once per class)."""
    if cls not in _takes_mask:
        _takes_mask[cls] = "mask" in inspect.signature(cls.call).parameters
    return _takes_mask[cls]


def _serialize_object(obj, module):
    """A JSON-able description of an initializer/regularizer argument."""
    if obj is None or isinstance(obj, (str, int, float, dict)):
        return obj
    if hasattr(obj, "get_config"):
        return module.serialize(obj)
    raise ValueError(f"cannot save {obj!r}: only names and built-in {module.__name__.split('.')[-1]} "
                     f"(objects with get_config) can be serialized")



# while a model is rebuilt from a file, its weights may hold no more values than the file does:
# a forged configuration (units=10**9) is refused before anything is allocated
_weight_budget: contextvars.ContextVar = contextvars.ContextVar("weight_budget", default=None)


@contextlib.contextmanager
def weight_budget(values: int, what: str):
    """Inside the block, the weights layers create may hold ``values`` values in all (``what``
    names the source of the limit in the error)."""
    token = _weight_budget.set([values, what])
    try:
        yield
    finally:
        _weight_budget.reset(token)


def _spend_weight_budget(layer, name, shape) -> None:
    budget = _weight_budget.get()
    if budget is None:
        return
    size = math.prod(shape)
    if size > budget[0]:
        raise ShapeError(f"{layer.name}: weight {name!r} of shape {tuple(shape)} would hold more values "
                         f"than {budget[1]} ({budget[0]} left)")
    budget[0] -= size


class Layer:
    """Base class of all layers.

    Attributes: ``name``; ``built``; ``input_shape`` / ``output_shape`` (with ``None`` for the
    batch, known once built); ``weights``, ``trainable_weights``, ``non_trainable_weights``
    (lists of ``gc.Variable``); ``losses`` (regularization penalties as scalar Tensors).
    ``trainable=False`` freezes the layer (its weights leave the optimizer's list; recompile
    the model after changing it).
    """

    input_dtype = "float32"   # the dtype of a model's input placeholder when this layer is first
    supports_masking = False  # True: an input mask passes on to the output (see compute_mask)

    def __init__(self, name=None, input_shape=None, trainable=True, seed=None, dtype="float32"):
        self.auto_named = name is None
        self.name = name or unique_name(_snake(type(self).__name__))
        kind = type(self).__name__
        self.trainable = bool(trainable)
        self.seed = arguments.seed(seed, f"{kind}: seed")
        self.dtype = arguments.dtype(dtype, f"{kind}: dtype").name
        self.declared_input_shape = (None if input_shape is None else
                                     _shape_tuple(input_shape, f"{kind}: input_shape"))
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._weights: list = []
        self._regularized: list = []
        self._updates: list = []

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch dimension included)."""

    def add_weight(self, name, shape, initializer="zeros", regularizer=None, trainable=True):
        """Create a weight: a ``gc.variable`` named ``<layer>/<name>`` holding
        ``initializer(shape)``; seeded from the layer's seed when the initializer has none."""
        _spend_weight_budget(self, name, shape)
        init = initializers.get(initializer)
        init = self._seeded(init, len(self._weights))
        value = np.asarray(init(tuple(shape), self.dtype), dtype=self.dtype)
        if value.shape != tuple(shape):
            raise ShapeError(f"{self.name}: initializer {init!r} gave shape {value.shape} for weight "
                             f"{name!r} of shape {tuple(shape)}")
        var = variable(value, name=f"{self.name}/{name}", trainable=trainable)
        self._weights.append(var)
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((reg, var))
        return var

    def _seeded(self, init, index):
        seed = derive_seed(self.seed, index)
        if seed is not None and getattr(init, "seed", 0) is None and hasattr(init, "get_config"):
            return type(init).from_config({**init.get_config(), "seed": seed})
        return init

    def build_for(self, input_shape):
        """Build once for ``input_shape`` (batch included) and record input/output shapes."""
        input_shape = _shape_tuple(input_shape, f"{self.name} ({type(self).__name__}): input shape")
        if not self.built:
            self.input_shape = input_shape
            self.build(input_shape)
            self.built = True
            self.output_shape = tuple(self.compute_output_shape(input_shape))
        else:
            self._check_input(input_shape)
        return self.output_shape

    def _check_input(self, shape):
        expected = self.input_shape
        if expected is None:
            return
        if len(shape) != len(expected) or any(a is not None and b is not None and a != b
                                              for a, b in zip(expected, shape)):
            raise ShapeError(f"{self.name} ({type(self).__name__}): built for inputs of shape "
                             f"{format_shape(expected)}, called on {format_shape(shape)}")

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (the default: unchanged)."""
        return tuple(input_shape)

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, x, training=False, mask=None, **kwargs):
        """The layer applied to Tensor ``x`` (built on first use). ``mask``: a bool (batch, steps)
        Tensor, by default the mask attached to ``x`` by the layer that made it; it reaches
        ``call`` when ``call`` takes a ``mask`` argument. Other keyword arguments go to ``call``
        (e.g. a recurrent layer's ``initial_state``)."""
        x = as_tensor(x)
        self.build_for(x.shape)
        if mask is None:
            mask = get_mask(x)
        if mask is not None and _call_takes_mask(type(self)):
            kwargs["mask"] = mask
        outputs = self.call(x, training=bool(training), **kwargs)
        if mask is not None and not self.supports_masking and type(self).compute_mask is Layer.compute_mask:
            warnings.warn(f"{self.name} ({type(self).__name__}) was given an input with a mask but does not "
                          "support masking: the mask stops here, the layers after it will not see it",
                          stacklevel=2)
        _attach_masks(outputs, self.compute_mask(x, mask))
        return outputs

    def call(self, x, training=False):
        """The output Tensor for input Tensor ``x``; ``training`` selects the training graph."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(x, training)")

    def compute_mask(self, x, mask=None):
        """The mask of the output for input ``x`` carrying ``mask`` (None: no mask). The
        default passes ``mask`` on when the layer ``supports_masking``, else drops it."""
        return mask if self.supports_masking else None

    def check_input_values(self, values, who: str, name: str = "x"):
        """Called by a model on its input array when this layer comes first: raise a
        ValueError naming ``who`` and ``name`` for values the layer cannot take."""

    def add_update(self, var, new_value):
        """Register a state update (``var`` ← ``new_value``) from a training ``call``."""
        self._updates.append((var, new_value))

    def pop_updates(self) -> list:
        """The updates registered since the last pop (the model collects them)."""
        updates, self._updates = self._updates, []
        return updates

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list:
        return [w for w in self._weights if self.trainable and w.trainable]

    @property
    def non_trainable_weights(self) -> list:
        return [w for w in self._weights if not (self.trainable and w.trainable)]

    @property
    def losses(self) -> list:
        """Regularization penalties on this layer's weights (new scalar Tensors)."""
        return [reg(var) for reg, var in self._regularized]

    def count_params(self) -> int:
        return int(sum(w.value.size for w in self._weights))

    def get_weights(self) -> list:
        return [to_host(w.value, copy=True) for w in self._weights]

    def set_weights(self, values):
        values = list(values)
        if len(values) != len(self._weights):
            raise ValueError(f"{self.name}: expected {len(self._weights)} weight arrays, got {len(values)}")
        for var, value in zip(self._weights, values):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ShapeError(f"{self.name}: weight {var.name!r} has shape {format_shape(var.shape)}, "
                                 f"got an array of shape {format_shape(value.shape)}")
        for var, value in zip(self._weights, values):
            var.assign(value)

    # -- configuration ------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments (JSON-able), so ``type(layer)(**config)`` rebuilds it."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.seed is not None:
            config["seed"] = self.seed
        if self.declared_input_shape is not None:
            config["input_shape"] = list(self.declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"


def _shape_tuple(shape, what: str) -> tuple:
    """A layer's shape argument: an int or a sequence of sizes, None where unknown."""
    return arguments.shape(shape, what, allow_unknown=True)


def _last_dim(layer: Layer, input_shape) -> int:
    if len(input_shape) < 2 or input_shape[-1] is None:
        raise ShapeError(f"{layer.name} ({type(layer).__name__}): needs inputs of shape (batch, ..., features) "
                         f"with a known number of features, got {format_shape(input_shape)}")
    return input_shape[-1]


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
                "kernel_initializer": _serialize_object(self.kernel_initializer, initializers),
                "bias_initializer": _serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": _serialize_object(self.kernel_regularizer, regularizers),
                "bias_regularizer": _serialize_object(self.bias_regularizer, regularizers)}


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
                "alpha_initializer": _serialize_object(self.alpha_initializer, initializers),
                "alpha_regularizer": _serialize_object(self.alpha_regularizer, regularizers),
                "shared_axes": self.shared_axes}


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
                "kernel_initializer": _serialize_object(self.kernel_initializer, initializers),
                "bias_initializer": _serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": _serialize_object(self.kernel_regularizer, regularizers)}


_LAYERS = {cls.__name__: cls for cls in (InputLayer, Dense, Activation, Dropout, Flatten, LeakyReLU,
                                         PReLU, ELU, Softmax, Maxout)}


def register(cls):
    """Make a Layer subclass known to ``deserialize`` (and so to ``load_model``)."""
    _LAYERS[cls.__name__] = cls
    return cls


# The layers of later families live in modules of their own and register themselves.
from graphc.layers_conv import (AveragePooling2D, Conv2D, DepthwiseConv2D, GlobalAveragePooling1D,  # noqa: E402
                          GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling2D)
from graphc.layers_embedding import Embedding  # noqa: E402
from graphc.layers_normalization import BatchNormalization  # noqa: E402
from graphc.layers_recurrent import GRU, LSTM, SimpleRNN  # noqa: E402
from graphc.layers_wrappers import Bidirectional, Masking, TimeDistributed  # noqa: E402


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    try:
        cls = _LAYERS[config["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"layers.deserialize: unknown layer {config!r}; known: {sorted(_LAYERS)}") from None
    return cls.from_config(dict(config.get("config", {})))

