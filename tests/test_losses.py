"""gc.losses: each loss against its NumPy formula, stability, gradients, lookup and configs."""
from decimal import Decimal, localcontext

import numpy as np
import pytest

import graphc as gc
from graphc import losses

EPS = 1e-7
RNG = np.random.default_rng(0)


def run(loss, y_true, y_pred, sample_weight=None, per_sample=False):
    """Evaluate a loss on arrays through a compiled graph (placeholders with unknown batch)."""
    t = gc.placeholder((None,) + np.shape(y_true)[1:], np.asarray(y_true).dtype, name="y_true")
    p = gc.placeholder((None,) + np.shape(y_pred)[1:], np.asarray(y_pred).dtype, name="y_pred")
    inputs, values = [t, p], [y_true, y_pred]
    if per_sample:
        out = loss.call(t, p)
    elif sample_weight is not None:
        w = gc.placeholder((None,) + np.shape(sample_weight)[1:], "float64", name="w")
        inputs.append(w)
        values.append(sample_weight)
        out = loss(t, p, sample_weight=w)
    else:
        out = loss(t, p)
    return gc.function(inputs, out)(*values)


# -- NumPy references, written from the formulas ------------------------------------------------

def np_bce(y, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def np_bce_logits(y, z):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def np_log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


# -- regression -------------------------------------------------------------------------------------

def test_mse_and_mae_average_over_features_then_batch():
    y = RNG.normal(size=(4, 3))
    p = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(run(losses.MeanSquaredError(), y, p), np.mean((y - p) ** 2), rtol=1e-12)
    np.testing.assert_allclose(run(losses.MeanAbsoluteError(), y, p), np.mean(np.abs(y - p)), rtol=1e-12)
    per = run(losses.MeanSquaredError(), y, p, per_sample=True)
    assert per.shape == (4,)
    np.testing.assert_allclose(per, np.mean((y - p) ** 2, axis=1), rtol=1e-12)


def test_per_sample_losses_reduce_all_non_batch_axes():
    y = RNG.normal(size=(2, 3, 4))
    p = RNG.normal(size=(2, 3, 4))
    per = run(losses.MeanAbsoluteError(), y, p, per_sample=True)
    np.testing.assert_allclose(per, np.abs(y - p).mean(axis=(1, 2)), rtol=1e-12)


def test_labels_of_shape_batch_against_predictions_batch_1_are_not_broadcast():
    # the classic bug: (n,) - (n, 1) broadcasts to (n, n); Keras reconciles the ranks instead
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([[1.5], [2.0], [2.0]])
    assert run(losses.MeanSquaredError(), y, p) == pytest.approx((0.25 + 0 + 1) / 3)
    assert run(losses.MeanSquaredError(), p, y) == pytest.approx((0.25 + 0 + 1) / 3)


def test_rmse_is_the_root_of_the_batch_mean_squared_error():
    y = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
    p = np.array([[1.0, 0.0], [3.0, 5.0], [1.0, 1.0]])
    per_sample_mse = np.array([2.0, 0.5, 1.0])
    assert run(losses.RootMeanSquaredError(), y, p) == pytest.approx(np.sqrt(per_sample_mse.mean()))
    np.testing.assert_allclose(run(losses.RootMeanSquaredError(), y, p, per_sample=True), per_sample_mse)
    w = np.array([1.0, 2.0, 0.0])
    assert run(losses.RootMeanSquaredError(), y, p, sample_weight=w) == pytest.approx(
        np.sqrt((2.0 + 1.0 + 0.0) / 3))


def test_rmse_gradient_at_a_perfect_fit_is_zero_not_nan():
    w = gc.variable(np.array([2.0, 3.0]), name="w")
    loss = losses.RootMeanSquaredError()(gc.constant(np.array([2.0, 3.0])), w)
    g = gc.function([], gc.grad(loss, w))()
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_sample_weight_gives_sum_over_batch_size():
    y = np.array([[0.0], [1.0], [2.0], [3.0]])
    p = np.array([[1.0], [1.0], [0.0], [3.0]])
    w = np.array([2.0, 5.0, 0.5, 1.0])
    expected = np.sum(w * (y - p)[:, 0] ** 2) / 4
    assert run(losses.MeanSquaredError(), y, p, sample_weight=w) == pytest.approx(expected)
    assert run(losses.MeanSquaredError(), y, p, sample_weight=w[:, None]) == pytest.approx(expected)


# -- binary cross-entropy family -------------------------------------------------------------------

def test_bce_on_probabilities_clips_like_keras():
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = np.array([[0.9, 0.2], [0.0, 1.0], [1.0, 0.0]])  # exact 0 and 1 are clipped to eps
    per = run(losses.BinaryCrossentropy(), y, p, per_sample=True)
    np.testing.assert_allclose(per, np_bce(y, p).mean(axis=1), rtol=1e-10)
    assert run(losses.BinaryCrossentropy(), y, p) == pytest.approx(np_bce(y, p).mean())
    assert np.isclose(per[2], -np.log(EPS) / 2, rtol=1e-6)  # the wrong confident output: -log(1e-7)


def test_bce_from_logits_matches_the_stable_formula():
    y = RNG.integers(0, 2, size=(5, 3)).astype(np.float64)
    z = RNG.normal(scale=3, size=(5, 3))
    out = run(losses.BinaryCrossentropy(from_logits=True), y, z)
    assert out == pytest.approx(np_bce_logits(y, z).mean(), rel=1e-12)
    # same as probabilities sigmoid(z) away from saturation
    assert out == pytest.approx(run(losses.BinaryCrossentropy(), y, 1 / (1 + np.exp(-z))), rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bce_from_logits_is_finite_and_exact_at_1000(dtype):
    y = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    z = np.array([1000.0, -1000.0, -1000.0, 1000.0], dtype=dtype)
    per = run(losses.BinaryCrossentropy(from_logits=True), y, z, per_sample=True)
    np.testing.assert_allclose(per, [0.0, 0.0, 1000.0, 1000.0], rtol=1e-6)
    t, p = gc.placeholder((4,), dtype, name="t"), gc.placeholder((4,), dtype, name="p")
    g = gc.function([t, p], gc.grad(losses.BinaryCrossentropy(from_logits=True)(t, p), p))(y, z)
    np.testing.assert_allclose(g, np.array([0.0, 0.0, -1.0, 1.0]) / 4, atol=1e-7)


def test_weighted_bce_weights_the_positive_term_by_beta():
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.7], [0.4], [0.1], [0.95]])
    beta = 3.0
    expected = -(beta * y * np.log(p) + (1 - y) * np.log(1 - p))
    out = run(losses.WeightedBinaryCrossentropy(beta), y, p, per_sample=True)
    np.testing.assert_allclose(out, expected[:, 0], rtol=1e-10)
    z = np.log(p / (1 - p))
    out_logits = run(losses.WeightedBinaryCrossentropy(beta, from_logits=True), y, z, per_sample=True)
    np.testing.assert_allclose(out_logits, expected[:, 0], rtol=1e-9)
    # beta = 1 is the plain cross-entropy
    assert run(losses.WeightedBinaryCrossentropy(1.0), y, p) == pytest.approx(run(losses.BinaryCrossentropy(), y, p))


