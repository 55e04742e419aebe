"""Recurrent layers: SimpleRNN, LSTM and GRU against NumPy implementations of Keras' cell
equations (written here, run with the layers' own weights), shapes, parameter counts,
initializers, gradients by finite differences, unrolling's graph size and compile time,
configuration and save/load; return_state, initial_state, masked steps and dropout (masks
drawn once per sequence) against the same references."""
import re
import time

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.layers.recurrent import time_steps

RNG = np.random.default_rng(0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- NumPy references (Keras 3's equations) ------------------------------------------------------
#
# A cell maps (x_t, states) to (output, new states). Dropout masks, when given, follow Keras 3:
# ``inputs``: one mask for all gates or one per gate, multiplying x_t; ``recurrent``: one per
# gate, multiplying h_{t-1} where it meets the recurrent kernel (implementation 1).

def _per_gate(masks, gates):
    if masks is None:
        return [1.0] * gates
    return list(masks) * gates if len(masks) == 1 else list(masks)


def _blocks(w, gates):
    units = w.shape[-1] // gates
    return [w[..., k * units:(k + 1) * units] for k in range(gates)]


def simple_rnn_cell(kernel, recurrent, bias, inputs=None, recurrent_masks=None):
    (mi,), (mr,) = _per_gate(inputs, 1), _per_gate(recurrent_masks, 1)

    def cell(x, states):
        (h,) = states
        h = np.tanh((x * mi) @ kernel + (h * mr) @ recurrent + bias)
        return h, [h]
    return cell


def lstm_cell(kernel, recurrent, bias, inputs=None, recurrent_masks=None):
    mi, mr = _per_gate(inputs, 4), _per_gate(recurrent_masks, 4)
    ks, us, bs = _blocks(kernel, 4), _blocks(recurrent, 4), _blocks(bias, 4)

    def cell(x, states):
        h, c = states
        i, f, g, o = ((x * mi[k]) @ ks[k] + bs[k] + (h * mr[k]) @ us[k] for k in range(4))  # Keras: i, f, c, o
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        return h, [h, c]
    return cell


def gru_cell(kernel, recurrent, bias, reset_after=True, inputs=None, recurrent_masks=None):
    mi, mr = _per_gate(inputs, 3), _per_gate(recurrent_masks, 3)
    ks, us = _blocks(kernel, 3), _blocks(recurrent, 3)                                       # Keras: z, r, h

    def cell(x, states):
        (h,) = states
        if reset_after:
            bi, br = _blocks(bias[0], 3), _blocks(bias[1], 3)
            xz, xr, xh = ((x * mi[k]) @ ks[k] + bi[k] for k in range(3))
            hz, hr, hh = ((h * mr[k]) @ us[k] + br[k] for k in range(3))
            z, r = sigmoid(xz + hz), sigmoid(xr + hr)
            candidate = np.tanh(xh + r * hh)
        else:
            bb = _blocks(bias, 3)
            xz, xr, xh = ((x * mi[k]) @ ks[k] + bb[k] for k in range(3))
            z = sigmoid(xz + (h * mr[0]) @ us[0])
            r = sigmoid(xr + (h * mr[1]) @ us[1])
            candidate = np.tanh(xh + (r * (h * mr[2])) @ us[2])
        h = z * h + (1 - z) * candidate
        return h, [h]
    return cell


def ref_run(cell, x, states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """Keras' masked recurrence: a masked step keeps every state and emits the previous output
    (zeros with zero_output_for_mask). Returns (outputs (batch, steps, units), final states)."""
    states = [np.array(s, dtype=np.float64) for s in states]
    outputs = []
    order = range(x.shape[1])[::-1] if go_backwards else range(x.shape[1])
    for t in order:
        out, new = cell(x[:, t], states)
        if mask is not None:
            keep = mask[:, t][:, None]
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
            out = np.where(keep, out, 0.0) if zero_output_for_mask else new[0]
        states = new
        outputs.append(out)
    return np.stack(outputs, axis=1), states


def zeros(x, units, count):
    return [np.zeros((x.shape[0], units))] * count


def ref_simple_rnn(x, kernel, recurrent, bias):
    return ref_run(simple_rnn_cell(kernel, recurrent, bias), x, zeros(x, recurrent.shape[0], 1))[0]


def ref_lstm(x, kernel, recurrent, bias):
    return ref_run(lstm_cell(kernel, recurrent, bias), x, zeros(x, recurrent.shape[0], 2))[0]


def ref_gru(x, kernel, recurrent, bias, reset_after=True):
    return ref_run(gru_cell(kernel, recurrent, bias, reset_after), x, zeros(x, recurrent.shape[0], 1))[0]


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
    with pytest.raises(ValueError, match=r"stateful=True is not supported.*return_state=True.*initial_state"):
        L.LSTM(4, stateful=True)
    with pytest.raises(ValueError, match=r"GRU: recurrent_dropout must be in \[0, 1\)"):
        L.GRU(4, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="dropout"):
        L.SimpleRNN(4, dropout=-0.1)


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


# -- return_state, initial_state, masks, dropout ---------------------------------------------------

STATEFUL = [  # (name, constructor, reference cell, number of states)
    ("SimpleRNN", lambda **kw: L.SimpleRNN(4, seed=11, **kw), simple_rnn_cell, 1),
    ("LSTM", lambda **kw: L.LSTM(4, seed=12, **kw), lstm_cell, 2),
    ("GRU", lambda **kw: L.GRU(4, seed=13, **kw), gru_cell, 1),
    ("GRU-reset-before", lambda **kw: L.GRU(4, reset_after=False, seed=14, **kw),
     lambda *w, **kw: gru_cell(*w, reset_after=False, **kw), 1),
]
STATEFUL_IDS = [c[0] for c in STATEFUL]


def built(make, steps=6, features=3, dtype="float32", **kwargs):
    layer = make(dtype=dtype, **kwargs)
    layer.build_for((None, steps, features))
    randomize_bias(layer)
    return layer


def weights64(layer):
    return [w.astype(np.float64) for w in layer.get_weights()]


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
@pytest.mark.parametrize("sequences", [False, True])
def test_return_state_gives_the_final_states(name, make, cell, count, sequences):
    layer = built(make, return_state=True, return_sequences=sequences)
    x = gc.placeholder((None, 6, 3), name="x")
    outputs = layer(x)
    assert isinstance(outputs, list) and len(outputs) == 1 + count
    out_shape = (None, 6, 4) if sequences else (None, 4)
    assert layer.output_shape == (out_shape,) + ((None, 4),) * count      # Keras 3: (output, *states)
    assert [o.shape for o in outputs] == [out_shape] + [(None, 4)] * count
    data = RNG.normal(size=(3, 6, 3))
    got = gc.function([x], outputs)(data.astype(np.float32))
    want_seq, want_states = ref_run(cell(*weights64(layer)), data, zeros(data, 4, count))
    np.testing.assert_allclose(got[0], want_seq if sequences else want_seq[:, -1], rtol=2e-5, atol=2e-6)
    for g, w in zip(got[1:], want_states):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
def test_initial_state_starts_the_recurrence(name, make, cell, count):
    """An encoder's final states start a decoder (another layer, other inputs): the decoder's
    outputs are the reference recurrence started from the encoder's reference states."""
    encoder = built(make, steps=5, return_state=True)
    decoder = built(make, steps=4, features=2, return_sequences=True)
    source, target = gc.placeholder((None, 5, 3), name="source"), gc.placeholder((None, 4, 2), name="target")
    _, *states = encoder(source)
    out = decoder(target, initial_state=states)
    xs, xt = RNG.normal(size=(3, 5, 3)), RNG.normal(size=(3, 4, 2))
    got = gc.function([source, target], out)(xs.astype(np.float32), xt.astype(np.float32))
    _, enc_states = ref_run(cell(*weights64(encoder)), xs, zeros(xs, 4, count))
    want, _ = ref_run(cell(*weights64(decoder)), xt, enc_states)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    # NumPy arrays as initial states (cast to the layer's dtype), one tensor for one state
    h0 = [RNG.normal(size=(3, 4)) for _ in range(count)]
    given = h0[0] if count == 1 else h0
    got = gc.function([target], decoder(target, initial_state=given))(xt.astype(np.float32))
    np.testing.assert_allclose(got, ref_run(cell(*weights64(decoder)), xt, h0)[0], rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
def test_gradients_reach_the_initial_state(name, make, cell, count):
    layer = built(make, steps=4, dtype="float64", return_sequences=True)
    x = gc.placeholder((2, 4, 3), "float64", name="x")
    states = [gc.placeholder((2, 4), "float64", name=f"s{k}") for k in range(count)]
    out = layer(x, initial_state=states)
    loss = gc.reduce_sum(out * gc.constant(RNG.normal(size=(2, 4, 4))))
    feed = {x: RNG.normal(size=(2, 4, 3)), **{s: RNG.normal(size=(2, 4)) for s in states}}
    gc.check_grad(loss, states + [layer.recurrent_kernel], feed)


def test_initial_state_and_return_state_errors():
    x = gc.placeholder((None, 5, 3), name="x")
    with pytest.raises(ValueError, match=r"lstm_e \(LSTM\): initial_state must be \[h, c\], 2 tensor\(s\).*got 1"):
        L.LSTM(4, name="lstm_e")(x, initial_state=[gc.placeholder((None, 4))])
    with pytest.raises(gc.ShapeError, match=r"gru_e \(GRU\): initial state h must be \(batch, units\) = \(\?, 4\)"):
        L.GRU(4, name="gru_e")(x, initial_state=gc.placeholder((None, 5), name="h0"))
    with pytest.raises(gc.DTypeError, match="initial state h must be a float tensor"):
        L.SimpleRNN(4)(x, initial_state=[gc.placeholder((None, 4), "int64")])
    with pytest.raises(ValueError, match=r"return_state=True.*Sequential model passes one tensor"):
        gc.models.Sequential([L.Input((5, 3)), L.LSTM(4, return_state=True), L.Dense(1)])


MASK = np.array([[1, 1, 0, 1, 0, 0],      # holes in the middle and trailing padding
                 [0, 0, 1, 1, 1, 1],      # leading padding
                 [1, 1, 1, 1, 1, 1],
                 [0, 0, 0, 0, 0, 0]],     # nothing at all: the initial state throughout
                bool)


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
@pytest.mark.parametrize("variant", ["plain", "go_backwards", "zero_output", "initial_state"])
def test_masked_steps_carry_the_state_against_numpy(name, make, cell, count, variant):
    kwargs = {"go_backwards": variant == "go_backwards", "zero_output_for_mask": variant == "zero_output"}
    layer = built(make, return_sequences=True, return_state=True, **kwargs)
    x, m = gc.placeholder((None, 6, 3), name="x"), gc.placeholder((None, 6), "bool", name="m")
    states0 = [RNG.normal(size=(4, 4)) for _ in range(count)] if variant == "initial_state" else None
    outputs = layer(x, mask=m, initial_state=states0)
    data = RNG.normal(size=(4, 6, 3))
    got = gc.function([x, m], outputs)(data.astype(np.float32), MASK)
    want_seq, want_states = ref_run(cell(*weights64(layer)), data, states0 or zeros(data, 4, count), mask=MASK,
                                    go_backwards=kwargs["go_backwards"],
                                    zero_output_for_mask=kwargs["zero_output_for_mask"])
    np.testing.assert_allclose(got[0], want_seq, rtol=2e-5, atol=2e-6)
    for g, w in zip(got[1:], want_states):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6)
    if variant == "plain":      # a masked step repeats the previous output; the empty row stays at zero
        np.testing.assert_array_equal(got[0][0, 2], got[0][0, 1])
        np.testing.assert_array_equal(got[0][0, 5], got[0][0, 3])
        assert not got[0][3].any() and not got[0][1, :2].any()


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
def test_mask_passes_on_with_return_sequences_only(name, make, cell, count):
    x, m = gc.placeholder((None, 6, 3), name="x"), gc.placeholder((None, 6), "bool", name="m")
    seq = make(return_sequences=True)(x, mask=m)
    assert L.get_mask(seq) is m
    assert L.get_mask(make()(x, mask=m)) is None
    # a Dense on the sequence keeps it (acts on each step), the next recurrent layer reads it
    dense = L.Dense(2)(seq)
    assert L.get_mask(dense) is m
    second = L.GRU(3, seed=0)
    data = RNG.normal(size=(4, 6, 3)).astype(np.float32)
    last = gc.function([x, m], second(dense))(data, MASK)
    np.testing.assert_array_equal(last[3], 0.0)           # all steps masked: never left the zero state


def test_masked_gradients_match_finite_differences():
    layer = L.LSTM(3, return_sequences=True, dtype="float64", seed=1)
    x = gc.placeholder((4, 6, 2), "float64", name="x")
    out = layer(x, mask=gc.constant(MASK))
    randomize_bias(layer)
    loss = gc.reduce_sum(out * gc.constant(RNG.normal(size=(4, 6, 3))))
    gc.check_grad(loss, [x, *layer.weights], {x: RNG.normal(size=(4, 6, 2))})


# dropout: the equations with known masks (the layer's mask drawing replaced by fixed arrays)

def _fixed_masks(monkeypatch, rng):
    """Replace the random draw by fixed Bernoulli masks scaled by 1/(1 - rate); returns the
    masks drawn, by stream ("inputs" / "recurrent")."""
    from graphc.layers.recurrent import DropoutMasks
    drawn = {}

    def draw(self, ref, rate, stream):
        kind = "inputs" if stream == 1 << 16 else "recurrent"
        shape = (4, ref.shape[1])
        arrays = [(rng.random(shape) >= rate) / (1.0 - rate) for _ in range(self.count)]
        drawn[kind] = arrays
        return [gc.constant(a.astype(np.float32)) for a in arrays]
    monkeypatch.setattr(DropoutMasks, "_draw", draw)
    return drawn


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.0, 0.4), (0.3, 0.4)], ids=["dropout", "recurrent", "both"])
def test_dropout_equations_with_known_masks(monkeypatch, name, make, cell, count, rates):
    drawn = _fixed_masks(monkeypatch, np.random.default_rng(5))
    layer = built(make, return_sequences=True, dropout=rates[0], recurrent_dropout=rates[1])
    x = gc.placeholder((4, 6, 3), name="x")
    data = RNG.normal(size=(4, 6, 3))
    got = gc.function([x], layer(x, training=True))(data.astype(np.float32))
    gates = {"SimpleRNN": 1, "LSTM": 4}.get(name, 3)
    # Keras 3: one input mask for all gates unless recurrent dropout is on (then one per gate)
    assert len(drawn.get("inputs", [])) == (0 if not rates[0] else gates if rates[1] else 1)
    assert len(drawn.get("recurrent", [])) == (gates if rates[1] else 0)
    ref_cell = cell(*weights64(layer), inputs=drawn.get("inputs"), recurrent_masks=drawn.get("recurrent"))
    np.testing.assert_allclose(got, ref_run(ref_cell, data, zeros(data, 4, count))[0], rtol=2e-5, atol=2e-6)
    # the inference graph has no dropout at all
    plain = gc.function([x], layer(x, training=False))(data.astype(np.float32))
    np.testing.assert_allclose(plain, ref_run(cell(*weights64(layer)), data, zeros(data, 4, count))[0],
                               rtol=2e-5, atol=2e-6)


