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

Layout: ``base`` (the ``Optimizer`` class: learning rate, slots, clipping, weight decay),
one module per rule (``sgd``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adam``, ``rprop``),
``registry`` (``get`` / ``serialize`` / ``deserialize`` over a ``Catalog`` the rule modules
join) and ``schedules``.
"""
from __future__ import annotations

# Importing the rule modules registers them with the registry's Catalog (``get("adam")``).
from graphc.optimizers import schedules
from graphc.optimizers.base import Optimizer
from graphc.optimizers.sgd import SGD
from graphc.optimizers.adagrad import Adagrad
from graphc.optimizers.rmsprop import RMSprop
from graphc.optimizers.adadelta import Adadelta
from graphc.optimizers.adam import Adam
from graphc.optimizers.rprop import Rprop
from graphc.optimizers.registry import deserialize, get, names, serialize

__all__ = ["Adadelta", "Adagrad", "Adam", "Optimizer", "RMSprop", "Rprop", "SGD", "deserialize", "get",
           "names", "schedules", "serialize"]
