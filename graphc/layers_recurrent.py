"""Recurrent layers (``gc.layers.SimpleRNN``, ``LSTM``, ``GRU``), Keras 3's equations,
weights and defaults.

Inputs are sequences (batch, time steps, features); the state starts at zeros; the output is
the last step's state h_T, or with ``return_sequences=True`` every step's, (batch, steps,
units). With ``go_backwards=True`` the steps run from the last to the first (and a returned
sequence is in that reversed order, as Keras). Each layer holds three weights, named as Keras:
``kernel`` (features, G·units) applied to the input, ``recurrent_kernel`` (units, G·units)
applied to the previous state, ``bias``; G = 1, 4, 3 gate blocks, side by side in Keras' order.
σ is ``recurrent_activation`` (sigmoid), φ is ``activation`` (tanh):

    SimpleRNN  h_t = φ(x_t W + h_{t−1} U + b)                       units·(F + units) + units params
    LSTM       [i f g o] = x_t W + h_{t−1} U + b     (gate order i, f, c, o)
               c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ φ(g),   h_t = σ(o) ⊙ φ(c_t)
                                                     4·(units·(F + units) + units) params
    GRU        (gate order z, r, h; reset_after=True, Keras 3's default and cuDNN's form)
               [xz xr xh] = x_t W + b_in,   [hz hr hh] = h_{t−1} U + b_rec
               z = σ(xz + hz),  r = σ(xr + hr),  h̃ = φ(xh + r ⊙ hh)
               h_t = z ⊙ h_{t−1} + (1 − z) ⊙ h̃         bias (2, 3·units): rows b_in, b_rec
                                                     3·(units·(F + units) + 2·units) params
               reset_after=False (the original GRU): h̃ = φ(xh + (r ⊙ h_{t−1}) U_h + b_h),
               bias (3·units,), 3·(units·(F + units) + units) params

Initializers as Keras: kernel Glorot uniform, recurrent_kernel orthogonal, bias zeros; the
LSTM's forget-gate bias starts at ones (``unit_forget_bias=True``).

How the recurrence becomes graph: UNROLLED over the static number of time steps. Step t is
ordinary graph nodes (a slice of the input, two matmuls, the gate nonlinearities) wired to
step t − 1's state, so ``gc.grad`` differentiates it like any graph (backpropagation through
time falls out of reverse mode), the fusion passes fuse each step's gate arithmetic into one
kernel, and nothing new has to be lowered by any backend. A scan/loop op was the
alternative: one node whatever the length, but it needs a sub-graph IR, its own gradient
(a reverse scan) and its own lowering per backend, and its body could not be fused with the
ops around it. The price of unrolling is graph size, linear in the number of steps (an LSTM
step is ~20 forward nodes, ~70 with its gradient and the optimizer); the compiler handles
graphs of 100 000+ nodes without recursion, and a whole training step of LSTM(32) over
T = 100 steps (~7 000 nodes) builds and compiles in about 1 s on a 2-core machine (see
tests/test_layers_recurrent.py::test_long_sequence_compiles_fast). The sequence length must
therefore be known when the graph is built (``input_shape=(steps, features)``).

Each step's input projection x_t W is its own matmul on the slice x[:, t, :] (rather than one
matmul on the whole sequence then sliced): when the input is a placeholder no gradient flows
into the slices at all. When one does (an Embedding or another recurrent layer below),
``gc.grad`` gathers the T slice adjoints into one ``scatter_slices`` node (one zero array, T
in-place adds), so that part of the backward pass is linear in T; a recurrent layer fed
directly by another's ``return_sequences`` output takes the per-step states themselves
instead of slicing their stack, which skips even that.
"""
from __future__ import annotations

import numpy as np

from . import activations, initializers, regularizers
from .errors import ShapeError
from .layers import Layer, _serialize_object, register
from .ops.linalg import matmul
from .ops.shape_ops import stack
from .tensor import Tensor, format_shape

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


