"""Adam (Keras 3): bias-corrected moving averages of the gradient and its square.

    k = iterations + 1;  alpha = lr sqrt(1 - beta_2^k) / (1 - beta_1^k)
    m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
    w <- w - alpha m / (sqrt(v) + eps)   (amsgrad: v_hat <- max(v_hat, v) in place of v)
"""
from __future__ import annotations

from graphc import api as gc

from graphc.optimizers.base import Optimizer, non_negative, fraction
from graphc.optimizers.registry import register


@register("adam")
class Adam(Optimizer):
    """Keras 3 Adam: with k = iterations + 1, alpha = lr sqrt(1 - beta_2^k) / (1 - beta_1^k),
    m <- m + (g - m)(1 - beta_1), v <- v + (g^2 - v)(1 - beta_2),
    w <- w - alpha m / (sqrt(v) + eps) (amsgrad: v_hat <- max(v_hat, v) in place of v)."""
    default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 name=None, **options):
        self.beta_1 = fraction(beta_1, "Adam: beta_1")
        self.beta_2 = fraction(beta_2, "Adam: beta_2")
        self.epsilon = non_negative(epsilon, f"{type(self).__name__}: epsilon")
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