def test_balanced_bce_weights_positives_beta_and_negatives_one_minus_beta():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([0.7, 0.4, 0.1, 0.95])
    beta = 0.8
    expected = -(beta * y * np.log(p) + (1 - beta) * (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(run(losses.BalancedBinaryCrossentropy(beta), y, p, per_sample=True), expected,
                               rtol=1e-10)
    z = np.log(p / (1 - p))
    np.testing.assert_allclose(run(losses.BalancedBinaryCrossentropy(beta, from_logits=True), y, z,
                                   per_sample=True), expected, rtol=1e-9)
    # beta = 0.5 is half the plain cross-entropy
    assert run(losses.BalancedBinaryCrossentropy(0.5), y, p) == pytest.approx(
        0.5 * run(losses.BinaryCrossentropy(), y, p))


def test_weighted_and_balanced_from_logits_are_stable():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    z = np.array([1000.0, -1000.0, -1000.0, 1000.0])
    out = run(losses.WeightedBinaryCrossentropy(2.0, from_logits=True), y, z, per_sample=True)
    np.testing.assert_allclose(out, [0.0, 0.0, 2000.0, 1000.0])
    out = run(losses.BalancedBinaryCrossentropy(0.25, from_logits=True), y, z, per_sample=True)
    np.testing.assert_allclose(out, [0.0, 0.0, 250.0, 750.0])


# -- categorical ------------------------------------------------------------------------------------

def test_categorical_crossentropy_on_probabilities_renormalises_and_clips():
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    p = np.array([[0.2, 0.6, 0.2], [1.0, 1.0, 2.0], [0.5, 0.5, 0.0]])  # row 2 is not normalised
    q = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    expected = -(y * np.log(q)).sum(axis=1)
    np.testing.assert_allclose(run(losses.CategoricalCrossentropy(), y, p, per_sample=True), expected, rtol=1e-10)
    assert expected[1] == pytest.approx(np.log(4))
    assert expected[2] == pytest.approx(-np.log(EPS))


def test_categorical_crossentropy_from_logits_uses_log_softmax():
    y = np.eye(4)[RNG.integers(0, 4, size=6)]
    z = RNG.normal(scale=2, size=(6, 4))
    expected = -(y * np_log_softmax(z)).sum(axis=1)
    np.testing.assert_allclose(run(losses.CategoricalCrossentropy(from_logits=True), y, z, per_sample=True),
                               expected, rtol=1e-12)


def test_categorical_from_logits_at_1000_is_finite_and_exact():
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]], dtype=np.float32)
    per = run(losses.CategoricalCrossentropy(from_logits=True), y, z, per_sample=True)
    np.testing.assert_allclose(per, [0.0, 2000.0], rtol=1e-6)
    per = run(losses.SparseCategoricalCrossentropy(from_logits=True), np.array([0, 1]), z, per_sample=True)
    np.testing.assert_allclose(per, [0.0, 2000.0], rtol=1e-6)


