"""Learning-rate schedules (``gc.optimizers.schedules``).

A schedule maps the step t to a learning rate. The optimizer evaluates it *in the graph* on
its ``iterations`` counter, so t is the number of updates already applied: the first update
uses t = 0. Called on a Python int a schedule returns a float (for printing, plots and
tests); called on a Tensor it returns a float64 scalar Tensor (the optimizer casts it to each
parameter's dtype).

- ``TimeDecay(initial, decay)``: alpha_0 / (1 + d t)
- ``StepDecay(initial, drop, every)``: alpha_0 * d ** floor((1 + t) / r)
- ``ExponentialDecay(initial, decay)``: alpha_0 * exp(-d t)
"""
from __future__ import annotations

import math
import numbers

from graphc import api as gc
from graphc.api.support import arguments
from graphc.catalog import Catalog, Configurable


class LearningRateSchedule(Configurable):
    """Base class: ``schedule(step)``; subclasses implement ``_value(t, ops)`` where ``ops``
    is the ``math`` module for Python numbers and a graph namespace for Tensors."""

    def __call__(self, step):
        if isinstance(step, gc.Tensor):
            t = gc.cast(step, "float64")
            return gc.cast(self._value(t, _GraphMath), "float64")
        if isinstance(step, numbers.Real):
            return float(self._value(float(step), math))
        raise TypeError(f"{type(self).__name__}: step must be an int or a Tensor, got {step!r}")

    def _value(self, t, ops):
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError


class _GraphMath:
    """The few functions the schedules need, on Tensors."""
    exp = staticmethod(gc.exp)

    @staticmethod
    def floor(x):
        # the schedules only floor non-negative values, where truncation is the floor
        return gc.cast(gc.cast(x, "int64"), "float64")

    @staticmethod
    def pow(base, exponent):
        return gc.pow(gc.constant(base, dtype="float64"), exponent)


def _positive(value, what):
    value = arguments.real(value, what)
    if value <= 0:
        raise ValueError(f"{what} must be > 0, got {value}")
    return value


def _non_negative(value, what):
    return arguments.real(value, what, minimum=0.0)


class TimeDecay(LearningRateSchedule):
    """alpha_0 / (1 + decay * t) (Keras 2's ``decay`` argument; InverseTimeDecay with
    decay_steps=1)."""

    def __init__(self, initial_learning_rate, decay):
        self.initial_learning_rate = _positive(initial_learning_rate, "TimeDecay: initial_learning_rate")
        self.decay = _non_negative(decay, "TimeDecay: decay")

    def _value(self, t, ops):
        return self.initial_learning_rate / (1.0 + self.decay * t)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay": self.decay}


class StepDecay(LearningRateSchedule):
    """alpha_0 * drop ** floor((1 + t) / every): the rate is multiplied by ``drop`` every
    ``every`` steps (note the 1 + t: with every=r the first drop comes at t = r - 1)."""

    def __init__(self, initial_learning_rate, drop, every):
        self.initial_learning_rate = _positive(initial_learning_rate, "StepDecay: initial_learning_rate")
        self.drop = _positive(drop, "StepDecay: drop")
        self.every = _positive(every, "StepDecay: every")

    def _value(self, t, ops):
        return self.initial_learning_rate * ops.pow(self.drop, ops.floor((1.0 + t) / self.every))

    def get_config(self):
        every = int(self.every) if float(self.every).is_integer() else self.every
        return {"initial_learning_rate": self.initial_learning_rate, "drop": self.drop, "every": every}


class ExponentialDecay(LearningRateSchedule):
    """alpha_0 * exp(-decay * t)."""

    def __init__(self, initial_learning_rate, decay):
        self.initial_learning_rate = _positive(initial_learning_rate, "ExponentialDecay: initial_learning_rate")
        self.decay = _non_negative(decay, "ExponentialDecay: decay")

    def _value(self, t, ops):
        return self.initial_learning_rate * ops.exp(-self.decay * t)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay": self.decay}


_CLASSES = {cls.__name__: cls for cls in (TimeDecay, StepDecay, ExponentialDecay)}


_CATALOG = Catalog("learning-rate schedule", LearningRateSchedule, _CLASSES.values())
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize
