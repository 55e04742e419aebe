"""W6: end to end on scikit-learn's digits. ``load_digits`` (1797 8x8 images), 80/20 split with
seed 0, standardized with the training set's statistics; MLP 64-128-64-10 (ReLU, softmax
output, sparse categorical cross-entropy), Adam lr 1e-3, batch 32, 30 epochs, shuffled every
epoch. Reported: the wall time of one ``fit`` (30 epochs), its cold time, and test accuracy.

Every implementation trains the same data from the same initial weights (Glorot uniform from
seed 0, zero biases; set with ``set_weights``) with the same batching (a fresh permutation per
epoch, 44 batches of 32 and one of 30); each shuffles with its own seeded generator, so the
runs differ only by the order of the samples and float rounding. The split is
``gc.data.train_val_test_split(x, y, (0.8, 0, 0.2), seed=0)`` (one permutation from
``np.random.default_rng(0)``: 1438 training, 359 test samples), computed once and handed to all.

- ``numpy-by-hand`` (the reference): forward, backward and Keras-3 Adam written in NumPy, float32.
- ``graphc-fit``: ``gc.models.Sequential`` + ``model.fit(..., verbose=0)``.
- ``torch-eager``: ``nn.Sequential``, ``F.cross_entropy`` on the logits (the same loss as
  softmax + cross-entropy), ``torch.optim.Adam(eps=1e-7)``, a Python loop over batches.
- ``keras-fit``: Keras 3 ``model.fit(..., verbose=0)``, on the JAX backend unless
  ``KERAS_BACKEND`` is set (``pip install keras``; skipped with the reason when it is missing).

No model computes training metrics (no ``metrics=["accuracy"]`` in compile): every
implementation does the same work per step. Timing: the build trains a freshly made model once
(``cold_fit_s``: model construction, compile, JIT and the first 30-epoch fit — what a new
user's first ``fit`` costs, imports excluded) and checks the test accuracy of THAT model
(``accuracy``; at least 0.95, the target is 0.97). The timed repetitions then call ``fit`` again
on the same model (30 more epochs each: warm, as a second ``fit`` in a session), so
``median_ms`` is the steady-state wall time of a 30-epoch fit. With ``--quick``/``--size-scale``
the number of epochs is scaled (at least 1) and the accuracy bar is lowered to 0.80.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from harness import Skip

WORKLOAD = "W6"
TITLE = "digits MLP 64-128-64-10, Adam 1e-3, batch 32, 30 epochs: wall time of fit + test accuracy"
SIZES = (64, 128, 64, 10)
EPOCHS = 30
BATCH = 32
LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7
MIN_ACCURACY = 0.95          # below this the implementation FAILs
TARGET_ACCURACY = 0.97       # what issue 4 asks of graphc
MIN_ACCURACY_SCALED = 0.80   # with fewer epochs (--quick / --size-scale)
SEED = 0


def available():
    try:
        import graphc as gc
        for what in ("models.Sequential", "layers.Dense", "optimizers.Adam", "datasets.load_digits",
                     "data.train_val_test_split", "data.standardize"):
            obj = gc
            for part in what.split("."):
                obj = getattr(obj, part)
    except Exception as exc:
        return f"graphc lacks what W6 needs: {type(exc).__name__}: {exc}"
    return None


# -- data and initial weights ----------------------------------------------------------------------

def load_data():
    """(x_train, y_train, x_test, y_test): float32 standardized with the training statistics,
    int64 labels."""
    import graphc as gc
    x, y = gc.datasets.load_digits()
    (x_train, y_train), _, (x_test, y_test) = gc.data.train_val_test_split(
        x, y, ratios=(0.8, 0.0, 0.2), seed=SEED)
    x_train, mean, std = gc.data.standardize(x_train.astype(np.float32))
    x_test, _, _ = gc.data.standardize(x_test.astype(np.float32), mean, std)
    return (np.ascontiguousarray(x_train, np.float32), np.asarray(y_train, np.int64),
            np.ascontiguousarray(x_test, np.float32), np.asarray(y_test, np.int64))


def initial_weights(seed=SEED):
    """[W1, b1, W2, b2, W3, b3], W (fan_in, fan_out) Glorot uniform, b zeros; float32."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    return params


