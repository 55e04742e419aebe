"""Sequential models (Keras behaviour: building, summary, fit/evaluate/predict, history,
progress output, input validation, save/load) and Rosenblatt's perceptron."""
import io
import json
import os
import re
import zipfile

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

RNG = np.random.default_rng(0)


def classification_data(n=120, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    w = rng.normal(size=(features, classes))
    return x, (x @ w).argmax(axis=1)


def small_classifier(seed=0, dropout=None, features=8, classes=3, optimizer="adam"):
    stack = [L.Input((features,)), L.Dense(16, activation="relu")]
    if dropout:
        stack.append(L.Dropout(dropout))
    stack.append(L.Dense(classes, activation="softmax"))
    model = gc.models.Sequential(stack, seed=seed)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# -- building and summary ---------------------------------------------------------------------

def test_summary_of_the_784_128_10_model():
    model = gc.models.Sequential([L.Dense(128, activation="relu", input_shape=(784,)),
                                  L.Dense(10, activation="softmax")], name="mnist_mlp")
    out = io.StringIO()
    model.summary(print_fn=lambda text: out.write(text + "\n"))
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == 'Model: "mnist_mlp"'
    assert re.search(r"┃ Layer \(type\)\s+┃ Output Shape\s+┃\s+Param # ┃", text)
    dense_rows = [line for line in lines if "(Dense)" in line]
    assert len(dense_rows) == 2
    assert "(None, 128)" in dense_rows[0] and dense_rows[0].rstrip("│ ").endswith("100,480")
    assert "(None, 10)" in dense_rows[1] and dense_rows[1].rstrip("│ ").endswith("1,290")
    assert " Total params: 101,770 (397.54 KB)" in lines
    assert " Trainable params: 101,770 (397.54 KB)" in lines
    assert " Non-trainable params: 0 (0.00 B)" in lines
    assert model.count_params() == 101_770
    assert len({len(line) for line in lines[1:-3]}) == 1  # a rectangular table


def test_summary_counts_frozen_layers_as_non_trainable():
    model = gc.models.Sequential([L.Dense(4, input_shape=(3,), trainable=False), L.Dense(2)])
    out = io.StringIO()
    model.summary(print_fn=out.write)
    assert " Trainable params: 10 (40.00 B)" in out.getvalue()
    assert " Non-trainable params: 16 (64.00 B)" in out.getvalue()


def test_build_from_input_layer_input_shape_build_or_data():
    a = gc.models.Sequential([L.Input((5,)), L.Dense(2)])
    b = gc.models.Sequential([L.Dense(2, input_shape=(5,))])
    c = gc.models.Sequential([L.Dense(2)])
    assert a.built and b.built and not c.built
    with pytest.raises(ValueError, match="not been built"):
        c.summary()
    c.build((None, 5))
    assert c.output_shape == (None, 2) and c.count_params() == 12
    d = gc.models.Sequential()
    d.add(L.Dense(3))
    d.add(L.Dense(1))
    d.compile("sgd", "mse")
    d.fit(np.zeros((4, 6)), np.zeros(4), verbose=0)
    assert d.input_shape == (None, 6) and d.layers[0].get_weights()[0].shape == (6, 3)
    with pytest.raises(ValueError, match="first layer"):
        gc.models.Sequential([L.Dense(2), L.Input((3,))])


def test_get_and_set_weights():
    model = small_classifier()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(8, 16), (16,), (16, 3), (3,)]
    weights[0][:] = 0  # a copy: the model is unchanged
    assert model.get_weights()[0].any()
    model.set_weights([np.ones_like(w) for w in weights])
    assert all((w == 1).all() for w in model.get_weights())
    with pytest.raises(gc.ShapeError, match="dense.*kernel"):
        model.set_weights([np.ones((8, 15)), np.ones(16), np.ones((16, 3)), np.ones(3)])
    with pytest.raises(ValueError, match="4 weight arrays"):
        model.set_weights(weights[:3])
    assert all((w == 1).all() for w in model.get_weights())


# -- the compiled graphs ------------------------------------------------------------------------