def _linear_rnn(units, kernel, recurrent, bias, **kwargs):
    layer = L.SimpleRNN(units, activation=None, return_sequences=True, seed=3, **kwargs)
    layer.build_for((None, 5, units))
    layer.set_weights([kernel, recurrent, bias])
    return layer


def test_input_dropout_mask_is_drawn_once_per_sequence_and_fresh_each_call():
    """h_t = x_t ⊙ m (kernel I, no recurrence): with x = 1 every step shows the mask itself."""
    units = 64
    layer = _linear_rnn(units, np.eye(units, dtype=np.float32), np.zeros((units, units), np.float32),
                        np.zeros(units, np.float32), dropout=0.25)
    x = gc.placeholder((None, 5, units), name="x")
    step = gc.function([x], layer(x, training=True))
    ones = np.ones((32, 5, units), np.float32)
    first, second = step(ones), step(ones)
    for out in (first, second):
        np.testing.assert_array_equal(out, np.repeat(out[:, :1], 5, axis=1))      # the same mask at every step
        assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}                   # inverted scaling
        assert 0.15 < np.mean(out == 0) < 0.35
    assert not np.array_equal(first, second)                                       # fresh masks per call
    np.testing.assert_array_equal(gc.function([x], layer(x, training=True))(ones), first)  # seeded: replayed
    np.testing.assert_array_equal(gc.function([x], layer(x))(ones), ones)           # inference: no dropout


