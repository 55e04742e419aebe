"""Masking, TimeDistributed, Bidirectional and masked losses/metrics, against independent
references: NumPy loops over the time steps with the NumPy cell equations of
tests/layers/test_layers_recurrent.py (Keras 3's), hand-written loss formulas, finite differences;
and behaviour: padding (before or after the data, or in the labels of padded steps) changes
no prediction, loss or metric; a masked model trains in its one compiled step."""
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L
from graphc.layers.recurrent import time_steps
from tests.layers.test_layers_recurrent import gru_cell, lstm_cell, ref_run, simple_rnn_cell

RNG = np.random.default_rng(5)

# (name, constructor, NumPy cell, number of states)
RECURRENT = [
    ("SimpleRNN", lambda **kw: L.SimpleRNN(4, **kw), simple_rnn_cell, 1),
    ("LSTM", lambda **kw: L.LSTM(4, **kw), lstm_cell, 2),
    ("GRU", lambda **kw: L.GRU(4, **kw), gru_cell, 1),
]
RECURRENT_IDS = [r[0] for r in RECURRENT]

MASK = np.array([[1, 1, 1, 1, 0, 0],      # trailing padding
                 [0, 0, 1, 1, 1, 1],      # leading padding
                 [1, 0, 1, 1, 0, 1],      # holes
                 [1, 1, 1, 1, 1, 1],
                 [0, 0, 0, 0, 0, 0]],     # nothing at all
                bool)


def weights64(layer):
    return [w.astype(np.float64) for w in layer.get_weights()]


def randomize(layer, scale=0.5):
    """Non-zero biases (and random weights elsewhere), so the references see every term."""
    layer.set_weights([RNG.normal(scale=scale, size=w.shape).astype(w.dtype) for w in layer.get_weights()])


def zero_states(batch, units, count):
    return [np.zeros((batch, units))] * count


MERGES = {"concat": lambda f, b: np.concatenate([f, b], axis=-1), "sum": lambda f, b: f + b,
          "mul": lambda f, b: f * b, "ave": lambda f, b: (f + b) / 2}


def ref_bidirectional(wrapper, cell, count, x, mask=None, states=None):
    """Keras' Bidirectional in NumPy: the forward run, the backward run (go_backwards, the mask
    reversed with the sequence), masked steps of a returned sequence zeroed, the backward
    sequence flipped back. Returns (forward output, backward output, forward states, backward states)."""
    sequences = wrapper.return_sequences
    states = states or zero_states(len(x), 4, 2 * count)
    fwd, fwd_states = ref_run(cell(*weights64(wrapper.forward_layer)), x, states[:count], mask=mask,
                              zero_output_for_mask=sequences)
    bwd, bwd_states = ref_run(cell(*weights64(wrapper.backward_layer)), x, states[count:], mask=mask,
                              go_backwards=True, zero_output_for_mask=sequences)
    if sequences:
        return fwd, bwd[:, ::-1], fwd_states, bwd_states
    return fwd[:, -1], bwd[:, -1], fwd_states, bwd_states


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=3e-5, atol=3e-6)


# -- Masking -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_zeroes_padding_steps_and_makes_the_mask(mask_value):
    x = RNG.normal(size=(3, 5, 2)).astype(np.float32)
    x[0, 3:] = mask_value                    # padding: every feature equals mask_value
    x[1, 0] = mask_value
    x[2, 2, 0] = mask_value                  # one feature only: still data
    layer = L.Masking(mask_value=mask_value)
    p = gc.placeholder((None, 5, 2), name="x")
    out = layer(p)
    mask = L.get_mask(out)
    assert out.shape == (None, 5, 2) and mask.shape == (None, 5) and mask.dtype == np.bool_
    got, got_mask = gc.function([p], [out, mask])(x)
    want_mask = np.array([[(x[b, t] != mask_value).any() for t in range(5)] for b in range(3)])
    np.testing.assert_array_equal(got_mask, want_mask)
    np.testing.assert_array_equal(got, x * want_mask[..., None])
    assert not got_mask[0, 3:].any() and got_mask[2, 2]