def test_the_training_step_is_one_function_compiled_once_per_batch_shape():
    x, y = classification_data(n=100)
    model = small_classifier()
    train = model.train_function
    assert isinstance(train, gc.Function)
    assert [p.name for p in train.inputs] == ["x", "y", "sample_weight"]
    # every weight, every Adam slot and the iteration counter are updated by the same graph
    updated = {v for v, _ in train.updates}
    assert set(model.trainable_weights) <= updated
    assert set(model.optimizer.variables()) <= updated
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)           # batches of 32, 32, 32, 4
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, validation_split=0.2)   # 32, 32, 16
    assert model.train_function is train
    assert sorted(sig[0][0] for sig in train._cache) == [4, 16, 32]
    model.fit(x[:96], y[:96], epochs=2, batch_size=32, verbose=0)
    assert len(train._cache) == 3
    assert isinstance(model.test_function, gc.Function) and isinstance(model.predict_function, gc.Function)


def test_dropout_is_in_the_training_graph_only():
    model = small_classifier(dropout=0.5)
    x, y = classification_data()
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y)
    model.predict(x)

    def random_ops(fn):
        return sum(1 for n in fn.graph.nodes if n.op.startswith("random"))

    assert random_ops(model.train_function) == 1
    assert random_ops(model.test_function) == 0 and random_ops(model.predict_function) == 0
    # inference is deterministic; the training graph draws a fresh mask each call
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    no_dropout = small_classifier(dropout=None)
    same_ops = {op: n for op, n in no_dropout.predict_function.graph.op_counts().items()}
    # apart from dropout, training and inference forward passes use the same layers
    assert {op: n for op, n in model.predict_function.graph.op_counts().items()} == same_ops


def test_one_training_step_matches_the_formula():
    # logistic regression, full batch, SGD: w <- w - lr * X^T (c (p - y)) / n, c the class weights
    x = RNG.normal(size=(10, 3)).astype(np.float32)
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
    model = gc.models.Sequential([L.Dense(1, activation="sigmoid", input_shape=(3,))], seed=4)
    model.compile(gc.optimizers.SGD(learning_rate=0.5), "binary_crossentropy")
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    class_weight = {0: 1.0, 1: 3.0}
    c = np.where(y == 1, 3.0, 1.0)
    p = 1 / (1 + np.exp(-(x @ kernel + bias)))[:, 0]
    expected_loss = np.mean(c * -(y * np.log(p) + (1 - y) * np.log(1 - p)))
    history = model.fit(x, y, epochs=1, batch_size=10, shuffle=False, verbose=0, class_weight=class_weight)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    g = c * (p - y) / len(y)
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel[:, 0], kernel[:, 0] - 0.5 * x.T @ g, rtol=1e-5)
    np.testing.assert_allclose(new_bias, bias - 0.5 * g.sum(), rtol=1e-5)


def test_regularization_is_part_of_the_training_loss():
    x = RNG.normal(size=(6, 2)).astype(np.float32)
    y = RNG.normal(size=(6, 1)).astype(np.float32)
    model = gc.models.Sequential([L.Dense(1, input_shape=(2,), kernel_regularizer=gc.regularizers.L2(0.5),
                                          seed=0)])
    model.compile(gc.optimizers.SGD(0.1), "mse")
    kernel, bias = model.get_weights()
    expected = np.mean((x @ kernel + bias - y) ** 2) + 0.5 * np.sum(kernel ** 2)
    assert model.evaluate(x, y) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, epochs=1, batch_size=6, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_to_graph_renders_the_training_step():
    model = small_classifier()
    graph = model.to_graph()
    assert isinstance(graph, gc.Graph)
    assert len(graph.updates) == len(model.train_function.updates)
    dot = gc.to_dot(model)
    assert dot.startswith("digraph") and "dense" in dot


# -- fit, evaluate, predict ---------------------------------------------------------------------

def test_history_keys_and_lengths():
    x, y = classification_data()
    model = small_classifier()
    history = model.fit(x, y, epochs=4, batch_size=16, validation_split=0.25, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 4 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3]
    assert model.history is history
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    no_val = small_classifier().fit(x, y, epochs=2, verbose=0)
    assert list(no_val.history) == ["accuracy", "loss"]


