"""W3: one compiled training step. MLP 784-512-512-10, ReLU, softmax cross-entropy on integer
labels (mean over the batch), batch 256, Adam lr 1e-3, float32; one step = forward + backward +
update, ms per step.

Every implementation starts from the same Glorot-uniform weights and the same batch; after ONE
step its loss and updated weights are compared with the hand-written NumPy step. Adam is Keras 3's
(epsilon 1e-7 added to sqrt(v), the bias correction folded into the learning rate); PyTorch's
torch.optim.Adam adds epsilon to sqrt(v̂) instead, so it is checked against the NumPy step with
that one difference.
"""
from __future__ import annotations

import time

import numpy as np

from harness import Skip, assert_all_close, assert_close

WORKLOAD = "W3"
TITLE = "MLP 784-512-512-10 train step (fwd + bwd + Adam), batch 256, float32, ms per step"
SIZES = (784, 512, 512, 10)
BATCH = 256
LR, BETA_1, BETA_2, EPSILON = 1e-3, 0.9, 0.999, 1e-7
LOSS_RTOL = 1e-4
# Updated weights: rtol 1e-4 plus an absolute slack that is a small part of one Adam step (lr).
# Where a gradient is ~1e-8 its float32 rounding noise (~1e-9) is amplified by m / (sqrt(v) + eps):
# by up to lr/eps_hat ~ 300 with Keras' eps placement, but lr/eps = 1e4 with PyTorch's, hence the
# larger slack for PyTorch. Any real error (wrong gradient, bias correction, formula) moves the
# weights by ~lr.
W_RTOL, W_ATOL, W_ATOL_TORCH = 1e-4, 1e-2 * LR, 1e-1 * LR


