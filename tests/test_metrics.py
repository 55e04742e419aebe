"""gc.metrics: array metrics on confusion matrices worked by hand, and the training metrics'
batch sums and epoch results against their formulas."""
import math

import numpy as np
import pytest

import graphc as gc
from graphc import losses, metrics

# -- array metrics -------------------------------------------------------------------------------

# binary, worked by hand: tp = 3 (idx 0-2), fn = 1 (idx 3), fp = 2 (idx 4, 5), tn = 4
Y_TRUE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
Y_PRED = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])


def test_binary_confusion_matrix_rows_are_the_true_class():
    np.testing.assert_array_equal(metrics.confusion_matrix(Y_TRUE, Y_PRED), [[4, 2], [1, 3]])


def test_binary_scores_by_hand():
    assert metrics.accuracy_score(Y_TRUE, Y_PRED) == pytest.approx(7 / 10)
    assert metrics.precision_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 5)
    assert metrics.recall_score(Y_TRUE, Y_PRED) == pytest.approx(3 / 4)
    assert metrics.f1_score(Y_TRUE, Y_PRED) == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert metrics.specificity_score(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)


def test_pos_label_zero_swaps_the_roles():
    # class 0 as positive: tp = 4, fp = 1, fn = 2, tn = 3
    assert metrics.precision_score(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(4 / 5)
    assert metrics.recall_score(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(4 / 6)
    assert metrics.specificity_score(Y_TRUE, Y_PRED, pos_label=0) == pytest.approx(3 / 4)


# three classes, worked by hand
T3 = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
P3 = np.array([0, 1, 0, 1, 2, 2, 2, 0, 2])
CM3 = np.array([[2, 1, 0],
                [0, 1, 1],
                [1, 0, 3]])


def test_multiclass_confusion_matrix_by_hand():
    np.testing.assert_array_equal(metrics.confusion_matrix(T3, P3), CM3)
    big = metrics.confusion_matrix(T3, P3, num_classes=5)
    assert big.shape == (5, 5) and big[:3, :3].tolist() == CM3.tolist() and big[3:].sum() == 0


def test_macro_micro_weighted_and_per_class_scores_by_hand():
    # per class (one vs rest) from CM3: precision = diag / column sums, recall = diag / row sums
    precision = np.array([2 / 3, 1 / 2, 3 / 4])
    recall = np.array([2 / 3, 1 / 2, 3 / 4])
    f1 = 2 * precision * recall / (precision + recall)
    # specificity = tn / (tn + fp): class 0: fp 1, tn 5; class 1: fp 1, tn 6; class 2: fp 1, tn 4
    specificity = np.array([5 / 6, 6 / 7, 4 / 5])
    support = np.array([3, 2, 4])
    np.testing.assert_allclose(metrics.precision_score(T3, P3, average=None), precision)
    assert metrics.precision_score(T3, P3, average="macro") == pytest.approx(precision.mean())
    assert metrics.recall_score(T3, P3, average="macro") == pytest.approx(recall.mean())
    assert metrics.f1_score(T3, P3, average="macro") == pytest.approx(f1.mean())
    assert metrics.specificity_score(T3, P3, average="macro") == pytest.approx(specificity.mean())
    assert metrics.recall_score(T3, P3, average="weighted") == pytest.approx(np.sum(recall * support) / 9)
    # micro-averaged precision / recall of single-label data is the accuracy
    assert metrics.precision_score(T3, P3, average="micro") == pytest.approx(6 / 9)
    assert metrics.recall_score(T3, P3, average="micro") == pytest.approx(6 / 9)
    assert metrics.accuracy_score(T3, P3) == pytest.approx(6 / 9)


def test_macro_averages_over_the_classes_present():
    # labels 0 and 2 only: class 1 is absent from both arrays and does not count
    t, p = np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2])
    assert metrics.precision_score(t, p, average="macro") == pytest.approx((1 + 2 / 3) / 2)


