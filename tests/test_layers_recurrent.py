"""Recurrent layers: SimpleRNN, LSTM and GRU against NumPy implementations of Keras' cell
equations (written here, run with the layers' own weights), shapes, parameter counts,
initializers, gradients by finite differences, unrolling's graph size and compile time,
configuration and save/load."""
import re
import time

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.layers_recurrent import time_steps

RNG = np.random.default_rng(0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- NumPy references (Keras 3's equations) ------------------------------------------------------

def ref_simple_rnn(x, kernel, recurrent, bias):
    h, hs = np.zeros((x.shape[0], kernel.shape[1])), []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        hs.append(h)
    return np.stack(hs, axis=1)


def ref_lstm(x, kernel, recurrent, bias):
    units = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], units))
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))     # Keras: i, f, c, o
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, axis=1)


def ref_gru(x, kernel, recurrent, bias, reset_after=True):
    units = recurrent.shape[0]
    h, hs = np.zeros((x.shape[0], units)), []

    def split(z):
        return [z[:, k * units:(k + 1) * units] for k in range(3)]               # Keras: z, r, h
    for t in range(x.shape[1]):
        if reset_after:
            xz, xr, xh = split(x[:, t] @ kernel + bias[0])
            hz, hr, hh = split(h @ recurrent + bias[1])
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            candidate = np.tanh(xh + r * hh)
        else:
            xz, xr, xh = split(x[:, t] @ kernel + bias)
            z = sigmoid(xz + h @ recurrent[:, :units])
            r = sigmoid(xr + h @ recurrent[:, units:2 * units])
            candidate = np.tanh(xh + (r * h) @ recurrent[:, 2 * units:])
        h = z * h + (1 - z) * candidate
        hs.append(h)
    return np.stack(hs, axis=1)


def run(layer, x, dtype="float32"):
    p = gc.placeholder((None,) + x.shape[1:], dtype, name="x")
    return gc.function([p], layer(p))(x.astype(dtype))


def randomize_bias(layer):
    """Non-zero biases, so that the references check where each bias enters."""
    weights = layer.get_weights()
    weights[-1] = RNG.normal(scale=0.5, size=weights[-1].shape).astype(weights[-1].dtype)
    layer.set_weights(weights)


CASES = [
    ("SimpleRNN", lambda **kw: L.SimpleRNN(5, seed=1, **kw), ref_simple_rnn),
    ("LSTM", lambda **kw: L.LSTM(5, seed=2, **kw), ref_lstm),
    ("GRU", lambda **kw: L.GRU(5, seed=3, **kw), ref_gru),
    ("GRU-reset-before", lambda **kw: L.GRU(5, reset_after=False, seed=4, **kw),
     lambda *a: ref_gru(*a, reset_after=False)),
]


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_the_numpy_cell_equations(name, make, ref):
    x = RNG.normal(size=(4, 7, 3))
    seq_layer = make(return_sequences=True)
    seq_layer.build_for((None, 7, 3))
    randomize_bias(seq_layer)
    want = ref(x, *[w.astype(np.float64) for w in seq_layer.get_weights()])
    got = run(seq_layer, x)
    assert got.shape == (4, 7, 5) and seq_layer.output_shape == (None, 7, 5)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)

    last = make()
    last.build_for((None, 7, 3))
    last.set_weights(seq_layer.get_weights())
    out = run(last, x)
    assert out.shape == (4, 5) and last.output_shape == (None, 5)
    np.testing.assert_allclose(out, want[:, -1], rtol=2e-5, atol=2e-6)

    backwards = make(go_backwards=True, return_sequences=True)
    backwards.build_for((None, 7, 3))
    backwards.set_weights(seq_layer.get_weights())
    want_back = ref(x[:, ::-1], *[w.astype(np.float64) for w in seq_layer.get_weights()])
    np.testing.assert_allclose(run(backwards, x), want_back, rtol=2e-5, atol=2e-6)


def test_float64_layers_match_to_float64_precision():
    layer = L.LSTM(3, dtype="float64", seed=0, return_sequences=True)
    layer.build_for((None, 5, 2))
    randomize_bias(layer)
    x = RNG.normal(size=(2, 5, 2))
    np.testing.assert_allclose(run(layer, x, "float64"), ref_lstm(x, *layer.get_weights()), rtol=1e-12)


def test_parameter_counts_match_keras():
    def built(layer, shape):
        layer.build_for(shape)
        return layer
    lstm = built(L.LSTM(64), (None, 10, 32))
    assert lstm.count_params() == 4 * (64 * (32 + 64) + 64) == 24832
    assert [w.shape for w in lstm.weights] == [(32, 256), (64, 256), (256,)]
    gru = built(L.GRU(16), (None, 10, 8))
    assert gru.count_params() == 3 * (16 * (8 + 16) + 2 * 16)
    assert [w.shape for w in gru.weights] == [(8, 48), (16, 48), (2, 48)]
    assert built(L.GRU(16, reset_after=False), (None, 10, 8)).count_params() == 3 * (16 * (8 + 16) + 16)
    assert built(L.SimpleRNN(7), (None, 4, 3)).count_params() == 7 * (3 + 7) + 7
    assert built(L.SimpleRNN(7, use_bias=False), (None, 4, 3)).count_params() == 7 * (3 + 7)
    assert [w.name.split("/")[1] for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]


