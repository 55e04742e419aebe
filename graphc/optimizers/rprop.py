"""Rprop, resilient backpropagation, with PyTorch's semantics (``torch.optim.Rprop``; Keras
has none): only the gradient's sign is used, with a per-element step size that grows while
the sign holds and shrinks when it flips.

    s = g g_prev;  step <- clip(step * (eta+ if s > 0, eta- if s < 0, else 1), min, max)
    where s < 0, g is taken as 0;  w <- w - sign(g) step;  g_prev <- g
"""
from __future__ import annotations

from graphc import api as gc

from graphc.optimizers.base import Optimizer, real_pair
from graphc.optimizers.registry import register


@register("rprop")
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
        eta_minus, eta_plus = real_pair(etas, "Rprop: etas")
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            raise ValueError(f"Rprop: etas must satisfy 0 < eta_minus < 1 < eta_plus, got {etas}")
        step_min, step_max = real_pair(step_sizes, "Rprop: step_sizes", finite=False)
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
