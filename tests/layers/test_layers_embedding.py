"""Embedding: gather of rows, its gradient (a scatter-add into the rows read), integer model
inputs (the placeholder's dtype, checks of the values), save/load; mask_zero: the mask reaches
the recurrent layers and GlobalAveragePooling1D (against a NumPy reference of the masked
recurrence; padding, before or after, changes nothing)."""
import warnings

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
    with pytest.raises(ValueError, match=r"mask_zero=True index 0 is padding.*at least 2"):
        L.Embedding(1, 2, mask_zero=True)
    with pytest.raises(ValueError, match="positive"):
        L.Embedding(0, 2)
    layer = L.Embedding(7, 3, embeddings_initializer=gc.initializers.RandomNormal(stddev=0.1, seed=1))
    clone = L.deserialize(L.serialize(layer))
    assert clone.get_config() == layer.get_config() and clone.input_dim == 7 and not clone.mask_zero
    masked = L.deserialize(L.serialize(L.Embedding(7, 3, mask_zero=True)))
    assert masked.mask_zero and masked.get_config()["mask_zero"] is True


# -- mask_zero -----------------------------------------------------------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_masked_lstm(vectors, mask, kernel, recurrent, bias):
    """Keras' LSTM over (batch, steps, features) where masked steps keep h and c."""
    units = recurrent.shape[0]
    h = c = np.zeros((vectors.shape[0], units))
    for t in range(vectors.shape[1]):
        z = vectors[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c_new = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h_new = sigmoid(o) * np.tanh(c_new)
        keep = mask[:, t][:, None]
        h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
    return h


def test_mask_zero_attaches_ids_not_zero():
    layer = L.Embedding(10, 3, mask_zero=True, seed=0)
    ids = gc.placeholder((None, 5), "int64", name="ids")
    out = layer(ids)
    mask = L.get_mask(out)
    assert mask.dtype == np.bool_ and mask.shape == (None, 5)
    values = np.array([[3, 0, 4, 0, 0], [0, 0, 1, 2, 9]])
    got_out, got_mask = gc.function([ids], [out, mask])(values)
    np.testing.assert_array_equal(got_mask, values != 0)
    np.testing.assert_array_equal(got_out, layer.get_weights()[0][values])     # index 0 is still looked up
    assert L.get_mask(L.Embedding(10, 3)(ids)) is None


def test_masked_lstm_against_numpy_and_padding_changes_nothing():
    embedding, lstm = L.Embedding(12, 4, mask_zero=True, seed=1), L.LSTM(5, seed=2)
    ids = gc.placeholder((None, 7), "int64", name="ids")
    predict = gc.function([ids], lstm(embedding(ids)))
    tokens = RNG.integers(1, 12, size=(4, 4))
    post = np.pad(tokens, ((0, 0), (0, 3)))                      # zeros after the tokens
    pre = np.pad(tokens, ((0, 0), (3, 0)))                       # zeros before
    holes = np.insert(tokens, [1, 2, 2], 0, axis=1)               # zeros between them
    table, weights = embedding.get_weights()[0].astype(np.float64), [w.astype(np.float64) for w in lstm.get_weights()]
    for padded in (post, pre, holes):
        got = predict(padded)
        np.testing.assert_allclose(got, ref_masked_lstm(table[padded], padded != 0, *weights), rtol=2e-5, atol=2e-6)
    # the same layers' weights on the unpadded length-4 sequences
    short_embedding, short_lstm = L.Embedding(12, 4, mask_zero=True), L.LSTM(5)
    short_ids = gc.placeholder((None, 4), "int64", name="short")
    short_out = short_lstm(short_embedding(short_ids))
    short_embedding.set_weights(embedding.get_weights())
    short_lstm.set_weights(lstm.get_weights())
    unpadded = gc.function([short_ids], short_out)(tokens)
    for padded in (post, pre, holes):
        np.testing.assert_allclose(predict(padded), unpadded, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("recurrent", [L.SimpleRNN, L.GRU])
def test_mask_flows_through_a_sequential_model(recurrent):
    """Embedding(mask_zero) -> RNN(return_sequences) -> Dense -> RNN -> Dense: padded inputs
    predict what the tokens alone predict, in predict, evaluate and fit."""
    def model_for(steps):
        return gc.models.Sequential([L.Input((steps,)), L.Embedding(9, 4, mask_zero=True),
                                     recurrent(6, return_sequences=True), L.Dense(5, activation="tanh"),
                                     recurrent(3), L.Dense(1, activation="sigmoid")], seed=4)
    long, short = model_for(8), model_for(5)
    short.set_weights(long.get_weights())
    tokens = RNG.integers(1, 9, size=(6, 5))
    padded = np.pad(tokens, ((0, 0), (0, 3)))
    np.testing.assert_allclose(long.predict(padded), short.predict(tokens), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(long.predict(np.pad(tokens, ((0, 0), (3, 0)))), short.predict(tokens),
                               rtol=1e-5, atol=1e-6)
    long.compile("adam", "binary_crossentropy")
    short.compile("adam", "binary_crossentropy")
    y = RNG.integers(0, 2, size=(6, 1))
    np.testing.assert_allclose(long.evaluate(padded, y), short.evaluate(tokens, y), rtol=1e-5)


def test_masked_global_average_pooling_is_the_mean_over_the_tokens():
    embedding, pooling = L.Embedding(6, 3, mask_zero=True, seed=0), L.GlobalAveragePooling1D()
    ids = gc.placeholder((None, 5), "int64", name="ids")
    out = pooling(embedding(ids))
    assert L.get_mask(out) is None                                   # consumed
    values = np.array([[1, 2, 0, 0, 0], [0, 3, 3, 5, 0], [4, 4, 4, 4, 4]])
    table = embedding.get_weights()[0]
    want = [table[row[row != 0]].mean(axis=0) for row in values]
    np.testing.assert_allclose(gc.function([ids], out)(values), want, rtol=1e-6, atol=1e-7)


def test_a_masked_model_learns_a_task_with_variable_lengths(tmp_path):
    """The label depends on the LAST token of sequences of 2..8 tokens, padded after with zeros:
    with the padding skipped, that token is the LSTM's last real input whatever the length."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 9, size=600)
    x = np.zeros((600, 8), np.int64)
    for row, n in zip(x, lengths):
        row[:n] = rng.integers(1, 11, size=n)
    y = (x[np.arange(600), lengths - 1] > 5).astype(np.int64)
    model = gc.models.Sequential([L.Input((8,)), L.Embedding(11, 8, mask_zero=True), L.LSTM(16),
                                  L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(gc.optimizers.Adam(0.02), "binary_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    loaded = gc.models.load_model(model.save(tmp_path / "masked.npz"))
    assert loaded.layers[0].mask_zero
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_layer_without_masking_drops_the_mask_with_a_warning():
    ids = gc.placeholder((None, 4), "int64", name="ids")
    vectors = L.Embedding(5, 2, mask_zero=True)(ids)
    with pytest.warns(UserWarning, match=r"flatten(_\d+)? \(Flatten\) was given an input with a mask"):
        flat = L.Flatten()(vectors)
    assert L.get_mask(flat) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert L.get_mask(L.Dropout(0.5)(vectors)) is L.get_mask(vectors)    # per-step layers keep it