# -- the reference: NumPy by hand ------------------------------------------------------------------

class NumpyMLP:
    """Forward, backward and Keras-3 Adam by hand (float32, in place), mini-batches of ``fit``."""

    def __init__(self, params, seed=SEED):
        self.params = [p.copy() for p in params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng = np.random.default_rng(seed)

    def step(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        n = x.shape[0]
        z1 = x @ W1
        z1 += b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ W2
        z2 += b2
        h2 = np.maximum(z2, 0)
        logits = h2 @ W3
        logits += b3
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)          # softmax output
        rows = np.arange(n)
        d3 = p                                     # d CE(softmax) / d logits = (p - onehot) / n
        d3[rows, y] -= 1
        d3 *= np.float32(1.0 / n)
        d2 = d3 @ W3.T
        d2 *= z2 > 0
        d1 = d2 @ W2.T
        d1 *= z1 > 0
        grads = (x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0))
        self.t += 1
        alpha = np.float32(LR * np.sqrt(1 - BETA_2 ** self.t) / (1 - BETA_1 ** self.t))
        for w, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * np.float32(1 - BETA_1)
            v += (g * g - v) * np.float32(1 - BETA_2)
            w -= alpha * m / (np.sqrt(v) + np.float32(EPSILON))

    def fit(self, x, y, epochs, batch_size):
        n = len(x)
        for _ in range(epochs):
            order = self.rng.permutation(n)
            xe, ye = x[order], y[order]
            for lo in range(0, n, batch_size):
                self.step(xe[lo:lo + batch_size], ye[lo:lo + batch_size])

    def predict(self, x):
        W1, b1, W2, b2, W3, b3 = self.params
        h = np.maximum(x @ W1 + b1, 0)
        h = np.maximum(h @ W2 + b2, 0)
        return h @ W3 + b3


# -- running ---------------------------------------------------------------------------------------

