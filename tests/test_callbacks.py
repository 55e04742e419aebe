"""Callbacks with Keras semantics: History, EarlyStopping, ModelCheckpoint, TerminateOnNaN,
CSVLogger, LearningRateScheduler, and the hooks fit calls."""
import csv
import os

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.int64)


def classifier(seed=0, optimizer="adam"):
    model = gc.models.Sequential([L.Input((4,)), L.Dense(8, activation="relu"),
                                  L.Dense(2, activation="softmax")], seed=seed)
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Script(gc.callbacks.Callback):
    """Replaces the monitored value by a scripted sequence and records the weights each
    epoch ends with (it runs before the callbacks listed after it, as in Keras)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]
        self.weights.append(self.model.get_weights())


class Recorder(gc.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, sorted(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_hooks_are_called_in_order_with_logs():
    x, y = data(n=40)
    recorder = Recorder()
    classifier().fit(x, y, epochs=2, batch_size=20, validation_split=0.5, verbose=0, callbacks=[recorder])
    keys = ["accuracy", "loss"]
    all_keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert recorder.events == [
        ("train_begin",),
        ("epoch_begin", 0), ("batch_end", 0, keys), ("epoch_end", 0, all_keys),
        ("epoch_begin", 1), ("batch_end", 0, keys), ("epoch_end", 1, all_keys),
        ("train_end",)]
    assert recorder.params["epochs"] == 2 and recorder.params["steps"] == 1
    with pytest.raises(TypeError, match="Callback"):
        classifier().fit(x, y, verbose=0, callbacks=[lambda: None])


def test_history_callback():
    x, y = data()
    model = classifier()
    history = model.fit(x, y, epochs=3, verbose=0)
    assert isinstance(history, gc.callbacks.History)
    assert history.epoch == [0, 1, 2] and model.history is history
    assert set(history.history) == {"accuracy", "loss"}


# -- EarlyStopping ------------------------------------------------------------------------------

def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights(capsys):
    # best at epoch 1 (0-based); epochs 2, 3, 4 do not improve -> patience 3 is exhausted at epoch 4
    script = Script("val_loss", [1.0, 0.8, 0.9, 0.85, 0.95, 0.5, 0.4])
    stopper = gc.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True, verbose=1)
    x, y = data()
    model = classifier()
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["val_loss"] == [1.0, 0.8, 0.9, 0.85, 0.95]
    assert stopper.stopped_epoch == 4 and stopper.best == 0.8 and stopper.best_epoch == 1
    out = capsys.readouterr().out
    assert "Epoch 5: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 2." in out
    for restored, best in zip(model.get_weights(), script.weights[1]):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], script.weights[4][0])


def test_early_stopping_is_silent_by_default_and_keeps_last_weights_without_restore(capsys):
    script = Script("val_loss", [1.0, 1.0, 1.0, 1.0])
    stopper = gc.callbacks.EarlyStopping(patience=2)
    x, y = data()
    model = classifier()
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[script, stopper])
    assert history.epoch == [0, 1, 2]   # equal is not an improvement
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(model.get_weights()[0], script.weights[-1][0])


def test_early_stopping_min_delta_mode_and_baseline():
    x, y = data()
    # accuracy: 'auto' means higher is better; +0.005 is below min_delta 0.01
    script = Script("val_accuracy", [0.5, 0.6, 0.605, 0.608, 0.9])
    stopper = gc.callbacks.EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.01)
    assert stopper.mode == "max"
    assert classifier().fit(x, y, epochs=5, verbose=0, callbacks=[script, stopper]).epoch == [0, 1, 2, 3]
    # an improvement that does not beat the baseline does not reset the patience (Keras 3)
    values = [5.0, 4.0, 4.5, 4.2, 1.0]
    with_baseline = gc.callbacks.EarlyStopping(patience=2, baseline=2.5)
    without = gc.callbacks.EarlyStopping(patience=2)
    assert classifier().fit(x, y, epochs=5, verbose=0,
                            callbacks=[Script("val_loss", values), with_baseline]).epoch == [0, 1, 2]
    assert classifier().fit(x, y, epochs=5, verbose=0,
                            callbacks=[Script("val_loss", values), without]).epoch == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="mode"):
        gc.callbacks.EarlyStopping(mode="lowest")


def test_early_stopping_on_real_validation_loss():
    x, y = data(n=200)
    stopper = gc.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    model = classifier(optimizer=gc.optimizers.Adam(0.05))
    history = model.fit(x, y, epochs=200, validation_split=0.3, verbose=0, callbacks=[stopper])
    assert len(history.epoch) < 200
    best = int(np.argmin(history.history["val_loss"]))
    assert stopper.best_epoch == best and len(history.epoch) == best + 3
    assert model.evaluate(x[140:], y[140:])[0] == pytest.approx(history.history["val_loss"][best], rel=1e-6)


def test_early_stopping_warns_about_a_missing_monitor():
    x, y = data()
    with pytest.warns(UserWarning, match="val_loss.*not available"):
        classifier().fit(x, y, epochs=1, verbose=0, callbacks=[gc.callbacks.EarlyStopping()])


# -- ModelCheckpoint ----------------------------------------------------------------------------

def test_model_checkpoint_every_epoch_with_epoch_in_the_path(tmp_path):
    x, y = data()
    model = classifier()
    checkpoint = gc.callbacks.ModelCheckpoint(str(tmp_path / "ckpt-{epoch:02d}.npz"), save_best_only=False)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.npz", "ckpt-02.npz", "ckpt-03.npz"]
    last = gc.models.load_model(tmp_path / "ckpt-03.npz")
    np.testing.assert_array_equal(last.predict(x), model.predict(x))


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = data()
    script = Script("val_loss", [0.9, 0.7, 0.8, 0.6, 0.65])
    checkpoint = gc.callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="val_loss",
                                              save_best_only=True)
    model = classifier()
    model.fit(x, y, epochs=5, verbose=0, callbacks=[script, checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["best-1.npz", "best-2.npz", "best-4.npz"]
    best = gc.models.load_model(tmp_path / "best-4.npz")
    for saved, expected in zip(best.get_weights(), script.weights[3]):
        np.testing.assert_array_equal(saved, expected)


# -- TerminateOnNaN -----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_terminate_on_nan_stops_in_the_batch_the_loss_diverges(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32) * 1e3
    y = x.sum(axis=1, keepdims=True)
    model = gc.models.Sequential([L.Dense(1, input_shape=(3,))], seed=0)
    model.compile(gc.optimizers.SGD(learning_rate=10.0), "mse")
    recorder = Recorder()
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0,
                        callbacks=[gc.callbacks.TerminateOnNaN(), recorder])
    assert history.epoch == [0]
    batches = [e for e in recorder.events if e[0] == "batch_end"]
    assert len(batches) < 16   # stopped inside the first epoch
    assert not np.isfinite(history.history["loss"][0])
    assert f"Batch {len(batches) - 1}: Invalid loss, terminating training" in capsys.readouterr().out


# -- CSVLogger ----------------------------------------------------------------------------------

def test_csv_logger_columns_and_rows(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    history = classifier().fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                               callbacks=[gc.callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for row, epoch in zip(rows[1:], range(3)):
        assert float(row[2]) == history.history["loss"][epoch]
        assert float(row[4]) == history.history["val_loss"][epoch]
    # append=True continues the file without a second header
    classifier().fit(x, y, epochs=2, validation_split=0.25, verbose=0,
                     callbacks=[gc.callbacks.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 3 + 2 and rows[4][0] == "0"


# -- LearningRateScheduler ----------------------------------------------------------------------

def test_learning_rate_scheduler_sets_the_rate_each_epoch_without_recompiling():
    # linear regression, one full batch per epoch, SGD: w <- w - lr_epoch * grad, by hand
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 2)).astype(np.float32)
    y = (x @ np.array([[1.5], [-2.0]]) + 0.5).astype(np.float32)
    model = gc.models.Sequential([L.Dense(1, input_shape=(2,))], seed=2)
    model.compile(gc.optimizers.SGD(learning_rate=0.1), "mse")
    train = model.train_function
    w, b = (v.astype(np.float64) for v in model.get_weights())
    rates = []

    def schedule(epoch, lr):
        rates.append(lr)
        return 0.1 * 0.5 ** epoch

    history = model.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[gc.callbacks.LearningRateScheduler(schedule)])
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.025])          # fn(epoch, current lr)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    for epoch in range(4):
        error = x @ w + b - y
        w = w - 0.1 * 0.5 ** epoch * (2 * x.T @ error / len(x))
        b = b - 0.1 * 0.5 ** epoch * (2 * error.mean(axis=0))
    new_w, new_b = model.get_weights()
    np.testing.assert_allclose(new_w, w, rtol=1e-5)
    np.testing.assert_allclose(new_b, b, rtol=1e-5)
    assert model.train_function is train and len(train._cache) == 1   # compiled once


def test_learning_rate_scheduler_accepts_one_argument_schedules(capsys):
    x, y = data()
    model = classifier(optimizer=gc.optimizers.SGD(0.01))
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[gc.callbacks.LearningRateScheduler(lambda epoch: 0.2 / (epoch + 1), verbose=1)])
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    assert "Epoch 2: LearningRateScheduler setting learning rate to 0.1." in capsys.readouterr().out