def test_recurrent_dropout_mask_is_drawn_once_per_sequence():
    """h_t = 1 + (h_{t-1} ⊙ m) (kernel 0, recurrent I, bias 1): h_1 = 1, h_2 = 1 + m,
    h_3 = 1 + m ⊙ h_2, ... with one mask m for every step."""
    units = 64
    layer = _linear_rnn(units, np.zeros((units, units), np.float32), np.eye(units, dtype=np.float32),
                        np.ones(units, np.float32), recurrent_dropout=0.5)
    x = gc.placeholder((None, 5, units), name="x")
    out = gc.function([x], layer(x, training=True))(np.zeros((16, 5, units), np.float32))
    m = out[:, 1] - 1.0
    assert set(np.unique(m)) <= {0.0, 2.0} and 0.3 < np.mean(m == 0) < 0.7
    for t in range(2, 5):
        np.testing.assert_allclose(out[:, t], 1.0 + m * out[:, t - 1], rtol=1e-6)


@pytest.mark.parametrize("name,make,cell,count", STATEFUL, ids=STATEFUL_IDS)
def test_dropout_draws_a_fixed_number_of_masks_whatever_the_length(name, make, cell, count):
    from graphc.ir.graph import topological_order
    gates = {"SimpleRNN": 1, "LSTM": 4}.get(name, 3)
    for steps in (3, 8):
        layer = make(dropout=0.2, recurrent_dropout=0.3)
        out = layer(gc.placeholder((None, steps, 2)), training=True)
        draws = [n for n in topological_order([out]) if n.op.startswith("random")]
        assert len(draws) == 2 * gates, (steps, len(draws))