# -- extreme logits: finite wherever the true loss is, against exact decimal references ---------

def exact_softmax_xent(y, z):
    """-sum(y log softmax(z)) per row and the gradient softmax(z) sum(y) - y, in decimal
    arithmetic from the logits as given (a label of 0 contributes 0, whatever its logit)."""
    with localcontext() as ctx:
        ctx.prec = 400  # 1.7e308 has 309 digits: held exactly, so z - max is exact
        losses_, grads = [], []
        for yr, zr in zip(np.asarray(y, np.float64), np.asarray(z, np.float64)):
            zd = [Decimal(float(v)) if np.isfinite(v) else None for v in zr]  # None: a -inf logit
            top = max(v for v in zd if v is not None)

            def exp(d):  # e**d, 0 far below (decimal's exp signals Overflow past its exponents)
                return d.exp() if d > -10**6 else Decimal(0)
            lse = top + sum(exp(v - top) for v in zd if v is not None).ln()
            yd = [Decimal(float(v)) for v in yr]
            losses_.append(float(-sum(a * (v - lse) for a, v in zip(yd, zd) if a != 0)))
            p = [Decimal(0) if v is None else exp(v - lse) for v in zd]
            grads.append([float(pi * sum(yd) - a) for pi, a in zip(p, yd)])
    return np.array(losses_), np.array(grads)


def huge(dtype):
    return {"float32": 3e38, "float64": 1.7e308}[dtype]