def test_masking_feeds_the_recurrent_layer_below_it_like_an_explicit_mask():
    x = RNG.normal(size=(5, 6, 3))
    x[~MASK] = 0.0
    p = gc.placeholder((None, 6, 3), name="x")
    lstm = L.LSTM(4, return_sequences=True, seed=0)
    out = lstm(L.Masking()(p))
    assert L.get_mask(out) is not None
    randomize(lstm)
    want, _ = ref_run(lstm_cell(*weights64(lstm)), x, zero_states(5, 4, 2), mask=MASK)
    close(gc.function([p], out)(x.astype(np.float32)), want)


def test_masking_needs_sequences():
    with pytest.raises(gc.ShapeError, match=r"mk \(Masking\): expects sequences \(batch, steps, features\), "
                                            r"got inputs of shape \(\?, 4\)"):
        L.Masking(name="mk")(gc.placeholder((None, 4)))


def test_masking_config_and_gradient():
    layer = L.Masking(mask_value=2.5, name="m")
    clone = L.deserialize(L.serialize(layer))
    assert isinstance(clone, L.Masking) and clone.get_config() == layer.get_config() and clone.mask_value == 2.5
    p = gc.placeholder((2, 3, 2), "float64", name="x")
    loss = gc.reduce_sum(gc.square(L.Masking(dtype="float64")(p)) * gc.constant(RNG.normal(size=(2, 3, 2))))
    data = RNG.normal(size=(2, 3, 2))
    data[0, 1] = 0.0
    gc.check_grad(loss, [p], {p: data})


# -- TimeDistributed -------------------------------------------------------------------------------

def test_time_distributed_dense_matches_a_loop_over_the_steps_with_shared_weights():
    dense = L.Dense(3, activation="tanh", seed=0)
    layer = L.TimeDistributed(dense)
    p = gc.placeholder((None, 5, 4), name="x")
    out = layer(p)
    assert out.shape == (None, 5, 3) and layer.output_shape == (None, 5, 3)
    assert layer.weights == dense.weights and layer.count_params() == 4 * 3 + 3   # one Dense, not five
    randomize(dense)
    kernel, bias = weights64(dense)
    x = RNG.normal(size=(2, 5, 4))
    want = np.stack([np.tanh(x[:, t] @ kernel + bias) for t in range(5)], axis=1)
    close(gc.function([p], out)(x.astype(np.float32)), want)


def test_time_distributed_applies_a_recurrent_layer_to_each_step():
    """(batch, steps, inner steps, features): an LSTM reads each x[:, t] as a sequence."""
    lstm = L.LSTM(4, seed=1)
    layer = L.TimeDistributed(lstm)
    p = gc.placeholder((None, 3, 5, 2), name="x")
    out = layer(p)
    assert out.shape == (None, 3, 4)
    randomize(lstm)
    x = RNG.normal(size=(2, 3, 5, 2))
    cell = lstm_cell(*weights64(lstm))
    want = np.stack([ref_run(cell, x[:, t], zero_states(2, 4, 2))[0][:, -1] for t in range(3)], axis=1)
    close(gc.function([p], out)(x.astype(np.float32)), want)


def test_time_distributed_passes_the_mask_through_and_into_a_model_summary():
    ids = gc.placeholder((None, 6), "int64", name="ids")
    seq = L.LSTM(3, return_sequences=True)(L.Embedding(9, 2, mask_zero=True)(ids))
    out = L.TimeDistributed(L.Dense(2))(seq)
    assert L.get_mask(out) is L.get_mask(seq) is not None
    model = gc.models.Sequential([L.Input((6,)), L.Embedding(9, 2, mask_zero=True),
                                  L.TimeDistributed(L.Dense(5), name="per_step")])
    lines = []
    model.summary(print_fn=lines.append)
    assert re.search(r"│ per_step \(TimeDistributed\) +│ \(None, 6, 5\) +│ +15 │", lines[0]), lines[0]


