"""BatchNormalization: the training graph normalizes with the batch's statistics and its
compiled step updates the moving statistics (checked after N steps against the closed form);
the inference graph uses the moving statistics; γ and β learn; parameter counts; gradients
through the batch statistics; frozen layers; save/load."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

RNG = np.random.default_rng(0)


def bn_formula(x, mean, variance, gamma, beta, epsilon=1e-3):
    return gamma * (x - mean) / np.sqrt(variance + epsilon) + beta


def built(layer, shape):
    layer.build_for(shape)
    return layer


def random_affine(layer):
    """γ, β and the moving statistics set to random values (positive variances)."""
    c = layer.gamma.shape[0]
    layer.set_weights([RNG.uniform(0.5, 2, c), RNG.normal(size=c), RNG.normal(size=c), RNG.uniform(0.5, 2, c)])
    return layer.get_weights()


def test_weights_parameter_counts_and_summary():
    layer = built(L.BatchNormalization(), (None, 6, 6, 32))
    assert [w.name.split("/")[1] for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.trainable for w in layer.weights] == [True, True, False, False]
    gamma, beta, mean, variance = layer.get_weights()
    assert (gamma == 1).all() and (beta == 0).all() and (mean == 0).all() and (variance == 1).all()
    assert layer.count_params() == 4 * 32 and layer.output_shape == (None, 6, 6, 32)
    model = gc.models.Sequential([L.Input((8, 8, 1)), L.Conv2D(32, 3), L.BatchNormalization(), L.Flatten(),
                                  L.Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert re.search(r"│ batch_normalization(_\d+)? +│ \(None, 6, 6, 32\) +│ +128 │\n"
                     r"│ \(BatchNormalization\) +│", text)
    trainable = 320 + 64 + 6 * 6 * 32 * 10 + 10
    assert f"Total params: {trainable + 64:,}" in text
    assert f"Trainable params: {trainable:,}" in text and "Non-trainable params: 64 (256.00 B)" in text
    assert len(model.trainable_weights) == 6 and len(model.non_trainable_weights) == 2


def test_training_graph_uses_batch_statistics_and_inference_graph_the_moving_ones():
    layer = built(L.BatchNormalization(epsilon=1e-3), (None, 5, 5, 3))
    gamma, beta, moving_mean, moving_variance = random_affine(layer)
    x = RNG.normal(loc=2.0, scale=3.0, size=(8, 5, 5, 3)).astype(np.float32)
    p = gc.placeholder((None, 5, 5, 3), name="x")
    train_out = layer(p, training=True)
    updates = layer.pop_updates()
    infer_out = layer(p, training=False)
    assert layer.pop_updates() == []                       # the inference graph registers no update
    got_train, got_infer = gc.function([p], [train_out, infer_out])(x)
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))   # biased variance
    np.testing.assert_allclose(got_train, bn_formula(x, mean, variance, gamma, beta), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_infer, bn_formula(x, moving_mean, moving_variance, gamma, beta),
                               rtol=1e-5, atol=1e-5)
    # the registered updates: momentum · moving + (1 − momentum) · batch statistic
    assert [var for var, _ in updates] == [layer.moving_mean, layer.moving_variance]
    new_mean, new_variance = gc.function([p], [value for _, value in updates])(x)
    np.testing.assert_allclose(new_mean, 0.99 * moving_mean + 0.01 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_variance, 0.99 * moving_variance + 0.01 * variance, rtol=1e-5)


def test_moving_statistics_after_n_training_steps_match_the_closed_form():
    """BN first, so its inputs are the data batches themselves: after N steps,
    moving = m^N · moving_0 + (1 − m) Σ_k m^(N−k) stat_k."""
    momentum, n_steps, batch = 0.9, 7, 16
    x = RNG.normal(loc=[1.0, -2.0, 0.5], scale=[1.0, 2.0, 0.3], size=(n_steps * batch, 4, 3)).astype(np.float32)
    y = RNG.normal(size=(n_steps * batch, 4, 2)).astype(np.float32)
    model = gc.models.Sequential([L.Input((4, 3)), L.BatchNormalization(momentum=momentum), L.Dense(2)], seed=0)
    model.compile(gc.optimizers.SGD(0.1), "mse")
    bn = model.layers[0]
    model.fit(x, y, epochs=1, batch_size=batch, shuffle=False, verbose=0)
    mean, variance = np.zeros(3), np.ones(3)
    for k in range(n_steps):
        xb = x[k * batch:(k + 1) * batch].astype(np.float64)
        mean = momentum * mean + (1 - momentum) * xb.mean(axis=(0, 1))
        variance = momentum * variance + (1 - momentum) * xb.var(axis=(0, 1))
    closed_mean = (1 - momentum) * sum(momentum ** (n_steps - 1 - k) * x[k * batch:(k + 1) * batch].mean(axis=(0, 1))
                                       for k in range(n_steps))
    np.testing.assert_allclose(mean, closed_mean, rtol=1e-6)
    np.testing.assert_allclose(bn.moving_mean.value, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.value, variance, rtol=1e-5)
    # the updates are part of the ONE compiled training step; evaluation and prediction change nothing
    assert {id(v) for v, _ in model.train_function.updates} >= {id(bn.moving_mean), id(bn.moving_variance)}
    assert not model.test_function.updates and not model.predict_function.updates
    before = bn.moving_mean.value.copy()
    model.evaluate(x, y)
    model.predict(x)
    np.testing.assert_array_equal(bn.moving_mean.value, before)


def test_gamma_and_beta_learn_and_moving_statistics_are_not_trained():
    x = RNG.normal(size=(64, 4)).astype(np.float32)
    y = 3.0 * (x - x.mean(0)) / x.std(0) + 1.0
    model = gc.models.Sequential([L.Input((4,)), L.BatchNormalization(momentum=0.5)], seed=0)
    model.compile(gc.optimizers.SGD(0.5), "mse")
    model.fit(x, y, epochs=100, batch_size=64, verbose=0)
    gamma, beta, mean, variance = model.get_weights()
    np.testing.assert_allclose(gamma, 3.0, rtol=2e-2)
    np.testing.assert_allclose(beta, 1.0, atol=2e-2)
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-4, atol=1e-5)        # converged to the (only) batch's
    np.testing.assert_allclose(variance, x.var(0), rtol=1e-4)
    assert [id(w) for w in model.trainable_weights] == [id(model.layers[0].gamma), id(model.layers[0].beta)]


def test_gradients_through_the_batch_statistics():
    layer = L.BatchNormalization(dtype="float64")
    x = gc.placeholder((6, 2, 3), "float64", name="x")
    out = layer(x, training=True)
    layer.pop_updates()
    random_affine(layer)
    weights = gc.constant(RNG.normal(size=(6, 2, 3)))
    gc.check_grad(gc.reduce_sum(out * weights), [x, layer.gamma, layer.beta], {x: RNG.normal(size=(6, 2, 3))})
    inference = layer(x, training=False)
    gc.check_grad(gc.reduce_sum(gc.square(inference)), [x, layer.gamma, layer.beta],
                  {x: RNG.normal(size=(6, 2, 3))})


def test_other_axis_center_and_scale():
    layer = built(L.BatchNormalization(axis=1, center=False), (None, 3, 5))
    assert layer.beta is None and layer.count_params() == 3 * 3
    x = RNG.normal(size=(4, 3, 5)).astype(np.float32)
    p = gc.placeholder((None, 3, 5))
    out = gc.function([p], layer(p, training=True))(x)
    mean = x.mean(axis=(0, 2), keepdims=True)
    variance = x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance + 1e-3), rtol=1e-4, atol=1e-4)
    with pytest.raises(gc.ShapeError, match="batch axis"):
        L.BatchNormalization(axis=0)(gc.placeholder((None, 3)))


def test_a_frozen_layer_runs_the_inference_formula_and_updates_nothing():
    layer = built(L.BatchNormalization(trainable=False), (None, 3))
    gamma, beta, mean, variance = random_affine(layer)
    p = gc.placeholder((None, 3))
    out = layer(p, training=True)
    assert layer.pop_updates() == [] and layer.trainable_weights == []
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(gc.function([p], out)(x), bn_formula(x, mean, variance, gamma, beta), rtol=1e-5)


def test_config_and_save_load_round_trip(tmp_path):
    layer = L.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_regularizer=gc.regularizers.L2(0.1))
    clone = L.deserialize(L.serialize(layer))
    assert clone.get_config() == layer.get_config()
    x = RNG.normal(size=(64, 4, 4, 2)).astype(np.float32)
    y = RNG.integers(0, 3, 64)
    model = gc.models.Sequential([L.Input((4, 4, 2)), L.Conv2D(3, 2), L.BatchNormalization(momentum=0.8),
                                  L.Flatten(), L.Dense(3, activation="softmax")], seed=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert not np.allclose(model.layers[1].moving_mean.value, 0)
    loaded = gc.models.load_model(model.save(tmp_path / "bn.npz"))
    np.testing.assert_array_equal(loaded.layers[1].moving_variance.value, model.layers[1].moving_variance.value)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