def test_fit_learns_and_evaluate_predict_agree():
    x, y = classification_data(n=300)
    model = small_classifier()
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    probabilities = model.predict(x)
    assert probabilities.shape == (300, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    loss, accuracy = model.evaluate(x, y)
    assert accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == y))
    p_true = probabilities[np.arange(300), y]
    assert loss == pytest.approx(np.mean(-np.log(p_true)), rel=1e-4)
    assert model.evaluate(x, y, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    assert model.evaluate(x, y, batch_size=7) == pytest.approx([loss, accuracy], rel=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=7), probabilities, rtol=1e-6)


def test_evaluate_without_metrics_returns_the_loss():
    model = gc.models.Sequential([L.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    assert isinstance(model.evaluate(np.zeros((3, 2)), np.zeros(3)), float)


def test_validation_split_takes_the_last_samples():
    x, y = classification_data(n=100)
    model = small_classifier()
    history = model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
    val_loss, val_accuracy = model.evaluate(x[80:], y[80:])
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val_accuracy)


def test_progress_output_follows_keras(capsys):
    x, y = classification_data(n=100)
    model = small_classifier()
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"3/3 ━{20} \d+s \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4} "
                        r"- val_accuracy: \d\.\d{4} - val_loss: \d\.\d{4}", lines[1]), lines[1]
    assert len(lines) == 4
    model.fit(x, y, epochs=1, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/1"
    assert re.fullmatch(r"4/4 - \d+s - \d+(ms|us|s)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", lines[1])
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_redraws_in_place_on_a_terminal():
    from graphc.progress import Progbar

    stream = io.StringIO()
    bar = Progbar(4, verbose=1, stream=stream, interactive=True)
    for step in range(1, 5):
        bar._last_draw = -1.0  # no throttling in the test
        bar.update(step, {"loss": 1.0 / step})
    bar.finish({"loss": 0.25})
    text = stream.getvalue()
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert "\x1b[32m" in text  # the done part of the bar is green
    assert "loss: 0.2500" in text.split("\r")[-1]


def test_batch_logs_are_running_means_over_the_epoch():
    x, y = classification_data(n=96)

    class Record(gc.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs = [], []

        def on_batch_end(self, batch, logs=None):
            self.batches.append(dict(logs))

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(dict(logs))

    model = small_classifier(optimizer=gc.optimizers.SGD(1e-9))   # weights practically frozen
    per_batch = [model.evaluate(x[i:i + 32], y[i:i + 32], return_dict=True) for i in (0, 32, 64)]
    record = Record()
    model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0, callbacks=[record])
    assert len(record.batches) == 3
    for k, logs in enumerate(record.batches):
        mean_loss = np.mean([b["loss"] for b in per_batch[:k + 1]])
        mean_accuracy = np.mean([b["accuracy"] for b in per_batch[:k + 1]])
        assert logs["loss"] == pytest.approx(mean_loss, rel=1e-5)
        assert logs["accuracy"] == pytest.approx(mean_accuracy)
    assert record.epochs[0]["loss"] == pytest.approx(record.batches[-1]["loss"])


def test_stop_training_from_a_callback_stops_after_the_batch():
    x, y = classification_data(n=100)

    class StopAtBatch(gc.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    history = small_classifier().fit(x, y, epochs=5, batch_size=10, verbose=0, callbacks=[StopAtBatch()])
    assert history.epoch == [0]


# -- input validation before training ---------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda x, y: (x[:50], y[:49]), ValueError, "x has 50 samples but y has 49"),
    (lambda x, y: (x[:, :7], y), gc.ShapeError, r"samples of shape \(8,\).*\(7,\)"),
    (lambda x, y: (x.reshape(-1, 2, 4), y), gc.ShapeError, r"samples of shape \(8,\)"),
    (lambda x, y: (x, y + 1), ValueError, r"class indices 0\.\.2.*found \[3\]"),
    (lambda x, y: (x, y - 1), ValueError, r"class indices 0\.\.2.*found \[-1\]"),
    (lambda x, y: (x, y + 0.5), ValueError, "integer class labels"),
    (lambda x, y: (np.where(np.arange(len(x))[:, None] == 5, np.nan, x), y), ValueError,
     r"x contains NaN.*index \(5, 0\)"),
    (lambda x, y: (x, np.eye(3)[y]), gc.ShapeError, "sparse_categorical_crossentropy"),
])
def test_fit_rejects_bad_inputs_before_training(make, error, message):
    x, y = classification_data()
    model = small_classifier()
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(*make(x, y), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
    ({"epochs": "3"}, TypeError, "epochs must be an integer"),
    ({"epochs": True}, TypeError, "epochs must be an integer"),
    ({"epochs": -1}, ValueError, "epochs must be (at least 0|a non-negative integer), got -1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"batch_size": "32"}, TypeError, "batch_size must be an integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be (at least 1|a positive integer), got 0"),
    ({"initial_epoch": 0.5}, TypeError, "initial_epoch must be an integer"),
    ({"initial_epoch": -1}, ValueError, "initial_epoch must be (at least 0|a non-negative integer)"),
    ({"steps_per_epoch": 1.5}, TypeError, "steps_per_epoch must be an integer"),
    ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch must be (at least 1|a positive integer)"),
    ({"validation_split": "0.2"}, TypeError, "validation_split must be a real number"),
    ({"validation_split": 1.0}, ValueError, r"validation_split must be a fraction in \[0, 1\)"),
    ({"validation_split": -0.1}, ValueError, "validation_split must be at least 0"),
    ({"validation_split": float("nan")}, ValueError, "validation_split"),
    ({"verbose": 3}, ValueError, "verbose must be 0"),
    ({"verbose": 1.0}, TypeError, "verbose must be an integer"),
    ({"verbose": "loud"}, TypeError, "verbose must be an integer"),
])
def test_fit_checks_its_arguments_before_training(kwargs, error, message):
    x, y = classification_data(n=40)
    model = small_classifier()
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(x, y, **{"epochs": 2, "verbose": 0, **kwargs})
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_accepts_numpy_integers_none_batch_size_and_keras_verbose_values():
    x, y = classification_data(n=40)
    model = small_classifier()
    history = model.fit(x, y, epochs=np.int64(2), batch_size=None, initial_epoch=np.int32(1), verbose=False,
                        validation_split=np.float32(0.25))
    assert history.epoch == [1] and int(model.optimizer.iterations.value) == 1   # 30 samples: one batch of 32
    model.fit(x, y, epochs=1, verbose="auto", batch_size=np.uint8(16))