def test_time_distributed_errors_name_the_layer_and_the_shapes():
    with pytest.raises(gc.ShapeError, match=r"td \(TimeDistributed\): expects inputs \(batch, time steps, \.\.\.\) "
                                            r"of rank 3 or more, to apply dense_in \(Dense\).*got \(\?, 4\)"):
        L.TimeDistributed(L.Dense(2, name="dense_in"), name="td")(gc.placeholder((None, 4)))
    with pytest.raises(gc.ShapeError, match=r"sizes after the time axis must be known"):
        L.TimeDistributed(L.Dense(2))(gc.placeholder((None, 3, None)))
    with pytest.raises(gc.GraphError, match=r"TimeDistributed: layer must be a gc.layers.Layer"):
        L.TimeDistributed("dense")
    with pytest.raises(gc.ShapeError, match=r"must return one tensor"):
        L.TimeDistributed(L.LSTM(2, return_state=True))(gc.placeholder((None, 3, 4, 2)))


def test_time_distributed_gradients_and_config_round_trip(tmp_path):
    dense = L.Dense(2, activation="sigmoid", dtype="float64", seed=2)
    layer = L.TimeDistributed(dense)
    p = gc.placeholder((2, 3, 4), "float64", name="x")
    loss = gc.reduce_sum(layer(p) * gc.constant(RNG.normal(size=(2, 3, 2))))
    randomize(dense)
    gc.check_grad(loss, [p, *layer.weights], {p: RNG.normal(size=(2, 3, 4))})

    clone = L.deserialize(L.serialize(L.TimeDistributed(L.Dense(3, activation="relu"), name="td_c")))
    assert isinstance(clone, L.TimeDistributed) and isinstance(clone.layer, L.Dense)
    assert clone.name == "td_c" and clone.layer.units == 3
    model = gc.models.Sequential([L.Input((4, 3)), L.TimeDistributed(L.Dense(2)), L.LSTM(2)], seed=0)
    x = RNG.normal(size=(5, 4, 3)).astype(np.float32)
    loaded = gc.models.load_model(model.save(tmp_path / "td.npz"))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


# -- Bidirectional ---------------------------------------------------------------------------------

def built_bidirectional(make, steps=6, features=3, merge_mode="concat", dtype="float32", **kwargs):
    layer = L.Bidirectional(make(dtype=dtype, seed=3, **kwargs), merge_mode=merge_mode, seed=4)
    layer.build_for((None, steps, features))
    for direction in (layer.forward_layer, layer.backward_layer):
        randomize(direction)
    return layer


@pytest.mark.parametrize("name,make,cell,count", RECURRENT, ids=RECURRENT_IDS)
@pytest.mark.parametrize("sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_matches_forward_and_flipped_backward_numpy_runs(name, make, cell, count, sequences,
                                                                       merge_mode):
    layer = built_bidirectional(make, merge_mode=merge_mode, return_sequences=sequences)
    p = gc.placeholder((None, 6, 3), name="x")
    out = layer(p)
    x = RNG.normal(size=(3, 6, 3))
    got = gc.function([p], out)(x.astype(np.float32))
    fwd, bwd, _, _ = ref_bidirectional(layer, cell, count, x)
    if merge_mode is None:
        assert isinstance(out, list) and len(got) == 2
        close(got[0], fwd)
        close(got[1], bwd)
    else:
        close(got, MERGES[merge_mode](fwd, bwd))
    width = 8 if merge_mode == "concat" else 4
    shape = (None, 6, width) if sequences else (None, width)
    assert layer.output_shape == ((shape, shape) if merge_mode is None else shape)


