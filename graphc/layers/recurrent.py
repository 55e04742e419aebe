"""Recurrent layers, Keras 3's equations, weights and defaults: ``SimpleRNN``, ``LSTM``, ``GRU``.

The recurrence is UNROLLED over the static number of time steps: each step is ordinary graph
nodes wired to the previous step's state, so ``gc.grad`` differentiates it like any graph
(backpropagation through time falls out of reverse mode), the fusion passes fuse each step's
gate arithmetic, and no backend has a new op to lower. The price is a graph linear in the
number of steps, which must be known when the graph is built (``Recurrent`` weighs it).
"""
from __future__ import annotations

import numpy as np

from graphc import activations, initializers, regularizers
from graphc.api.support import arguments
from graphc.errors import DTypeError, ShapeError
from graphc.api import matmul
from graphc.api import cast, where
from graphc.api.nn import dropout as dropout_op
from graphc.api.support import describe
from graphc.api import concat, ones_like, stack
from graphc.api import Tensor
from graphc.api.support import as_tensor, format_shape
from graphc.layers.base import Layer, derive_seed, serialize_object
from graphc.layers.registry import register

__all__ = ["GRU", "LSTM", "SimpleRNN"]


def time_steps(x: Tensor, steps: int) -> list:
    """The per-step inputs x[:, t, :] of a (batch, steps, features) tensor, t = 0..steps−1.

    When ``x`` is itself a stack of per-step tensors along axis 1 (another recurrent layer's
    ``return_sequences`` output), those tensors are returned as they are: slicing the stack
    would give the same values, but each slice's gradient would scatter into a full-size
    zero array (O(steps²) work in the backward pass)."""
    if (x.op == "concat" and x.attrs.get("axis") == 1 and len(x.inputs) == steps
            and all(p.op == "expand_dims" and p.attrs.get("axis") in (1, (1,)) and p.inputs[0].ndim == 2
                    for p in x.inputs)):
        return [p.inputs[0] for p in x.inputs]
    return [x[:, t, :] for t in range(steps)]


class DropoutMasks:
    """The dropout masks of one call of a recurrent layer: drawn at first use from the step
    input / state they apply to (so they have its run-time batch size), then reused at every
    time step. ``inputs(x_t)`` / ``recurrent(h)``: None (no dropout), or a list of one mask per
    gate block, or of one mask for all of them (input dropout without recurrent dropout)."""

    def __init__(self, layer, training: bool):
        self.layer = layer
        self.input_rate = layer.dropout if training else 0.0
        self.recurrent_rate = layer.recurrent_dropout if training else 0.0
        # Keras 3: recurrent dropout switches the cell to one projection (and mask) per gate
        self.count = layer.GATES if layer.recurrent_dropout > 0 else 1
        self._input = self._recurrent = None

    def _draw(self, ref, rate, stream):
        return [dropout_op(ones_like(ref), rate, training=True, seed=derive_seed(self.layer.seed, stream, k))
                for k in range(self.count)]

    def inputs(self, x_t):
        if self.input_rate and self._input is None:
            self._input = self._draw(x_t, self.input_rate, 1 << 16)
        return self._input

    def recurrent(self, h):
        if self.recurrent_rate and self._recurrent is None:
            self._recurrent = self._draw(h, self.recurrent_rate, (1 << 16) + 1)
        return self._recurrent


def _rate(kind: str, what: str, value) -> float:
    return arguments.rate(value, f"{kind}: {what}")


