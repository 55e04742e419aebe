"""Optimizers (``gc.optimizers``): Keras 3 update rules as graph, for ``gc.function(updates=)``.

``opt.get_updates(loss, params)`` differentiates ``loss`` with respect to ``params`` and
returns the ``(variable, new_value)`` pairs of one training step: every parameter, every
slot variable (momenta, accumulators, ...) and the ``iterations`` counter. Compiled together
with the loss, forward pass and gradients, that is one graph per training step.

State lives in variables, so a compiled step never needs recompiling:

- ``opt.iterations``: int64 scalar, the number of updates applied (+1 per step);
- slot variables, created lazily per parameter the first time it is seen (``opt.build``
  creates them eagerly, e.g. before restoring saved state), in the parameter's dtype;
- ``opt.learning_rate_variable``: a float64 scalar holding a constant learning rate;
  ``opt.learning_rate = 0.01`` assigns it. A schedule
  (``gc.optimizers.schedules``) is instead evaluated in the graph on ``iterations`` (the
  number of updates already applied, so the first step uses t = 0).

Every optimizer also takes Keras 3's shared options, applied in the graph in Keras' order:
``clipvalue`` (clip each gradient element to [-c, c]), then ``clipnorm`` (each gradient
rescaled to norm <= c) or ``global_clipnorm`` (all gradients rescaled together so that their
joint norm is <= c), then ``weight_decay`` (decoupled, as AdamW: w <- w - lr * wd * w before
the rule's update).

``opt.variables()`` lists ``iterations`` followed by every slot variable in creation order
(parameter order of the first ``get_updates``/``build``, then each rule's slot order): a
stable order for saving and restoring.

Formulas (g the gradient, lr the learning rate, all elementwise):

- SGD: v <- m v - lr g; w <- w + v (nesterov: w <- w + m v - lr g with the new v);
  momentum 0: w <- w - lr g
- Adagrad: a <- a + g^2; w <- w - lr g / sqrt(a + eps)  (a starts at 0.1)
- RMSprop: s <- rho s + (1 - rho) g^2; inc = lr g / sqrt(s + eps) (centered: s - mean_g^2);
  momentum m > 0: v <- m v + inc, w <- w - v; else w <- w - inc
- Adadelta: a <- rho a + (1 - rho) g^2; d = -sqrt(u + eps) / sqrt(a + eps) g;
  u <- rho u + (1 - rho) d^2; w <- w + lr d
- Adam: k = t + 1; alpha = lr sqrt(1 - b2^k) / (1 - b1^k); m <- m + (g - m)(1 - b1);
  v <- v + (g^2 - v)(1 - b2); w <- w - alpha m / (sqrt(v) + eps)
- Rprop (PyTorch): s = g * g_prev; step <- clip(step * (eta+ if s > 0, eta- if s < 0, 1),
  min, max); where s < 0 the gradient is taken as 0; w <- w - sign(g) step; g_prev <- g.
  Step sizes start at the learning rate (set in the graph at the parameter's first update).
"""
from __future__ import annotations

import numpy as np

import graphc as gc

from graphc import arguments
from graphc.catalog import Catalog, Configurable
from graphc.optimizers import schedules
from graphc.optimizers.schedules import LearningRateSchedule


class Optimizer(Configurable):
    """Base class. Subclasses declare their slots and implement ``update_step``."""

    #: (slot name, initial value) pairs; the value is a float or "learning_rate"
    slots: tuple = ()

    def __init__(self, learning_rate=0.001, name=None, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None):
        self.name = name or self.default_name
        self.weight_decay = _optional_positive(weight_decay, f"{self.default_name}: weight_decay", zero=True)
        self.clipnorm = _optional_positive(clipnorm, f"{self.default_name}: clipnorm")
        self.clipvalue = _optional_positive(clipvalue, f"{self.default_name}: clipvalue")
        self.global_clipnorm = _optional_positive(global_clipnorm, f"{self.default_name}: global_clipnorm")
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
        for p in _check_params(params, self.name):
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
        params = _check_params(params, self.name)
        grads = gc.grad(loss, params)
        return self.apply_gradients(list(zip(grads, params)))

    def apply_gradients(self, grads_and_vars) -> list:
        """(variable, new_value) pairs applying given gradients (e.g. clipped ones)."""
        pairs = list(grads_and_vars)
        params = _check_params([p for _, p in pairs], self.name)
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


