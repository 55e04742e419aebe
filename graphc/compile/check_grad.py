"""``gc.check_grad``: a graph's symbolic gradient against central finite differences, both
computed by compiled functions."""
from __future__ import annotations

import numpy as np

from graphc.autodiff import grad_targets, grad
from graphc.errors import GraphError
from graphc.ir import arguments
from graphc.compile.function import function, resolve_feeds
from graphc.ir.tensor import Variable


def check_grad(y, xs, feed_dict, eps=1e-3, rtol=None, atol=None):
    """Compare ``grad(y, xs)`` with central finite differences at ``feed_dict``.

    ``xs`` are placeholders (fed in ``feed_dict``, by tensor or name) or variables (their
    current value is perturbed, then restored). Returns the largest absolute difference;
    raises AssertionError naming the input and the worst element on a mismatch.
    Defaults: rtol=1e-4, atol=1e-6 for float64; rtol=2e-2, atol=1e-3 otherwise.
    """
    xs = grad_targets("check_grad", xs)
    eps = arguments.real(eps, "check_grad: eps")
    if not eps > 0:
        raise ValueError(f"check_grad: eps must be > 0, got {eps}")
    rtol = arguments.real(rtol, "check_grad: rtol", minimum=0.0, allow_none=True)
    atol = arguments.real(atol, "check_grad: atol", minimum=0.0, allow_none=True)
    feeds = resolve_feeds(y, feed_dict)
    wide = all(x.dtype == np.float64 for x in xs)
    rtol = rtol if rtol is not None else (1e-4 if wide else 2e-2)
    atol = atol if atol is not None else (1e-6 if wide else 1e-3)
    placeholders = list(feeds)
    f_value = function(placeholders, y)
    f_grads = function(placeholders, grad(y, xs))
    values = [np.array(feeds[p], dtype=p.dtype) for p in placeholders]
    analytic = f_grads(*values)

    def evaluate(x, arr):
        if isinstance(x, Variable):
            x.assign(arr)
            return float(f_value(*values))
        values[placeholders.index(x)] = arr
        return float(f_value(*values))

    worst = 0.0
    for x, ana in zip(xs, analytic):
        if isinstance(x, Variable):
            base = x.value.copy()
        elif x in feeds:
            base = values[placeholders.index(x)].copy()
        else:
            raise GraphError(f"check_grad: {x.name!r} is neither fed in feed_dict nor a variable")
        numeric = np.zeros(base.shape, dtype=np.float64)
        try:
            for idx in np.ndindex(base.shape):
                plus, minus = base.copy(), base.copy()
                plus[idx] += eps
                minus[idx] -= eps
                numeric[idx] = (evaluate(x, plus) - evaluate(x, minus)) / (2 * eps)
        finally:
            evaluate(x, base)
        ana = np.asarray(ana, dtype=np.float64)
        diff = np.abs(ana - numeric)
        worst = max(worst, float(diff.max(initial=0.0)))
        bad = diff > atol + rtol * np.abs(numeric)
        if bad.any():
            i = np.unravel_index(np.argmax(np.where(bad, diff, -1)), diff.shape)
            raise AssertionError(
                f"check_grad: gradient w.r.t. {x.name!r} differs from finite differences at index "
                f"{tuple(int(k) for k in i)}: symbolic {ana[i]:.6g}, numeric {numeric[i]:.6g} "
                f"(|diff| {diff[i]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|)")
    return worst
