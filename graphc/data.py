"""Data preparation on NumPy arrays: splitting, standardizing, batching."""
from __future__ import annotations

import numpy as np

from graphc.api.support import arguments

__all__ = ["batches", "standardize", "train_val_test_split"]


def _paired(x, y, who: str):
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{who}: x and y must be arrays of samples, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{who}: x has {len(x)} samples but y has {len(y)}")
    return x, y


def _split_sizes(n: int, ratios) -> tuple[int, int, int]:
    """Sample counts for (train, val, test): val and test rounded, train takes the rest."""
    _, r_val, r_test = ratios
    n_val, n_test = int(round(r_val * n)), int(round(r_test * n))
    return n - n_val - n_test, n_val, n_test


def train_val_test_split(x, y, ratios=(0.7, 0.15, 0.15), seed=0, stratify=False):
    """Shuffle (x, y) with ``seed`` and cut it into training, validation and test sets.

    Returns ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``. ``ratios`` (train, val,
    test) must be non-negative and sum to 1; the validation and test counts are
    ``round(ratio * n)`` and the training set takes the rest (1797 digits → 1257/270/270).
    ``stratify=True`` splits every class of ``y`` (integer labels, or one-hot rows) in these
    proportions, so each set has the class mix of the whole. Same seed, same split.
    """
    x, y = _paired(x, y, "train_val_test_split")
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"train_val_test_split: ratios must be three non-negative fractions "
                         f"(train, val, test) summing to 1, got {ratios}")
    rng = np.random.default_rng(seed)
    if not stratify:
        order = rng.permutation(len(x))
        n_train, n_val, _ = _split_sizes(len(x), ratios)
        parts = [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]
    else:
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
        parts = [[], [], []]
        for cls in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == cls))
            n_train, n_val, _ = _split_sizes(len(members), ratios)
            for part, chunk in zip(parts, np.split(members, [n_train, n_train + n_val])):
                part.append(chunk)
        parts = [rng.permutation(np.concatenate(p)) for p in parts]
    return tuple((x[idx], y[idx]) for idx in parts)


def standardize(x, mean=None, std=None):
    """(x - mean) / std per feature; returns ``(x_std, mean, std)``.

    ``mean`` and ``std`` default to the statistics of ``x`` over its first (sample) axis;
    pass the training set's to standardize validation and test data the same way. A feature
    with std 0 (constant, e.g. the digits' always-blank corner pixels) gets std 1, so it
    becomes 0 instead of NaN. Float arrays keep their dtype; integer arrays become float64.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if mean is None:
        mean = x.mean(axis=0)
    if std is None:
        std = x.std(axis=0)
        std = np.where(std == 0, 1.0, std)
    mean = np.asarray(mean, dtype=x.dtype)
    std = np.asarray(std, dtype=x.dtype)
    if np.any(std == 0):
        std = np.where(std == 0, np.asarray(1.0, x.dtype), std)
    return (x - mean) / std, mean, std


def batches(x, y=None, batch_size=32, shuffle=True, seed=None):
    """Yield ``(x_batch, y_batch)`` of ``batch_size`` samples (the last one may be smaller), in
    a random order when ``shuffle`` (from ``seed``: the same seed gives the same order). With
    ``y=None`` yields the x batches alone."""
    batch_size = arguments.index(batch_size, "batches: batch_size", minimum=1)
    seed = arguments.seed(seed, "batches: seed")
    if y is None:
        x = np.asarray(x)
    else:
        x, y = _paired(x, y, "batches")
    order = np.random.default_rng(seed).permutation(len(x)) if shuffle else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        yield x[idx] if y is None else (x[idx], y[idx])