EXTREME_CE = [  # (loss, labels -> what the loss takes, labels as a one-hot/soft matrix)
    ("sparse", lambda: losses.SparseCategoricalCrossentropy(from_logits=True), lambda k, n: k, 0.0),
    ("categorical", lambda: losses.CategoricalCrossentropy(from_logits=True), lambda k, n: np.eye(n)[k], 0.0),
    ("smoothed", lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
     lambda k, n: np.eye(n)[k], 0.1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, make, labels_for, smoothing", EXTREME_CE, ids=[c[0] for c in EXTREME_CE])
def test_cross_entropy_from_extreme_logits_is_finite_and_exact(name, make, labels_for, smoothing, dtype):
    """Logits [0, 3e38, -3e38] with label 1 gave NaN: logits - max overflows to -inf, and the
    one-hot's 0 times it is NaN. Per sample against the exact value; every label's loss here
    is finite (a label on the most negative logit would be 6e38: past float32)."""
    big = huge(dtype)
    z = np.array([[0.0, big, -big], [0.0, big, -big], [big, -big, 0.0], [0.5, -1.0, 2.0],
                  [-big, 0.0, big]], dtype)
    k = np.array([1, 0, 0, 2, 1])
    y = labels_for(k, 3)
    one_hot = np.eye(3)[k] * (1 - smoothing) + smoothing / 3
    want, want_grad = exact_softmax_xent(one_hot, z)
    if smoothing:   # a smoothed label on a -big logit costs big / 15: fine, but not on two of them
        assert np.all(np.isfinite(want.astype(dtype)))
    per = run(make(), y, z, per_sample=True)
    assert per.dtype == np.dtype(dtype) and np.all(np.isfinite(per))
    np.testing.assert_allclose(per, want.astype(dtype), rtol=4 * np.finfo(dtype).eps, atol=0)

    # the scalar loss of one sample at a time (a batch mean of two 1e38 losses overflows
    # float32's sum) and its gradient, softmax - labels
    t = gc.placeholder((1,) + np.shape(y)[1:], np.asarray(y).dtype, name="t")
    x = gc.placeholder((1, 3), dtype, name="x")
    loss = make()(t, x)
    f = gc.function([t, x], [loss, gc.grad(loss, x)])
    for i in range(len(z)):
        value, grad = f(np.asarray(y)[i:i + 1], z[i:i + 1])
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(value, want[i].astype(dtype), rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(grad[0], want_grad[i], rtol=1e-6, atol=np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_of_softmax_probabilities_of_extreme_logits(dtype):
    """Probabilities that gc.nn.softmax made are scored from its logits: finite too."""
    big = huge(dtype)
    z = np.array([[0.0, big, -big], [-big, 0.0, big]], dtype)
    want, _ = exact_softmax_xent(np.eye(3)[[1, 1]], z)
    for make, y in ((losses.CategoricalCrossentropy, np.eye(3)[[1, 1]].astype(dtype)),
                    (losses.SparseCategoricalCrossentropy, np.array([1, 1]))):
        t = gc.placeholder(y.shape, y.dtype, name="t")
        x = gc.placeholder(z.shape, dtype, name="x")
        per = make().call(t, gc.nn.softmax(x))
        out, grad = gc.function([t, x], [per, gc.grad(gc.reduce_sum(per), x)])(y, z)
        np.testing.assert_allclose(out, want.astype(dtype), rtol=4 * np.finfo(dtype).eps)
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_ignores_minus_inf_logits_under_zero_labels(dtype):
    """Masked classes (logit -inf) with label 0: 0 · log 0 counts as 0, not NaN."""
    z = np.array([[-np.inf, 1.0, 2.0], [0.5, -np.inf, -np.inf]], dtype)
    want, want_grad = exact_softmax_xent(np.eye(3)[[2, 0]], z)
    x = gc.placeholder(z.shape, dtype, name="x")
    for loss in (losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([2, 0]), x),
                 losses.CategoricalCrossentropy(from_logits=True)(np.eye(3)[[2, 0]].astype(dtype), x)):
        value, grad = gc.function([x], [loss, gc.grad(loss, x)])(z)
        np.testing.assert_allclose(value, want.mean().astype(dtype), rtol=4 * np.finfo(dtype).eps)
        np.testing.assert_allclose(grad, want_grad / 2, rtol=1e-6, atol=np.finfo(dtype).eps)


def test_the_extreme_logits_path_agrees_with_the_direct_one_bit_for_bit():
    """The softmax cross-entropy op's fallback (halved logits) gives the direct sum's bits
    wherever that is finite."""
    from graphc.ops.nn import _softmax_xent, _softmax_xent_extreme
    rng = np.random.default_rng(5)
    for dtype in ("float32", "float64"):
        z = (rng.standard_normal((200, 7)) * 30).astype(dtype)
        y = rng.dirichlet(np.ones(7), 200).astype(dtype) * (rng.uniform(size=(200, 7)) > 0.3)
        assert np.array_equal(_softmax_xent_extreme(y, z), _softmax_xent(y, z))


def exact_bce_logits(y, z):
    """mean over features of y softplus(-z) + (1 - y) softplus(z), in decimal arithmetic."""
    def softplus(d):
        return d + (1 + (-d).exp()).ln() if d > 0 else (1 + d.exp()).ln()
    with localcontext() as ctx:
        ctx.prec = 400   # softplus(-700) = 1e-304 after 1: ln(1 + tiny) needs the digits
        out = []
        for yr, zr in zip(y, z):
            pairs = [(Decimal(float(a)), Decimal(float(v))) for a, v in zip(yr, zr)]
            terms = [a * softplus(-v) + (1 - a) * softplus(v) for a, v in pairs]
            out.append(float(sum(terms) / len(terms)))
    return np.array(out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropies_from_extreme_logits_are_exact(dtype):
    big = huge(dtype)
    z = np.array([[0.0, big, -big], [-big, 700.0, -700.0], [big, 20.0, -40.0]], dtype)
    y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.5]], dtype)
    want = exact_bce_logits(y, z).astype(dtype)
    x = gc.placeholder(z.shape, dtype, name="x")
    for per in (losses.BinaryCrossentropy(from_logits=True).call(y, x),
                losses.BinaryCrossentropy().call(y, gc.sigmoid(x))):   # scored from the logits
        value, grad = gc.function([x], [per, gc.grad(gc.reduce_sum(per), x)])(z)
        np.testing.assert_allclose(value, want, rtol=8 * np.finfo(dtype).eps)
        assert np.all(np.isfinite(grad))
    for loss in (losses.WeightedBinaryCrossentropy(2.0, from_logits=True),
                 losses.BalancedBinaryCrossentropy(0.3, from_logits=True)):
        value, grad = gc.function([x], [loss.call(y, x), gc.grad(loss(y, x), x)])(z)
        assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_probability_losses_at_exact_zeros_and_ones_are_finite(dtype):
    """Saturated probabilities (0 and 1 exactly, as float32 sigmoids give) are clipped: log(0)
    never meets a label of 0."""
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    x = gc.placeholder(p.shape, dtype, name="x")
    for loss in (losses.BinaryCrossentropy(), losses.CategoricalCrossentropy(),
                 losses.WeightedBinaryCrossentropy(2.0), losses.BalancedBinaryCrossentropy(0.3)):
        value, grad = gc.function([x], [loss(y, x), gc.grad(loss(y, x), x)])(p)
        assert np.isfinite(value) and np.all(np.isfinite(grad)), loss.name
    sparse = losses.SparseCategoricalCrossentropy()(np.array([0, 0]), x)
    value, grad = gc.function([x], [sparse, gc.grad(sparse, x)])(p)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, -np.log(np.float64(1e-7)) / 2, rtol=1e-5)


