"""Layers: shapes, parameter counts, values against NumPy, training vs inference graphs,
seeds, regularization and configuration round trips."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

RNG = np.random.default_rng(0)


def run(layer, x_value, training=False):
    """Apply ``layer`` to a placeholder shaped like x_value (batch None) and run it."""
    x = gc.placeholder((None,) + x_value.shape[1:], "float32", name="x")
    return gc.function([x], layer(x, training=training))(x_value)


def test_dense_shapes_params_and_values():
    layer = L.Dense(5, activation="relu", seed=3)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    out = run(layer, x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 5) and bias.shape == (5,)
    assert layer.count_params() == 3 * 5 + 5
    assert layer.input_shape == (None, 3) and layer.output_shape == (None, 5)
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=1e-6)
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]


def test_dense_glorot_uniform_limit_and_zero_bias():
    layer = L.Dense(300, seed=0)
    layer.build_for((None, 200))
    kernel, bias = layer.get_weights()
    limit = math.sqrt(6 / (200 + 300))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert not bias.any()


def test_dense_without_bias_and_rank3_inputs():
    layer = L.Dense(2, use_bias=False, seed=1)
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    out = run(layer, x)
    (kernel,) = layer.get_weights()
    assert layer.output_shape == (None, 3, 2) and layer.count_params() == 8
    np.testing.assert_allclose(out, x @ kernel, rtol=1e-6)


def test_seeds_make_weights_reproducible():
    a, b, c = L.Dense(4, seed=7), L.Dense(4, seed=7), L.Dense(4, seed=8)
    for layer in (a, b, c):
        layer.build_for((None, 6))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    model_1 = gc.models.Sequential([L.Dense(4, input_shape=(6,)), L.Dense(2)], seed=5)
    model_2 = gc.models.Sequential([L.Dense(4, input_shape=(6,)), L.Dense(2)], seed=5)
    for w1, w2 in zip(model_1.get_weights(), model_2.get_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_explicit_initializer_objects_and_names():
    layer = L.Dense(3, kernel_initializer=gc.initializers.Constant(0.5), bias_initializer="ones")
    layer.build_for((None, 2))
    kernel, bias = layer.get_weights()
    assert (kernel == 0.5).all() and (bias == 1).all()


def test_automatic_names_are_unique_per_class():
    first, second = L.Dense(1), L.Dense(1)
    assert first.name != second.name
    assert first.name.startswith("dense") and second.name.startswith("dense")
    assert L.Dense(1, name="head").name == "head"


def test_kernel_regularizer_penalty_value():
    layer = L.Dense(3, kernel_regularizer=gc.regularizers.L2(0.1), bias_regularizer=gc.regularizers.L1(0.5),
                    bias_initializer="ones", seed=0)
    layer.build_for((None, 4))
    kernel, bias = layer.get_weights()
    penalties = [float(p.eval()) for p in layer.losses]
    assert penalties == pytest.approx([0.1 * np.sum(kernel ** 2), 0.5 * np.sum(np.abs(bias))], rel=1e-5)


def test_activation_layer_by_name_and_callable():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(run(L.Activation("tanh"), x), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(run(L.Activation(gc.nn.sigmoid), x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(run(L.Activation("softmax"), x), e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown activation"):
        L.Activation("relux")


def test_dropout_only_in_the_training_graph():
    layer = L.Dropout(0.25, seed=0)
    x = np.ones((400, 50), np.float32)
    np.testing.assert_array_equal(run(layer, x, training=False), x)
    out = run(layer, x, training=True)
    kept = out != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    np.testing.assert_allclose(out[kept], 1 / 0.75, rtol=1e-6)   # inverted dropout keeps the mean
    xt = gc.placeholder((None, 50), name="x")
    train_ops = gc.function([xt], layer(xt, training=True)).graph.op_counts()
    infer_ops = gc.function([xt], layer(xt, training=False)).graph.op_counts()
    assert train_ops.get("random_uniform_like") == 1 and "random_uniform_like" not in infer_ops
    with pytest.raises(ValueError, match="rate"):
        L.Dropout(1.0)


def test_flatten():
    layer = L.Flatten()
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    out = run(layer, x)
    assert layer.output_shape == (None, 60)
    np.testing.assert_array_equal(out, x.reshape(2, 60))
    assert layer.count_params() == 0


def test_leaky_relu_elu_softmax_values():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]], np.float32)
    np.testing.assert_allclose(run(L.LeakyReLU(alpha=0.1), x), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    np.testing.assert_allclose(run(L.LeakyReLU(), x), np.where(x > 0, x, 0.3 * x), rtol=1e-6)  # Keras' 0.3
    np.testing.assert_allclose(run(L.ELU(alpha=2.0), x), np.where(x > 0, x, 2.0 * np.expm1(x)), rtol=1e-6)
    x2 = RNG.normal(size=(3, 4)).astype(np.float32)
    e = np.exp(x2 - x2.max(axis=0, keepdims=True))
    np.testing.assert_allclose(run(L.Softmax(axis=0), x2), e / e.sum(axis=0, keepdims=True), rtol=1e-6)


def test_prelu_learns_its_alpha():
    layer = L.PReLU(alpha_initializer=gc.initializers.Constant(0.25))
    x = np.array([[-2.0, 3.0, -1.0]], np.float32)
    out = run(layer, x)
    (alpha,) = layer.get_weights()
    assert alpha.shape == (3,) and layer.count_params() == 3
    np.testing.assert_allclose(out, np.where(x > 0, x, 0.25 * x))
    xt = gc.placeholder((None, 3), name="x")
    d_alpha = gc.function([xt], gc.grad(gc.reduce_sum(layer(xt)), layer.alpha))(x)
    np.testing.assert_allclose(d_alpha, np.minimum(x[0], 0))   # d/dalpha of alpha*x where x < 0
    shared = L.PReLU(shared_axes=[1, 2])
    shared.build_for((None, 4, 5, 3))
    assert shared.alpha.shape == (1, 1, 3)


def test_maxout_is_dense_then_max_over_consecutive_pieces():
    layer = L.Maxout(units=3, pieces=4, seed=2)
    x = RNG.normal(size=(5, 6)).astype(np.float32)
    out = run(layer, x)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (6, 12) and layer.count_params() == 6 * 12 + 12
    assert layer.output_shape == (None, 3)
    z = x @ kernel + bias
    np.testing.assert_allclose(out, z.reshape(5, 3, 4).max(axis=2), rtol=1e-6)


def test_input_layer_declares_the_shape():
    layer = L.Input(shape=(28, 28))
    assert layer.declared_input_shape == (28, 28)
    model = gc.models.Sequential([layer, L.Flatten(), L.Dense(10)])
    assert model.built and model.output_shape == (None, 10)
    with pytest.raises(ValueError):
        L.Input()


def test_shape_errors_name_the_layer():
    layer = L.Dense(3)
    layer.build_for((None, 4))
    with pytest.raises(gc.ShapeError, match=f"{layer.name}.*built for inputs"):
        layer(gc.placeholder((None, 5)))
    with pytest.raises(gc.ShapeError, match="known number of features"):
        L.Dense(2)(gc.placeholder((None, None)))


def test_set_weights_checks_shapes():
    layer = L.Dense(2)
    layer.build_for((None, 3))
    with pytest.raises(gc.ShapeError, match="kernel"):
        layer.set_weights([np.zeros((2, 2)), np.zeros(2)])
    layer.set_weights([np.ones((3, 2)), np.full(2, 2.0)])
    assert layer.get_weights()[1].tolist() == [2.0, 2.0]


def test_frozen_layer_has_no_trainable_weights():
    layer = L.Dense(2, trainable=False)
    layer.build_for((None, 3))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


@pytest.mark.parametrize("layer", [
    L.Dense(4, activation="tanh", kernel_regularizer=gc.regularizers.L1L2(0.01, 0.02),
            kernel_initializer=gc.initializers.HeNormal(seed=3), input_shape=(7,), seed=1),
    L.Activation("sigmoid"), L.Dropout(0.3, seed=4), L.Flatten(), L.LeakyReLU(alpha=0.2),
    L.PReLU(shared_axes=[1]), L.ELU(alpha=0.7), L.Softmax(axis=1), L.Maxout(2, 3),
    L.Input(shape=(3, 4)),
])
def test_config_round_trip(layer):
    config = L.serialize(layer)
    import json
    rebuilt = L.deserialize(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()


def test_custom_layer_subclass():
    class Scale(L.Layer):
        """y = x * s with a learned scalar s."""

        def build(self, input_shape):
            self.s = self.add_weight("s", (), "ones")

        def call(self, x, training=False):
            return x * self.s

    layer = Scale()
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_allclose(run(layer, x), x)
    assert layer.count_params() == 1
    model = gc.models.Sequential([L.Input((3,)), layer])
    model.compile(gc.optimizers.SGD(0.1), "mse")
    model.fit(x, 2 * x, epochs=50, batch_size=2, verbose=0)
    assert float(layer.s.value) == pytest.approx(2.0, abs=1e-3)
