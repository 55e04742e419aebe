"""RMSprop (Keras 3): the gradient scaled by a moving average of its square.

    s <- rho s + (1 - rho) g^2;  inc = lr g / sqrt(s + eps)
    centered: gbar <- rho gbar + (1 - rho) g and sqrt(s - gbar^2 + eps) in the denominator
    momentum m > 0: v <- m v + inc, w <- w - v;  else w <- w - inc
"""
from __future__ import annotations

from graphc import api as gc

from graphc.optimizers.base import Optimizer, non_negative, fraction
from graphc.optimizers.registry import register


@register("rmsprop")
class RMSprop(Optimizer):
    """Keras 3 RMSprop: s <- rho s + (1 - rho) g^2; inc = lr g / sqrt(s + eps) (centered:
    sqrt(s - gbar^2 + eps) with gbar <- rho gbar + (1 - rho) g); with momentum m > 0,
    v <- m v + inc and w <- w - v, else w <- w - inc."""
    default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 name=None, **options):
        self.rho = fraction(rho, "RMSprop: rho")
        self.momentum = fraction(momentum, "RMSprop: momentum")
        self.epsilon = non_negative(epsilon, f"{type(self).__name__}: epsilon")
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