@pytest.mark.parametrize("name,make,cell,count", RECURRENT, ids=RECURRENT_IDS)
@pytest.mark.parametrize("sequences", [False, True])
def test_masked_bidirectional_skips_padding_in_both_directions(name, make, cell, count, sequences):
    layer = built_bidirectional(make, return_sequences=sequences)
    p, m = gc.placeholder((None, 6, 3), name="x"), gc.placeholder((None, 6), "bool", name="m")
    out = layer(p, mask=m)
    x = RNG.normal(size=(5, 6, 3))
    got = gc.function([p, m], out)(x.astype(np.float32), MASK)
    fwd, bwd, _, _ = ref_bidirectional(layer, cell, count, x, mask=MASK)
    close(got, np.concatenate([fwd, bwd], axis=-1))
    assert (L.get_mask(out) is m) == sequences
    # independently of the reference: a padded row gives what its data alone gives (same weights)
    short_layer = L.Bidirectional(make(return_sequences=sequences))
    short_layer.build_for((None, 4, 3))
    short_layer.set_weights(layer.get_weights())
    unpadded = gc.placeholder((None, 4, 3), name="unpadded")
    alone = gc.function([unpadded], short_layer(unpadded))
    for row, data in ((0, slice(0, 4)), (1, slice(2, 6))):
        short = alone(x[row:row + 1, data].astype(np.float32))
        if sequences:
            close(got[row, data], short[0])
            assert not got[row][~MASK[row]].any()              # masked steps: zeros, as Keras forces
        else:
            close(got[row], short[0])
    if sequences:
        assert layer.forward_layer.zero_output_for_mask and layer.backward_layer.zero_output_for_mask


@pytest.mark.parametrize("name,make,cell,count", RECURRENT, ids=RECURRENT_IDS)
def test_bidirectional_return_state_and_initial_state(name, make, cell, count):
    layer = built_bidirectional(make, return_state=True, return_sequences=True)
    p = gc.placeholder((None, 6, 3), name="x")
    states = [RNG.normal(size=(2, 4)) for _ in range(2 * count)]
    outputs = layer(p, initial_state=states)
    assert isinstance(outputs, list) and len(outputs) == 1 + 2 * count
    assert layer.output_shape == ((None, 6, 8),) + ((None, 4),) * (2 * count)
    x = RNG.normal(size=(2, 6, 3))
    got = gc.function([p], outputs)(x.astype(np.float32))
    fwd, bwd, fwd_states, bwd_states = ref_bidirectional(layer, cell, count, x, states=states)
    close(got[0], np.concatenate([fwd, bwd], axis=-1))
    for g, w in zip(got[1:], fwd_states + bwd_states):
        close(g, w)
    with pytest.raises(ValueError, match=r"initial_state must be \[.*forward.*backward.*\], "
                                         rf"{2 * count} tensors.*got 1"):
        layer(p, initial_state=[states[0]])
    with pytest.raises(ValueError, match=r"return_state=True.*Sequential model passes one tensor"):
        gc.models.Sequential([L.Input((6, 3)), L.Bidirectional(make(return_state=True))])


def test_bidirectional_return_state_with_merge_mode_none_and_its_masks():
    layer = built_bidirectional(RECURRENT[1][1], merge_mode=None, return_state=True, return_sequences=True)
    p, m = gc.placeholder((None, 6, 3), name="x"), gc.placeholder((None, 6), "bool", name="m")
    outputs = layer(p, mask=m)
    assert len(outputs) == 2 + 4 and [L.get_mask(o) for o in outputs[:2]] == [m, m]
    assert all(L.get_mask(o) is None for o in outputs[2:])


def test_bidirectional_weights_are_named_like_keras_and_counted_twice():
    layer = L.Bidirectional(L.LSTM(5, name="lstm"), name="bidi")
    layer.build_for((None, 7, 3))
    assert [w.name for w in layer.weights] == [f"{d}_lstm/{w}" for d in ("forward", "backward")
                                               for w in ("kernel", "recurrent_kernel", "bias")]
    assert layer.count_params() == 2 * 4 * (5 * (3 + 5) + 5)
    assert not layer.forward_layer.go_backwards and layer.backward_layer.go_backwards
    forward, backward = layer.get_weights()[0], layer.get_weights()[3]
    assert not np.array_equal(forward, backward)          # two independently initialized directions
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 6