def _optional_positive(value, what, zero=False):
    """None, or a float > 0 (>= 0 with ``zero``)."""
    if value is None:
        return None
    value = arguments.real(value, what)
    if not (value >= 0 if zero else value > 0):
        raise ValueError(f"{what} must be {'>= 0' if zero else '> 0'}, got {value}")
    return value


def _check_params(params, who):
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


def _non_negative(value, what):
    return arguments.real(value, what, minimum=0.0)


def _fraction(value, what):
    return arguments.rate(value, what)



def _real_pair(values, what, finite=True):
    if not isinstance(values, (tuple, list)) or len(values) != 2:
        raise TypeError(f"{what} must be a pair of numbers, got {values!r}")
    return tuple(arguments.real(v, f"{what}[{k}]", finite=finite) for k, v in enumerate(values))


# -- the algorithms --------------------------------------------------------------------------

class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras formulas: with momentum m,
    v <- m v - lr g and w <- w + v, or w <- w + m v - lr g (nesterov, v the new velocity)."""
    default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, name=None, **options):
        self.momentum = arguments.real(momentum, "SGD: momentum", minimum=0.0, maximum=1.0)
        self.nesterov = bool(nesterov)
        self.slots = (("momentum", 0.0),) if self.momentum > 0 else ()
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        if self.momentum == 0:
            return param - lr * grad, {}
        velocity = self.momentum * slots["momentum"] - lr * grad
        if self.nesterov:
            return param + (self.momentum * velocity - lr * grad), {"momentum": velocity}
        return param + velocity, {"momentum": velocity}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adagrad(Optimizer):
    """a <- a + g^2; w <- w - lr g / sqrt(a + eps), the accumulator a starting at
    ``initial_accumulator_value`` (Keras 3)."""
    default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None,
                 **options):
        self.initial_accumulator_value = _non_negative(initial_accumulator_value,
                                                       "Adagrad: initial_accumulator_value")
        self.epsilon = _non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.slots = (("accumulator", self.initial_accumulator_value),)
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        accumulator = slots["accumulator"] + gc.square(grad)
        return param - lr * grad / gc.sqrt(accumulator + self.epsilon), {"accumulator": accumulator}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """Keras 3 RMSprop: s <- rho s + (1 - rho) g^2; inc = lr g / sqrt(s + eps) (centered:
    sqrt(s - gbar^2 + eps) with gbar <- rho gbar + (1 - rho) g); with momentum m > 0,
    v <- m v + inc and w <- w - v, else w <- w - inc."""
    default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name=None, **options):
        self.rho = _fraction(rho, "RMSprop: rho")
        self.momentum = _fraction(momentum, "RMSprop: momentum")
        self.epsilon = _non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.centered = bool(centered)
        self.slots = (("velocity", 0.0),)
        if self.momentum > 0:
            self.slots += (("momentum", 0.0),)
        if self.centered:
            self.slots += (("average_gradient", 0.0),)
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        new = {}
        velocity = self.rho * slots["velocity"] + (1.0 - self.rho) * gc.square(grad)
        new["velocity"] = velocity
        denominator = velocity + self.epsilon
        if self.centered:
            average = self.rho * slots["average_gradient"] + (1.0 - self.rho) * grad
            new["average_gradient"] = average
            denominator = velocity - gc.square(average) + self.epsilon
        increment = lr * grad / gc.sqrt(denominator)
        if self.momentum > 0:
            momentum = self.momentum * slots["momentum"] + increment
            new["momentum"] = momentum
            return param - momentum, new
        return param - increment, new

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adadelta(Optimizer):
    """Keras 3 Adadelta: a <- rho a + (1 - rho) g^2; d = -sqrt(u + eps) g / sqrt(a + eps);
    u <- rho u + (1 - rho) d^2; w <- w + lr d."""
    default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **options):
        self.rho = _fraction(rho, "Adadelta: rho")
        self.epsilon = _non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.slots = (("accumulated_grad", 0.0), ("accumulated_delta", 0.0))
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        acc_grad = self.rho * slots["accumulated_grad"] + (1.0 - self.rho) * gc.square(grad)
        delta = -gc.sqrt(slots["accumulated_delta"] + self.epsilon) * grad / gc.sqrt(acc_grad + self.epsilon)
        acc_delta = self.rho * slots["accumulated_delta"] + (1.0 - self.rho) * gc.square(delta)
        return param + lr * delta, {"accumulated_grad": acc_grad, "accumulated_delta": acc_delta}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Keras 3 Adam: with k = iterations + 1, alpha = lr sqrt(1 - beta_2^k) / (1 - beta_1^k),
    m <- m + (g - m)(1 - beta_1), v <- v + (g^2 - v)(1 - beta_2),
    w <- w - alpha m / (sqrt(v) + eps) (amsgrad: v_hat <- max(v_hat, v) in place of v)."""
    default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name=None, **options):
        self.beta_1 = _fraction(beta_1, "Adam: beta_1")
        self.beta_2 = _fraction(beta_2, "Adam: beta_2")
        self.epsilon = _non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.amsgrad = bool(amsgrad)
        self.slots = (("m", 0.0), ("v", 0.0)) + ((("v_hat", 0.0),) if self.amsgrad else ())
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        k = self.step_count(param.dtype)
        alpha = lr * gc.sqrt(1.0 - gc.pow(self.beta_2, k)) / (1.0 - gc.pow(self.beta_1, k))
        m = slots["m"] + (grad - slots["m"]) * (1.0 - self.beta_1)
        v = slots["v"] + (gc.square(grad) - slots["v"]) * (1.0 - self.beta_2)
        new = {"m": m, "v": v}
        if self.amsgrad:
            v = gc.maximum(slots["v_hat"], v)
            new["v_hat"] = v
        return param - alpha * m / (gc.sqrt(v) + self.epsilon), new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class Rprop(Optimizer):
    """Resilient backpropagation with PyTorch's semantics (``torch.optim.Rprop``; Keras has
    none). Per element: s = g * g_prev; the step size is multiplied by eta+ where s > 0 and
    by eta- where s < 0, then clipped to ``step_sizes``; where s < 0 the gradient is taken as
    0 (no move this step, and no sign comparison at the next); w <- w - sign(g) * step;
    g_prev <- g. Step sizes start at the learning rate: the slot holds -1 until the
    parameter's first update, which sets it to the learning rate of that moment (as PyTorch
    initialises its state lazily at the first step)."""
    default_name = "rprop"

    def __init__(self, learning_rate=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50), name=None,
                 **options):
        eta_minus, eta_plus = _real_pair(etas, "Rprop: etas")
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"Rprop: etas must satisfy 0 < eta_minus < 1 < eta_plus, got {etas}")
        step_min, step_max = _real_pair(step_sizes, "Rprop: step_sizes", finite=False)
        if not 0.0 <= step_min <= step_max:
            raise ValueError(f"Rprop: step_sizes must satisfy 0 <= min <= max, got {step_sizes}")
        self.etas = (eta_minus, eta_plus)
        self.step_sizes = (step_min, step_max)
        self.slots = (("prev_grad", 0.0), ("step_size", -1.0))
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        eta_minus, eta_plus = self.etas
        step_min, step_max = self.step_sizes
        step = gc.where(slots["step_size"] < 0.0, lr, slots["step_size"])
        agreement = grad * slots["prev_grad"]
        eta_plus, eta_minus, one = (gc.constant(v, dtype=param.dtype) for v in (eta_plus, eta_minus, 1.0))
        factor = gc.where(agreement > 0.0, eta_plus, gc.where(agreement < 0.0, eta_minus, one))
        step = gc.clip(step * factor, step_min, step_max)
        grad = gc.where(agreement < 0.0, gc.zeros_like(grad), grad)
        return param - gc.sign(grad) * step, {"prev_grad": grad, "step_size": step}

    def get_config(self):
        return {**super().get_config(), "etas": list(self.etas), "step_sizes": list(self.step_sizes)}


# -- lookup and serialization ------------------------------------------------------------------

_CLASSES = {cls.__name__: cls for cls in (SGD, Adagrad, RMSprop, Adadelta, Adam, Rprop)}
_NAMES = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adadelta": Adadelta, "adam": Adam,
          "rprop": Rprop}


def names() -> list[str]:
    """The optimizer names ``get`` accepts."""
    return sorted(_NAMES)


_CATALOG = Catalog("optimizer", Optimizer, _CLASSES.values(), _NAMES, bare_config=True)
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize  # a fresh optimizer: restore state into variables() after build()


def get(identifier) -> Optimizer:
    """An optimizer from a name (default hyper-parameters), an instance (returned as is), a
    class, or a ``serialize`` dict."""
    return _CATALOG.get(identifier)


__all__ = ["Adadelta", "Adagrad", "Adam", "Optimizer", "RMSprop", "Rprop", "SGD", "deserialize", "get",
           "names", "schedules", "serialize"]