def test_one_hot_and_probability_rows_are_reduced_by_argmax():
    onehot = np.eye(3)[T3]
    probs = np.eye(3)[P3] * 0.7 + 0.1
    np.testing.assert_array_equal(metrics.confusion_matrix(onehot, probs), CM3)
    assert metrics.accuracy_score(T3[:, None], P3[:, None].astype(float)) == pytest.approx(6 / 9)
    assert metrics.precision_score(Y_TRUE.astype(bool), Y_PRED.astype(bool)) == pytest.approx(3 / 5)


def test_zero_division_gives_zero():
    assert metrics.precision_score([1, 0, 1], [0, 0, 0]) == 0.0
    assert metrics.recall_score([0, 0], [1, 0]) == 0.0
    assert metrics.f1_score([0, 0], [0, 0]) == 0.0
    assert metrics.specificity_score([1, 1], [1, 1]) == 0.0


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="threshold"):
        metrics.accuracy_score([0, 1], [0.2, 0.9])
    with pytest.raises(ValueError, match="3 labels.*2"):
        metrics.confusion_matrix([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="out of range"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match="average='macro'"):
        metrics.precision_score(T3, P3)
    with pytest.raises(ValueError, match=">= 0"):
        metrics.confusion_matrix([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="average must be"):
        metrics.f1_score(T3, P3, average="samples")


# -- training metrics -------------------------------------------------------------------------------

def stats(metric, y_true, y_pred):
    """Run batch_stats through a compiled graph with an unknown batch size."""
    t = gc.placeholder((None,) + np.shape(y_true)[1:], np.asarray(y_true).dtype, name="y_true")
    p = gc.placeholder((None,) + np.shape(y_pred)[1:], np.asarray(y_pred).dtype, name="y_pred")
    out = gc.function([t, p], metric.batch_stats(t, p))(y_true, y_pred)
    return [float(v) for v in out]


def epoch(metric, batches):
    """Accumulate the sums over batches and take the result, as the model does."""
    totals = None
    for y_true, y_pred in batches:
        s = stats(metric, y_true, y_pred)
        totals = s if totals is None else [a + b for a, b in zip(totals, s)]
    return metric.result(totals)


def test_binary_accuracy_thresholds_probabilities_at_one_half():
    y = np.array([[1.0], [0.0], [1.0], [0.0], [1.0]])
    p = np.array([[0.9], [0.2], [0.4], [0.6], [0.5]], dtype=np.float32)  # 0.5 is not > 0.5
    m = metrics.get("accuracy", loss="binary_crossentropy")
    assert stats(m, y, p) == [2.0, 5.0]
    assert m.result([2.0, 5.0]) == pytest.approx(0.4)
    assert stats(metrics.get("accuracy"), y, p) == [2.0, 5.0]            # chosen from the shapes
    assert stats(metrics.get("accuracy"), y[:, 0], p) == [2.0, 5.0]      # labels (n,) vs (n, 1)


def test_binary_accuracy_from_logits_thresholds_at_zero():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    z = np.array([0.3, -0.1, -2.0, 0.2])
    m = metrics.get("accuracy", loss=losses.BinaryCrossentropy(from_logits=True))
    assert stats(m, y, z) == [2.0, 4.0]


def test_accuracy_with_hinge_uses_signed_labels_and_zero_threshold():
    y = np.array([1.0, -1.0, 1.0, -1.0])
    s = np.array([0.3, -0.1, -2.0, 0.2])
    assert stats(metrics.get("accuracy", loss="hinge"), y, s) == [2.0, 4.0]


def test_categorical_accuracy_compares_argmaxes():
    y = np.eye(3)[[0, 1, 2, 2]]
    p = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    assert stats(metrics.get("accuracy", loss="categorical_crossentropy"), y, p) == [2.0, 4.0]
    assert stats(metrics.get("accuracy"), y, p) == [2.0, 4.0]
    assert stats(metrics.get("categorical_accuracy"), y, p) == [2.0, 4.0]


@pytest.mark.parametrize("labels", [np.array([0, 1, 2, 2]), np.array([[0], [1], [2], [2]]),
                                    np.array([0.0, 1.0, 2.0, 2.0])], ids=["flat", "column", "float"])
def test_sparse_categorical_accuracy_compares_argmax_with_the_label(labels):
    p = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    assert stats(metrics.get("accuracy", loss="sparse_categorical_crossentropy"), labels, p) == [2.0, 4.0]
    assert stats(metrics.get("sparse_categorical_accuracy"), labels, p) == [2.0, 4.0]
    assert stats(metrics.get("accuracy"), labels, p) == [2.0, 4.0]  # sparse, chosen from the shapes


def test_epoch_accuracy_is_exact_over_uneven_batches():
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    p = np.array([0.9, 0.1, 0.2, 0.7, 0.8, 0.3, 0.6])
    m = metrics.get("accuracy")
    assert epoch(m, [(y[:4], p[:4]), (y[4:], p[4:])]) == pytest.approx(5 / 7)


def test_precision_recall_f1_sums_and_results():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.6, 0.51, 0.4, 0.1, 0.0, 0.3], dtype=np.float32)  # = Y_PRED
    precision, recall, f1 = (metrics.get(n, loss="binary_crossentropy") for n in ("precision", "recall", "f1"))
    assert stats(precision, y, p) == [3.0, 5.0]
    assert stats(recall, y, p) == [3.0, 4.0]
    assert stats(f1, y, p) == [3.0, 5.0, 4.0]
    assert precision.result([3.0, 5.0]) == pytest.approx(metrics.precision_score(Y_TRUE, Y_PRED))
    assert recall.result([3.0, 4.0]) == pytest.approx(metrics.recall_score(Y_TRUE, Y_PRED))
    assert f1.result([3.0, 5.0, 4.0]) == pytest.approx(metrics.f1_score(Y_TRUE, Y_PRED))
    assert epoch(f1, [(y[:3], p[:3]), (y[3:], p[3:])]) == pytest.approx(metrics.f1_score(Y_TRUE, Y_PRED))
    assert precision.result([0.0, 0.0]) == 0.0 and f1.result([0.0, 0.0, 0.0]) == 0.0