def test_steps_per_epoch_trains_that_many_batches_continuing_through_the_data():
    x, y = classification_data(n=10)
    spaced = small_classifier(seed=5)
    batches = []

    class Count(gc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)

    history = spaced.fit(x, y, epochs=3, batch_size=4, steps_per_epoch=2, shuffle=False, verbose=0,
                         callbacks=[Count()])
    assert batches == [0, 1] * 3 and len(history.history["loss"]) == 3
    by_hand = small_classifier(seed=5)   # batches [0:4] [4:8] | [8:10] [0:4] | [4:8] [8:10]
    for lo, hi in [(0, 4), (4, 8), (8, 10), (0, 4), (4, 8), (8, 10)]:
        by_hand.train_on_batch(x[lo:hi], y[lo:hi])
    for a, b in zip(spaced.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("class_weight, error, message", [
    ({7: 2.0}, ValueError, r"class_weight names class 7, but the model has 2 classes \(0\.\.1\)"),
    ({-1: 2.0}, ValueError, "class -1, but the model has 2 classes"),
    ({0: "heavy"}, TypeError, r"class_weight\[0\] must be a real number"),
    ({0: None}, TypeError, r"class_weight\[0\] must be a real number"),
    ({1: -0.5}, ValueError, r"class_weight\[1\] must be at least 0"),
    ({1: float("nan")}, ValueError, r"class_weight\[1\]"),
    ({1: float("inf")}, ValueError, r"class_weight\[1\] must be .*finite"),
    ({"1": 2.0}, TypeError, "class_weight key '1' must be an integer"),
    ({1.0: 2.0}, TypeError, "class_weight key 1.0 must be an integer"),
    ([1.0, 2.0], TypeError, "class_weight must be a dict"),
])
def test_class_weight_is_checked_against_the_model_classes(class_weight, error, message):
    x = RNG.normal(size=(10, 3)).astype(np.float32)
    y = np.array([0, 1] * 5)
    model = gc.models.Sequential([L.Dense(1, activation="sigmoid", input_shape=(3,))], seed=4)
    model.compile("sgd", "binary_crossentropy")
    before = model.get_weights()
    with pytest.raises(error, match=message):
        model.fit(x, y, epochs=1, verbose=0, class_weight=class_weight)
    with pytest.raises(error, match=message):
        model.train_on_batch(x, y, class_weight=class_weight)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_class_weight_indices_follow_the_output_units():
    x, y = classification_data()
    model = small_classifier()   # 3 classes
    with pytest.raises(ValueError, match=r"class 3, but the model has 3 classes \(0\.\.2\)"):
        model.fit(x, y, epochs=1, verbose=0, class_weight={0: 1.0, 3: 2.0})
    model.fit(x, y, epochs=1, verbose=0, class_weight={np.int64(2): 2.0, 0: 0.0})


@pytest.mark.parametrize("method", ["evaluate", "predict"])
def test_evaluate_and_predict_check_batch_size_and_verbose(method):
    x, y = classification_data(n=20)
    model = small_classifier()
    call = getattr(model, method)
    args = (x, y) if method == "evaluate" else (x,)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        call(*args, batch_size=2.5)
    with pytest.raises(ValueError, match="batch_size must be (at least 1|a positive integer)"):
        call(*args, batch_size=0)
    with pytest.raises(ValueError, match="verbose must be 0"):
        call(*args, verbose=7)
    assert np.allclose(call(*args, batch_size=np.int64(7)), call(*args, batch_size=None))


def test_fit_checks_validation_data_before_training():
    x, y = classification_data()
    model = small_classifier()
    before = model.get_weights()
    with pytest.raises(gc.ShapeError, match="x_val"):
        model.fit(x, y, validation_data=(x[:10, :6], y[:10]), verbose=0)
    with pytest.raises(ValueError, match="y_val"):
        model.fit(x, y, validation_data=(x[:10], y[:9]), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_binary_crossentropy_labels_must_be_0_or_1():
    model = gc.models.Sequential([L.Dense(1, activation="sigmoid", input_shape=(2,))])
    model.compile("sgd", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"0 or 1.*found \[2\]"):
        model.fit(np.zeros((3, 2)), np.array([0, 1, 2]), verbose=0)
    with pytest.raises(ValueError, match="y contains NaN"):
        model.fit(np.zeros((2, 2)), np.array([0.0, np.nan]), verbose=0)


def test_fit_needs_compile_and_compile_needs_a_loss():
    model = gc.models.Sequential([L.Dense(1, input_shape=(2,))])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="loss"):
        model.compile("sgd")


def test_predict_works_before_compile():
    model = gc.models.Sequential([L.Dense(2, input_shape=(3,), seed=0)])
    kernel, bias = model.get_weights()
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x @ kernel + bias, rtol=1e-6)