def test_summary_shows_sequences_with_a_none_batch():
    model = gc.models.Sequential([L.Input((12, 32)), L.LSTM(64, return_sequences=True), L.GRU(8),
                                  L.Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert re.search(r"│ lstm(_\d+)? \(LSTM\) +│ \(None, 12, 64\) +│ +24,832 │", text), text
    assert re.search(rf"│ gru(_\d+)? \(GRU\) +│ \(None, 8\) +│ +{3 * (8 * (64 + 8) + 16):,} │", text), text


def test_keras_initializers():
    lstm = L.LSTM(6, seed=5)
    lstm.build_for((None, 3, 10))
    kernel, recurrent, bias = lstm.get_weights()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(6), np.ones(6), np.zeros(12)])    # unit_forget_bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-5)             # orthogonal rows
    limit = np.sqrt(6 / (10 + 24))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit           # Glorot uniform
    plain = L.LSTM(6, unit_forget_bias=False, seed=5)
    plain.build_for((None, 3, 10))
    assert not plain.get_weights()[2].any()
    gru = L.GRU(4, seed=1)
    gru.build_for((None, 3, 2))
    assert not gru.get_weights()[2].any()


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_finite_differences(name, make, ref):
    layer = make(return_sequences=True, dtype="float64")
    x = gc.placeholder((2, 4, 3), "float64", name="x")
    out = layer(x)
    randomize_bias(layer)
    weights = gc.constant(RNG.normal(size=(2, 4, 5)))
    loss = gc.reduce_sum(out * weights)
    gc.check_grad(loss, [x, *layer.weights], {x: RNG.normal(size=(2, 4, 3))})


def test_stacked_recurrent_layers_take_the_states_not_slices_of_their_stack():
    x = gc.placeholder((None, 6, 3), name="x")
    first = L.LSTM(4, return_sequences=True, seed=0)
    seq = first(x)
    steps = time_steps(seq, 6)
    assert all(s.op != "getitem" for s in steps) and [s.shape for s in steps] == [(None, 4)] * 6
    assert all(s.op == "getitem" for s in time_steps(x, 6))
    second = L.GRU(2, seed=1)
    out = second(seq)
    data = RNG.normal(size=(3, 6, 3)).astype(np.float32)
    reference = ref_gru(ref_lstm(data, *first.get_weights()), *second.get_weights())[:, -1]
    np.testing.assert_allclose(gc.function([x], out)(data), reference, rtol=2e-5, atol=2e-6)


def _lstm_train_step(steps):
    model = gc.models.Sequential([L.Input((steps, 8)), L.LSTM(32), L.Dense(1)], seed=0)
    model.compile("adam", "mse")
    return model


def test_long_sequences_unroll_linearly_and_compile_fast():
    """T = 100 steps: the training step's graph grows linearly with T and compiles in seconds."""
    sizes = {}
    for steps in (50, 100):
        model = _lstm_train_step(steps)
        start = time.perf_counter()
        fn = model.train_function
        x = RNG.normal(size=(16, steps, 8)).astype(np.float32)
        loss = fn(x, RNG.normal(size=(16, 1)).astype(np.float32), np.ones(16, np.float32))[0]
        seconds = time.perf_counter() - start
        assert np.isfinite(loss)
        sizes[steps] = len(fn.source_graph)
    assert 1.8 < sizes[100] / sizes[50] < 2.2, sizes
    assert seconds < 30, f"LSTM over 100 steps took {seconds:.1f} s to build and compile"


def test_shape_errors_name_the_layer_and_what_to_do():
    with pytest.raises(gc.ShapeError, match=r"lstm.*number of time steps.*input_shape=\(steps, features\)"):
        L.LSTM(3, name="lstm_x")(gc.placeholder((None, None, 4)))
    with pytest.raises(gc.ShapeError, match="expects sequences"):
        L.GRU(3)(gc.placeholder((None, 4)))
    with pytest.raises(ValueError, match="units"):
        L.SimpleRNN(0)
    with pytest.raises(ValueError, match="put a gc.layers.Dropout"):
        L.LSTM(4, recurrent_dropout=0.1)


def test_training_learns_and_save_load_predicts_identically(tmp_path):
    x = RNG.choice([-1.0, 0.0, 1.0], size=(600, 10, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)                 # sign of the running sum at the end
    model = gc.models.Sequential([L.Input((10, 1)), L.SimpleRNN(8, return_sequences=True), L.LSTM(8),
                                  L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(gc.optimizers.Adam(0.02), "binary_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.85
    path = model.save(tmp_path / "rnn.npz")
    loaded = gc.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == ["SimpleRNN", "LSTM", "Dense"]
    assert loaded.layers[0].return_sequences and loaded.layers[1].unit_forget_bias
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("layer", [L.GRU(3, reset_after=False, go_backwards=True), L.LSTM(2, activation="relu"),
                                   L.SimpleRNN(4, return_sequences=True, recurrent_initializer="glorot_uniform")])
def test_config_round_trip(layer):
    clone = L.deserialize(L.serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (2, 3, 5)])
def test_orthogonal_initializer(shape):
    init = gc.initializers.get("orthogonal")
    q = gc.initializers.Orthogonal(gain=2.0, seed=3)(shape, "float64")
    assert q.shape == shape
    flat = q.reshape(-1, shape[-1]) / 2.0
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    np.testing.assert_array_equal(q, gc.initializers.Orthogonal(gain=2.0, seed=3)(shape, "float64"))
    assert isinstance(init, gc.initializers.Orthogonal)
    clone = gc.initializers.deserialize(gc.initializers.serialize(gc.initializers.Orthogonal(0.5, seed=1)))
    assert clone.get_config() == {"gain": 0.5, "seed": 1}