def test_label_smoothing_follows_keras():
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    z = np.array([[0.5, 2.0, -1.0, 0.0]])
    smooth = y * 0.9 + 0.1 / 4
    expected = -(smooth * np_log_softmax(z)).sum()
    assert run(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), y, z) == pytest.approx(expected)
    yb, zb = np.array([[1.0, 0.0]]), np.array([[0.3, -0.4]])
    sb = yb * 0.8 + 0.1
    assert run(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), yb, zb) == pytest.approx(
        np_bce_logits(sb, zb).mean())


@pytest.mark.parametrize("label_shape", ["flat", "column", "float"])
def test_sparse_categorical_crossentropy_takes_integer_labels(label_shape):
    labels = np.array([2, 0, 1, 1])
    p = RNG.uniform(0.05, 1, size=(4, 3))
    p /= p.sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(4), labels])
    given = {"flat": labels, "column": labels[:, None], "float": labels.astype(np.float32)}[label_shape]
    np.testing.assert_allclose(run(losses.SparseCategoricalCrossentropy(), given, p, per_sample=True), expected,
                               rtol=1e-10)
    z = np.log(p) + 1.7  # logits of the same distribution
    np.testing.assert_allclose(run(losses.SparseCategoricalCrossentropy(from_logits=True), given, z,
                                   per_sample=True), expected, rtol=1e-10)
    # equals the categorical loss on one-hot labels
    assert run(losses.SparseCategoricalCrossentropy(), given, p) == pytest.approx(
        run(losses.CategoricalCrossentropy(), np.eye(3)[labels], p))


def test_sparse_categorical_rejects_labels_that_do_not_fit():
    with pytest.raises(gc.ShapeError, match="integer labels"):
        losses.SparseCategoricalCrossentropy()(gc.placeholder((None, 3), "int64"), gc.placeholder((None, 3)))


def test_categorical_rejects_integer_labels_with_a_hint():
    with pytest.raises(gc.ShapeError, match="sparse_categorical_crossentropy"):
        losses.CategoricalCrossentropy()(gc.placeholder((None,), "int64"), gc.placeholder((None, 3)))