def test_a_model_with_recurrent_dropout_trains_in_one_compiled_step():
    x = RNG.choice([-1.0, 0.0, 1.0], size=(256, 8, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    model = gc.models.Sequential([L.Input((8, 1)), L.GRU(8, dropout=0.1, recurrent_dropout=0.1),
                                  L.Dense(1, activation="sigmoid")], seed=0)
    model.compile(gc.optimizers.Adam(0.02), "binary_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert sum(n.op.startswith("random") for n in model.train_function.graph.nodes) >= 6
    np.testing.assert_array_equal(model.predict(x), model.predict(x))           # inference is deterministic


@pytest.mark.parametrize("layer", [L.LSTM(3, return_state=True, dropout=0.1, recurrent_dropout=0.2, seed=4),
                                   L.GRU(2, zero_output_for_mask=True, go_backwards=True)])
def test_new_arguments_round_trip(layer):
    clone = L.deserialize(L.serialize(layer))
    assert clone.get_config() == layer.get_config()
    assert (clone.return_state, clone.dropout, clone.recurrent_dropout, clone.zero_output_for_mask) == \
        (layer.return_state, layer.dropout, layer.recurrent_dropout, layer.zero_output_for_mask)


@pytest.mark.parametrize("unroll", [True, False])
def test_unroll_is_kept_in_the_config_and_gives_the_same_values(unroll):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    kw = dict(kernel_initializer="ones", recurrent_initializer="zeros")
    a = L.LSTM(4, unroll=unroll, **kw)
    b = L.LSTM(4, **kw)
    xa = gc.placeholder((None, 5, 3), "float32", name="x")
    fa, fb = gc.function([xa], a(xa)), gc.function([xa], b(xa))
    np.testing.assert_array_equal(fa(x), fb(x))
    assert a.get_config()["unroll"] is unroll
    assert L.deserialize(L.serialize(a)).unroll is unroll


def test_unroll_must_be_a_bool():
    with pytest.raises(TypeError, match="unroll must be True or False"):
        L.GRU(3, unroll="yes")
