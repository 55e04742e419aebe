"""Metrics on NumPy arrays: ``confusion_matrix``, ``accuracy_score``, ``precision_score``,
``recall_score``, ``f1_score``, ``specificity_score``.

NumPy in, NumPy out, for scoring predictions after the fact (no graph involved). They take
class labels: integer arrays of shape (n,), or (n, k) one-hot / probability rows (reduced by
argmax), or (n, 1) columns, and follow scikit-learn's conventions (``average=``: see ``_score``).
"""
from __future__ import annotations

import numpy as np

from graphc.api.support import arguments


def _labels(y, what: str) -> np.ndarray:
    """Class labels as a 1-D int64 array (argmax of (n, k) rows; (n, 1) columns flattened)."""
    try:
        y = np.asarray(y)
    except (ValueError, TypeError):
        raise ValueError(f"{what}: labels must be an array (or a list of equal-length rows), got "
                         f"{type(y).__name__} {y!r:.60}") from None
    if y.ndim == 2:
        y = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{what}: expected labels of shape (n,), (n, 1) or (n, k), got shape {y.shape}")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{what}: labels must be whole numbers; threshold probabilities first "
                             "(e.g. y_pred > 0.5) or pass class labels")
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{what}: labels must be integers, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"{what}: labels must be >= 0, got {int(y.min())}")
    return y.astype(np.int64)


def _pair(y_true, y_pred):
    t = _labels(y_true, "y_true")
    p = _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels, y_pred has {p.shape[0]}")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as class j (int64, k x k; rows =
    real class, as the seeds and scikit-learn). ``num_classes`` defaults to 1 + the largest
    label seen in either array."""
    num_classes = arguments.index(num_classes, "confusion_matrix: num_classes", minimum=1, allow_none=True)
    t, p = _pair(y_true, y_pred)
    seen = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    k = seen if num_classes is None else num_classes
    if seen > k:
        raise ValueError(f"confusion_matrix: label {seen - 1} is out of range for num_classes={k}")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy_score(y_true, y_pred) -> float:
    """Fraction of samples whose predicted label equals the true one."""
    t, p = _pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("accuracy_score: no samples")
    return float(np.mean(t == p))


def _ratio(num, den):
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def _one_vs_rest_counts(y_true, y_pred, num_classes=None):
    """Per class: (tp, fp, fn, tn) arrays from the confusion matrix."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    return tp, fp, fn, tn


_AVERAGES = ("binary", "macro", "micro", "weighted", None)


def _score(name, y_true, y_pred, average, pos_label, per_class):
    """Score of one-vs-rest counts: per_class(tp, fp, fn, tn) -> per-class score array, for
    ``precision_score``, ``recall_score``, ``f1_score`` and ``specificity_score``.

    ``average``: "binary" (default; the class ``pos_label`` against the rest, labels must be
    two-valued), "macro" (unweighted mean of the per-class one-vs-rest scores), "micro"
    (computed from the summed counts of all classes), "weighted" (mean weighted by each class'
    support) or None (the array of per-class scores). Multiclass averages run over the classes
    present in y_true or y_pred (scikit-learn's rule; None returns their scores in label
    order). A 0/0 score is 0 (scikit-learn's zero_division=0)."""
    if not (average is None or isinstance(average, str)) or average not in _AVERAGES:
        raise ValueError(f"{name}: average must be one of {_AVERAGES}, got {average!r}")
    pos_label = arguments.index(pos_label, f"{name}: pos_label", minimum=0)
    t, p = _pair(y_true, y_pred)
    if average == "binary":
        labels = sorted(set(np.unique(np.concatenate([t, p])).tolist()) | {pos_label})
        if len(labels) > 2:
            raise ValueError(f"{name}: average='binary' needs two classes (one of them pos_label="
                             f"{pos_label}), got labels {labels}; use average='macro' for multiclass")
        k = max(int(t.max(initial=0)), int(p.max(initial=0)), int(pos_label)) + 1
        tp, fp, fn, tn = _one_vs_rest_counts(t, p, k)
        return float(per_class(tp, fp, fn, tn)[pos_label])
    present = np.unique(np.concatenate([t, p]))  # classes seen in either array, as scikit-learn
    tp, fp, fn, tn = (c[present] for c in _one_vs_rest_counts(t, p))
    if average == "micro":
        return float(per_class(tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True),
                               tn.sum(keepdims=True))[0])
    scores = per_class(tp, fp, fn, tn)
    if average is None:
        return scores
    if average == "macro":
        return float(scores.mean())
    support = tp + fn
    return float(np.sum(scores * support) / support.sum()) if support.sum() else 0.0


def precision_score(y_true, y_pred, average="binary", pos_label=1):
    """tp / (tp + fp): of the samples predicted positive, the fraction that are."""
    return _score("precision_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tp, tp + fp))


def recall_score(y_true, y_pred, average="binary", pos_label=1):
    """tp / (tp + fn): of the positive samples, the fraction found (sensitivity)."""
    return _score("recall_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tp, tp + fn))


def f1_score(y_true, y_pred, average="binary", pos_label=1):
    """2 tp / (2 tp + fp + fn), the harmonic mean of precision and recall."""
    return _score("f1_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn))


def specificity_score(y_true, y_pred, average="binary", pos_label=1):
    """tn / (tn + fp): of the negative samples, the fraction predicted negative."""
    return _score("specificity_score", y_true, y_pred, average, pos_label,
                  lambda tp, fp, fn, tn: _ratio(tn, tn + fp))