def initial_weights(seed=0):
    """[W1, b1, W2, b2, W3, b3], W (fan_in, fan_out) Glorot uniform, b zeros; float32."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    return params


def batch(size, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((size, SIZES[0]), dtype=np.float32), rng.integers(0, SIZES[-1], size).astype(np.int64)


class HandWritten:
    """Forward, backward and Adam by hand, in place (``xp`` = numpy, or cupy on the GPU)."""

    def __init__(self, params, xp=np, torch_epsilon=False):
        self.xp = xp
        self.params = [xp.array(p) for p in params]
        self.m = [xp.zeros_like(p) for p in self.params]
        self.v = [xp.zeros_like(p) for p in self.params]
        self.t = 0
        self.torch_epsilon = torch_epsilon

    def step(self, x, y):
        xp = self.xp
        W1, b1, W2, b2, W3, b3 = self.params
        n = x.shape[0]
        z1 = x @ W1 + b1
        h1 = xp.maximum(z1, 0)
        z2 = h1 @ W2 + b2
        h2 = xp.maximum(z2, 0)
        logits = h2 @ W3 + b3
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = xp.arange(n)
        loss = (xp.log(s[:, 0]) - shifted[rows, y]).mean()
        d3 = e / s                                    # softmax; d loss / d logits = (p - onehot) / n
        d3[rows, y] -= 1
        d3 /= n
        d2 = (d3 @ W3.T) * (z2 > 0)
        d1 = (d2 @ W2.T) * (z1 > 0)
        grads = [x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]
        self.t += 1
        t = self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (g - m) * np.float32(1 - BETA_1)
            v += (g * g - v) * np.float32(1 - BETA_2)
            if self.torch_epsilon:       # torch.optim.Adam: lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
                denom = xp.sqrt(v) / np.float32(np.sqrt(1 - BETA_2 ** t)) + np.float32(EPSILON)
                p -= np.float32(LR / (1 - BETA_1 ** t)) * m / denom
            else:                        # Keras 3: lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)
                alpha = np.float32(LR * np.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t))
                p -= alpha * m / (xp.sqrt(v) + np.float32(EPSILON))
        return loss


def run(ctx):
    n = ctx.scaled(BATCH, minimum=8)
    params0 = initial_weights()
    x, y = batch(n)
    ref = HandWritten(params0)
    ref_loss = ref.step(x, y)
    ref_params = [p.copy() for p in ref.params]
    torch_ref = HandWritten(params0, torch_epsilon=True)
    torch_ref_loss = torch_ref.step(x, y)
    extra_size = {"batch": n} if n != BATCH else {}
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]

    def checker(want_loss, want_params, atol=W_ATOL):
        def check(state):
            loss, params = state
            note = assert_close(np.asarray(loss, np.float32), np.asarray(want_loss, np.float32),
                                LOSS_RTOL, 0, what="loss after one step")
            return "loss_" + note + ",weights_" + assert_all_close(
                [np.asarray(p) for p in params], want_params, W_RTOL, atol, names=names)
        return check
    check = checker(ref_loss, ref_params)
    check_torch = checker(torch_ref_loss, torch_ref.params, W_ATOL_TORCH)

    def one_step_then_time(step, read):
        """``step()`` runs one step; the first call's (loss, weights) go to the check."""
        def build():
            loss = step()
            state = (loss, read())
            first = [True]

            def timed():
                if first[0]:          # hand the checked state over on the first call
                    first[0] = False
                    return state
                return step()
            return timed
        return build

    if ctx.backend == "cupy":
        return run_gpu(ctx, params0, x, y, check, one_step_then_time, extra_size)

    def make_numpy():
        model = HandWritten(params0)
        return one_step_then_time(lambda: model.step(x, y), lambda: model.params)()
    ctx.bench(WORKLOAD, "numpy-by-hand", make_numpy, check, reference=True, extra=dict(extra_size))

    graphc_extra = {}

    def make_graphc(backend="numpy"):
        start = time.perf_counter()
        step = graphc_step(params0, n, backend=backend)
        loss = step.fn(x, y)
        graphc_extra["first_result_s"] = time.perf_counter() - start
        state = (loss, [v.value for v in step.params])
        first = [True]

        def timed():
            if first[0]:
                first[0] = False
                return state
            return step.fn(x, y)
        return timed
    ctx.bench(WORKLOAD, "graphc-numpy", make_graphc, check, extra=graphc_extra)
    c_extra = {}

    def make_graphc_c():
        made = make_graphc("c")
        c_extra.update(graphc_extra)
        return made
    ctx.bench(WORKLOAD, "graphc-c", make_graphc_c, check, extra=c_extra)
    run_model_api(ctx, params0, x, y, check, one_step_then_time)

    def make_torch(compiled):
        def build():
            torch = ctx.peer("torch")
            if compiled and ctx.quick:
                raise Skip("--quick skips torch.compile")
            model = torch_model(torch, params0)
            opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA_1, BETA_2), eps=EPSILON)
            forward = model
            if compiled:
                try:
                    forward = torch.compile(model)
                except Exception as exc:
                    raise Skip(f"torch.compile does not work here: {type(exc).__name__}: {exc}") from exc
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            loss_fn = torch.nn.functional.cross_entropy

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(forward(xt), yt)
                loss.backward()
                opt.step()
                return loss.detach()

            def read():
                out = []
                for layer in (model[0], model[2], model[4]):
                    out += [layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy()]
                return out
            start = time.perf_counter()
            try:
                timed = one_step_then_time(step, read)()
            except Exception as exc:
                if compiled:
                    raise Skip(f"torch.compile does not work here: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
                raise
            if compiled:
                compile_extra["compile_s"] = time.perf_counter() - start
            return timed
        return build
    compile_extra = {}
    ctx.bench(WORKLOAD, "torch-eager", make_torch(False), check_torch)
    ctx.bench(WORKLOAD, "torch-compile", make_torch(True), check_torch, extra=compile_extra)

    jax_extra = {}

    def make_jax():
        jax = ctx.peer("jax")
        start = time.perf_counter()
        step = jax_step(jax)
        state = [[jax.device_put(p) for p in params0]]
        state.append([jax.numpy.zeros_like(p) for p in state[0]])
        state.append([jax.numpy.zeros_like(p) for p in state[0]])
        state.append(jax.numpy.zeros((), jax.numpy.float32))
        xj, yj = jax.device_put(x), jax.device_put(y.astype(np.int32))

        def run_step():
            params, m, v, t, loss = step(*state, xj, yj)
            state[:] = [params, m, v, t]
            return loss.block_until_ready()
        loss = run_step()
        jax_extra["first_result_s"] = time.perf_counter() - start
        checked = (loss, [np.asarray(p) for p in state[0]])
        first = [True]

        def timed():
            if first[0]:
                first[0] = False
                return checked
            return run_step()
        return timed
    ctx.bench(WORKLOAD, "jax-jit", make_jax, check, extra=jax_extra)

    def make_pytensor(linker):
        def build():
            ctx.peer("pytensor")
            fn, shared = pytensor_step(params0, linker)
            return one_step_then_time(lambda: fn(x, y), lambda: [s.get_value() for s in shared])()
        return build
    ctx.bench(WORKLOAD, "pytensor", make_pytensor(None), check)
    ctx.bench(WORKLOAD, "pytensor-c", make_pytensor("cvm"), check)


# -- graphc, through the raw graph API -----------------------------------------------------------------

class GraphcStep:
    def __init__(self, fn, params):
        self.fn = fn
        self.params = params


def graphc_step(params0, n, backend="numpy"):
    """Placeholders, variables, gc.grad and Keras-3 Adam written as graph expressions: one
    gc.function whose updates apply the step."""
    import graphc as gc
    x = gc.placeholder((n, SIZES[0]), "float32", name="x")
    y = gc.placeholder((n,), "int64", name="y")
    params = [gc.variable(p, name=name) for p, name in zip(params0, ["W1", "b1", "W2", "b2", "W3", "b3"])]
    W1, b1, W2, b2, W3, b3 = params
    h1 = gc.relu(x @ W1 + b1)
    h2 = gc.relu(h1 @ W2 + b2)
    logits = h2 @ W3 + b3
    loss = -gc.reduce_mean(gc.reduce_sum(gc.one_hot(y, SIZES[-1]) * gc.nn.log_softmax(logits), axis=1))
    grads = gc.grad(loss, params)

    t = gc.variable(np.zeros((), np.float32), name="adam_t")
    t_next = t + 1
    alpha = LR * gc.sqrt(1 - BETA_2 ** t_next) / (1 - BETA_1 ** t_next)
    updates = [(t, t_next)]
    for p, g in zip(params, grads):
        m = gc.variable(np.zeros(p.shape, np.float32), name=f"m_{p.name}")
        v = gc.variable(np.zeros(p.shape, np.float32), name=f"v_{p.name}")
        m_next = m + (g - m) * (1 - BETA_1)
        v_next = v + (g * g - v) * (1 - BETA_2)
        updates += [(m, m_next), (v, v_next), (p, p - alpha * m_next / (gc.sqrt(v_next) + EPSILON))]
    fn = gc.function([x, y], loss, updates=updates, backend=backend)
    return GraphcStep(fn, params)


# -- peers -------------------------------------------------------------------------------------------------

def torch_model(torch, params0):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                          nn.Linear(SIZES[2], SIZES[3]))
    with torch.no_grad():
        for layer, (W, b) in zip((model[0], model[2], model[4]), zip(params0[::2], params0[1::2])):
            layer.weight.copy_(torch.from_numpy(W.T.copy()))
            layer.bias.copy_(torch.from_numpy(b))
    return model


