"""Adadelta (Keras 3): steps scaled by the ratio of moving averages of squared updates and
squared gradients, so the units of the update match the parameter's.

    a <- rho a + (1 - rho) g^2;  d = -sqrt(u + eps) g / sqrt(a + eps)
    u <- rho u + (1 - rho) d^2;  w <- w + lr d
"""
from __future__ import annotations

from graphc import api as gc

from graphc.optimizers.base import Optimizer, non_negative, fraction
from graphc.optimizers.registry import register


@register("adadelta")
class Adadelta(Optimizer):
    """Keras 3 Adadelta: a <- rho a + (1 - rho) g^2; d = -sqrt(u + eps) g / sqrt(a + eps);
    u <- rho u + (1 - rho) d^2; w <- w + lr d."""
    default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, name=None, **options):
        self.rho = fraction(rho, "Adadelta: rho")
        self.epsilon = non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.slots = (("accumulated_grad", 0.0), ("accumulated_delta", 0.0))
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        acc_grad = self.rho * slots["accumulated_grad"] + (1.0 - self.rho) * gc.square(grad)
        delta = -gc.sqrt(slots["accumulated_delta"] + self.epsilon) * grad / gc.sqrt(acc_grad + self.epsilon)
        acc_delta = self.rho * slots["accumulated_delta"] + (1.0 - self.rho) * gc.square(delta)
        return param + lr * delta, {"accumulated_grad": acc_grad, "accumulated_delta": acc_delta}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
