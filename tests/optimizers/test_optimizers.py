"""gc.optimizers: each update rule, run as one compiled graph per step, against an independent
NumPy re-implementation of its published formula (Keras 3; PyTorch for Rprop)."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc import optimizers
from graphc.optimizers import schedules

# The test problem: f(w) = 0.5 * sum(a * (w - c)^2) + 0.1 * sum(v^3 / 3), two parameters of
# different shapes; gradients a * (w - c) and 0.1 * v^2 (the cube keeps it non-quadratic).
A = np.array([[1.0, 4.0, 0.5], [2.0, 0.25, 3.0]])
C = np.array([[0.3, -1.0, 2.0], [0.0, 0.7, -0.4]])
W0 = np.array([[1.0, 0.5, -1.0], [2.0, 0.1, 0.2]])
V0 = np.array([0.5, -1.5])


def grads(w, v):
    return A * (w - C), 0.1 * v ** 2


def problem(dtype="float64"):
    w = gc.variable(W0.astype(dtype), name="w")
    v = gc.variable(V0.astype(dtype), name="v")
    loss = 0.5 * gc.reduce_sum(gc.constant(A.astype(dtype)) * gc.square(w - gc.constant(C.astype(dtype)))) \
        + 0.1 * gc.reduce_sum(v * v * v) / 3.0
    return loss, [w, v]


def run_steps(opt, steps, dtype="float64"):
    """Compile one training step and run it ``steps`` times; returns the trajectory of (w, v)."""
    loss, params = problem(dtype)
    step = gc.function([], loss, updates=opt.get_updates(loss, params))
    path = []
    for _ in range(steps):
        step()
        path.append([p.value.copy() for p in params])
    return path


def reference_steps(update, state_init, steps, lr_at=None):
    """The same trajectory from a NumPy ``update(params, grads, state, t) -> params, state``."""
    params = [W0.copy(), V0.copy()]
    states = [state_init(p) for p in params]
    path = []
    for t in range(steps):
        gs = grads(*params)
        new = [update(p, g, s, t) for p, g, s in zip(params, gs, states)]
        params = [n[0] for n in new]
        states = [n[1] for n in new]
        path.append([p.copy() for p in params])
    return path


def assert_same_path(ours, ref, rtol=1e-12, atol=1e-14):
    assert len(ours) == len(ref)
    for step, (a, b) in enumerate(zip(ours, ref)):
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"after step {step + 1}")


# -- SGD ---------------------------------------------------------------------------------------------

def test_sgd_plain():
    lr = 0.1
    ref = reference_steps(lambda p, g, s, t: (p - lr * g, s), lambda p: None, 4)
    assert_same_path(run_steps(optimizers.SGD(lr), 4), ref)


def test_sgd_momentum_keras_formula():
    lr, m = 0.1, 0.9

    def update(p, g, vel, t):
        vel = m * vel - lr * g          # Keras: v = m v - lr g
        return p + vel, vel             # w = w + v

    ref = reference_steps(update, np.zeros_like, 5)
    assert_same_path(run_steps(optimizers.SGD(lr, momentum=m), 5), ref)


def test_sgd_nesterov_keras_formula():
    lr, m = 0.05, 0.8

    def update(p, g, vel, t):
        vel = m * vel - lr * g
        return p + m * vel - lr * g, vel   # Keras nesterov: w = w + m v_new - lr g

    ref = reference_steps(update, np.zeros_like, 5)
    assert_same_path(run_steps(optimizers.SGD(lr, momentum=m, nesterov=True), 5), ref)


def test_sgd_momentum_by_hand():
    # one weight, loss w^2 (g = 2w), lr 0.1, momentum 0.5, w0 = 1:
    # v1 = -0.2, w1 = 0.8; v2 = 0.5 * -0.2 - 0.1 * 1.6 = -0.26, w2 = 0.54
    w = gc.variable(np.array(1.0), name="w")
    loss = gc.square(w)
    opt = optimizers.SGD(0.1, momentum=0.5)
    step = gc.function([], loss, updates=opt.get_updates(loss, [w]))
    step()
    assert w.value == pytest.approx(0.8)
    step()
    assert w.value == pytest.approx(0.54)
    assert opt.variables()[1].value == pytest.approx(-0.26)


# -- adaptive methods --------------------------------------------------------------------------------

def test_adagrad_keras_formula():
    lr, init, eps = 0.3, 0.1, 1e-7

    def update(p, g, acc, t):
        acc = acc + g * g
        return p - lr * g / np.sqrt(acc + eps), acc

    ref = reference_steps(update, lambda p: np.full_like(p, init), 5)
    assert_same_path(run_steps(optimizers.Adagrad(lr), 5), ref)


@pytest.mark.parametrize("momentum,centered", [(0.0, False), (0.6, False), (0.0, True), (0.6, True)])
def test_rmsprop_keras_formula(momentum, centered):
    lr, rho, eps = 0.01, 0.9, 1e-7

    def update(p, g, state, t):
        s, mom, avg = state
        s = rho * s + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            inc = lr * g / np.sqrt(s - avg * avg + eps)
        else:
            inc = lr * g / np.sqrt(s + eps)
        if momentum > 0:
            mom = momentum * mom + inc
            return p - mom, (s, mom, avg)
        return p - inc, (s, mom, avg)

    ref = reference_steps(update, lambda p: (np.zeros_like(p),) * 3, 5)
    assert_same_path(run_steps(optimizers.RMSprop(lr, momentum=momentum, centered=centered), 5), ref,
                     rtol=1e-10)


def test_adadelta_keras_formula():
    lr, rho, eps = 1.0, 0.95, 1e-7

    def update(p, g, state, t):
        acc_g, acc_d = state
        acc_g = rho * acc_g + (1 - rho) * g * g
        delta = -np.sqrt(acc_d + eps) / np.sqrt(acc_g + eps) * g
        acc_d = rho * acc_d + (1 - rho) * delta * delta
        return p + lr * delta, (acc_g, acc_d)

    ref = reference_steps(update, lambda p: (np.zeros_like(p), np.zeros_like(p)), 5)
    assert_same_path(run_steps(optimizers.Adadelta(lr), 5), ref)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_keras_bias_corrected_formula(amsgrad):
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-7

    def update(p, g, state, t):
        m, v, vhat = state
        k = t + 1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vhat = np.maximum(vhat, v)
        alpha = lr * math.sqrt(1 - b2 ** k) / (1 - b1 ** k)
        return p - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps), (m, v, vhat)

    ref = reference_steps(update, lambda p: (np.zeros_like(p),) * 3, 6)
    assert_same_path(run_steps(optimizers.Adam(lr, amsgrad=amsgrad), 6), ref, rtol=1e-11)


def test_adam_in_float32_tracks_the_float64_reference():
    ref = run_steps(optimizers.Adam(0.1), 6)
    ours = run_steps(optimizers.Adam(0.1), 6, dtype="float32")
    assert ours[-1][0].dtype == np.float32
    assert_same_path(ours, ref, rtol=1e-5, atol=1e-5)


def test_adam_first_step_moves_each_weight_by_about_lr():
    # with bias correction, step 1 is lr * g / (|g| + eps'): every weight moves by ~lr
    path = run_steps(optimizers.Adam(0.01), 1)
    np.testing.assert_allclose(np.abs(path[0][0] - W0), 0.01, rtol=1e-4)


# -- Rprop ---------------------------------------------------------------------------------------------

def np_rprop(lr, etas=(0.5, 1.2), step_sizes=(1e-6, 50), seen=None):
    """torch.optim.Rprop's single-tensor loop, transcribed; ``seen`` counts the branches."""
    eta_minus, eta_plus = etas
    lo, hi = step_sizes
    seen = {} if seen is None else seen

    def update(p, g, state, t):
        prev, step = state
        sign = np.sign(g * prev)
        factor = np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, 1.0))
        for branch, mask in (("grow", sign > 0), ("shrink", sign < 0), ("restart", (sign == 0) & (t > 0))):
            seen[branch] = seen.get(branch, 0) + int(mask.sum())
        step = np.clip(step * factor, lo, hi)
        g = np.where(factor == eta_minus, 0.0, g)
        return p - np.sign(g) * step, (g.copy(), step)

    return update, (lambda p: (np.zeros_like(p), np.full_like(p, lr)))


