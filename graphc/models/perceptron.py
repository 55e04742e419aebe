"""Rosenblatt's perceptron, trained sample by sample as the seed works it by hand.

Not a ``Sequential`` model: one weight vector updated by one small compiled graph per sample
(Heaviside output, the perceptron rule as the graph's update), kept here beside the models so
``gc.models.Perceptron`` is where users look for it.
"""
from __future__ import annotations

import numpy as np

from graphc.api import function
from graphc.api.support import arguments
from graphc.api import placeholder, variable
from graphc.api.nn import step
from graphc.api import reduce_sum


class Perceptron:
    """Rosenblatt's perceptron, trained sample by sample exactly as the seed works it by hand.

    - input augmented with x0 = 1, so the bias is the weight w0 (``weights[0]``);
    - output ŷ = f(w · x) with the Heaviside step f(z) = 1 if z >= 0 else 0 (so f(0) = 1);
    - weights start at 0; after EVERY sample, w ← w + α (t − ŷ) x, with t the target and ŷ
      the output. (The issue writes α(ŷ − y)x, naming the target ŷ and the output y as the
      seed does; it is the same, convergent rule. The opposite sign diverges on AND: the
      first sample (0, 0) → output 1, target 0 would raise w0 instead of lowering it.)
    - an epoch is one pass over the samples in order; training stops after the first epoch
      without an error (or after ``epochs``).

    Each update is one compiled graph (``step_function``: inputs x, t; outputs ŷ and the error;
    update of the weight variable). After ``fit``: ``weights`` (w0 first), ``errors_`` (the
    number of misclassified samples per epoch), ``steps_`` (one record per sample: epoch, x,
    target, output, error, weights after the update) and ``iteration_table()``.
    """

    def __init__(self, learning_rate=1.0):
        self.learning_rate = arguments.real(learning_rate, "Perceptron: learning_rate")
        self.errors_: list[int] = []
        self.steps_: list[dict] = []
        self._w = None
        self.step_function = None

    def _compile(self, n_features):
        self._w = variable(np.zeros(n_features + 1), dtype="float64", name="w")
        x = placeholder((n_features + 1,), "float64", name="x")
        t = placeholder((), "float64", name="t")
        output = step(reduce_sum(self._w * x))
        error = t - output
        self.step_function = function([x, t], [output, error],
                                      updates=[(self._w, self._w + self.learning_rate * error * x)],
                                      name="perceptron_step")

    def fit(self, X, y, epochs=100):
        epochs = arguments.index(epochs, "Perceptron.fit: epochs", minimum=0)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"Perceptron.fit: X must be (samples, features) with one target per sample, "
                             f"got X {X.shape} and y {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("Perceptron.fit: targets must be 0 or 1")
        self._compile(X.shape[1])
        augmented = np.hstack([np.ones((len(X), 1)), X])
        self.errors_, self.steps_ = [], []
        for epoch in range(1, epochs + 1):
            errors = 0
            for xi, ti in zip(augmented, y):
                output, error = self.step_function(xi, ti)
                errors += int(error != 0)
                self.steps_.append({"epoch": epoch, "x": xi[1:].copy(), "target": int(ti),
                                    "output": int(output), "error": int(error),
                                    "weights": self._w.value.copy()})
            self.errors_.append(errors)
            if errors == 0:
                break
        return self

    @property
    def weights(self) -> np.ndarray:
        """[w0 (bias), w1, ..., wn]."""
        if self._w is None:
            raise ValueError("Perceptron: call fit first")
        return self._w.value.copy()

    def net_input(self, X):
        X = np.asarray(X, dtype=np.float64)
        return X @ self.weights[1:] + self.weights[0]

    def predict(self, X):
        """Heaviside of w0 + w · x: 1 where it is >= 0, else 0 (int64)."""
        return (self.net_input(X) >= 0).astype(np.int64)

    def iteration_table(self) -> str:
        """The sample-by-sample table of ``fit``: epoch, inputs, target, output, error, weights."""
        if not self.steps_:
            return "(not fitted)"
        n = len(self.steps_[0]["x"])
        xs = [f"x{i + 1}" for i in range(n)]
        ws = [f"w{i}" for i in range(n + 1)]
        header = ["epoch", *xs, "target", "output", "error", *ws]
        rows = []
        for s in self.steps_:
            rows.append([str(s["epoch"]), *(f"{v:g}" for v in s["x"]), str(s["target"]), str(s["output"]),
                         str(s["error"]), *(f"{v:g}" for v in s["weights"])])
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
        return "\n".join(lines)