# -- hinge ------------------------------------------------------------------------------------------

def test_hinge_with_signed_labels():
    y = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    s = np.array([[2.0], [0.5], [0.3], [-3.0]])
    expected = np.maximum(1 - y * s, 0)[:, 0]  # [0, 1.5, 0.7, 0]
    np.testing.assert_allclose(run(losses.Hinge(), y, s, per_sample=True), expected)
    assert run(losses.Hinge(), y, s) == pytest.approx(expected.mean())


def test_hinge_converts_zero_one_labels_like_keras():
    y01 = np.array([1.0, 0.0, 1.0, 0.0])
    s = np.array([2.0, 0.5, 0.3, -3.0])
    assert run(losses.Hinge(), y01, s) == pytest.approx(run(losses.Hinge(), 2 * y01 - 1, s))
    assert run(losses.Hinge(), y01, s) == pytest.approx(np.mean([0.0, 1.5, 0.7, 0.0]))


# -- overlap losses ---------------------------------------------------------------------------------

def np_dice(y, p, smooth=1.0):
    axes = tuple(range(1, y.ndim))
    inter = (y * p).sum(axis=axes)
    return 1 - (2 * inter + smooth) / (y.sum(axis=axes) + p.sum(axis=axes) + smooth)


def np_jaccard(y, p, smooth=1.0):
    axes = tuple(range(1, y.ndim))
    inter = (y * p).sum(axis=axes)
    return 1 - (inter + smooth) / (y.sum(axis=axes) + p.sum(axis=axes) - inter + smooth)


def test_dice_per_sample():
    y = (RNG.uniform(size=(3, 4, 4)) > 0.5).astype(np.float64)
    p = RNG.uniform(size=(3, 4, 4))
    np.testing.assert_allclose(run(losses.Dice(), y, p, per_sample=True), np_dice(y, p), rtol=1e-12)
    assert run(losses.Dice(), y, p) == pytest.approx(np_dice(y, p).mean())
    # a worked example: y = [1, 1, 0, 0], p = [1, 0.5, 0.5, 0] -> 1 - (2*1.5 + 1) / (2 + 2 + 1) = 0.2
    assert run(losses.Dice(), np.array([[1.0, 1, 0, 0]]), np.array([[1.0, 0.5, 0.5, 0]])) == pytest.approx(0.2)


def test_jaccard_per_sample():
    y = (RNG.uniform(size=(3, 5)) > 0.5).astype(np.float64)
    p = RNG.uniform(size=(3, 5))
    np.testing.assert_allclose(run(losses.Jaccard(), y, p, per_sample=True), np_jaccard(y, p), rtol=1e-12)
    # worked example: inter 1.5, union 2 + 2 - 1.5 = 2.5 -> 1 - 2.5 / 3.5
    assert run(losses.Jaccard(), np.array([[1.0, 1, 0, 0]]), np.array([[1.0, 0.5, 0.5, 0]])) == pytest.approx(
        1 - 2.5 / 3.5)


