"""Embedding: gather of rows, its gradient (a scatter-add into the rows read), integer model
inputs (the placeholder's dtype, checks of the values), save/load."""
import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

RNG = np.random.default_rng(0)


def test_lookup_shapes_parameters_and_keras_initializer():
    layer = L.Embedding(50, 8, seed=0)
    ids = gc.placeholder((None, 5), "int64", name="ids")
    out = layer(ids)
    assert layer.output_shape == (None, 5, 8) and out.shape == (None, 5, 8)
    assert layer.count_params() == 400 and layer.weights[0].name.endswith("/embeddings")
    table = layer.get_weights()[0]
    assert np.abs(table).max() <= 0.05 and table.std() > 0.02         # uniform on [-0.05, 0.05]
    values = RNG.integers(0, 50, size=(3, 5))
    np.testing.assert_array_equal(gc.function([ids], out)(values), table[values])


def test_gradient_is_a_scatter_add_into_the_rows_read():
    layer = L.Embedding(6, 3, dtype="float64", seed=1)
    ids = gc.placeholder((2, 4), "int64", name="ids")
    out = layer(ids)
    weights = RNG.normal(size=(2, 4, 3))
    loss = gc.reduce_sum(out * gc.constant(weights))
    values = np.array([[0, 2, 2, 5], [2, 0, 1, 1]])
    grad = gc.function([ids], gc.grad(loss, layer.embeddings))(values)
    want = np.zeros((6, 3))
    np.add.at(want, values, weights)
    np.testing.assert_allclose(grad, want, rtol=1e-12)
    assert not grad[3].any() and not grad[4].any()                         # rows not read: no change
    gc.check_grad(loss, layer.embeddings, {ids: values})


def test_float_indices_in_a_raw_graph_are_cast():
    layer = L.Embedding(4, 2, seed=0)
    x = gc.placeholder((None, 3), "float32")
    np.testing.assert_array_equal(gc.function([x], layer(x))(np.array([[0.0, 3.0, 1.0]], np.float32)),
                                  layer.get_weights()[0][[[0, 3, 1]]])


def test_a_model_starting_with_an_embedding_feeds_int64_and_checks_values(tmp_path):
    x = RNG.integers(0, 20, size=(200, 6))
    y = (x[:, 0] > 9).astype(np.int64)               # depends on the first token only
    model = gc.models.Sequential([L.Input((6,)), L.Embedding(20, 4), L.Flatten(), L.Dense(1, activation="sigmoid")],
                                 seed=0)
    model.compile(gc.optimizers.Adam(0.05), "binary_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert model.train_function.inputs[0].dtype == np.int64
    assert model.predict_function.inputs[0].dtype == np.int64
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), model.predict(x))   # integral floats
    bad = x[:2].copy()
    bad[0, 0], bad[1, 3] = 20, 25
    with pytest.raises(ValueError, match=r"indices outside 0\.\.19 .*input_dim=20.*\[20, 25\]"):
        model.predict(bad)
    with pytest.raises(ValueError, match="integer indices"):
        model.fit(x + 0.5, y, verbose=0)
    loaded = gc.models.load_model(model.save(tmp_path / "emb.npz"))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_an_embedding_model_without_input_builds_from_the_data():
    model = gc.models.Sequential([L.Embedding(10, 3), L.LSTM(2), L.Dense(1)], seed=0)
    model.compile("adam", "mse")
    model.fit(RNG.integers(0, 10, size=(8, 4)), RNG.normal(size=(8, 1)), epochs=1, verbose=0)
    assert model.input_shape == (None, 4) and model.output_shape == (None, 1)


def test_arguments_and_config():
    with pytest.raises(ValueError, match="mask_zero"):
        L.Embedding(5, 2, mask_zero=True)
    with pytest.raises(ValueError, match="positive"):
        L.Embedding(0, 2)
    layer = L.Embedding(7, 3, embeddings_initializer=gc.initializers.RandomNormal(stddev=0.1, seed=1))
    clone = L.deserialize(L.serialize(layer))
    assert clone.get_config() == layer.get_config() and clone.input_dim == 7
