"""W5: one CNN training step. Batch 64 × 28 × 28 × 1 (NHWC) → Conv2D 32 3×3 same + ReLU →
MaxPool 2 → Conv2D 64 3×3 same + ReLU → MaxPool 2 → Dense 10; softmax cross-entropy on
integer labels (mean over the batch); plain SGD (learning rate 0.01); float32. One step =
forward + backward + update, ms per step.

Implementations: the reference is a straightforward hand-written NumPy step (im2col + GEMM for
the convolutions and their gradients, reshapes for the 2×2 pools); graphc twice — through the
raw graph API (``gc.nn.conv2d``/``max_pool2d``, ``gc.grad``, SGD as update expressions, one
``gc.function``) and through the model API (``Sequential`` of Conv2D/MaxPooling2D/Flatten/Dense,
its compiled ``train_function``, which is what ``fit`` runs per batch); PyTorch eager (NCHW, its
idiomatic layout) and torch.compile; JAX jit. All start from the same Glorot-uniform weights and
the same batch; after ONE step the loss and every updated weight are compared with the NumPy
step before anything is timed. PyTorch's weights are the same numbers in its layouts (OIHW
kernels; the Dense rows permuted so its channel-first flatten reads the same features).
"""
from __future__ import annotations

import time

import numpy as np

from harness import Skip, assert_all_close, assert_close

WORKLOAD = "W5"
TITLE = "CNN train step (conv 32 / pool / conv 64 / pool / dense 10, SGD), batch 64 × 28×28×1, float32, ms per step"
BATCH = 64
IMAGE = 28
CHANNELS = (1, 32, 64)
CLASSES = 10
LR = 0.01
FLAT = (IMAGE // 4) * (IMAGE // 4) * CHANNELS[2]      # 7 · 7 · 64 = 3136
NAMES = ["conv1/kernel", "conv1/bias", "conv2/kernel", "conv2/bias", "dense/kernel", "dense/bias"]
LOSS_RTOL = 1e-4
W_RTOL, W_ATOL = 1e-4, 1e-6      # one SGD step moves a weight by lr · grad; float32 sums differ by ~1e-7


def available():
    try:
        import graphc as gc
        for name in ("conv2d", "max_pool2d"):
            getattr(gc.nn, name)
        for name in ("Conv2D", "MaxPooling2D", "Flatten", "Dense"):
            getattr(gc.layers, name)
    except Exception as exc:
        return f"graphc lacks what W5 needs: {type(exc).__name__}: {exc}"
    return None


def initial_weights(seed=0):
    """[K1, b1, K2, b2, W3, b3]: HWIO kernels and the (3136, 10) Dense kernel Glorot uniform
    (fans as Keras: kh·kw·cin and kh·kw·cout for a kernel), biases zeros; float32."""
    rng = np.random.default_rng(seed)

    def glorot(shape, fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)
    c0, c1, c2 = CHANNELS
    return [glorot((3, 3, c0, c1), 9 * c0, 9 * c1), np.zeros(c1, np.float32),
            glorot((3, 3, c1, c2), 9 * c1, 9 * c2), np.zeros(c2, np.float32),
            glorot((FLAT, CLASSES), FLAT, CLASSES), np.zeros(CLASSES, np.float32)]


def batch(size, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.random((size, IMAGE, IMAGE, CHANNELS[0]), dtype=np.float32),
            rng.integers(0, CLASSES, size).astype(np.int64))


# -- the reference: NumPy by hand --------------------------------------------------------------

def im2col_3x3(x):
    """(N, H, W, C) -> (N·H·W, 9·C): the 3×3 'same' windows, tap-major (matching HWIO.reshape)."""
    n, h, w, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.empty((n, h, w, 3, 3, c), x.dtype)
    for a in range(3):
        for b in range(3):
            cols[:, :, :, a, b, :] = xp[:, a:a + h, b:b + w, :]
    return cols.reshape(n * h * w, 9 * c)


def col2im_3x3(dcols, shape):
    """The adjoint of im2col_3x3: each tap's column block added back at its offset."""
    n, h, w, c = shape
    dcols = dcols.reshape(n, h, w, 3, 3, c)
    dxp = np.zeros((n, h + 2, w + 2, c), dcols.dtype)
    for a in range(3):
        for b in range(3):
            dxp[:, a:a + h, b:b + w, :] += dcols[:, :, :, a, b, :]
    return dxp[:, 1:-1, 1:-1, :]


def pool_2x2(x):
    """2×2 max pool, stride 2, and the one-hot mask of each window's first arg-max."""
    n, h, w, c = x.shape
    windows = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    arg = windows.argmax(axis=-1)
    mask = np.arange(4) == arg[..., None]
    return np.take_along_axis(windows, arg[..., None], -1)[..., 0], mask


def unpool_2x2(g, mask):
    n, h2, w2, c = g.shape
    spread = mask * g[..., None]                                            # (n, h2, w2, c, 4)
    return spread.reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h2, 2 * w2, c)


