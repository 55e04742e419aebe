"""Sequence wrappers, Keras 3's names and semantics: ``Masking`` (marks padding steps),
``TimeDistributed`` (one layer applied to every time step) and ``Bidirectional`` (a recurrent
layer run forward and backward). They build on the recurrent layers and on the registry,
which rebuilds the layers they wrap from a model file.
"""
from __future__ import annotations

import numpy as np

from graphc.api.support import arguments
from graphc.errors import GraphError, ShapeError
from graphc.api.support import to_host
from graphc.api import cast, logical_and, not_equal
from graphc.api import reduce_max
from graphc.api import concat, ones_like, reshape, stack
from graphc.api import Tensor
from graphc.api.support import format_shape
from graphc.layers.base import Layer, call_takes_mask, derive_seed
from graphc.layers.registry import deserialize, register, serialize
from graphc.layers.recurrent import Recurrent, time_steps

__all__ = ["Bidirectional", "Masking", "TimeDistributed"]


# -- Masking ---------------------------------------------------------------------------------------

@register
class Masking(Layer):
    """Masks the time steps whose features ALL equal ``mask_value``: they are padding. The
    output is the input with those steps set to zero, and the layer attaches the mask (batch,
    steps), true for the other steps, for the layers above it (see ``graphc.layers.base``,
    "masks"): the recurrent layers carry their state across the masked steps, and a model's
    loss and metrics leave them out."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = arguments.real(mask_value, "Masking: mask_value")

    def _kept(self, x, keepdims):
        """True where a step has at least one feature other than ``mask_value``."""
        if x.ndim < 3:
            raise ShapeError(f"{self.name} (Masking): expects sequences (batch, steps, features), got inputs of "
                             f"shape {format_shape(x.shape)}")
        return reduce_max(not_equal(x, self.mask_value), axis=-1, keepdims=keepdims)

    def call(self, x, training=False):
        return x * cast(self._kept(x, keepdims=True), x.dtype)

    def compute_mask(self, x, mask=None):
        """The mask (batch, steps) of this layer's own making; an input mask is replaced."""
        return self._kept(x, keepdims=False)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


# -- the wrappers' common part ---------------------------------------------------------------------

