"""TimeDistributed passes its mask to the inner layer folded like the inputs: a (batch, steps)
mask on (batch, steps, features) becomes one flag per row of (batch·steps, features), and on
rank-4+ inputs that flag repeated over each step's own axes, so
TimeDistributed(BatchNormalization()) under Masking or Embedding(mask_zero=True) takes its batch
and moving statistics from the unmasked (sample, step) rows only (Keras 2's folded semantics).
Checked against NumPy references written on those rows: the training outputs and updates,
moving statistics after 1 and N compiled training steps, padding invariance, Embedding models;
and that the layers which do not read masks (Dense, Conv2D, ...) see no mask and give the
values they give without one."""
import warnings

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

KERAS_EPSILON = 1e-7           # the masked moments' denominator guard (keras.config.epsilon())
MOMENTUM, EPSILON = 0.99, 1e-3  # BatchNormalization's defaults, as Keras


def np_row_moments(x, mask):
    """Mean and biased variance per feature of the unmasked rows x[mask] (float64), over the
    count of those rows + 1e-7, as graphc's masked_moments."""
    rows = np.asarray(x, np.float64)[np.asarray(mask, bool)]
    count = len(rows) + KERAS_EPSILON
    mean = rows.sum(axis=0) / count
    return mean, ((rows - mean) ** 2).sum(axis=0) / count


def bn_formula(x, mean, variance, gamma, beta):
    return gamma * (x - mean) / np.sqrt(variance + EPSILON) + beta


def padded_sequences(n, steps, features, rng, extra=0):
    """Sequences of random lengths 1..steps (data far from 0, so padding would move the mean),
    zero-padded after their data, then ``extra`` more all-padding steps."""
    x = rng.normal(loc=[2.0, -1.0, 4.0][:features], scale=1.5, size=(n, steps + extra, features))
    lengths = rng.integers(1, steps + 1, n)
    mask = np.arange(steps + extra)[None, :] < lengths[:, None]
    x[~mask] = 0.0
    return x.astype(np.float32), mask


def masked_td_bn(steps, features):
    """Placeholder -> Masking(0.0) -> TimeDistributed(BN) in the training graph, with random
    γ, β and moving statistics; returns (input, output, updates, the BN layer, the Masking mask)."""
    p = gc.placeholder((None, steps, features), name="x")
    masked = L.Masking(0.0)(p)
    bn = L.BatchNormalization()
    td = L.TimeDistributed(bn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # BN supports masks: no "mask stops here"
        out = td(masked, training=True)
    updates = td.pop_updates()
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, features), rng.normal(size=features), rng.normal(size=features),
                    rng.uniform(0.5, 2, features)])
    assert L.get_mask(out) is L.get_mask(masked)        # the wrapper's own mask: the input's, unchanged
    return p, out, updates, bn