def test_rprop_pytorch_semantics():
    lr = 0.2
    seen = {}
    update, init = np_rprop(lr, seen=seen)
    ref = reference_steps(update, init, 8)
    # the trajectory exercises growth, sign flips (shrink + skipped move) and the restarts after
    assert seen["grow"] and seen["shrink"] and seen["restart"]
    assert_same_path(run_steps(optimizers.Rprop(lr), 8), ref)


def test_rprop_clamps_step_sizes():
    update, init = np_rprop(0.3, step_sizes=(0.05, 0.32))
    ref = reference_steps(update, init, 6)
    assert_same_path(run_steps(optimizers.Rprop(0.3, step_sizes=(0.05, 0.32)), 6), ref)


def test_rprop_by_hand():
    # loss 3w (g = 3 always), lr 0.1: steps 0.12, 0.144, ... (x1.2 each time, first step too)
    w = gc.variable(np.array(1.0), name="w")
    opt = optimizers.Rprop(0.1)
    step = gc.function([], 3.0 * w, updates=opt.get_updates(3.0 * w, [w]))
    step()
    assert w.value == pytest.approx(1.0 - 0.1)  # prev grad 0: factor 1
    step()
    assert w.value == pytest.approx(1.0 - 0.1 - 0.12)
    step()
    assert w.value == pytest.approx(1.0 - 0.1 - 0.12 - 0.144)


