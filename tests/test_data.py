"""gc.data: splitting, standardizing and batching NumPy arrays."""
import numpy as np
import pytest

import graphc as gc


def indexed(n=100, classes=4):
    """x whose first column is the sample index, so splits can be traced back."""
    x = np.stack([np.arange(n), np.arange(n) * 2.0], axis=1)
    return x, np.arange(n) % classes


def test_split_returns_train_val_test_pairs_with_seed_70_15_15_sizes():
    x, y = gc.datasets.load_digits()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = gc.data.train_val_test_split(x, y)
    assert (len(x_train), len(x_val), len(x_test)) == (1257, 270, 270)
    assert (len(y_train), len(y_val), len(y_test)) == (1257, 270, 270)


def test_split_is_a_shuffled_partition_that_keeps_pairs():
    x, y = indexed(101)
    parts = gc.data.train_val_test_split(x, y, ratios=(0.6, 0.2, 0.2), seed=3)
    ids = np.concatenate([p[0][:, 0] for p in parts]).astype(int)
    assert sorted(ids) == list(range(101))                      # disjoint and complete
    assert [len(p[0]) for p in parts] == [61, 20, 20]
    assert not np.array_equal(parts[0][0][:, 0], np.sort(parts[0][0][:, 0]))   # shuffled
    for xs, ys in parts:
        np.testing.assert_array_equal(ys, xs[:, 0].astype(int) % 4)             # pairs kept


def test_split_is_reproducible_per_seed():
    x, y = indexed()
    a = gc.data.train_val_test_split(x, y, seed=1)
    b = gc.data.train_val_test_split(x, y, seed=1)
    c = gc.data.train_val_test_split(x, y, seed=2)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    assert not np.array_equal(a[0][0], c[0][0])


def test_stratified_split_keeps_the_class_mix():
    y = np.array([0] * 80 + [1] * 20)
    x = np.arange(100.0)[:, None]
    (_, y_train), (_, y_val), (_, y_test) = gc.data.train_val_test_split(x, y, ratios=(0.6, 0.2, 0.2),
                                                                         stratify=True)
    assert [int((part == 1).sum()) for part in (y_train, y_val, y_test)] == [12, 4, 4]
    assert [len(part) for part in (y_train, y_val, y_test)] == [60, 20, 20]
    one_hot = np.eye(2)[y]
    (_, oh_train), _, _ = gc.data.train_val_test_split(x, one_hot, ratios=(0.6, 0.2, 0.2), stratify=True)
    assert int(oh_train[:, 1].sum()) == 12


def test_split_rejects_bad_arguments():
    x, y = indexed()
    with pytest.raises(ValueError, match="sum"):
        gc.data.train_val_test_split(x, y, ratios=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError, match="100 samples but y has 99"):
        gc.data.train_val_test_split(x, y[:99])


def test_standardize_with_own_and_given_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 3)).astype(np.float32)
    x[:, 2] = 7.0   # a constant feature
    z, mean, std = gc.data.standardize(x)
    np.testing.assert_allclose(z[:, :2].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(axis=0), 1, rtol=1e-5)
    assert (z[:, 2] == 0).all() and std[2] == 1.0 and z.dtype == np.float32
    other = rng.normal(size=(10, 3)).astype(np.float32)
    z2, mean2, std2 = gc.data.standardize(other, mean, std)
    np.testing.assert_allclose(z2, (other - mean) / std, rtol=1e-6)
    assert mean2 is not None and np.array_equal(std2, std)
    zi, _, _ = gc.data.standardize(np.array([[1, 2], [3, 2]]))
    assert zi.dtype == np.float64 and zi.tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_batches_cover_every_sample_in_order_or_shuffled():
    x, y = indexed(10)
    ordered = list(gc.data.batches(x, y, batch_size=4, shuffle=False))
    assert [len(xb) for xb, _ in ordered] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in ordered]), x)
    shuffled = list(gc.data.batches(x, y, batch_size=4, seed=5))
    ids = np.concatenate([xb[:, 0] for xb, _ in shuffled])
    assert sorted(ids) == list(range(10)) and not np.array_equal(ids, np.arange(10))
    again = np.concatenate([xb[:, 0] for xb, _ in gc.data.batches(x, y, batch_size=4, seed=5)])
    np.testing.assert_array_equal(ids, again)
    for xb, yb in shuffled:
        np.testing.assert_array_equal(yb, xb[:, 0].astype(int) % 4)
    only_x = list(gc.data.batches(x, batch_size=5, shuffle=False))
    assert len(only_x) == 2 and only_x[0].shape == (5, 2)
    with pytest.raises(ValueError, match="batch_size"):
        next(gc.data.batches(x, y, batch_size=0))