# -- save and load ------------------------------------------------------------------------------

def test_save_load_predicts_identically(tmp_path):
    x, y = classification_data()
    model = small_classifier(dropout=0.2)
    model.fit(x, y, epochs=2, verbose=0)
    path = model.save(tmp_path / "model.npz")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]   # atomic: no temporary file left
    loaded = gc.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.get_config() == model.get_config()
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert int(loaded.optimizer.iterations.value) == int(model.optimizer.iterations.value) == 8
    with zipfile.ZipFile(path) as archive:   # the documented format: an .npz archive
        names = archive.namelist()
    assert "graphc_model.npy" in names and "weight_0000.npy" in names and "optimizer_0000.npy" in names
    with np.load(path, allow_pickle=False) as archive:
        document = json.loads(archive["graphc_model"].tobytes())
    assert document["format"] == "graphc.model" and document["version"] == 1
    assert document["compile"]["loss"]["class_name"] == "SparseCategoricalCrossentropy"
    assert [spec["class_name"] for spec in document["model"]["config"]["layers"]] == \
        ["InputLayer", "Dense", "Dropout", "Dense"]


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    x, y = classification_data(n=90)
    uninterrupted = small_classifier(seed=3)
    uninterrupted.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0)
    first_half = small_classifier(seed=3)
    first_half.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    resumed = gc.models.load_model(first_half.save(tmp_path / "half.npz"))
    resumed.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(uninterrupted.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Adam's state matters: a fresh optimizer on the same weights does not give the same result
    fresh = small_classifier(seed=3)
    fresh.set_weights(first_half.get_weights())
    fresh.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert not np.array_equal(fresh.get_weights()[0], uninterrupted.get_weights()[0])


def test_save_overwrites_atomically_and_failures_leave_no_trace(tmp_path):
    model = small_classifier()
    path = tmp_path / "m.npz"
    model.save(path)
    original = path.read_bytes()
    model.fit(*classification_data(), epochs=1, verbose=0)
    model.save(path)
    assert path.read_bytes() != original and os.listdir(tmp_path) == ["m.npz"]
    unsaveable = gc.models.Sequential([L.Dense(1, input_shape=(2,), activation=lambda t: t * 2.0)])
    unsaveable.compile("sgd", "mse")
    with pytest.raises(ValueError, match="serialize"):
        unsaveable.save(path)
    assert os.listdir(tmp_path) == ["m.npz"] and gc.models.load_model(path).built


def test_load_rejects_truncated_and_foreign_files(tmp_path):
    model = small_classifier()
    good = model.save(tmp_path / "good.npz")
    data = open(good, "rb").read()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(repr(str(truncated))) + ".*(damaged|truncated)"):
        gc.models.load_model(truncated)
    foreign = tmp_path / "notes.txt"
    foreign.write_text("not a model")
    with pytest.raises(ValueError, match=re.escape(repr(str(foreign))) + ".*not a graphc model"):
        gc.models.load_model(foreign)
    other_npz = tmp_path / "arrays.npz"
    np.savez(other_npz, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a graphc model"):
        gc.models.load_model(other_npz)
    with pytest.raises(FileNotFoundError):
        gc.models.load_model(tmp_path / "missing.npz")


def test_uncompiled_model_round_trips(tmp_path):
    model = gc.models.Sequential([L.Input((4,)), L.Dense(3, activation="tanh"), L.Maxout(2, 2)], seed=1)
    loaded = gc.models.load_model(model.save(tmp_path / "plain.npz"))
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert not loaded.compiled


# -- the perceptron -----------------------------------------------------------------------------

# The AND gate worked by hand: inputs in the order (0,0), (0,1), (1,0), (1,1), targets 0 0 0 1,
# w = (w0, w1, w2) = 0, α = 1, output 1 when w0 + w·x >= 0, w ← w + α (target − output) (1, x).
AND_TABLE = [  # epoch, x1, x2, target, output, error, w0, w1, w2 (after the update)
    (1, 0, 0, 0, 1, -1, -1, 0, 0), (1, 0, 1, 0, 0, 0, -1, 0, 0), (1, 1, 0, 0, 0, 0, -1, 0, 0),
    (1, 1, 1, 1, 0, 1, 0, 1, 1),
    (2, 0, 0, 0, 1, -1, -1, 1, 1), (2, 0, 1, 0, 1, -1, -2, 1, 0), (2, 1, 0, 0, 0, 0, -2, 1, 0),
    (2, 1, 1, 1, 0, 1, -1, 2, 1),
    (3, 0, 0, 0, 0, 0, -1, 2, 1), (3, 0, 1, 0, 1, -1, -2, 2, 0), (3, 1, 0, 0, 1, -1, -3, 1, 0),
    (3, 1, 1, 1, 0, 1, -2, 2, 1),
    (4, 0, 0, 0, 0, 0, -2, 2, 1), (4, 0, 1, 0, 0, 0, -2, 2, 1), (4, 1, 0, 0, 1, -1, -3, 1, 1),
    (4, 1, 1, 1, 0, 1, -2, 2, 2),
    (5, 0, 0, 0, 0, 0, -2, 2, 2), (5, 0, 1, 0, 1, -1, -3, 2, 1), (5, 1, 0, 0, 0, 0, -3, 2, 1),
    (5, 1, 1, 1, 1, 0, -3, 2, 1),
    (6, 0, 0, 0, 0, 0, -3, 2, 1), (6, 0, 1, 0, 0, 0, -3, 2, 1), (6, 1, 0, 0, 0, 0, -3, 2, 1),
    (6, 1, 1, 1, 1, 0, -3, 2, 1),
]


def test_perceptron_learns_and_exactly_as_worked_by_hand():
    x, y = gc.datasets.and_gate()
    perceptron = gc.models.Perceptron(learning_rate=1.0).fit(x, y, epochs=50)
    table = [(s["epoch"], *s["x"].astype(int), s["target"], s["output"], s["error"], *s["weights"].astype(int))
             for s in perceptron.steps_]
    assert table == AND_TABLE
    assert perceptron.weights.tolist() == [-3.0, 2.0, 1.0]
    assert perceptron.errors_ == [2, 3, 3, 2, 1, 0]
    assert perceptron.predict(x).tolist() == [0, 0, 0, 1]
    assert isinstance(perceptron.step_function, gc.Function)
    text = perceptron.iteration_table().splitlines()
    assert text[0].split() == ["epoch", "x1", "x2", "target", "output", "error", "w0", "w1", "w2"]
    assert text[2].split() == ["1", "0", "0", "0", "1", "-1", "-1", "0", "0"]
    assert len(text) == 2 + 24


def test_perceptron_epochs_must_be_an_integer():
    with pytest.raises(TypeError, match="epochs must be an integer"):
        gc.models.Perceptron().fit([[0, 0], [1, 1]], [0, 1], epochs=2.5)
    with pytest.raises(TypeError, match="learning_rate must be a real number"):
        gc.models.Perceptron(learning_rate="fast")


def test_perceptron_predicts_one_at_zero_net_input():
    perceptron = gc.models.Perceptron().fit(np.zeros((1, 2)), [1], epochs=5)
    assert perceptron.errors_ == [0] and perceptron.weights.tolist() == [0.0, 0.0, 0.0]  # f(0) = 1


def test_perceptron_learning_rate_scales_the_updates_and_xor_never_converges():
    x, y = gc.datasets.and_gate()
    half = gc.models.Perceptron(learning_rate=0.5).fit(x, y, epochs=50)
    assert half.weights.tolist() == [-1.5, 1.0, 0.5]   # with w0 = 0 the run is α times the α=1 run
    xor = gc.models.Perceptron().fit(*gc.datasets.xor(), epochs=30)
    assert len(xor.errors_) == 30 and min(xor.errors_) > 0
    with pytest.raises(ValueError, match="0 or 1"):
        gc.models.Perceptron().fit(x, [0, 1, 2, 1])


def test_automatic_names_never_clash_within_a_model(tmp_path):
    model = gc.models.Sequential([L.Dense(2, input_shape=(3,)), L.Dense(1)])
    loaded = gc.models.load_model(model.save(tmp_path / "m.npz"))
    clash = L.Dense(4)
    clash.name = loaded.layers[0].name          # as in a fresh process, whose counters restart
    loaded.add(clash)
    names = [layer.name for layer in loaded.layers]
    assert len(set(names)) == 3 and loaded.output_shape == (None, 4)
    with pytest.raises(ValueError, match="two layers named"):
        loaded.add(L.Dense(1, name=names[0]))


def test_train_test_and_predict_on_batch_match_the_compiled_steps_and_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.integers(0, 2, size=16)
    model = gc.models.Sequential([gc.layers.Input((3,)), gc.layers.Dense(2)], seed=1)
    model.compile(gc.optimizers.SGD(0.5), gc.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    w, b = model.get_weights()

    def reference(w, b):
        logits = x @ w + b
        logp = logits - logits.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        loss = -logp[np.arange(16), y].mean()
        grad = np.exp(logp)
        grad[np.arange(16), y] -= 1
        grad /= 16
        return loss, float((logits.argmax(1) == y).mean()), x.T @ grad, grad.sum(0)

    loss, acc, gw, gb = reference(w, b)
    np.testing.assert_allclose(model.predict_on_batch(x), x @ w + b, rtol=1e-5, atol=1e-6)
    test = model.test_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose([test["loss"], test["accuracy"]], [loss, acc], rtol=1e-5)
    out = model.train_on_batch(x, y)
    np.testing.assert_allclose(out, [loss, acc], rtol=1e-5)
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, w - 0.5 * gw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - 0.5 * gb, rtol=1e-5, atol=1e-6)
    assert isinstance(model.predict_on_batch(x), np.ndarray)