def run(ctx):
    if ctx.backend != "numpy":
        ctx.fail(WORKLOAD, "(workload)", f"W6 runs on the CPU only (numpy backend), not --backend {ctx.backend}",
                 kind="SKIP")
        return
    x_train, y_train, x_test, y_test = load_data()
    params0 = initial_weights()
    epochs = ctx.scaled(EPOCHS, minimum=1)
    bar = MIN_ACCURACY if epochs >= EPOCHS else MIN_ACCURACY_SCALED

    def accuracy(scores):
        return float(np.mean(np.asarray(scores).argmax(axis=1) == y_test))

    def check(acc):
        if not acc >= bar:
            raise AssertionError(f"test accuracy {acc:.4f} after {epochs} epochs, below {bar}")
        return f"accuracy>={bar}"

    def measured(make, fit, predict, extra):
        """build(): make the model, fit it cold (timed into extra), record its test accuracy;
        the callable then hands that accuracy to the check once and fits again on every call."""
        def build():
            start = time.perf_counter()
            model = make()
            fit(model)
            extra["cold_fit_s"] = time.perf_counter() - start
            acc = accuracy(predict(model))
            extra["accuracy"] = f"{acc:.4f}"
            first = [True]

            def timed():
                if first[0]:
                    first[0] = False
                    return acc
                return fit(model)
            return timed
        return build

    def base_extra():
        return {"epochs": epochs} if epochs != EPOCHS else {}

    # NumPy by hand (the reference)
    extra = base_extra()
    ctx.bench(WORKLOAD, "numpy-by-hand",
              measured(lambda: NumpyMLP(params0),
                       lambda m: m.fit(x_train, y_train, epochs, BATCH),
                       lambda m: m.predict(x_test), extra),
              check, reference=True, extra=extra)

    # graphc: Sequential + fit
    def make_graphc():
        import graphc as gc
        L = gc.layers
        model = gc.models.Sequential([L.Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],)),
                                      L.Dense(SIZES[2], activation="relu"),
                                      L.Dense(SIZES[3], activation="softmax")], seed=SEED)
        model.compile(optimizer=gc.optimizers.Adam(LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
                      loss="sparse_categorical_crossentropy")
        model.set_weights(params0)
        return model
    extra = base_extra()
    ctx.bench(WORKLOAD, "graphc-fit",
              measured(make_graphc,
                       lambda m: m.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, verbose=0),
                       lambda m: m.predict(x_test), extra),
              check, extra=extra)

    # PyTorch eager
    def make_torch():
        torch = ctx.peer("torch")
        nn = torch.nn
        torch.manual_seed(SEED)
        model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                              nn.Linear(SIZES[2], SIZES[3]))
        with torch.no_grad():
            for layer, W, b in zip((model[0], model[2], model[4]), params0[::2], params0[1::2]):
                layer.weight.copy_(torch.from_numpy(W.T.copy()))
                layer.bias.copy_(torch.from_numpy(b))
        opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA_1, BETA_2), eps=EPSILON)
        gen = torch.Generator().manual_seed(SEED)
        return torch, model, opt, gen

    def fit_torch(state):
        torch, model, opt, gen = state
        xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
        n = len(x_train)
        loss_fn = torch.nn.functional.cross_entropy
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            xe, ye = xt[order], yt[order]
            for lo in range(0, n, BATCH):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xe[lo:lo + BATCH]), ye[lo:lo + BATCH])
                loss.backward()
                opt.step()

    def predict_torch(state):
        torch, model, _, _ = state
        with torch.no_grad():
            return model(torch.from_numpy(x_test)).numpy()
    extra = base_extra()
    ctx.bench(WORKLOAD, "torch-eager", measured(make_torch, fit_torch, predict_torch, extra), check, extra=extra)

    # Keras 3 fit
    def make_keras():
        keras = import_keras(ctx)
        extra["backend"] = keras.backend.backend()
        keras.utils.set_random_seed(SEED)
        model = keras.Sequential([keras.Input((SIZES[0],)),
                                  keras.layers.Dense(SIZES[1], activation="relu"),
                                  keras.layers.Dense(SIZES[2], activation="relu"),
                                  keras.layers.Dense(SIZES[3], activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
                      loss="sparse_categorical_crossentropy")
        model.set_weights(params0)
        return model
    extra = base_extra()
    ctx.bench(WORKLOAD, "keras-fit",
              measured(make_keras,
                       lambda m: m.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, verbose=0,
                                       shuffle=True),
                       lambda m: np.asarray(m.predict(x_test, verbose=0)), extra),
              check, extra=extra)


def import_keras(ctx):
    """Keras 3 on the JAX backend (or torch), set before its first import unless KERAS_BACKEND
    is already set; Skip with the reason when it cannot be used. Keras is not one of the
    harness' peers: it runs when its backend peer is enabled (--peers)."""
    if "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ:
        usable = [b for b in ("jax", "torch") if b in ctx.peers and importlib.util.find_spec(b)]
        if not usable:
            raise Skip("keras disabled: it needs jax or torch as its backend, and neither is enabled (--peers) "
                       "and installed")
        os.environ["KERAS_BACKEND"] = usable[0]
    backend = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules and backend in ("jax", "torch") and backend not in ctx.peers:
        raise Skip(f"keras would run on {backend} (KERAS_BACKEND), which is disabled (--peers)")
    try:
        import keras
    except Exception as exc:
        raise Skip(f"keras not usable (pip install keras): {type(exc).__name__}: {exc}") from None
    version = getattr(keras, "__version__", "0")
    if int(version.split(".")[0]) < 3:
        raise Skip(f"keras {version} is not Keras 3")
    return keras