def test_bidirectional_errors_are_early_and_clear():
    with pytest.raises(gc.GraphError, match=r"Bidirectional: layer must be a recurrent layer.*dense_b \(Dense\)"):
        L.Bidirectional(L.Dense(3, name="dense_b"))
    with pytest.raises(gc.GraphError, match=r"Bidirectional: backward_layer must be a recurrent layer"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.Dense(3))
    with pytest.raises(ValueError, match=r"merge_mode must be one of .*'concat'.*got 'max'"):
        L.Bidirectional(L.GRU(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"must differ in go_backwards, both have go_backwards=False"):
        L.Bidirectional(L.GRU(3), backward_layer=L.GRU(3))
    with pytest.raises(ValueError, match=r"same return_sequences, got True and False"):
        L.Bidirectional(L.GRU(3, return_sequences=True), backward_layer=L.GRU(3, go_backwards=True))
    with pytest.raises(gc.ShapeError, match=r"forward_gru_s \(GRU\): expects sequences"):
        L.Bidirectional(L.GRU(3, name="gru_s"))(gc.placeholder((None, 4)))


def test_bidirectional_with_a_custom_backward_layer():
    layer = L.Bidirectional(L.SimpleRNN(4, return_sequences=True, seed=1), merge_mode="sum",
                            backward_layer=L.SimpleRNN(4, activation="relu", return_sequences=True,
                                                       go_backwards=True, seed=2, name="back"))
    layer.build_for((None, 5, 2))
    assert layer.backward_layer.name == "back"
    p = gc.placeholder((None, 5, 2), name="x")
    x = RNG.normal(size=(3, 5, 2))
    fwd, _ = ref_run(simple_rnn_cell(*weights64(layer.forward_layer)), x, zero_states(3, 4, 1))
    kernel, recurrent, bias = weights64(layer.backward_layer)

    def relu_cell(x_t, states):
        h = np.maximum(x_t @ kernel + states[0] @ recurrent + bias, 0.0)
        return h, [h]
    bwd, _ = ref_run(relu_cell, x, zero_states(3, 4, 1), go_backwards=True)
    close(gc.function([p], layer(p))(x.astype(np.float32)), fwd + bwd[:, ::-1])


def test_bidirectional_sequences_feed_the_next_recurrent_layer_step_by_step():
    p = gc.placeholder((None, 6, 3), name="x")
    out = L.Bidirectional(L.GRU(3, return_sequences=True))(p)
    assert all(s.op != "getitem" for s in time_steps(out, 6))     # per-step tensors, not slices of a stack


def test_bidirectional_gradients_with_a_mask_match_finite_differences():
    layer = built_bidirectional(RECURRENT[1][1], steps=4, features=2, dtype="float64", return_sequences=True)
    p = gc.placeholder((3, 4, 2), "float64", name="x")
    mask = gc.constant(np.array([[1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 1, 1]], bool))
    loss = gc.reduce_sum(layer(p, mask=mask) * gc.constant(RNG.normal(size=(3, 4, 8))))
    gc.check_grad(loss, [p, *layer.weights], {p: RNG.normal(size=(3, 4, 2))})


def test_a_bidirectional_model_builds_from_the_wrapped_input_shape_and_saves(tmp_path):
    def make():
        return gc.models.Sequential([L.Bidirectional(L.LSTM(3, input_shape=(5, 2)), merge_mode="sum"),
                                     L.Dense(1)], seed=7)
    model = make()
    assert model.built and model.output_shape == (None, 1)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in make().get_weights()]),
                                  np.concatenate([w.ravel() for w in model.get_weights()]))   # seeded
    x = RNG.normal(size=(4, 5, 2)).astype(np.float32)
    loaded = gc.models.load_model(model.save(tmp_path / "bidi.npz"))
    bidi = loaded.layers[0]
    assert isinstance(bidi, L.Bidirectional) and bidi.merge_mode == "sum"
    assert [w.name for w in bidi.weights] == [w.name for w in model.layers[0].weights]
    assert [w.name.split("_")[0] for w in bidi.weights] == ["forward"] * 3 + ["backward"] * 3
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("wrapper", [
    L.Bidirectional(L.LSTM(3, return_sequences=True, dropout=0.1), merge_mode="ave"),
    L.Bidirectional(L.GRU(2, reset_after=False), merge_mode=None),
    L.Bidirectional(L.SimpleRNN(2), backward_layer=L.SimpleRNN(2, go_backwards=True, activation="relu")),
])
def test_bidirectional_config_round_trip(wrapper):
    clone = L.deserialize(L.serialize(wrapper))
    assert type(clone) is L.Bidirectional and clone.get_config() == wrapper.get_config()
    assert clone.forward_layer.name == wrapper.forward_layer.name
    assert clone.backward_layer.get_config() == wrapper.backward_layer.get_config()


