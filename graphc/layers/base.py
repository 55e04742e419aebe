"""``Layer``, the base class of every layer, and what all layers share: automatic names
(``unique_name``) and seeds (``derive_seed``), masks (``get_mask``), the weight budget that
bounds the weights a model file may allocate (``weight_budget``), and the config form of
initializer and regularizer arguments (``serialize_object``). The layer families build on this
module; it imports none of them, so they never import each other through it.
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

from graphc import initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import ShapeError
from graphc.api.support import to_host
from graphc.api import Tensor, variable
from graphc.api.support import as_tensor, format_shape

__all__ = ["Layer", "call_takes_mask", "derive_seed", "get_mask", "serialize_object", "unique_name",
           "weight_budget"]

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


# -- masks ----------------------------------------------------------------------------------------
# Keras' mechanism for padded sequences. A layer may attach a MASK to its output: a bool Tensor
# (batch, steps), true for the time steps that hold data (``Embedding(mask_zero=True)`` makes
# ``ids != 0``). A Tensor is an immutable node with fixed slots (no room for a Keras-style
# ``_keras_mask`` attribute), so masks live in a side table keyed by the output Tensor (weakly,
# so a mask dies with its graph). ``Layer.__call__`` looks up the input's mask, passes it to
# ``call`` when ``call`` takes a ``mask`` argument (the recurrent layers, GlobalAveragePooling1D,
# BatchNormalization, the wrappers) and attaches ``compute_mask(x, mask)`` to the output: by
# default the mask passes on if the layer ``supports_masking`` (Dense, Activation, Dropout, the
# activation layers, BatchNormalization) and is dropped, with a warning as Keras 3, otherwise
# (Flatten, Conv2D, ...). ``Sequential`` calls its layers one after the other, so masks travel
# with the tensors. Masks exist only while graphs are built; compiled functions never see them.

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


def call_takes_mask(cls) -> bool:
    """Whether ``cls.call`` has a ``mask`` parameter (looked up once per class)."""
    if cls not in _takes_mask:
        _takes_mask[cls] = "mask" in inspect.signature(cls.call).parameters
    return _takes_mask[cls]


def serialize_object(obj, module):
    """A JSON-able description of an initializer/regularizer argument (``module``: the
    ``initializers`` or ``regularizers`` module that knows its objects)."""
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
    """Base class of all layers: a layer turns a symbolic input Tensor into a symbolic output
    Tensor (Keras' names and arguments).

    Writing a layer: create the weights in ``build(input_shape)`` with ``add_weight`` (as
    ``gc.variable``s, from initializers: a layer has weights only once it has seen the size of
    its input), add the graph nodes in ``call(x, training)``, give the output shape in
    ``compute_output_shape`` (the default keeps the input shape) and the constructor arguments
    in ``get_config``. ``training`` is a Python bool fixed while the graph is built: a model
    compiles one graph with ``training=True`` (its training step: dropout active) and one with
    ``training=False`` (evaluation and prediction), so behaviour never branches at run time. A
    layer that keeps running state (batch statistics) registers ``add_update(variable,
    new_value)`` in its training ``call``; the model applies it in its compiled training step.

    Shapes include the batch dimension as ``None``: ``Dense(128)`` on ``(None, 784)`` gives
    ``(None, 128)``. ``seed=`` makes the layer's random initial weights (and dropout masks)
    reproducible; ``Sequential(seed=...)`` seeds every layer that has none.

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
        if mask is not None and call_takes_mask(type(self)):
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
