"""The ``Optimizer`` base class: learning rate (constant or schedule), slot variables,
gradient clipping, decoupled weight decay and the ``iterations`` counter, shared by every
update rule; plus the argument checks the rules share. A subclass declares its ``slots`` and
implements ``update_step(param, grad, lr, slots) -> (new param, {slot: new value})``; the base
turns that into the ``(variable, new_value)`` pairs of one step (see ``gc.optimizers``).
"""
from __future__ import annotations

import numpy as np

from graphc import api as gc

from graphc.api.support import arguments
from graphc.catalog import Configurable
from graphc.optimizers import schedules
from graphc.optimizers.schedules import LearningRateSchedule


class Optimizer(Configurable):
    """Base class. Subclasses declare their slots and implement ``update_step``."""

    #: (slot name, initial value) pairs; the value is a float or "learning_rate"
    slots: tuple = ()

    def __init__(self, learning_rate=0.001, name=None, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None):
        self.name = name or self.default_name
        self.weight_decay = optional_positive(weight_decay, f"{self.default_name}: weight_decay", zero=True)
        self.clipnorm = optional_positive(clipnorm, f"{self.default_name}: clipnorm")
        self.clipvalue = optional_positive(clipvalue, f"{self.default_name}: clipvalue")
        self.global_clipnorm = optional_positive(global_clipnorm, f"{self.default_name}: global_clipnorm")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{self.default_name}: set clipnorm or global_clipnorm, not both")
        self.iterations = gc.variable(np.int64(0), name=f"{self.name}/iterations", trainable=False)
        self.learning_rate_variable = gc.variable(np.float64(0.0), name=f"{self.name}/learning_rate",
                                                  trainable=False)
        self._schedule = None
        self._built = False
        self._slot_variables: dict = {}   # param -> {slot name: Variable}
        self._set_learning_rate(learning_rate)

    default_name = "optimizer"

    # -- the learning rate -------------------------------------------------------------------
    def _set_learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._schedule = value
            return
        try:
            value = arguments.real(value, f"{self.name}: learning_rate")
        except TypeError:
            raise TypeError(f"{self.name}: learning_rate must be a number or a "
                            f"gc.optimizers.schedules schedule, got {value!r:.60}") from None
        if not value > 0:
            raise ValueError(f"{self.name}: learning_rate must be > 0, got {value}")
        self._schedule = None
        self.learning_rate_variable.assign(np.float64(value))

    @property
    def learning_rate(self) -> float:
        """The current learning rate as a float (a schedule evaluated at ``iterations``)."""
        if self._schedule is not None:
            return self._schedule(int(self.iterations.value))
        return float(self.learning_rate_variable.value)

    @learning_rate.setter
    def learning_rate(self, value):
        """Set a constant rate: takes effect at the next step of already compiled functions.
        Switching between a constant and a schedule is only possible before the first
        ``get_updates`` (the compiled graph reads one or the other)."""
        uses_schedule = self._schedule is not None
        if self._built and uses_schedule != isinstance(value, LearningRateSchedule):
            raise TypeError(
                f"{self.name}: its update graph is already built with "
                f"{'a learning-rate schedule' if uses_schedule else 'a constant learning rate'}; "
                f"cannot switch to {'a schedule' if not uses_schedule else 'a constant'} now")
        if self._built and uses_schedule:
            raise TypeError(f"{self.name}: cannot replace the schedule after the graph is built")
        self._set_learning_rate(value)

    @property
    def schedule(self):
        """The learning-rate schedule, or None for a constant rate."""
        return self._schedule

    def learning_rate_tensor(self, dtype) -> gc.Tensor:
        """The learning rate of the current step as a scalar Tensor of ``dtype``."""
        if self._schedule is not None:
            return gc.cast(self._schedule(self.iterations), dtype)
        return gc.cast(self.learning_rate_variable, dtype)

    # -- slots -------------------------------------------------------------------------------
    def build(self, params):
        """Create the slot variables of ``params`` now (they are otherwise made lazily)."""
        for p in check_params(params, self.name):
            self._slots_of(p)
        self._built = True

    def _slots_of(self, param) -> dict:
        slots = self._slot_variables.get(param)
        if slots is None:
            slots = {}
            for slot, initial in self.slots:
                slots[slot] = gc.variable(np.full(param.shape, initial, dtype=param.dtype),
                                          name=f"{self.name}/{param.name}/{slot}", trainable=False)
            self._slot_variables[param] = slots
        return slots

    def variables(self) -> list:
        """``iterations`` then every slot variable, in a stable order (for save / restore)."""
        out = [self.iterations]
        for slots in self._slot_variables.values():
            out.extend(slots.values())
        return out

    # -- the update graph --------------------------------------------------------------------
    def get_updates(self, loss, params) -> list:
        """(variable, new_value) pairs of one step minimizing ``loss`` over ``params``."""
        params = check_params(params, self.name)
        grads = gc.grad(loss, params)
        return self.apply_gradients(list(zip(grads, params)))

    def apply_gradients(self, grads_and_vars) -> list:
        """(variable, new_value) pairs applying given gradients (e.g. clipped ones)."""
        pairs = list(grads_and_vars)
        params = check_params([p for _, p in pairs], self.name)
        self._built = True
        updates = []
        lr_by_dtype = {}
        grads = self._clip([gc.cast(g, p.dtype) for (g, _), p in zip(pairs, params)])
        for g, p in zip(grads, params):
            if p.dtype not in lr_by_dtype:
                lr_by_dtype[p.dtype] = self.learning_rate_tensor(p.dtype)
            lr = lr_by_dtype[p.dtype]
            slots = self._slots_of(p)
            # decoupled weight decay (Keras 3, AdamW): the parameter shrinks by lr * wd first
            decayed = p - p * (lr * self.weight_decay) if self.weight_decay else p
            new_param, new_slots = self.update_step(decayed, g, lr, slots)
            updates.append((p, new_param))
            updates.extend((slots[name], value) for name, value in new_slots.items())
        updates.append((self.iterations, self.iterations + 1))
        return updates

    def update_step(self, param, grad, lr, slots):
        """Return (new param, {slot name: new slot value}) as Tensors."""
        raise NotImplementedError

    def _clip(self, grads) -> list:
        """Keras 3's gradient clipping, in the graph: ``clipvalue`` elementwise, then
        ``clipnorm`` per gradient (g * c / max(||g||, c)) or ``global_clipnorm`` over all of
        them together (each g * c / max(sqrt(sum ||g||^2), c))."""
        if self.clipvalue is not None:
            grads = [gc.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [g * (self.clipnorm / gc.maximum(gc.sqrt(gc.reduce_sum(gc.square(g))), self.clipnorm))
                     for g in grads]
        if self.global_clipnorm is not None and grads:
            total = None
            for g in grads:
                sq = gc.cast(gc.reduce_sum(gc.square(g)), "float64")
                total = sq if total is None else total + sq
            scale = self.global_clipnorm / gc.maximum(gc.sqrt(total), self.global_clipnorm)
            grads = [g * gc.cast(scale, g.dtype) for g in grads]
        return grads

    def step_count(self, dtype) -> gc.Tensor:
        """k = iterations + 1, the 1-based number of the step being built, as ``dtype``."""
        return gc.cast(self.iterations + 1, dtype)

    # -- configuration -----------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = (schedules.serialize(self._schedule) if self._schedule is not None
              else float(self.learning_rate_variable.value))
        config = {"name": self.name, "learning_rate": lr}
        for key in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr)
        return super().from_config(config)