# -- masked losses and metrics ---------------------------------------------------------------------

def masked_output(shape):
    """Placeholders for predictions and a mask, and a tensor of the predictions carrying the mask."""
    p = gc.placeholder(shape, name="y_pred")
    m = gc.placeholder(shape[:2], "bool", name="m")
    return p, m, L.TimeDistributed(L.Activation("linear"))(p, mask=m)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_masked_sparse_crossentropy_is_the_mean_over_unmasked_steps():
    p, m, y_pred = masked_output((None, 6, 4))
    labels = gc.placeholder((None, 6), "int64", name="labels")
    weights = gc.placeholder((None,), name="w")
    loss = gc.losses.SparseCategoricalCrossentropy(from_logits=True)
    fn = gc.function([p, m, labels, weights], [loss(labels, y_pred), loss(labels, y_pred, sample_weight=weights)])
    z = RNG.normal(size=(5, 6, 4)).astype(np.float32)
    y = RNG.integers(0, 4, size=(5, 6))
    w = RNG.uniform(0.5, 2.0, size=5).astype(np.float32)
    per_step = -np.take_along_axis(log_softmax(z.astype(np.float64)), y[..., None], axis=-1)[..., 0]
    plain, weighted = fn(z, MASK, y, w)
    assert plain == pytest.approx((per_step * MASK).sum() / MASK.sum(), rel=1e-5)
    # Keras 3: the sample weights scale the numerator; the divisor is the number of unmasked steps
    assert weighted == pytest.approx((per_step * MASK * w[:, None]).sum() / MASK.sum(), rel=1e-5)


@pytest.mark.parametrize("name", ["mse", "mae", "binary_crossentropy", "categorical_crossentropy"])
def test_masked_losses_against_numpy_and_all_true_masks_change_nothing(name):
    p, m, y_pred = masked_output((None, 6, 3))
    target = gc.placeholder((None, 6, 3), name="t")
    loss = gc.losses.get(name)
    plain = p                                   # the same values without a mask
    if name == "categorical_crossentropy":      # probabilities: the logits under them are found through the fold
        y_pred, plain = L.Softmax()(y_pred), gc.nn.softmax(p)
    elif name == "binary_crossentropy":
        y_pred, plain = L.Activation("sigmoid")(y_pred), gc.sigmoid(p)
    assert L.get_mask(y_pred) is m and L.get_mask(plain) is None
    fn = gc.function([p, m, target], [loss(target, y_pred), loss(target, plain)])
    z = RNG.normal(size=(5, 6, 3))
    t = RNG.uniform(size=(5, 6, 3))
    if name == "categorical_crossentropy":
        t = t / t.sum(axis=-1, keepdims=True)
        per_step = -(t * log_softmax(z)).sum(-1)
    elif name == "binary_crossentropy":
        t = (t > 0.5).astype(float)
        per_step = (np.logaddexp(0, z) - t * z).mean(-1)
    elif name == "mse":
        per_step = ((z - t) ** 2).mean(-1)
    else:
        per_step = np.abs(z - t).mean(-1)
    masked, unmasked = fn(z.astype(np.float32), MASK, t.astype(np.float32))
    assert masked == pytest.approx((per_step * MASK).sum() / MASK.sum(), rel=2e-5)
    assert unmasked == pytest.approx(per_step.mean(), rel=2e-5)
    everything, _ = fn(z.astype(np.float32), np.ones_like(MASK), t.astype(np.float32))
    assert everything == pytest.approx(unmasked, rel=1e-5)