def test_training_outputs_and_updates_use_only_the_unmasked_rows():
    steps, features = 5, 3
    p, out, updates, bn = masked_td_bn(steps, features)
    assert [var for var, _ in updates] == [bn.moving_mean, bn.moving_variance]
    gamma, beta, moving_mean, moving_variance = bn.get_weights()
    x, mask = padded_sequences(8, steps, features, np.random.default_rng(1))
    got, new_mean, new_variance = gc.function([p], [out] + [v for _, v in updates])(x)
    mean, variance = np_row_moments(x, mask)
    # every row is normalized with the unmasked rows' statistics (padding rows too, as Keras)
    np.testing.assert_allclose(got[mask], bn_formula(x[mask], mean, variance, gamma, beta), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, bn_formula(x, mean, variance, gamma, beta), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_mean, MOMENTUM * moving_mean + (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_variance, MOMENTUM * moving_variance + (1 - MOMENTUM) * variance, rtol=1e-5)
    all_rows_mean = x.reshape(-1, features).mean(axis=0)   # what the padding zeros would have given
    assert not np.allclose(mean, all_rows_mean, rtol=0.05)


def masked_model(steps, features, seed=0):
    return gc.models.Sequential([L.Input((steps, features)), L.Masking(0.0), L.TimeDistributed(L.BatchNormalization()),
                                 L.Dense(2)], seed=seed)


def test_moving_statistics_after_one_and_n_compiled_training_steps():
    """Masking has no weights, so BN sees the data itself and its moving statistics follow
    moving ← 0.99·moving + 0.01·(unmasked rows' moments), step after step."""
    batch, n_steps, steps, features = 8, 5, 6, 3
    rng = np.random.default_rng(2)
    x, mask = padded_sequences(batch * (n_steps + 1), steps, features, rng)
    y = rng.normal(size=(len(x), steps, 2)).astype(np.float32)
    model = masked_model(steps, features)
    model.compile(gc.optimizers.SGD(0.05), "mse")
    bn = model.layers[1].layer
    moving_mean, moving_variance = np.zeros(features), np.ones(features)

    def step(mean, variance, sl):
        batch_mean, batch_variance = np_row_moments(x[sl], mask[sl])
        return (MOMENTUM * mean + (1 - MOMENTUM) * batch_mean,
                MOMENTUM * variance + (1 - MOMENTUM) * batch_variance)

    assert np.isfinite(model.train_on_batch(x[:batch], y[:batch]))
    moving_mean, moving_variance = step(moving_mean, moving_variance, slice(0, batch))
    np.testing.assert_allclose(bn.moving_mean.value, moving_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.value, moving_variance, rtol=1e-5)
    model.fit(x[batch:], y[batch:], epochs=1, batch_size=batch, shuffle=False, verbose=0)
    for k in range(1, n_steps + 1):
        moving_mean, moving_variance = step(moving_mean, moving_variance, slice(k * batch, (k + 1) * batch))
    np.testing.assert_allclose(bn.moving_mean.value, moving_mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.value, moving_variance, rtol=1e-5)
    # with every row counted, the padding zeros would have pulled the mean towards 0
    all_rows = (1 - MOMENTUM ** (n_steps + 1)) * x.reshape(-1, features).mean(axis=0)
    assert not np.allclose(bn.moving_mean.value, all_rows, rtol=0.05)


def test_padding_steps_change_neither_the_statistics_nor_the_unmasked_outputs():
    steps, extra, features = 4, 3, 3
    x_long, mask = padded_sequences(6, steps, features, np.random.default_rng(3), extra=extra)
    x_short = x_long[:, :steps]
    assert not mask[:, steps:].any()
    # the training graph: outputs at the real steps and the moving-statistics updates
    results = []
    for x in (x_short, x_long):
        p, out, updates, bn = masked_td_bn(x.shape[1], features)
        results.append(gc.function([p], [out] + [v for _, v in updates])(x))
    (out_short, *stats_short), (out_long, *stats_long) = results
    short_mask = mask[:, :steps]
    np.testing.assert_allclose(out_long[:, :steps][short_mask], out_short[short_mask], rtol=1e-5, atol=1e-5)
    for a, b in zip(stats_short, stats_long):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    # a compiled training step: the same moving statistics, loss and weights (the loss skips padding)
    y_long = np.random.default_rng(4).normal(size=(6, steps + extra, 2)).astype(np.float32)
    short, long = masked_model(steps, features), masked_model(steps + extra, features)
    long.set_weights(short.get_weights())
    losses = []
    for model, x, y in ((short, x_short, y_long[:, :steps]), (long, x_long, y_long)):
        model.compile(gc.optimizers.SGD(0.1), "mse")
        losses.append(model.train_on_batch(x, y))
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    mean, variance = np_row_moments(x_short, short_mask)
    for model in (short, long):
        bn = model.layers[1].layer
        np.testing.assert_allclose(bn.moving_mean.value, (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(bn.moving_variance.value, MOMENTUM + (1 - MOMENTUM) * variance, rtol=1e-5)
    for a, b in zip(short.get_weights(), long.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_layers_that_do_not_read_masks_get_none_and_give_the_unmasked_values():
    """Regression guard: TimeDistributed(Dense) under Masking, TimeDistributed(Conv2D) and
    TimeDistributed(MaxPooling2D) under an explicit (batch, steps) mask: no warning, the
    wrapper's output carries the mask, and the values are those computed without any mask."""
    rng = np.random.default_rng(5)
    cases = [((5, 3), L.Dense(4, activation="tanh")),
             ((3, 4, 4, 2), L.Conv2D(3, 3, padding="same")),
             ((3, 4, 4, 2), L.MaxPooling2D())]
    for shape, inner in cases:
        td = L.TimeDistributed(inner)
        p = gc.placeholder((None,) + shape)
        m = gc.placeholder((None, shape[0]), "bool")
        masked_input = L.Masking(0.0)(p) if len(shape) == 2 else p   # Masking's mask is (batch, steps) on rank 3
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            masked = td(masked_input, training=True, mask=None if len(shape) == 2 else m)
            plain = td(p, training=True)
        td.pop_updates()
        assert L.get_mask(masked) is (L.get_mask(masked_input) if len(shape) == 2 else m)
        assert L.get_mask(plain) is None
        x = rng.normal(loc=1.0, size=(4,) + shape).astype(np.float32)
        mask = rng.random((4, shape[0])) < 0.6
        if len(shape) == 2:
            x[~mask] = 0.0          # Masking leaves such inputs as they are
        got, want = gc.function([p, m], [masked, plain])(x, mask)
        np.testing.assert_array_equal(got, want)
    # in a trained model: Masking -> TimeDistributed(Dense) predicts what it predicts without Masking
    x, _ = padded_sequences(6, 5, 3, rng)
    y = rng.normal(size=(6, 5, 2)).astype(np.float32)
    with_mask = gc.models.Sequential([L.Input((5, 3)), L.Masking(0.0), L.TimeDistributed(L.Dense(2))], seed=1)
    without = gc.models.Sequential([L.Input((5, 3)), L.TimeDistributed(L.Dense(2))], seed=1)
    with_mask.compile(gc.optimizers.SGD(0.1), "mse")
    assert np.isfinite(with_mask.train_on_batch(x, y))
    without.set_weights(with_mask.get_weights())
    np.testing.assert_allclose(with_mask.predict(x), without.predict(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("head", [lambda: L.LSTM(3), lambda: L.GlobalAveragePooling1D()], ids=["lstm", "gap1d"])
def test_embedding_mask_zero_then_timedistributed_bn(head):
    """Embedding(mask_zero=True) -> TimeDistributed(BN) -> head -> Dense: one training step, and
    BN's moving statistics are those of the embeddings of the real tokens only."""
    rng = np.random.default_rng(6)
    steps, n, vocab, dim = 6, 10, 20, 4
    lengths = rng.integers(1, steps + 1, n)
    ids = rng.integers(1, vocab, (n, steps))
    ids[np.arange(steps)[None, :] >= lengths[:, None]] = 0
    model = gc.models.Sequential([L.Input((steps,)), L.Embedding(vocab, dim, mask_zero=True),
                                  L.TimeDistributed(L.BatchNormalization()), head(), L.Dense(1)], seed=3)
    model.compile(gc.optimizers.SGD(0.1), "mse")
    table = model.layers[0].get_weights()[0].astype(np.float64)   # before the step changes it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = model.train_on_batch(ids, rng.normal(size=(n, 1)).astype(np.float32))
    assert np.isfinite(loss) and all(np.isfinite(w).all() for w in model.get_weights())
    bn = model.layers[1].layer
    mean, variance = np_row_moments(table[ids], ids != 0)
    np.testing.assert_allclose(bn.moving_mean.value, (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(bn.moving_variance.value, MOMENTUM + (1 - MOMENTUM) * variance, rtol=1e-5)
    all_tokens = np_row_moments(table[ids], np.ones_like(ids, bool))[0]   # token 0's embedding counted too
    assert not np.allclose(bn.moving_mean.value, (1 - MOMENTUM) * all_tokens, rtol=1e-3, atol=1e-7)


def test_rank4_frames_bn_statistics_from_the_unmasked_steps_only():
    """(batch, steps, h, w, c) frames with a (batch, steps) mask: TimeDistributed(BN) gets the
    mask as (batch·steps, h, w), so the batch and moving statistics are those of every pixel
    of the unmasked frames and of none of the masked ones; the outputs follow BN's formula."""
    steps, h, w, c = 4, 3, 5, 2
    p = gc.placeholder((None, steps, h, w, c), name="frames")
    m = gc.placeholder((None, steps), "bool", name="mask")
    bn = L.BatchNormalization()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = L.TimeDistributed(bn)(p, training=True, mask=m)
    updates = bn.pop_updates()
    rng = np.random.default_rng(7)
    bn.set_weights([rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c)])
    gamma, beta, moving_mean, moving_variance = bn.get_weights()
    x = rng.normal(loc=3.0, size=(5, steps, h, w, c)).astype(np.float32)
    mask = rng.random((5, steps)) < 0.5
    mask[0, 0], mask[1, 1] = True, False
    x[~mask] = -50.0                      # masked frames far away: counting them would show
    got, new_mean, new_variance = gc.function([p, m], [out] + [v for _, v in updates])(x, mask)
    mean, variance = np_row_moments(x[mask].reshape(-1, c), np.ones(mask.sum() * h * w, bool))
    np.testing.assert_allclose(got, bn_formula(x, mean, variance, gamma, beta), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(new_mean, MOMENTUM * moving_mean + (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_variance, MOMENTUM * moving_variance + (1 - MOMENTUM) * variance, rtol=1e-5)


def test_rank4_sequences_of_sequences_masked_steps_are_skipped_whole():
    """(batch, steps, steps', features) with a (batch, steps) mask: TimeDistributed(LSTM) sees
    every inner step of a masked outer step masked, so that step's output is the initial state
    (zeros), and the unmasked steps give what they give without a mask."""
    steps, inner, f = 3, 4, 2
    p = gc.placeholder((None, steps, inner, f), name="x")
    m = gc.placeholder((None, steps), "bool", name="mask")
    td = L.TimeDistributed(L.LSTM(3, return_sequences=True))
    masked, plain = td(p, mask=m), td(p)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, steps, inner, f)).astype(np.float32)
    mask = rng.random((4, steps)) < 0.5
    mask[0, 0], mask[1, 0] = True, False
    got, want = gc.function([p, m], [masked, plain])(x, mask)
    np.testing.assert_array_equal(got[~mask], 0.0)
    np.testing.assert_allclose(got[mask], want[mask], rtol=1e-6, atol=1e-6)