def test_rprop_initial_step_is_the_learning_rate_at_the_first_update():
    # PyTorch sets the step sizes lazily at the first step: a rate changed after compiling counts
    w = gc.variable(np.array([1.0, -1.0]), name="w")
    loss = gc.reduce_sum(w)
    opt = optimizers.Rprop(0.1)
    step = gc.function([], loss, updates=opt.get_updates(loss, [w]))
    opt.learning_rate = 0.25
    step()
    np.testing.assert_allclose(w.value, [0.75, -1.25])


# -- shared machinery ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(0.1, momentum=0.9), lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.RMSprop(0.01), lambda: optimizers.Adadelta(1.0), lambda: optimizers.Adam(0.01),
    lambda: optimizers.Rprop(0.01),
], ids=["sgd", "adagrad", "rmsprop", "adadelta", "adam", "rprop"])
def test_updates_cover_params_slots_and_iterations(make):
    opt = make()
    loss, params = problem("float32")
    updates = opt.get_updates(loss, params)
    updated = [var for var, _ in updates]
    assert set(updated) == set(params) | set(opt.variables())
    assert opt.variables()[0] is opt.iterations
    assert opt.iterations.dtype == np.int64 and opt.iterations.shape == ()
    for var, value in updates:
        assert value.shape == var.shape
    for slot in opt.variables()[1:]:
        assert slot.dtype == np.float32 and not slot.trainable
    step = gc.function([], loss, updates=updates)
    for _ in range(3):
        step()
    assert int(opt.iterations.value) == 3
    assert all(p.value.dtype == np.float32 for p in params)


def test_slots_are_created_once_per_param_and_in_a_stable_order():
    opt = optimizers.Adam()
    loss, params = problem()
    opt.get_updates(loss, params)
    first = opt.variables()
    assert [v.name for v in first] == ["adam/iterations", "adam/w/m", "adam/w/v", "adam/v/m", "adam/v/v"]
    opt.get_updates(loss, params)  # recompiling reuses the same state
    assert opt.variables() == first


def test_build_creates_slots_eagerly_for_restoring_state():
    opt = optimizers.RMSprop(momentum=0.5)
    _, params = problem()
    opt.build(params)
    assert len(opt.variables()) == 1 + 2 * len(params)
    assert all(np.all(v.value == 0) for v in opt.variables())
    adagrad = optimizers.Adagrad(initial_accumulator_value=0.25)
    adagrad.build(params)
    np.testing.assert_array_equal(adagrad.variables()[1].value, np.full(W0.shape, 0.25))


def test_learning_rate_setter_takes_effect_without_recompiling():
    w = gc.variable(np.array(1.0), name="w")
    loss = gc.square(w)
    opt = optimizers.SGD(0.1)
    step = gc.function([], loss, updates=opt.get_updates(loss, [w]))
    step()
    assert w.value == pytest.approx(0.8)
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25 and float(opt.learning_rate_variable.value) == 0.25
    step()
    assert w.value == pytest.approx(0.8 - 0.25 * 1.6)
    assert len(step._cache) == 1


def test_cannot_switch_between_constant_and_schedule_after_building():
    opt = optimizers.SGD(0.1)
    opt.learning_rate = schedules.TimeDecay(0.1, 0.5)  # allowed: nothing built yet
    loss, params = problem()
    opt.get_updates(loss, params)
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate = 0.3
    with pytest.raises(ValueError, match="> 0"):
        optimizers.Adam(-1.0)