def test_masked_crossentropy_on_softmax_outputs_is_scored_from_the_logits():
    """Saturated probabilities: clipping at 1e-7 would give -log(1e-7) = 16.1, the logits give 2000."""
    p, m, logits = masked_output((None, 2, 2))
    loss = gc.losses.CategoricalCrossentropy()(gc.constant(np.array([[[0.0, 1.0], [0.0, 1.0]]], np.float32)),
                                               L.Softmax()(logits))
    value = gc.function([p, m], loss)(np.array([[[1000.0, -1000.0], [3.0, 0.0]]], np.float32),
                                      np.array([[True, False]]))
    assert value == pytest.approx(2000.0, rel=1e-6)


def test_a_fully_masked_batch_has_loss_zero_and_finite_gradients():
    ids = gc.placeholder((2, 3), "int64", name="ids")
    emb = L.Embedding(5, 2, mask_zero=True, dtype="float64", seed=0)
    dense = L.TimeDistributed(L.Dense(3, dtype="float64", seed=1))
    y_pred = dense(emb(ids))
    labels = gc.placeholder((2, 3), "int64", name="labels")
    loss = gc.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, y_pred)
    fn = gc.function([ids, labels], [loss] + gc.grad(loss, dense.weights + emb.weights))
    out = fn(np.zeros((2, 3), np.int64), np.ones((2, 3), np.int64))
    assert out[0] == 0.0 and all(np.isfinite(g).all() and not g.any() for g in out[1:])
    feed_ids = np.array([[1, 2, 0], [0, 4, 3]])
    gc.check_grad(loss, dense.weights + emb.weights, {ids: feed_ids, labels: RNG.integers(0, 3, size=(2, 3))})


def test_masked_metrics_count_only_unmasked_steps():
    p, m, y_pred = masked_output((None, 6, 3))
    labels = gc.placeholder((None, 6), "int64", name="labels")
    accuracy = gc.metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    stats = gc.metrics.batch_stats(accuracy, labels, y_pred, L.get_mask(y_pred))
    z = RNG.normal(size=(5, 6, 3)).astype(np.float32)
    y = RNG.integers(0, 3, size=(5, 6))
    correct, count = gc.function([p, m, labels], stats)(z, MASK, y)
    assert count == MASK.sum() and correct == ((z.argmax(-1) == y) & MASK).sum()

    target = gc.placeholder((None, 6, 3), name="t")
    mse = gc.metrics.get("mse")
    total, count = gc.function([p, m, target], mse.batch_stats(target, y_pred, mask=m))(z, MASK, 0 * z)
    assert count == 3 * MASK.sum() and total == pytest.approx((z ** 2 * MASK[..., None]).sum(), rel=1e-5)


def tagger(steps, seed=0):
    """Embedding(mask_zero) -> Bidirectional LSTM sequences -> TimeDistributed(Dense): one tag per token."""
    return gc.models.Sequential([L.Input((steps,)), L.Embedding(12, 6, mask_zero=True),
                                 L.Bidirectional(L.LSTM(8, return_sequences=True)),
                                 L.TimeDistributed(L.Dense(3))], seed=seed)