def test_precision_on_categorical_outputs_is_elementwise_like_keras():
    labels = np.array([0, 1, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    # positives predicted (> 0.5): (0,0), (1,0), (2,2); true: (0,0), (1,1), (2,2)
    assert stats(metrics.get("precision", loss="sparse_categorical_crossentropy"), labels, p) == [2.0, 3.0]
    assert stats(metrics.get("recall", loss="categorical_crossentropy"), np.eye(3)[labels], p) == [2.0, 3.0]
    z = np.log(p)  # logits of the same probabilities
    m = metrics.get("precision", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    assert stats(m, labels, z) == [2.0, 3.0]


def test_regression_metrics():
    y = np.array([[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]])
    p = np.array([[1.5, 2.0], [2.0, 4.0], [0.0, -2.0]])
    err = p - y
    for name, total in (("mae", np.abs(err).sum()), ("mse", (err ** 2).sum()), ("rmse", (err ** 2).sum())):
        m = metrics.get(name)
        s = stats(m, y, p)
        assert s == pytest.approx([total, 6.0]) and m.name == name
    assert metrics.get("mae").result([4.0, 8.0]) == 0.5
    assert metrics.get("rmse").result([18.0, 8.0]) == pytest.approx(1.5)
    # rmse over an epoch: the root of the total squared error over the count, not a mean of roots
    m = metrics.get("rmse")
    assert epoch(m, [(y[:1], p[:1]), (y[1:], p[1:])]) == pytest.approx(math.sqrt((err ** 2).mean()))


def test_names_are_the_history_keys():
    for name in ("accuracy", "acc", "precision", "recall", "f1", "mae", "mse", "rmse", "mean_absolute_error"):
        assert metrics.get(name).name == name
    m = metrics.Accuracy(name="val_check")
    assert metrics.get(m) is m


def test_callable_metrics_are_means_of_their_values():
    def half_error(y_true, y_pred):
        return 0.5 * gc.abs(y_true - y_pred)

    m = metrics.get(half_error)
    assert m.name == "half_error"
    y, p = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 1.0])
    assert epoch(m, [(y, p)]) == pytest.approx(0.5)


def test_unknown_metric_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown metric 'auc'.*accuracy"):
        metrics.get("auc")
