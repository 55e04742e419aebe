"""SGD: gradient descent, optionally with (Nesterov) momentum (Keras 3 formulas).

    momentum 0:  w <- w - lr g
    momentum m:  v <- m v - lr g;  w <- w + v   (nesterov: w <- w + m v - lr g, v the new one)

Without momentum it keeps no slot variables.
"""
from __future__ import annotations

from graphc.api.support import arguments
from graphc.optimizers.base import Optimizer
from graphc.optimizers.registry import register


@register("sgd")
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