def optional_positive(value, what, zero=False):
    """None, or a float > 0 (>= 0 with ``zero``)."""
    if value is None:
        return None
    value = arguments.real(value, what)
    if not (value >= 0 if zero else value > 0):
        raise ValueError(f"{what} must be {'>= 0' if zero else '> 0'}, got {value}")
    return value


def check_params(params, who):
    """``params`` (a Variable or an iterable of them) as a list of distinct float Variables."""
    if isinstance(params, gc.Tensor):
        params = [params]
    params = list(params)
    seen = set()
    for p in params:
        if not isinstance(p, gc.Variable):
            raise gc.GraphError(f"{who}: can only update variables (gc.variable), got {p!r}")
        if p.dtype.kind != "f":
            raise gc.DTypeError(f"{who}: variable {p.name!r} is {p.dtype}; only float variables can be trained")
        if p in seen:
            raise gc.GraphError(f"{who}: variable {p.name!r} is listed twice")
        seen.add(p)
    return params


def non_negative(value, what):
    """A float >= 0 (e.g. an epsilon)."""
    return arguments.real(value, what, minimum=0.0)


def fraction(value, what):
    """A float in [0, 1) (a decay rate such as rho or beta_1)."""
    return arguments.rate(value, what)


def real_pair(values, what, finite=True):
    """A pair of floats from a tuple or list of two numbers."""
    if not isinstance(values, (tuple, list)) or len(values) != 2:
        raise TypeError(f"{what} must be a pair of numbers, got {values!r}")
    return tuple(arguments.real(v, f"{what}[{k}]", finite=finite) for k, v in enumerate(values))