def test_overlap_losses_are_zero_for_a_perfect_or_empty_mask():
    y = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(run(losses.Dice(), y, y, per_sample=True), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(run(losses.Jaccard(), y, y, per_sample=True), [0.0, 0.0], atol=1e-12)


# -- gradients --------------------------------------------------------------------------------------

GRAD_CASES = [
    ("mse", losses.MeanSquaredError(), "real"),
    ("mae", losses.MeanAbsoluteError(), "real"),
    ("rmse", losses.RootMeanSquaredError(), "real"),
    ("bce", losses.BinaryCrossentropy(), "prob"),
    ("bce_logits", losses.BinaryCrossentropy(from_logits=True), "real"),
    ("wbce", losses.WeightedBinaryCrossentropy(2.5), "prob"),
    ("wbce_logits", losses.WeightedBinaryCrossentropy(2.5, from_logits=True), "real"),
    ("balanced", losses.BalancedBinaryCrossentropy(0.3), "prob"),
    ("balanced_logits", losses.BalancedBinaryCrossentropy(0.3, from_logits=True), "real"),
    ("cce", losses.CategoricalCrossentropy(), "simplex"),
    ("cce_logits", losses.CategoricalCrossentropy(from_logits=True), "real"),
    ("hinge", losses.Hinge(), "real"),
    ("dice", losses.Dice(), "prob"),
    ("jaccard", losses.Jaccard(), "prob"),
]


@pytest.mark.parametrize("name,loss,domain", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_loss_gradient_matches_finite_differences(name, loss, domain):
    rng = np.random.default_rng(1)
    if domain == "simplex":
        y = np.eye(3)[[0, 2, 1, 1]]
    else:
        y = (rng.uniform(size=(4, 3)) > 0.5).astype(np.float64)
    if domain == "prob":
        p = rng.uniform(0.1, 0.9, size=(4, 3))
    elif domain == "simplex":
        p = rng.uniform(0.1, 1.0, size=(4, 3))
        p /= p.sum(axis=1, keepdims=True)
    else:
        p = rng.normal(size=(4, 3)) + 0.1  # away from the kinks of |x| and max
    t = gc.placeholder((4, 3), "float64", name="t")
    x = gc.placeholder((4, 3), "float64", name="x")
    gc.check_grad(loss(t, x), x, {t: y, x: p}, eps=1e-6)


def test_sparse_categorical_gradient_matches_finite_differences():
    labels = gc.placeholder((4,), "int64", name="labels")
    for from_logits in (False, True):
        z = gc.placeholder((4, 3), "float64", name="z")
        zv = np.random.default_rng(2).uniform(0.1, 1.0, size=(4, 3))
        loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, z)
        gc.check_grad(loss, z, {labels: np.array([0, 2, 1, 1]), z: zv}, eps=1e-6)


def test_float32_loss_stays_float32():
    t, p = gc.placeholder((None, 2), "float32"), gc.placeholder((None, 2), "float32")
    for name in losses.names():
        loss = losses.get(name)
        labels = gc.placeholder((None,), "int64") if name.startswith("sparse") else t
        out = loss(labels, p)
        assert out.shape == () and out.dtype == np.float32, name


# -- lookup and serialization -----------------------------------------------------------------------

@pytest.mark.parametrize("name,cls", [
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("mae", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
    ("rmse", losses.RootMeanSquaredError), ("binary_crossentropy", losses.BinaryCrossentropy),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy), ("hinge", losses.Hinge),
    ("dice", losses.Dice), ("jaccard", losses.Jaccard), ("BinaryCrossentropy", losses.BinaryCrossentropy),
])
def test_get_by_name(name, cls):
    assert type(losses.get(name)) is cls


def test_get_passes_instances_and_wraps_callables():
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(bce) is bce
    assert isinstance(losses.get(losses.Dice), losses.Dice)

    def squared(y_true, y_pred):
        return gc.square(y_true - y_pred)

    wrapped = losses.get(squared)
    assert wrapped.name == "squared"
    y, p = np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    assert run(wrapped, y, p) == pytest.approx(run(losses.MeanSquaredError(), y, p))

    scalar = losses.get(lambda y_true, y_pred: gc.reduce_sum(y_pred - y_true))
    assert run(scalar, y, p) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="scalar"):
        scalar(gc.constant(y), gc.constant(p), sample_weight=gc.constant(np.ones(2)))


def test_unknown_loss_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown loss 'cross'.*binary_crossentropy"):
        losses.get("cross")


@pytest.mark.parametrize("loss", [
    losses.MeanSquaredError(), losses.RootMeanSquaredError(), losses.BinaryCrossentropy(from_logits=True),
    losses.CategoricalCrossentropy(label_smoothing=0.1), losses.SparseCategoricalCrossentropy(from_logits=True),
    losses.Hinge(), losses.WeightedBinaryCrossentropy(4.0), losses.BalancedBinaryCrossentropy(0.7, from_logits=True),
    losses.Dice(smooth=0.5), losses.Jaccard(),
], ids=lambda loss: type(loss).__name__)
def test_config_round_trip(loss):
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.get(losses.serialize(loss)).get_config() == loss.get_config()


def test_deserialize_accepts_a_bare_config_of_a_builtin_loss():
    again = losses.deserialize(losses.BinaryCrossentropy(from_logits=True).get_config())
    assert isinstance(again, losses.BinaryCrossentropy) and again.from_logits
    with pytest.raises(ValueError, match="class_name"):
        losses.deserialize({"beta": 2.0})
