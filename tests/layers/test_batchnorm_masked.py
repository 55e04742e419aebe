"""BatchNormalization with a mask, Keras 3's masked moments: in the training graph the batch
statistics (and so the moving-statistics updates) are those of the unmasked positions, counted
as Σw + 1e-7; all positions are normalized with them; inference ignores the mask; the mask
passes on. Checked against NumPy references: the layer's outputs and updates, moving statistics
after 1 and N compiled training steps, padding invariance of an Embedding → BN → LSTM model,
an all-masked batch, the no-mask path, another feature axis, and gradients."""
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.layers.normalization import masked_moments

RNG = np.random.default_rng(7)
KERAS_EPSILON = 1e-7   # keras.config.epsilon(), the masked moments' denominator guard


def np_masked_moments(x, mask, axis=-1):
    """The masked mean and biased variance per feature of ``axis``, in float64: the weighted
    average over the unmasked positions (written as x − μ, not Keras' w·x − μ)."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    w = np.asarray(mask, np.float64)[..., None]
    axes = tuple(range(x.ndim - 1))
    count = w.sum(axis=axes) + KERAS_EPSILON
    mean = (w * x).sum(axis=axes) / count
    variance = (w * (x - mean) ** 2).sum(axis=axes) / count
    return mean, variance


def bn_formula(x, mean, variance, gamma, beta, epsilon=1e-3):
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


def random_affine(layer):
    c = layer.gamma.shape[0]
    layer.set_weights([RNG.uniform(0.5, 2, c), RNG.normal(size=c), RNG.normal(size=c), RNG.uniform(0.5, 2, c)])
    return layer.get_weights()


def random_mask(shape, p=0.6):
    return RNG.random(shape) < p


def test_training_output_and_updates_use_the_masked_moments_and_the_mask_passes_on():
    layer = L.BatchNormalization(momentum=0.9)
    p = gc.placeholder((None, 5, 4), name="x")
    m = gc.placeholder((None, 5), "bool", name="mask")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # a supported mask: no "mask stops here" warning
        train_out = layer(p, training=True, mask=m)
    updates = layer.pop_updates()
    infer_out = layer(p, training=False, mask=m)
    assert layer.pop_updates() == []
    assert L.get_mask(train_out) is m and L.get_mask(infer_out) is m   # passed on unchanged
    gamma, beta, moving_mean, moving_variance = random_affine(layer)
    # a loc far from 0 makes the masked and unmasked statistics clearly differ
    x = RNG.normal(loc=[3.0, -1.0, 0.0, 5.0], scale=[1.0, 2.0, 0.5, 3.0], size=(8, 5, 4)).astype(np.float32)
    mask = random_mask((8, 5))
    x[~mask] = 100.0                                          # padding values that must not count
    mean, variance = np_masked_moments(x, mask)
    got_train, got_infer, new_mean, new_variance = gc.function(
        [p, m], [train_out, infer_out] + [v for _, v in updates])(x, mask)
    # every position (masked ones too, as Keras) is normalized with the masked statistics
    np.testing.assert_allclose(got_train, bn_formula(x, mean, variance, gamma, beta), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_infer, bn_formula(x, moving_mean, moving_variance, gamma, beta), rtol=1e-5,
                               atol=1e-5)
    assert [var for var, _ in updates] == [layer.moving_mean, layer.moving_variance]
    np.testing.assert_allclose(new_mean, 0.9 * moving_mean + 0.1 * mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new_variance, 0.9 * moving_variance + 0.1 * variance, rtol=1e-5)
    assert not np.allclose(mean, x.mean(axis=(0, 1)), atol=1e-1)  # the mask mattered


def test_masked_moments_function_matches_numpy_in_float64():
    x = RNG.normal(size=(6, 7, 3))
    mask = random_mask((6, 7))
    px, pm = gc.placeholder((6, 7, 3), "float64"), gc.placeholder((6, 7), "bool")
    mean, variance = gc.function([px, pm], list(masked_moments(px, pm, 2)))(x, mask)
    ref_mean, ref_variance = np_masked_moments(x, mask)
    assert mean.shape == variance.shape == (3,)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(variance, ref_variance, rtol=1e-12)
    # the textbook masked statistics, to within the 1e-7 of the denominator
    rows = x[mask]
    np.testing.assert_allclose(mean, rows.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(variance, rows.var(axis=0), rtol=1e-6)


def padded_sequences(n, steps, features, rng):
    """Sequences of random lengths 1..steps, zero-padded after their data (no all-zero real step)."""
    x = rng.normal(loc=2.0, scale=1.5, size=(n, steps, features)).astype(np.float32)
    lengths = rng.integers(1, steps + 1, n)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    x[~mask] = 0.0
    return x, mask


def test_moving_statistics_after_one_and_n_compiled_training_steps():
    """Masking → BN → Dense: BN sees the data itself, so its moving statistics follow
    moving ← m·moving + (1 − m)·masked_moments(batch) exactly, step after step."""
    momentum, batch, n_steps, steps, features = 0.8, 8, 6, 5, 3
    rng = np.random.default_rng(1)
    x, mask = padded_sequences(batch * (n_steps + 1), steps, features, rng)
    y = rng.normal(size=(len(x), steps, 2)).astype(np.float32)
    model = gc.models.Sequential([L.Input((steps, features)), L.Masking(0.0), L.BatchNormalization(momentum=momentum),
                                  L.Dense(2)], seed=0)
    model.compile(gc.optimizers.SGD(0.05), "mse")
    bn = model.layers[1]
    moving_mean, moving_variance = np.zeros(features), np.ones(features)

    def step(mean, variance, xb, mb):
        batch_mean, batch_variance = np_masked_moments(xb, mb)
        return momentum * mean + (1 - momentum) * batch_mean, momentum * variance + (1 - momentum) * batch_variance

    # one step with train_on_batch
    loss = model.train_on_batch(x[:batch], y[:batch])
    assert np.isfinite(loss)
    moving_mean, moving_variance = step(moving_mean, moving_variance, x[:batch], mask[:batch])
    np.testing.assert_allclose(bn.moving_mean.value, moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.value, moving_variance, rtol=1e-5)
    # then n_steps more with fit (one epoch, in order)
    rest_x, rest_y, rest_mask = x[batch:], y[batch:], mask[batch:]
    model.fit(rest_x, rest_y, epochs=1, batch_size=batch, shuffle=False, verbose=0)
    for k in range(n_steps):
        sl = slice(k * batch, (k + 1) * batch)
        moving_mean, moving_variance = step(moving_mean, moving_variance, rest_x[sl], rest_mask[sl])
    np.testing.assert_allclose(bn.moving_mean.value, moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.value, moving_variance, rtol=1e-5)
    # without the mask the padding zeros would have pulled the mean towards 0
    unmasked = (1 - momentum ** (n_steps + 1)) * x.mean(axis=(0, 1))
    assert not np.allclose(bn.moving_mean.value, unmasked, rtol=1e-2)


def embedding_model(steps, head):
    return gc.models.Sequential([L.Input((steps,)), L.Embedding(20, 4, mask_zero=True),
                                 L.BatchNormalization(momentum=0.5), head, L.Dense(1)], seed=3)


@pytest.mark.parametrize("head", [lambda: L.LSTM(3), lambda: L.GlobalAveragePooling1D()], ids=["lstm", "gap1d"])
def test_padding_invariance_of_an_embedding_bn_model(head):
    """Appending masked steps to every sequence changes neither the batch statistics, nor the
    moving statistics, nor the loss, nor any weight after a training step."""
    rng = np.random.default_rng(2)
    steps, extra, n = 6, 4, 10
    lengths = rng.integers(1, steps + 1, n)
    ids = rng.integers(1, 20, (n, steps))
    ids[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    padded = np.concatenate([ids, np.zeros((n, extra), ids.dtype)], axis=1)
    y = rng.normal(size=(n, 1)).astype(np.float32)
    short, long = embedding_model(steps, head()), embedding_model(steps + extra, head())
    long.set_weights(short.get_weights())
    for model in (short, long):
        model.compile(gc.optimizers.SGD(0.1), "mse")
    table = short.layers[0].get_weights()[0].astype(np.float64)
    loss_short = short.train_on_batch(ids, y)
    loss_long = long.train_on_batch(padded, y)
    np.testing.assert_allclose(loss_long, loss_short, rtol=1e-5)
    # the moving statistics: momentum 0.5 from (0, 1) towards the masked moments of the embeddings
    mean, variance = np_masked_moments(table[ids], ids != 0)
    for model in (short, long):
        bn = model.layers[1]
        np.testing.assert_allclose(bn.moving_mean.value, 0.5 * mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.moving_variance.value, 0.5 + 0.5 * variance, rtol=1e-5)
    for a, b in zip(short.get_weights(), long.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(long.predict(padded), short.predict(ids), rtol=1e-5, atol=1e-6)


def test_an_all_masked_batch_stays_finite():
    layer = L.BatchNormalization(momentum=0.9, dtype="float64")
    p = gc.placeholder((None, 4, 3), "float64")
    m = gc.placeholder((None, 4), "bool")
    out = layer(p, training=True, mask=m)
    updates = layer.pop_updates()
    gamma, beta, moving_mean, moving_variance = random_affine(layer)
    x = RNG.normal(size=(5, 4, 3))
    got, new_mean, new_variance = gc.function([p, m], [out] + [v for _, v in updates])(x, np.zeros((5, 4), bool))
    # 0 / (0 + 1e-7): batch mean 0 and variance 0, as Keras
    assert np.isfinite(got).all() and np.isfinite(new_mean).all() and np.isfinite(new_variance).all()
    np.testing.assert_allclose(got, bn_formula(x, 0.0, 0.0, gamma, beta), rtol=1e-12)
    np.testing.assert_allclose(new_mean, 0.9 * moving_mean, rtol=1e-12)
    np.testing.assert_allclose(new_variance, 0.9 * moving_variance, rtol=1e-12)
    grads = gc.function([p, m], gc.grad(gc.reduce_sum(gc.square(out)), [p, layer.gamma]))(x, np.zeros((5, 4), bool))
    assert all(np.isfinite(g).all() for g in grads)
    # and in a model: a batch of padding only trains without nan
    model = embedding_model(5, L.LSTM(2))
    model.compile(gc.optimizers.SGD(0.1), "mse")
    assert np.isfinite(model.train_on_batch(np.zeros((3, 5), np.int64), np.ones((3, 1), np.float32)))
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_no_mask_path_unchanged_and_an_all_true_mask_agrees():
    layer = L.BatchNormalization(dtype="float32")
    p = gc.placeholder((None, 5, 3))
    out = layer(p, training=True)
    updates = layer.pop_updates()
    random_affine(layer)
    # the former graph, built by hand: plain moments, then batch_norm
    mean = gc.reduce_mean(p, axis=(0, 1), keepdims=True)
    variance = gc.reduce_mean(gc.square(p - mean), axis=(0, 1), keepdims=True)
    mean, variance = gc.squeeze(mean, axis=(0, 1)), gc.squeeze(variance, axis=(0, 1))
    expected = gc.nn.batch_norm(p, mean, variance, layer.beta, layer.gamma, epsilon=1e-3)
    x = RNG.normal(size=(7, 5, 3)).astype(np.float32)
    got, want = gc.function([p], [out, expected])(x)
    np.testing.assert_array_equal(got, want)
    got_updates = gc.function([p], [v for _, v in updates])(x)
    want_updates = gc.function([p], [layer.moving_mean * 0.99 + mean * 0.01,
                                     layer.moving_variance * 0.99 + variance * 0.01])(x)
    for g, w in zip(got_updates, want_updates):
        np.testing.assert_array_equal(g, w)
    assert L.get_mask(out) is None
    # an all-true mask: the same statistics, but for the 1e-7 in the denominator
    m = gc.placeholder((None, 5), "bool")
    masked = gc.function([p, m], layer(p, training=True, mask=m))(x, np.ones((7, 5), bool))
    layer.pop_updates()
    np.testing.assert_allclose(masked, got, rtol=1e-5, atol=1e-5)


def test_a_feature_axis_other_than_the_last():
    """axis=1 on (batch, C, steps): the mask (batch, steps) covers the non-feature axes in order."""
    layer = L.BatchNormalization(axis=1, center=False, scale=False)
    p = gc.placeholder((None, 3, 6))
    m = gc.placeholder((None, 6), "bool")
    out = layer(p, training=True, mask=m)
    updates = layer.pop_updates()
    x = RNG.normal(loc=1.0, size=(4, 3, 6)).astype(np.float32)
    mask = random_mask((4, 6))
    got, new_mean, new_variance = gc.function([p, m], [out] + [v for _, v in updates])(x, mask)
    mean, variance = np_masked_moments(x, mask, axis=1)
    np.testing.assert_allclose(got, (x - mean[:, None]) / np.sqrt(variance[:, None] + 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_mean, 0.01 * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_variance, 0.99 + 0.01 * variance, rtol=1e-5)


def test_masks_of_the_wrong_shape_are_refused():
    with pytest.raises(gc.ShapeError, match=r"mask must have the inputs' shape without the feature axis"):
        L.BatchNormalization()(gc.placeholder((None, 4, 5, 3)), training=True, mask=gc.placeholder((None, 4), "bool"))
    with pytest.raises(gc.ShapeError, match=r"\(\?, 4\) for inputs \(\?, 4, 3\); got a mask of shape \(\?, 5\)"):
        L.BatchNormalization()(gc.placeholder((None, 4, 3)), training=False, mask=gc.placeholder((None, 5), "bool"))
    with pytest.raises(gc.ShapeError, match="mask"):  # axis=1: the mask is (batch, steps), not (batch, C)
        L.BatchNormalization(axis=1)(gc.placeholder((None, 3, 6)), training=True,
                                     mask=gc.placeholder((None, 3), "bool"))


def test_gradients_through_the_masked_statistics():
    layer = L.BatchNormalization(dtype="float64")
    x = gc.placeholder((6, 4, 3), "float64", name="x")
    mask = random_mask((6, 4))
    mask[0] = False                                            # a fully padded sequence too
    out = layer(x, training=True, mask=gc.constant(mask))
    layer.pop_updates()
    random_affine(layer)
    weights = gc.constant(RNG.normal(size=(6, 4, 3)))
    gc.check_grad(gc.reduce_sum(out * weights), [x, layer.gamma, layer.beta], {x: RNG.normal(size=(6, 4, 3))})
    # the analytic gradient of the masked statistics themselves, against NumPy's finite differences
    mean, variance = masked_moments(x, gc.constant(mask), 2)
    c = RNG.normal(size=3)
    loss = gc.reduce_sum(mean * gc.constant(c)) + gc.reduce_sum(gc.square(variance))
    x0 = RNG.normal(size=(6, 4, 3))
    analytic = gc.function([x], gc.grad(loss, x))(x0)

    def f(v):
        mu, var = np_masked_moments(v, mask)
        return float(mu @ c + (var ** 2).sum())

    numeric = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        d = np.zeros_like(x0)
        d[i] = 1e-6
        numeric[i] = (f(x0 + d) - f(x0 - d)) / 2e-6
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    assert (analytic[~mask] == 0).all()                        # padding does not move the statistics