def tag_data(n, steps, length=4, seed=0):
    """Token sequences of ``length`` tokens padded after with zeros; tag = a token's class
    relative to its neighbours (needs both directions)."""
    tokens = np.random.default_rng(seed).integers(1, 12, size=(n, length))
    previous = np.pad(tokens, ((0, 0), (1, 0)))[:, :-1]
    following = np.pad(tokens, ((0, 0), (0, 1)))[:, 1:]
    tags = (tokens > previous).astype(int) + (tokens > following).astype(int)
    pad = ((0, 0), (0, steps - length))
    return np.pad(tokens, pad), np.pad(tags, pad)


def test_model_loss_and_metrics_are_masked_in_the_compiled_steps():
    model = tagger(6)
    model.compile(gc.optimizers.Adam(0.01), gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  ["accuracy"])
    x, y = tag_data(16, 6, seed=3)
    x[3, 2:] = 0                                          # a shorter sequence
    valid = x != 0
    z = model.predict(x).astype(np.float64)
    per_step = -np.take_along_axis(log_softmax(z), y[..., None], axis=-1)[..., 0]
    want_loss = (per_step * valid).sum() / valid.sum()
    want_accuracy = ((z.argmax(-1) == y) & valid).sum() / valid.sum()
    logs = model.test_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(want_loss, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(want_accuracy, rel=1e-6)
    assert model.evaluate(x, y, return_dict=True)["loss"] == pytest.approx(want_loss, rel=1e-5)
    # the training step reports the loss before its update: the same masked formula
    assert model.train_on_batch(x, y)[0] == pytest.approx(want_loss, rel=1e-5)
    # labels of padded steps do not matter, in either compiled step
    scrambled = y.copy()
    scrambled[~valid] = RNG.integers(0, 3, size=(~valid).sum())
    assert model.test_on_batch(x, scrambled, return_dict=True) == pytest.approx(model.test_on_batch(x, y,
                                                                                                   return_dict=True))
    weights = model.get_weights()
    first = model.train_on_batch(x, y)
    model.set_weights(weights)
    assert model.train_on_batch(x, scrambled) == pytest.approx(first)
    assert isinstance(model.train_function, gc.Function) and model.train_function.updates


def test_a_masked_tagger_trains_and_padding_changes_no_prediction():
    model = tagger(7, seed=1)
    model.compile(gc.optimizers.Adam(0.02), gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  ["accuracy"])
    x, y = tag_data(256, 7)
    history = model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0] and history.history["accuracy"][-1] > 0.8, history.history
    # the same weights on unpadded sequences of 4 tokens: the same tags at the real steps
    short = tagger(4)
    short.set_weights(model.get_weights())
    x_test, _ = tag_data(20, 7, seed=1)
    close(model.predict(x_test)[:, :4], short.predict(x_test[:, :4]))
    # padding before the tokens instead of after: the same tags, shifted
    before = np.concatenate([x_test[:, 4:], x_test[:, :4]], axis=1)
    close(model.predict(before)[:, 3:], short.predict(x_test[:, :4]))
    # and the padded model's loss equals the unpadded one's on the same tokens
    short.compile("adam", gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    x_eval, y_eval = tag_data(32, 7, seed=2)
    assert model.evaluate(x_eval, y_eval)[0] == pytest.approx(short.evaluate(x_eval[:, :4], y_eval[:, :4]), rel=1e-5)


def test_sequential_refuses_a_bidirectional_that_returns_two_tensors():
    model = gc.models.Sequential([gc.layers.Input((5, 3))])
    with pytest.raises(ValueError, match="merge_mode=None"):
        model.add(gc.layers.Bidirectional(gc.layers.LSTM(4), merge_mode=None))
    model.add(gc.layers.Bidirectional(gc.layers.LSTM(4), merge_mode="sum"))
    assert model.predict(np.zeros((2, 5, 3), np.float32), verbose=0).shape == (2, 4)