def jax_step(jax):
    """jax.jit of value_and_grad + Keras-3 Adam written in jax.numpy."""
    jnp = jax.numpy

    def loss_fn(params, x, y):
        W1, b1, W2, b2, W3, b3 = params
        h1 = jax.nn.relu(x @ W1 + b1)
        h2 = jax.nn.relu(h1 @ W2 + b2)
        logits = h2 @ W3 + b3
        lsm = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(lsm, y[:, None], axis=1))

    @jax.jit
    def step(params, m, v, t, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        alpha = LR * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
        m = [mi + (g - mi) * (1 - BETA_1) for mi, g in zip(m, grads)]
        v = [vi + (g * g - vi) * (1 - BETA_2) for vi, g in zip(v, grads)]
        params = [p - alpha * mi / (jnp.sqrt(vi) + EPSILON) for p, mi, vi in zip(params, m, v)]
        return params, m, v, t, loss
    return step


def pytensor_step(params0, linker=None):
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode
    from pytensor.tensor.special import log_softmax
    f32 = np.float32
    x = pt.matrix("x", dtype="float32")
    y = pt.vector("y", dtype="int64")
    shared = [pytensor.shared(p.copy(), name=name) for p, name in zip(params0, ["W1", "b1", "W2", "b2", "W3", "b3"])]
    W1, b1, W2, b2, W3, b3 = shared
    h1 = pt.maximum(x @ W1 + b1, f32(0))
    h2 = pt.maximum(h1 @ W2 + b2, f32(0))
    logits = h2 @ W3 + b3
    loss = -pt.mean(log_softmax(logits, axis=-1)[pt.arange(y.shape[0]), y])
    grads = pytensor.grad(loss, shared)
    t = pytensor.shared(f32(0), name="t")
    t_next = t + f32(1)
    alpha = f32(LR) * pt.sqrt(f32(1) - f32(BETA_2) ** t_next) / (f32(1) - f32(BETA_1) ** t_next)
    updates = [(t, t_next)]
    for p, g in zip(shared, grads):
        m = pytensor.shared(np.zeros_like(p.get_value()))
        v = pytensor.shared(np.zeros_like(p.get_value()))
        m_next = m + (g - m) * f32(1 - BETA_1)
        v_next = v + (g * g - v) * f32(1 - BETA_2)
        updates += [(m, m_next), (v, v_next), (p, p - alpha * m_next / (pt.sqrt(v_next) + f32(EPSILON)))]
    mode = Mode(linker=linker, optimizer="fast_run") if linker else None
    fn = pytensor.function([x, y], loss, updates=updates, mode=mode)
    fn.trust_input = True
    return fn, shared


def run_gpu(ctx, params0, x, y, check, one_step_then_time, extra_size):
    """--backend cupy: hand-written CuPy step (reference), graphc on CuPy, PyTorch CUDA."""
    cp = ctx.xp
    xd, yd = cp.asarray(x), cp.asarray(y)

    def make_cupy():
        model = HandWritten(params0, xp=cp)
        return one_step_then_time(lambda: model.step(xd, yd), lambda: [p.get() for p in model.params])()
    ctx.bench(WORKLOAD, "cupy-by-hand", make_cupy, lambda s: check((ctx.to_host(s[0]), s[1])),
              reference=True, extra=dict(extra_size))

    def make_graphc():
        step = graphc_step(params0, x.shape[0], backend="cupy")
        return one_step_then_time(lambda: step.fn(xd, yd),
                                  lambda: [ctx.to_host(v.value) for v in step.params])()
    ctx.bench(WORKLOAD, "graphc-cupy", make_graphc, lambda s: check((ctx.to_host(s[0]), s[1])))


# -- graphc, through the Keras-style model API -------------------------------------------------------------

def run_model_api(ctx, params0, x, y, check, one_step_then_time):
    """The same step through gc.models: Sequential([Dense(512, relu), Dense(512, relu), Dense(10)]),
    sparse categorical cross-entropy from logits, Adam(1e-3, epsilon=1e-7), started from params0
    (set_weights). graphc-model-step calls model.train_function (the compiled gc.Function; inputs
    x, y, sample_weight) directly; graphc-model-fit runs model.fit(x, y, batch_size=len(x),
    epochs=1, verbose=0) on the one batch: the step plus what fit does around it (input checks,
    shuffle, callbacks, History). Checked like graphc-numpy: loss and weights after one step."""
    import graphc as gc
    n = x.shape[0]
    sample_weight = np.ones(n, np.float32)

    def make_model():
        L = gc.layers
        model = gc.models.Sequential([L.Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],)),
                                      L.Dense(SIZES[2], activation="relu"), L.Dense(SIZES[3])])
        model.compile(optimizer=gc.optimizers.Adam(LR, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON),
                      loss=gc.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.set_weights(params0)
        return model

    def build(step_of, extra):
        def make():
            model = make_model()
            start = time.perf_counter()
            timed = one_step_then_time(step_of(model), model.get_weights)()
            extra["first_result_s"] = time.perf_counter() - start
            return timed
        return make
    step_extra, fit_extra = {}, {}
    ctx.bench(WORKLOAD, "graphc-model-step",
              build(lambda m: lambda: m.train_function(x, y, sample_weight)[0], step_extra), check,
              extra=step_extra)
    ctx.bench(WORKLOAD, "graphc-model-fit",
              build(lambda m: lambda: m.fit(x, y, batch_size=n, epochs=1, verbose=0).history["loss"][0],
                    fit_extra), check, extra=fit_extra)