def test_schedule_is_evaluated_in_graph_on_the_iteration_count():
    # SGD on loss w^2 with TimeDecay(0.1, 1.0): lr_t = 0.1 / (1 + t), t = 0, 1, 2
    w = gc.variable(np.array(1.0), name="w")
    loss = gc.square(w)
    opt = optimizers.SGD(schedules.TimeDecay(0.1, 1.0))
    step = gc.function([], loss, updates=opt.get_updates(loss, [w]))
    expected = 1.0
    for t in range(3):
        assert opt.learning_rate == pytest.approx(0.1 / (1 + t))
        step()
        expected -= 0.1 / (1 + t) * 2 * expected
        assert w.value == pytest.approx(expected, rel=1e-12)


def test_params_must_be_float_variables():
    opt = optimizers.SGD()
    x = gc.placeholder((), "float32", name="x")
    with pytest.raises(gc.GraphError, match="variables"):
        opt.get_updates(x * 2.0, [x])
    k = gc.variable(np.int64(3), name="k")
    with pytest.raises(gc.DTypeError, match="float"):
        opt.build([k])


# -- schedules -------------------------------------------------------------------------------------------

def _graph_value(schedule, t):
    step = gc.placeholder((), "int64", name="t")
    return float(gc.function([step], schedule(step))(np.int64(t)))


@pytest.mark.parametrize("t", [0, 1, 2, 5, 10, 99])
def test_time_decay_closed_form(t):
    s = schedules.TimeDecay(0.5, 0.1)
    assert s(t) == pytest.approx(0.5 / (1 + 0.1 * t), rel=1e-15)
    assert _graph_value(s, t) == pytest.approx(0.5 / (1 + 0.1 * t), rel=1e-12)


@pytest.mark.parametrize("t", [0, 1, 2, 3, 4, 5, 9, 10, 11])
def test_step_decay_closed_form(t):
    s = schedules.StepDecay(0.1, 0.5, 3)
    expected = 0.1 * 0.5 ** math.floor((1 + t) / 3)
    assert s(t) == pytest.approx(expected, rel=1e-15)
    assert _graph_value(s, t) == pytest.approx(expected, rel=1e-12)


def test_step_decay_drops_at_the_documented_steps():
    s = schedules.StepDecay(1.0, 0.1, 2)
    assert [round(s(t), 12) for t in range(6)] == [1.0, 0.1, 0.1, 0.01, 0.01, 0.001]


@pytest.mark.parametrize("t", [0, 1, 7, 30])
def test_exponential_decay_closed_form(t):
    s = schedules.ExponentialDecay(0.2, 0.05)
    assert s(t) == pytest.approx(0.2 * math.exp(-0.05 * t), rel=1e-15)
    assert _graph_value(s, t) == pytest.approx(0.2 * math.exp(-0.05 * t), rel=1e-12)


def test_schedules_return_floats_for_ints_and_tensors_for_tensors():
    s = schedules.ExponentialDecay(0.2, 0.05)
    assert isinstance(s(3), float)
    assert isinstance(s(gc.placeholder((), "int64")), gc.Tensor)
    with pytest.raises(TypeError):
        s("3")


# -- configuration -------------------------------------------------------------------------------------