class Recurrent(Layer):
    """The shared machinery of the recurrent layers: weights, unrolling over the time steps
    (with masks, dropout and initial states), output shapes and configuration. A subclass
    defines ``GATES`` (gate blocks in the kernels), ``STATES`` (the names of its states, h
    first), ``step(x_t, state, masks)`` -> (h_t, new state tuple) with ``state`` None at t = 0
    when the initial state is zeros, and may override ``bias_shape`` / ``bias_initial``.

    Inputs are sequences (batch, time steps, features); the state starts at zeros, or at
    ``layer(x, initial_state=[h0])`` (``[h0, c0]`` for the LSTM); the output is the last step's
    state h_T, or with ``return_sequences=True`` every step's, (batch, steps, units). With
    ``return_state=True`` the layer returns a list, [output, h_T] ([output, h_T, c_T] for the
    LSTM), as Keras: call it on tensors (an encoder's states can start a decoder), not inside a
    ``Sequential``, which passes one tensor from layer to layer and refuses such a layer. With
    ``go_backwards=True`` the steps run from the last to the first (and a returned sequence is
    in that reversed order, as Keras). Three weights, named as Keras: ``kernel`` (features,
    G·units) applied to the input, ``recurrent_kernel`` (units, G·units) applied to the previous
    state, ``bias``; G = ``GATES`` gate blocks, side by side in Keras' order. Initializers as
    Keras: kernel Glorot uniform, recurrent_kernel orthogonal, bias zeros.

    Masks (Keras 3's semantics). Given a mask (batch, steps) — passed as ``mask=`` or attached
    by the layer below, e.g. ``Embedding(mask_zero=True)`` — a masked step leaves every state as
    it was (h_t = h_{t−1}, c_t = c_{t−1}, per sample) and emits the previous output, h_{t−1}
    (``zero_output_for_mask=True``: zeros instead). So padding, before or after the data, does
    not change the final state. With ``return_sequences`` the mask passes on to the next layer.

    Dropout (Keras 3's semantics, training graph only, inverted: kept units scaled by
    1/(1 − rate)). The masks are drawn ONCE PER SEQUENCE — each call of the compiled training
    step draws fresh ones with graphc's random ops — and the same masks are used at every time
    step (``DropoutMasks``). ``dropout`` masks the input x_t of the kernel, ``recurrent_dropout``
    the state h_{t−1} where it meets the recurrent kernel (the carried h and c themselves are
    never dropped). With ``recurrent_dropout`` > 0 each gate block gets masks of its own (Keras'
    implementation 1: the projections become one matmul per gate); with ``dropout`` alone one
    mask serves all gates. ``stateful=True`` is refused: a compiled step is a pure function of
    its inputs; carry states across batches with ``return_state`` and ``initial_state`` instead.

    Unrolling, and its cost. Step t is ordinary graph nodes (a slice of the input, two matmuls,
    the gate nonlinearities) wired to step t − 1's state. A scan/loop op was the alternative:
    one node whatever the length, but it needs a sub-graph IR, its own gradient (a reverse
    scan) and its own lowering per backend, and its body could not be fused with the ops around
    it. Unrolling makes the graph linear in the number of steps (an LSTM step is ~20 forward
    nodes, ~70 with its gradient and the optimizer); the compiler handles graphs of 100 000+
    nodes without recursion, and a whole training step of LSTM(32) over T = 100 steps (~7 000
    nodes) builds and compiles in about 1 s on a 2-core machine (see
    tests/layers/test_layers_recurrent.py::test_long_sequence_compiles_fast). Hence the number of
    steps must be known when the graph is built (``input_shape=(steps, features)``).

    Each step's input projection x_t W is its own matmul on the slice x[:, t, :] (rather than
    one matmul on the whole sequence then sliced): when the input is a placeholder no gradient
    flows into the slices at all. When one does (an Embedding or another recurrent layer
    below), ``gc.grad`` gathers the T slice adjoints into one ``scatter_slices`` node (one zero
    array, T in-place adds), so that part of the backward pass is linear in T; a recurrent layer
    fed directly by another's ``return_sequences`` output takes the per-step states themselves
    instead of slicing their stack (``time_steps``), which skips even that.
    """

    GATES = 1
    STATES = ("h",)
    supports_masking = True

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False, unroll=True,
                 zero_output_for_mask=False, input_shape=None, **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        kind = type(self).__name__
        units = arguments.index(units, f"{kind}: units", minimum=1)
        if stateful:
            raise ValueError(f"{kind}: stateful=True is not supported: a compiled training step is a pure function "
                             "of its inputs; carry the states from batch to batch yourself with return_state=True "
                             "and layer(x, initial_state=...)")
        if not isinstance(unroll, (bool, np.bool_)):
            raise TypeError(f"{kind}: unroll must be True or False, got {unroll!r}")
        # graphc's graphs have no loop op: the recurrence is always unrolled when the graph is
        # built, and unroll=False (Keras' default, a symbolic loop there) computes the same values
        self.unroll = bool(unroll)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.dropout = _rate(kind, "dropout", dropout)
        self.recurrent_dropout = _rate(kind, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.kernel = self.recurrent_kernel = self.bias = None

    # -- weights ------------------------------------------------------------------------------
    def bias_shape(self) -> tuple:
        return (self.GATES * self.units,)

    def bias_initial(self):
        """The bias initializer (the LSTM adds its forget-gate ones to it)."""
        return self.bias_initializer

    def build(self, input_shape):
        kind = type(self).__name__
        if len(input_shape) != 3:
            raise ShapeError(f"{self.name} ({kind}): expects sequences (batch, time steps, features), got inputs "
                             f"of shape {format_shape(input_shape)}")
        steps, features = input_shape[1], input_shape[2]
        if steps is None or features is None:
            raise ShapeError(f"{self.name} ({kind}): the number of time steps and of features must be known "
                             f"(the recurrence is unrolled over the steps when the graph is built), got inputs "
                             f"of shape {format_shape(input_shape)}; give input_shape=(steps, features)")
        width = self.GATES * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer, self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                self.recurrent_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", self.bias_shape(), self.bias_initial(), self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            output = (input_shape[0], input_shape[1], self.units)
        else:
            output = (input_shape[0], self.units)
        if self.return_state:   # Keras 3: (output shape, *state shapes)
            return (output,) + tuple((input_shape[0], self.units) for _ in self.STATES)
        return output

    def compute_mask(self, x, mask=None):
        """A returned sequence keeps the input's mask (as Keras, not reversed by go_backwards);
        the last output and the states have none."""
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.STATES)
        return output_mask

    # -- the recurrence -----------------------------------------------------------------------
    def gate(self, z, k):
        """Gate block k (of GATES) of a (batch, GATES·units) pre-activation."""
        return z[:, k * self.units:(k + 1) * self.units]

    def project(self, v, weight, masks):
        """v W for every gate block of ``weight`` at once; with dropout masks, (v ⊙ m) W for one
        shared mask, or block k as (v ⊙ m_k) W_k with one mask per gate."""
        if masks is None:
            return matmul(v, weight)
        if len(masks) == 1:
            return matmul(v * masks[0], weight)
        u = self.units
        return concat([matmul(v * m, weight[:, k * u:(k + 1) * u]) for k, m in enumerate(masks)], axis=1)

    def input_projection(self, x_t, masks, bias=None):
        """x_t W (+ the bias): every gate's input term at once."""
        z = self.project(x_t, self.kernel, masks.inputs(x_t))
        bias = self.bias if bias is None else bias
        return z + bias if self.use_bias else z

    def step(self, x_t, state, masks):
        raise NotImplementedError

    def __call__(self, x, initial_state=None, training=False, mask=None):
        """The layer on sequences ``x``; ``initial_state``: the starting states (a list of
        (batch, units) tensors, h first; default zeros); ``mask``: (batch, steps), true for the
        steps to use (default: the mask ``x`` carries)."""
        return super().__call__(x, training=training, mask=mask, initial_state=initial_state)

    def call(self, x, training=False, mask=None, initial_state=None):
        steps = x.shape[1]
        inputs = time_steps(x, steps)
        keep = self._step_masks(mask, x) if mask is not None else [None] * steps
        if self.go_backwards:
            inputs, keep = inputs[::-1], keep[::-1]
        state = self._initial_state(initial_state, x)
        masks = DropoutMasks(self, training)
        outputs = []
        for x_t, keep_t in zip(inputs, keep):
            h, new_state = self.step(x_t, state, masks)
            if keep_t is not None:
                # a masked step carries every state over and emits the previous output (h_{t-1})
                old = state if state is not None else (None,) * len(new_state)
                new_state = tuple(where(keep_t, s, 0.0 if o is None else o) for s, o in zip(new_state, old))
                h = where(keep_t, h, 0.0) if self.zero_output_for_mask else new_state[0]
            state = new_state
            outputs.append(h)
        output = stack(outputs, axis=1) if self.return_sequences else outputs[-1]
        if self.return_state:
            return [output, *state]
        return output

    def _step_masks(self, mask, x) -> list:
        """The mask as one (batch, 1) bool column per time step."""
        mask = as_tensor(mask)
        steps = x.shape[1]
        if mask.ndim != 2 or (mask.shape[1] is not None and mask.shape[1] != steps) or (
                None not in (mask.shape[0], x.shape[0]) and mask.shape[0] != x.shape[0]):
            raise ShapeError(f"{self.name} ({type(self).__name__}): the mask must be (batch, steps) = "
                             f"{format_shape((x.shape[0], steps))} for inputs {format_shape(x.shape)}, got "
                             f"{describe(mask)}")
        if mask.dtype.kind != "b":
            mask = cast(mask, "bool")
        return [mask[:, t:t + 1] for t in range(steps)]

    def _initial_state(self, initial_state, x):
        """``initial_state`` checked and cast to the layer's dtype: a tuple of (batch, units)
        tensors, or None for zeros."""
        if initial_state is None:
            return None
        kind = type(self).__name__
        states = [initial_state] if isinstance(initial_state, (Tensor, np.ndarray)) else list(initial_state)
        names = ", ".join(self.STATES)
        if len(states) != len(self.STATES):
            raise ValueError(f"{self.name} ({kind}): initial_state must be [{names}], {len(self.STATES)} tensor(s) "
                             f"of shape (batch, {self.units}), got {len(states)}")
        checked = []
        for name, s in zip(self.STATES, states):
            s = as_tensor(s)
            batch = x.shape[0]
            if s.ndim != 2 or s.shape[1] not in (None, self.units) or (
                    None not in (batch, s.shape[0]) and s.shape[0] != batch):
                raise ShapeError(f"{self.name} ({kind}): initial state {name} must be (batch, units) = "
                                 f"{format_shape((batch, self.units))}, got {describe(s)}")
            if s.dtype.kind != "f":
                raise DTypeError(f"{self.name} ({kind}): initial state {name} must be a float tensor, got "
                                 f"{describe(s)}")
            checked.append(s if s.dtype == np.dtype(self.dtype) else cast(s, self.dtype))
        return tuple(checked)

    # -- configuration ------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize_object(self.kernel_initializer, initializers),
                "recurrent_initializer": serialize_object(self.recurrent_initializer, initializers),
                "bias_initializer": serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": serialize_object(self.kernel_regularizer, regularizers),
                "recurrent_regularizer": serialize_object(self.recurrent_regularizer, regularizers),
                "bias_regularizer": serialize_object(self.bias_regularizer, regularizers),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "zero_output_for_mask": self.zero_output_for_mask,
                "unroll": self.unroll}