class Wrapper(Layer):
    """A layer made of other layers (``inner_layers()``): it owns no weights of its own and
    reports theirs, their regularization penalties and their state updates."""

    def inner_layers(self) -> list:
        raise NotImplementedError

    def _seed_inner_layers(self):
        """A seeded wrapper (e.g. by ``Sequential(seed=...)``) seeds the inner layers that have none."""
        for k, layer in enumerate(self.inner_layers()):
            if layer.seed is None and self.seed is not None:
                layer.seed = derive_seed(self.seed, k)

    @property
    def weights(self) -> list:
        return [w for layer in self.inner_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        return [w for layer in self.inner_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def losses(self) -> list:
        return [p for layer in self.inner_layers() for p in layer.losses]

    def pop_updates(self) -> list:
        updates = super().pop_updates()
        return updates + [u for layer in self.inner_layers() for u in layer.pop_updates()]

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.inner_layers())

    def get_weights(self) -> list:
        return [to_host(w.value, copy=True) for w in self.weights]

    def set_weights(self, values):
        """Assign the inner layers' weights, in ``weights`` order; every shape is checked first."""
        values, weights = list(values), self.weights
        if len(values) != len(weights):
            raise ValueError(f"{self.name}: expected {len(weights)} weight arrays, got {len(values)}")
        for var, value in zip(weights, values):
            if np.shape(value) != var.shape:
                raise ShapeError(f"{self.name}: weight {var.name!r} has shape {format_shape(var.shape)}, "
                                 f"got an array of shape {format_shape(np.shape(value))}")
        for var, value in zip(weights, values):
            var.assign(np.asarray(value))


def _require_layer(wrapper: str, what: str, layer):
    if not isinstance(layer, Layer):
        raise GraphError(f"{wrapper}: {what} must be a gc.layers.Layer instance, got {layer!r}")


# -- TimeDistributed -------------------------------------------------------------------------------

@register
class TimeDistributed(Wrapper):
    """Applies ``layer`` (one set of weights) to every time step x[:, t] of (batch, steps, ...)
    inputs.

    Built as ONE call of the inner layer on the steps folded into the batch: (batch, steps,
    ...) -> (batch·steps, ...) -> layer -> (batch, steps, ...). Keras 3 loops over the steps
    instead (one call per step, then a stack); for layers that act on each sample alone the
    values are the same and the graph is T times smaller. (A layer whose training graph mixes
    samples, BatchNormalization, sees batch·steps rows at once here, where Keras 3 normalizes
    each step separately.)

    The mask reaches the inner layer folded the same way, as in Keras 2: a mask (batch, steps,
    ...) becomes (batch·steps, ...). On (batch, steps, features) inputs, a mask (batch, steps)
    becomes one flag per folded row, for an inner layer that reads masks and supports them:
    TimeDistributed(BatchNormalization()) under ``Masking`` or ``Embedding(mask_zero=True)``
    takes its batch and moving statistics from the unmasked (sample, step) rows only. On inputs
    of rank 4 or more the flag is repeated over each step's own axes: a (batch, steps) mask on
    (batch, steps, h, w, c) frames reaches TimeDistributed(BatchNormalization()) as
    (batch·steps, h, w), the shape its masked moments read (Keras 3 passes the (batch,) flags of
    one step, which its BatchNormalization cannot broadcast against such inputs). Layers that
    do not read masks (Dense, Conv2D, ...) get none. The wrapper's output keeps the input's
    mask, unchanged."""

    supports_masking = True   # the mask (batch, steps) passes on unchanged, as Keras 3 (and folded, inward)

    def __init__(self, layer, **kwargs):
        _require_layer("TimeDistributed", "layer", layer)
        super().__init__(**kwargs)
        self.layer = layer

    def inner_layers(self):
        return [self.layer]

    @property
    def input_dtype(self):
        return self.layer.input_dtype   # e.g. int64 for TimeDistributed(Embedding(...)) first in a model

    def check_input_values(self, values, who, name="x"):
        self.layer.check_input_values(values, who, name)

    def _step_shape(self, input_shape) -> tuple:
        """The inner layer's input shape: one time step, (batch, ...)."""
        inner = f"{self.layer.name} ({type(self.layer).__name__})"
        if len(input_shape) < 3:
            raise ShapeError(f"{self.name} (TimeDistributed): expects inputs (batch, time steps, ...) of rank 3 or "
                             f"more, to apply {inner} to each step; got {format_shape(input_shape)}. Apply the "
                             f"layer directly to inputs without a time axis")
        if any(d is None for d in input_shape[2:]):
            raise ShapeError(f"{self.name} (TimeDistributed): the sizes after the time axis must be known (the steps "
                             f"are folded into the batch for {inner}), got {format_shape(input_shape)}")
        return (None,) + tuple(input_shape[2:])

    def build(self, input_shape):
        self._seed_inner_layers()
        step_out = self.layer.build_for(self._step_shape(input_shape))
        one_tensor = bool(step_out) and all(d is None or isinstance(d, int) for d in step_out)
        if not one_tensor or None in step_out[1:]:
            raise ShapeError(f"{self.name} (TimeDistributed): {self.layer.name} ({type(self.layer).__name__}) must "
                             f"return one tensor of known shape per step, its output shape is {step_out}")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1]) + tuple(self.layer.output_shape[1:])

    def call(self, x, training=False, mask=None):
        self._check_mask(x, mask)
        folded = reshape(x, (-1,) + x.shape[2:])
        y = self.layer(folded, training=training, mask=self._folded_mask(x, folded, mask))
        return reshape(y, self._unfolded_shape(x, y))

    def _folded_mask(self, x, folded, mask):
        """The mask for the inner layer's folded inputs (batch·steps, ...), or None for none."""
        if mask is None:
            return None
        if mask.ndim > 2:   # each step is itself a sequence with its own mask: (batch·steps, steps', ...)
            return reshape(mask, (-1,) + mask.shape[2:])
        # (batch, steps) -> (batch·steps,): one flag per row of (batch·steps, features), e.g. for
        # BatchNormalization's masked moments. Only a layer that reads masks and supports them gets it:
        # Dense would ignore it, and Conv2D would warn "the mask stops here" though the wrapper keeps it.
        layer = self.layer
        if not (layer.supports_masking and call_takes_mask(type(layer))):
            return None
        rows = reshape(mask, (-1,))
        if x.ndim == 3:
            return rows
        # rank 4+: each step has axes of its own, (batch·steps, h, w, c) say, and the inner layers'
        # masks cover every axis but the features (BatchNormalization, the recurrent layers). A masked
        # step is padding as a whole, so its flag is repeated over the step's own axes.
        return logical_and(reshape(rows, (-1,) + (1,) * (x.ndim - 3)), ones_like(folded[..., 0], dtype="bool"))

    def _unfolded_shape(self, x, y) -> tuple:
        batch, steps = x.shape[0], x.shape[1]
        if steps is not None:
            return (-1, steps) + y.shape[1:]
        if batch is not None:
            return (batch, -1) + y.shape[1:]
        raise ShapeError(f"{self.name} (TimeDistributed): the number of time steps or the batch size must be known "
                         f"to unfold the steps again, got inputs {format_shape(x.shape)}")

    def _check_mask(self, x, mask):
        if mask is None:
            return
        lead = tuple(mask.shape[:2])
        if mask.ndim < 2 or any(a is not None and b is not None and a != b for a, b in zip(lead, x.shape[:2])):
            raise ShapeError(f"{self.name} (TimeDistributed): the mask must be (batch, steps, ...) = "
                             f"{format_shape(x.shape[:2])} for inputs {format_shape(x.shape)}, got "
                             f"{format_shape(mask.shape)}")

    def get_config(self):
        return {**super().get_config(), "layer": serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = deserialize(config.pop("layer"))
        return cls(layer, **config)


# -- Bidirectional ---------------------------------------------------------------------------------

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _require_recurrent(what: str, layer):
    _require_layer("Bidirectional", what, layer)
    if not isinstance(layer, Recurrent):
        raise GraphError(f"Bidirectional: {what} must be a recurrent layer (SimpleRNN, LSTM, GRU), got "
                         f"{layer.name} ({type(layer).__name__}); wrap the layer that reads the sequence")


def _remove_prefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _copy_of(layer: Recurrent, **changes) -> Recurrent:
    """A fresh layer from ``layer``'s configuration (no weights shared), with ``changes``."""
    config = layer.get_config()
    config.pop("input_shape", None)   # the wrapper declares the input shape, not its parts
    config.update(changes)
    return type(layer).from_config(config)


@register
class Bidirectional(Wrapper):
    """A forward and a backward copy of a recurrent layer, their outputs merged.

    The copies, one reading the sequence forward and one backward (``go_backwards=True``), are
    rebuilt from the layer's configuration as Keras does (the ``layer`` object itself is only a
    template), named ``forward_<name>`` / ``backward_<name>`` so their weights read
    ``forward_lstm/kernel``, ... With ``return_sequences`` the backward sequence is reversed
    back to the input's time order before merging (step t of the output sees x[:, :t+1] forward
    and x[:, t:] backward), and masked steps output zeros in both directions (Keras forces
    ``zero_output_for_mask`` then). With a mask, the backward layer reverses the sequence and
    its mask together, so it starts at the last real step and skips the padding whether it
    comes before or after the data. ``merge_mode``: "concat" (features side by side, forward
    first), "sum", "mul", "ave", or None (a list [forward, backward]). ``return_state=True``
    returns [output(s), *forward states, *backward states]; ``initial_state`` takes the forward
    states then the backward ones."""

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", backward_layer=None, input_shape=None, **kwargs):
        _require_recurrent("layer", layer)
        if backward_layer is not None:
            _require_recurrent("backward_layer", backward_layer)
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {MERGE_MODES}, got {merge_mode!r}")
        if input_shape is None:   # Keras 2 style: Bidirectional(LSTM(8, input_shape=(steps, features)))
            input_shape = layer.declared_input_shape
        super().__init__(input_shape=input_shape, **kwargs)
        self.forward_layer = _copy_of(layer, name="forward_" + _remove_prefix(layer.name, "forward_"))
        if backward_layer is None:
            self.backward_layer = _copy_of(layer, name="backward_" + _remove_prefix(layer.name, "backward_"),
                                           go_backwards=True, seed=derive_seed(layer.seed, 1))
        else:
            self.backward_layer = backward_layer
        self._check_directions()
        for direction in (self.forward_layer, self.backward_layer):
            # Keras: masked steps of a returned sequence are zeros, so both halves align at padding
            direction.zero_output_for_mask = direction.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def _check_directions(self):
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"Bidirectional: the forward and backward layers must differ in go_backwards, both "
                             f"have go_backwards={forward.go_backwards}")
        for attribute in ("return_sequences", "return_state"):
            if getattr(forward, attribute) != getattr(backward, attribute):
                raise ValueError(f"Bidirectional: the forward and backward layers must have the same {attribute}, "
                                 f"got {getattr(forward, attribute)} and {getattr(backward, attribute)}")

    def inner_layers(self):
        return [self.forward_layer, self.backward_layer]

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape):
        self._seed_inner_layers()
        for direction in self.inner_layers():
            direction.build_for(input_shape)

    def compute_output_shape(self, input_shape):
        forward_shape = self.forward_layer.output_shape
        if self.return_state:
            output, states = forward_shape[0], tuple(forward_shape[1:])
        else:
            output, states = forward_shape, ()
        if self.merge_mode == "concat":
            outputs = (tuple(output[:-1]) + (2 * output[-1],),)
        elif self.merge_mode is None:
            outputs = (output, output)
        else:
            outputs = (output,)
        if self.merge_mode is None or self.return_state:
            return outputs + states + states   # several tensors: a tuple of shapes, as Keras 3
        return outputs[0]

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, x, initial_state=None, training=False, mask=None):
        """The layer on sequences ``x``; ``initial_state``: the forward layer's states then the
        backward layer's (e.g. [h_f, c_f, h_b, c_b] for LSTMs); ``mask``: (batch, steps)."""
        return super().__call__(x, training=training, mask=mask, initial_state=initial_state)

    def call(self, x, training=False, mask=None, initial_state=None):
        forward_state, backward_state = self._split_states(initial_state)
        y = self.forward_layer(x, training=training, mask=mask, initial_state=forward_state)
        y_back = self.backward_layer(x, training=training, mask=mask, initial_state=backward_state)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_back[1:])
            y, y_back = y[0], y_back[0]
        if self.return_sequences:
            output = self._merge_sequences(y, y_back, x.shape[1])
        else:
            output = self._merge(y, y_back)
        outputs = list(output) if isinstance(output, list) else [output]
        if self.merge_mode is None or self.return_state:
            return outputs + states
        return output

    def _merge(self, forward, backward):
        """One merged tensor (a list of both for merge_mode None)."""
        mode = self.merge_mode
        if mode == "concat":
            return concat([forward, backward], axis=-1)
        if mode == "sum":
            return forward + backward
        if mode == "ave":
            return (forward + backward) * 0.5
        if mode == "mul":
            return forward * backward
        return [forward, backward]

    def _merge_sequences(self, forward, backward, steps):
        """The backward sequence reversed back into the input's time order, merged step by step
        and stacked: a recurrent layer above takes the per-step tensors without slicing."""
        forward_steps = time_steps(forward, steps)
        backward_steps = time_steps(backward, steps)[::-1]
        if self.merge_mode is None:
            return [forward, stack(backward_steps, axis=1)]
        return stack([self._merge(f, b) for f, b in zip(forward_steps, backward_steps)], axis=1)

    def _split_states(self, initial_state):
        if initial_state is None:
            return None, None
        states = [initial_state] if isinstance(initial_state, (Tensor, np.ndarray)) else list(initial_state)
        per_direction = len(self.forward_layer.STATES)
        if len(states) != 2 * per_direction:
            names = ", ".join([f"{s}_forward" for s in self.forward_layer.STATES]
                              + [f"{s}_backward" for s in self.backward_layer.STATES])
            raise ValueError(f"{self.name} (Bidirectional): initial_state must be [{names}], {2 * per_direction} "
                             f"tensors: the forward layer's states then the backward layer's; got {len(states)}")
        return states[:per_direction], states[per_direction:]

    def compute_mask(self, x, mask=None):
        """A returned sequence keeps the input's mask (each merged output, for merge_mode None);
        the last output and the states have none."""
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.merge_mode is None or self.return_state:
            states = 2 * len(self.forward_layer.STATES) if self.return_state else 0
            return masks + [None] * states
        return output_mask

    # -- configuration ------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize(self.forward_layer),
                "backward_layer": serialize(self.backward_layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        backward = None if backward is None else deserialize(backward)
        return cls(layer, backward_layer=backward, **config)
