"""Adagrad (Keras 3): per-element learning rates shrinking with the squared gradients seen.

    a <- a + g^2;  w <- w - lr g / sqrt(a + eps)   (a starts at initial_accumulator_value, 0.1)
"""
from __future__ import annotations

from graphc import api as gc

from graphc.optimizers.base import Optimizer, non_negative
from graphc.optimizers.registry import register


@register("adagrad")
class Adagrad(Optimizer):
    """a <- a + g^2; w <- w - lr g / sqrt(a + eps), the accumulator a starting at
    ``initial_accumulator_value`` (Keras 3)."""
    default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, name=None,
                 **options):
        self.initial_accumulator_value = non_negative(initial_accumulator_value,
                                                       "Adagrad: initial_accumulator_value")
        self.epsilon = non_negative(epsilon, f"{type(self).__name__}: epsilon")
        self.slots = (("accumulator", self.initial_accumulator_value),)
        super().__init__(learning_rate, name, **options)

    def update_step(self, param, grad, lr, slots):
        accumulator = slots["accumulator"] + gc.square(grad)
        return param - lr * grad / gc.sqrt(accumulator + self.epsilon), {"accumulator": accumulator}

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