class Recurrent(Layer):
    """The shared machinery of the recurrent layers: weights, unrolling over the time steps,
    output shapes and configuration. A subclass defines ``GATES`` (gate blocks in the
    kernels), ``step(x_t, state)`` -> (h_t, new state) with ``state`` None at t = 0 (zeros),
    and may override ``bias_shape`` / ``bias_initial``."""

    GATES = 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, return_sequences=False,
                 go_backwards=False, dropout=0.0, recurrent_dropout=0.0, unroll=True, input_shape=None,
                 **kwargs):
        super().__init__(input_shape=input_shape, **kwargs)
        kind = type(self).__name__
        if int(units) < 1:
            raise ValueError(f"{kind}: units must be a positive integer, got {units}")
        if dropout or recurrent_dropout:
            raise ValueError(f"{kind}: dropout and recurrent_dropout inside the cell are not supported; "
                             "put a gc.layers.Dropout before or after the layer instead")
        # unroll: accepted for Keras compatibility; graphc always unrolls (see the module docstring)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.recurrent_regularizer = recurrent_regularizer
        self.bias_regularizer = bias_regularizer
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
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
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    # -- the recurrence -----------------------------------------------------------------------
    def gate(self, z, k):
        """Gate block k (of GATES) of a (batch, GATES·units) pre-activation."""
        return z[:, k * self.units:(k + 1) * self.units]

    def input_projection(self, x_t, bias=None):
        """x_t W (+ the bias): every gate's input term at once."""
        z = matmul(x_t, self.kernel)
        bias = self.bias if bias is None else bias
        return z + bias if self.use_bias else z

    def step(self, x_t, state):
        raise NotImplementedError

    def call(self, x, training=False):
        inputs = time_steps(x, x.shape[1])
        if self.go_backwards:
            inputs = inputs[::-1]
        state, outputs = None, []
        for x_t in inputs:
            h, state = self.step(x_t, state)
            outputs.append(h)
        return stack(outputs, axis=1) if self.return_sequences else outputs[-1]

    # -- configuration ------------------------------------------------------------------------
    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": _serialize_object(self.kernel_initializer, initializers),
                "recurrent_initializer": _serialize_object(self.recurrent_initializer, initializers),
                "bias_initializer": _serialize_object(self.bias_initializer, initializers),
                "kernel_regularizer": _serialize_object(self.kernel_regularizer, regularizers),
                "recurrent_regularizer": _serialize_object(self.recurrent_regularizer, regularizers),
                "bias_regularizer": _serialize_object(self.bias_regularizer, regularizers),
                "return_sequences": self.return_sequences, "go_backwards": self.go_backwards}


@register
class SimpleRNN(Recurrent):
    """The fully connected recurrence h_t = φ(x_t W + h_{t−1} U + b) (Elman network)."""

    GATES = 1

    def step(self, x_t, h):
        z = self.input_projection(x_t)
        if h is not None:
            z = z + matmul(h, self.recurrent_kernel)
        h = self.activation(z)
        return h, h


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
    the state is (h, c)."""

    GATES = 4

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

    def step(self, x_t, state):
        z = self.input_projection(x_t)
        if state is not None:
            h, c = state
            z = z + matmul(h, self.recurrent_kernel)
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
    (Keras 3's default) applies the reset gate after the recurrent matmul and keeps separate
    input and recurrent biases (bias shape (2, 3·units)); ``reset_after=False`` is the original
    formulation (reset before the matmul, one bias)."""

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

    def step(self, x_t, h):
        sigma, phi = self.recurrent_activation, self.activation
        xz = self.input_projection(x_t, self._input_bias)
        if self.reset_after:
            return self._step_reset_after(xz, h, sigma, phi)
        if h is None:   # h_{t-1} = 0: the recurrent terms vanish
            z, hh = sigma(self.gate(xz, 0)), phi(self.gate(xz, 2))
            h_new = (1.0 - z) * hh
            return h_new, h_new
        inner = matmul(h, self._recurrent_zr)
        z = sigma(self.gate(xz, 0) + self.gate(inner, 0))
        r = sigma(self.gate(xz, 1) + self.gate(inner, 1))
        hh = phi(self.gate(xz, 2) + matmul(r * h, self._recurrent_h))
        h_new = z * h + (1.0 - z) * hh
        return h_new, h_new

    def _step_reset_after(self, xz, h, sigma, phi):
        if h is None:   # h_{t-1} = 0: h_{t-1} U + b_rec is the recurrent bias alone
            inner = self._recurrent_bias
            if inner is None:
                z, hh = sigma(self.gate(xz, 0)), phi(self.gate(xz, 2))
                h_new = (1.0 - z) * hh
                return h_new, h_new
            units = self.units
            parts = [inner[k * units:(k + 1) * units] for k in range(3)]
        else:
            inner = matmul(h, self.recurrent_kernel)
            if self._recurrent_bias is not None:
                inner = inner + self._recurrent_bias
            parts = [self.gate(inner, k) for k in range(3)]
        z = sigma(self.gate(xz, 0) + parts[0])
        r = sigma(self.gate(xz, 1) + parts[1])
        hh = phi(self.gate(xz, 2) + r * parts[2])
        h_new = (1.0 - z) * hh if h is None else z * h + (1.0 - z) * hh
        return h_new, h_new

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