class HandWritten:
    """Forward, backward and SGD by hand (the straightforward NumPy im2col program)."""

    def __init__(self, params):
        self.params = [p.copy() for p in params]

    def step(self, x, y):
        k1, b1, k2, b2, w3, b3 = self.params
        n = x.shape[0]
        cols1 = im2col_3x3(x)
        z1 = (cols1 @ k1.reshape(-1, k1.shape[3])).reshape(n, IMAGE, IMAGE, -1) + b1
        a1 = np.maximum(z1, 0)
        p1, m1 = pool_2x2(a1)
        cols2 = im2col_3x3(p1)
        z2 = (cols2 @ k2.reshape(-1, k2.shape[3])).reshape(p1.shape[:3] + (-1,)) + b2
        a2 = np.maximum(z2, 0)
        p2, m2 = pool_2x2(a2)
        flat = p2.reshape(n, -1)
        logits = flat @ w3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -log_p[np.arange(n), y].mean()
        # backward
        dlogits = np.exp(log_p)
        dlogits[np.arange(n), y] -= 1
        dlogits /= n
        dw3, db3 = flat.T @ dlogits, dlogits.sum(axis=0)
        dz2 = unpool_2x2((dlogits @ w3.T).reshape(p2.shape), m2) * (z2 > 0)
        dz2_2d = dz2.reshape(-1, dz2.shape[3])
        dk2, db2 = (cols2.T @ dz2_2d).reshape(k2.shape), dz2_2d.sum(axis=0)
        dp1 = col2im_3x3(dz2_2d @ k2.reshape(-1, k2.shape[3]).T, p1.shape)
        dz1 = unpool_2x2(dp1, m1) * (z1 > 0)
        dz1_2d = dz1.reshape(-1, dz1.shape[3])
        dk1, db1 = (cols1.T @ dz1_2d).reshape(k1.shape), dz1_2d.sum(axis=0)
        for p, g in zip(self.params, (dk1, db1, dk2, db2, dw3, db3)):
            p -= np.float32(LR) * g
        return np.float32(loss)


# -- graphc ---------------------------------------------------------------------------------------

def graphc_raw_step(params0, n, backend="numpy"):
    """The raw graph API: placeholders, variables, conv/pool ops, gc.grad, SGD as updates."""
    import graphc as gc
    x = gc.placeholder((n, IMAGE, IMAGE, CHANNELS[0]), "float32", name="x")
    y = gc.placeholder((n,), "int64", name="y")
    params = [gc.variable(p, name=name) for p, name in zip(params0, NAMES)]
    k1, b1, k2, b2, w3, b3 = params
    h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, k1, 1, "same") + b1), 2)
    h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(h, k2, 1, "same") + b2), 2)
    logits = gc.reshape(h, (n, FLAT)) @ w3 + b3
    loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, CLASSES), logits))
    grads = gc.grad(loss, params)
    fn = gc.function([x, y], loss, updates=[(p, p - LR * g) for p, g in zip(params, grads)], name="w5_step",
                     backend=backend)
    return fn, params