def test_keras_3_defaults():
    assert optimizers.SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0,
                                             "nesterov": False}
    assert optimizers.Adam().get_config() == {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9,
                                              "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    assert optimizers.Adagrad().get_config()["initial_accumulator_value"] == 0.1
    rms = optimizers.RMSprop().get_config()
    assert (rms["learning_rate"], rms["rho"], rms["momentum"], rms["epsilon"]) == (0.001, 0.9, 0.0, 1e-7)
    ada = optimizers.Adadelta().get_config()
    assert (ada["learning_rate"], ada["rho"], ada["epsilon"]) == (0.001, 0.95, 1e-7)
    rp = optimizers.Rprop().get_config()
    assert (rp["learning_rate"], rp["etas"], rp["step_sizes"]) == (0.01, [0.5, 1.2], [1e-6, 50.0])


@pytest.mark.parametrize("name,cls", [("sgd", optimizers.SGD), ("adagrad", optimizers.Adagrad),
                                      ("rmsprop", optimizers.RMSprop), ("adadelta", optimizers.Adadelta),
                                      ("adam", optimizers.Adam), ("rprop", optimizers.Rprop),
                                      ("Adam", optimizers.Adam)])
def test_get_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


def test_get_passes_instances_and_rejects_unknown_names():
    opt = optimizers.Adam(0.1)
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'.*rprop"):
        optimizers.get("adamw")


@pytest.mark.parametrize("opt", [
    optimizers.SGD(0.05, momentum=0.9, nesterov=True), optimizers.Adam(0.002, beta_1=0.8),
    optimizers.RMSprop(momentum=0.3, centered=True), optimizers.Adagrad(0.2), optimizers.Adadelta(rho=0.9),
    optimizers.Rprop(0.1, etas=(0.4, 1.5)), optimizers.Adam(schedules.StepDecay(0.1, 0.5, 10)),
    optimizers.SGD(schedules.TimeDecay(0.1, 0.01)), optimizers.SGD(schedules.ExponentialDecay(0.1, 0.01)),
], ids=lambda o: repr(o))
def test_config_round_trip(opt):
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    bare = optimizers.deserialize(opt.get_config())
    assert bare.get_config() == opt.get_config()


def test_config_records_the_current_learning_rate():
    opt = optimizers.SGD(0.1)
    opt.learning_rate = 0.02
    assert optimizers.deserialize(optimizers.serialize(opt)).learning_rate == pytest.approx(0.02)


# -- Keras 3's shared options: clipping and decoupled weight decay ------------------------------

_W0 = np.array([[1.0, -2.0], [0.5, 3.0]])
_C = np.array([[3.0, -4.0], [12.0, 0.5]])
_B0 = np.array([0.3, -0.7])
_CB = np.array([5.0, 1.0])


def _one_step(opt):
    """One step on loss = sum(w * C) + sum(b * CB): the gradients are the constants C, CB."""
    w, b = gc.variable(_W0.copy(), name="w"), gc.variable(_B0.copy(), name="b")
    loss = gc.reduce_sum(w * _C) + gc.reduce_sum(b * _CB)
    gc.function([], loss, updates=opt.get_updates(loss, [w, b]))()
    return w.value, b.value


def test_clipvalue_clips_each_gradient_element():
    w, b = _one_step(gc.optimizers.SGD(0.1, clipvalue=2.0))
    np.testing.assert_allclose(w, _W0 - 0.1 * np.clip(_C, -2, 2))
    np.testing.assert_allclose(b, _B0 - 0.1 * np.clip(_CB, -2, 2))


def test_clipnorm_rescales_each_gradient_to_at_most_that_norm():
    w, b = _one_step(gc.optimizers.SGD(0.1, clipnorm=1.0))
    np.testing.assert_allclose(w, _W0 - 0.1 * _C / np.linalg.norm(_C))
    np.testing.assert_allclose(b, _B0 - 0.1 * _CB / np.linalg.norm(_CB))
    w, _ = _one_step(gc.optimizers.SGD(0.1, clipnorm=100.0))  # under the limit: unchanged
    np.testing.assert_allclose(w, _W0 - 0.1 * _C)


def test_global_clipnorm_scales_all_gradients_by_their_joint_norm():
    total = np.sqrt((_C ** 2).sum() + (_CB ** 2).sum())
    w, b = _one_step(gc.optimizers.SGD(0.1, global_clipnorm=3.0))
    np.testing.assert_allclose(w, _W0 - 0.1 * _C * 3.0 / total)
    np.testing.assert_allclose(b, _B0 - 0.1 * _CB * 3.0 / total)


def test_weight_decay_is_decoupled_as_keras_adamw():
    w, _ = _one_step(gc.optimizers.SGD(0.1, weight_decay=0.5))
    np.testing.assert_allclose(w, (_W0 - _W0 * 0.1 * 0.5) - 0.1 * _C)
    w, _ = _one_step(gc.optimizers.Adam(0.1, weight_decay=0.5))
    # first Adam step: alpha = lr sqrt(1 - b2) / (1 - b1), m = (1 - b1) g, v = (1 - b2) g^2
    alpha = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9)
    step = alpha * (0.1 * _C) / (np.sqrt(0.001 * _C ** 2) + 1e-7)
    np.testing.assert_allclose(w, (_W0 - _W0 * 0.1 * 0.5) - step, rtol=1e-12)


def test_clipping_options_are_checked_and_kept_in_the_config():
    with pytest.raises(ValueError, match="clipnorm or global_clipnorm"):
        gc.optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="clipvalue must be > 0"):
        gc.optimizers.SGD(clipvalue=-1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        gc.optimizers.SGD(clip_norm=1.0)
    opt = gc.optimizers.RMSprop(0.01, clipnorm=2.0, weight_decay=0.01)
    config = opt.get_config()
    assert config["clipnorm"] == 2.0 and config["weight_decay"] == 0.01 and "clipvalue" not in config
    again = gc.optimizers.RMSprop.from_config(config)
    assert again.clipnorm == 2.0 and again.weight_decay == 0.01