@register
class SimpleRNN(Recurrent):
    """The fully connected recurrence (Elman network), φ the ``activation`` (tanh):

        h_t = φ(x_t W + h_{t−1} U + b)                  units·(F + units) + units parameters
    """

    GATES = 1

    def step(self, x_t, state, masks):
        z = self.input_projection(x_t, masks)
        if state is not None:
            (h,) = state
            z = z + self.project(h, self.recurrent_kernel, masks.recurrent(h))
        h = self.activation(z)
        return h, (h,)


class _Gated(Recurrent):
    """Recurrent layers with gates: a ``recurrent_activation`` (sigmoid) besides ``activation``."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": activations.serialize(self.recurrent_activation)}


@register
class LSTM(_Gated):
    """Long short-term memory (Hochreiter & Schmidhuber, 1997), Keras' gate order i, f, c, o;
    the state is (h, c). σ is ``recurrent_activation`` (sigmoid), φ is ``activation`` (tanh):

        [i f g o] = x_t W + h_{t−1} U + b
        c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ φ(g),   h_t = σ(o) ⊙ φ(c_t)
                                                        4·(units·(F + units) + units) parameters

    The forget-gate bias starts at ones (``unit_forget_bias=True``, as Keras)."""

    GATES = 4
    STATES = ("h", "c")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def bias_initial(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = initializers.get(self.bias_initializer)
        base = self._seeded(base, len(self._weights))
        units = self.units

        def forget_ones(shape, dtype="float32"):
            """Keras' unit_forget_bias: the bias initializer's values, ones for the forget gate."""
            return np.concatenate([np.asarray(base((units,), dtype)), np.ones(units, dtype),
                                   np.asarray(base((2 * units,), dtype))]).astype(dtype)
        return forget_ones

    def step(self, x_t, state, masks):
        z = self.input_projection(x_t, masks)
        if state is not None:
            h, c = state
            z = z + self.project(h, self.recurrent_kernel, masks.recurrent(h))
        sigma, phi = self.recurrent_activation, self.activation
        i, f, g, o = (self.gate(z, k) for k in range(4))
        c_new = sigma(i) * phi(g)
        if state is not None:
            c_new = sigma(f) * c + c_new
        h_new = sigma(o) * phi(c_new)
        return h_new, (h_new, c_new)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@register
class GRU(_Gated):
    """Gated recurrent unit (Cho et al., 2014), Keras' gate order z, r, h. ``reset_after=True``
    (Keras 3's default, and cuDNN's form) applies the reset gate after the recurrent matmul and
    keeps separate input and recurrent biases; ``reset_after=False`` is the original
    formulation (reset before the matmul, one bias). σ is ``recurrent_activation`` (sigmoid),
    φ is ``activation`` (tanh):

        reset_after=True:   [xz xr xh] = x_t W + b_in,   [hz hr hh] = h_{t−1} U + b_rec
                            z = σ(xz + hz),  r = σ(xr + hr),  h̃ = φ(xh + r ⊙ hh)
                            h_t = z ⊙ h_{t−1} + (1 − z) ⊙ h̃
                            bias (2, 3·units): rows b_in, b_rec;  3·(units·(F + units) + 2·units) parameters
        reset_after=False:  h̃ = φ(xh + (r ⊙ h_{t−1}) U_h + b_h)
                            bias (3·units,);  3·(units·(F + units) + units) parameters
    """

    GATES = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def build(self, input_shape):
        super().build(input_shape)
        units = self.units
        if self.use_bias and self.reset_after:
            self._input_bias, self._recurrent_bias = self.bias[0], self.bias[1]
        else:
            self._input_bias, self._recurrent_bias = self.bias, None
        if not self.reset_after:
            self._recurrent_zr = self.recurrent_kernel[:, :2 * units]
            self._recurrent_h = self.recurrent_kernel[:, 2 * units:]

    def step(self, x_t, state, masks):
        sigma, phi = self.recurrent_activation, self.activation
        xz = self.input_projection(x_t, masks, self._input_bias)
        h = None if state is None else state[0]
        if self.reset_after:
            h_new = self._step_reset_after(xz, h, masks, sigma, phi)
            return h_new, (h_new,)
        if h is None:   # h_{t-1} = 0: the recurrent terms vanish
            z, hh = sigma(self.gate(xz, 0)), phi(self.gate(xz, 2))
            h_new = (1.0 - z) * hh
            return h_new, (h_new,)
        dropped = masks.recurrent(h)
        inner = self.project(h, self._recurrent_zr, None if dropped is None else dropped[:2])
        z = sigma(self.gate(xz, 0) + self.gate(inner, 0))
        r = sigma(self.gate(xz, 1) + self.gate(inner, 1))
        h_reset = r * h if dropped is None else r * (h * dropped[2])
        hh = phi(self.gate(xz, 2) + matmul(h_reset, self._recurrent_h))
        h_new = z * h + (1.0 - z) * hh
        return h_new, (h_new,)

    def _step_reset_after(self, xz, h, masks, sigma, phi):
        if h is None:   # h_{t-1} = 0: h_{t-1} U + b_rec is the recurrent bias alone
            inner = self._recurrent_bias
            if inner is None:
                z, hh = sigma(self.gate(xz, 0)), phi(self.gate(xz, 2))
                return (1.0 - z) * hh
            units = self.units
            parts = [inner[k * units:(k + 1) * units] for k in range(3)]
        else:
            inner = self.project(h, self.recurrent_kernel, masks.recurrent(h))
            if self._recurrent_bias is not None:
                inner = inner + self._recurrent_bias
            parts = [self.gate(inner, k) for k in range(3)]
        z = sigma(self.gate(xz, 0) + parts[0])
        r = sigma(self.gate(xz, 1) + parts[1])
        hh = phi(self.gate(xz, 2) + r * parts[2])
        return (1.0 - z) * hh if h is None else z * h + (1.0 - z) * hh

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