def graphc_model(params0):
    """The model API: a Sequential whose compiled train_function is one step of ``fit``."""
    import graphc as gc
    L = gc.layers
    model = gc.models.Sequential([
        L.Input((IMAGE, IMAGE, CHANNELS[0])),
        L.Conv2D(CHANNELS[1], 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(CHANNELS[2], 3, padding="same", activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(CLASSES)], name="w5_cnn")
    model.set_weights(params0)
    model.compile(gc.optimizers.SGD(LR), gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# -- peers ------------------------------------------------------------------------------------------

def torch_weights(params):
    """The same weights in PyTorch's layouts: OIHW kernels, (out, in) Linear weight with its
    input rows reordered from NHWC's flatten (h, w, c) to NCHW's (c, h, w)."""
    k1, b1, k2, b2, w3, b3 = params
    side = IMAGE // 4
    w3_chw = w3.reshape(side, side, CHANNELS[2], CLASSES).transpose(2, 0, 1, 3).reshape(FLAT, CLASSES)
    return [k1.transpose(3, 2, 0, 1), b1, k2.transpose(3, 2, 0, 1), b2, w3_chw.T, b3]


def from_torch_weights(tensors):
    k1, b1, k2, b2, w3t, b3 = [t.detach().numpy() for t in tensors]
    side = IMAGE // 4
    w3 = w3t.T.reshape(CHANNELS[2], side, side, CLASSES).transpose(1, 2, 0, 3).reshape(FLAT, CLASSES)
    return [k1.transpose(2, 3, 1, 0), b1, k2.transpose(2, 3, 1, 0), b2, w3, b3]


def torch_model(torch, params0):
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(CHANNELS[0], CHANNELS[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(CHANNELS[1], CHANNELS[2], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(FLAT, CLASSES))
    with torch.no_grad():
        for p, value in zip(model.parameters(), torch_weights(params0)):
            p.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model


def jax_step(jax):
    jnp, lax = jax.numpy, jax.lax

    def conv(x, k, b):
        return lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def loss_fn(params, x, y):
        k1, b1, k2, b2, w3, b3 = params
        h = pool(jax.nn.relu(conv(x, k1, b1)))
        h = pool(jax.nn.relu(conv(h, k2, b2)))
        logits = h.reshape(h.shape[0], -1) @ w3 + b3
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def step(params, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        return [p - LR * g for p, g in zip(params, grads)], loss
    return step


# -- the workload -----------------------------------------------------------------------------------

def run(ctx):
    if ctx.backend == "cupy":
        ctx.fail(WORKLOAD, "graphc-cupy", "W5 on the GPU backend is not written yet", kind="SKIP")
        return
    n = ctx.scaled(BATCH, minimum=4)
    params0 = initial_weights()
    x, y = batch(n)
    ref = HandWritten(params0)
    ref_loss = ref.step(x, y)
    ref_params = ref.params
    extra_size = {"batch": n} if n != BATCH else {}

    def check(state):
        loss, params = state
        note = assert_close(np.asarray(loss, np.float32), ref_loss, LOSS_RTOL, 0, what="loss after one step")
        return "loss_" + note + ",weights_" + assert_all_close([np.asarray(p) for p in params], ref_params,
                                                               W_RTOL, W_ATOL, names=NAMES)

    def first_state_then(step, read, extra=None):
        """A build(): run one step (its (loss, weights) go to the check), then time ``step``."""
        def build():
            start = time.perf_counter()
            loss = step()
            if extra is not None:
                extra["first_result_s"] = time.perf_counter() - start
            state = [(loss, read())]

            def timed():
                return state.pop() if state else step()
            return timed
        return build

    def make_numpy():
        model = HandWritten(params0)
        return first_state_then(lambda: model.step(x, y), lambda: model.params)()
    ctx.bench(WORKLOAD, "numpy-im2col", make_numpy, check, reference=True, extra=dict(extra_size))

    raw_extra = {}

    def make_graphc_raw():
        fn, params = graphc_raw_step(params0, n)
        return first_state_then(lambda: fn(x, y), lambda: [v.value.copy() for v in params], raw_extra)()
    ctx.bench(WORKLOAD, "graphc-numpy", make_graphc_raw, check, extra=raw_extra)
    c_extra = {}

    def make_graphc_c():
        fn, params = graphc_raw_step(params0, n, backend="c")
        return first_state_then(lambda: fn(x, y), lambda: [v.value.copy() for v in params], c_extra)()
    ctx.bench(WORKLOAD, "graphc-c", make_graphc_c, check, extra=c_extra)

    model_extra = {}

    def make_graphc_model():
        model = graphc_model(params0)
        weights = np.ones(n, np.float32)
        train_step = model.train_function
        return first_state_then(lambda: train_step(x, y, weights)[0], model.get_weights, model_extra)()
    ctx.bench(WORKLOAD, "graphc-model", make_graphc_model, check, extra=model_extra)

    def make_torch(compiled, extra):
        def build():
            torch = ctx.peer("torch")
            if compiled and ctx.quick:
                raise Skip("--quick skips torch.compile")
            model = torch_model(torch, params0)
            opt = torch.optim.SGD(model.parameters(), lr=LR)
            forward = torch.compile(model) if compiled else model
            xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))   # NCHW, outside the timing
            yt = torch.from_numpy(y)

            def step():
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(forward(xt), yt)
                loss.backward()
                opt.step()
                return loss.detach().numpy()
            try:
                return first_state_then(step, lambda: from_torch_weights(list(model.parameters())), extra)()
            except Exception as exc:
                if compiled:
                    raise Skip(f"torch.compile does not work here: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
                raise
        return build
    ctx.bench(WORKLOAD, "torch-eager", make_torch(False, None), check)
    compile_extra = {}
    ctx.bench(WORKLOAD, "torch-compile", make_torch(True, compile_extra), check, extra=compile_extra)

    jax_extra = {}

    def make_jax():
        jax = ctx.peer("jax")
        step = jax_step(jax)
        state = [[jax.device_put(p) for p in params0]]
        xj, yj = jax.device_put(x), jax.device_put(y.astype(np.int32))

        def run_step():
            state[0], loss = step(state[0], xj, yj)
            return loss.block_until_ready()
        return first_state_then(run_step, lambda: [np.asarray(p) for p in state[0]], jax_extra)()
    ctx.bench(WORKLOAD, "jax-jit", make_jax, check, extra=jax_extra)
