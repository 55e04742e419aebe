"""Callbacks: code that ``fit`` runs at the start and end of training, of each epoch and of each
batch, with Keras' names and semantics.

A callback sees the model as ``self.model`` and the fit parameters as ``self.params``
(``epochs``, ``steps``, ``verbose``); it stops training by setting
``self.model.stop_training = True`` (``fit`` checks after every batch and every epoch).
``logs`` at the end of an epoch hold ``loss``, each metric, and ``val_`` + each of them when
there is validation data; at the end of a batch they hold the running means over the epoch so
far. Per-batch hooks cost nothing unless a callback overrides them.

Order (as in Keras): the user's callbacks in the order given, then ``History``, then the
progress bar — so a value a callback adds to ``logs`` at the end of an epoch (e.g. the
``learning_rate`` from ``LearningRateScheduler``) is in the history and on the progress line.
"""
from __future__ import annotations

import csv
import math
import os
import sys
import warnings

import numpy as np

from graphc.progress import Progbar

__all__ = ["Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LearningRateScheduler",
           "ModelCheckpoint", "ProgbarLogger", "TerminateOnNaN"]


class Callback:
    """Base class: override the hooks you need. ``model`` and ``params`` are set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    # Keras names the training-batch hooks both ways; on_train_batch_* call on_batch_*.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def _overrides(self, *names) -> bool:
        return any(getattr(type(self), n) is not getattr(Callback, n) for n in names)


class History(Callback):
    """Records the epoch-end logs: ``history`` maps each key to one value per epoch, ``epoch``
    lists the epoch indices (0-based, as Keras). ``fit`` returns it (also ``model.history``)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints ``Epoch i/N`` and the progress line (see ``graphc.progress``). Added by ``fit``
    when ``verbose`` is not 0."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self._bar = None

    @property
    def wants_batches(self) -> bool:
        return self._bar is not None and self._bar.wants_updates

    def on_epoch_begin(self, epoch, logs=None):
        stream = self.stream or sys.stdout
        verbose = self.params.get("verbose", 1)
        if verbose:
            stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}\n")
            stream.flush()
        self._bar = Progbar(self.params.get("steps", 1), verbose=verbose, stream=stream)

    def on_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.finish(logs)
            self._bar = None


class CallbackList:
    """What ``fit`` calls: fans each hook out to the callbacks; batch hooks only to those that
    override them (so an unused hook costs nothing per batch)."""

    def __init__(self, callbacks, model, params, add_history=True, add_progbar=False):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected gc.callbacks.Callback instances, got {cb!r}")
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        self.progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self.progbar is None and add_progbar:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._batch_begin = [cb for cb in self.callbacks
                             if cb._overrides("on_batch_begin", "on_train_batch_begin")]
        self._batch_end = [cb for cb in self.callbacks
                           if not isinstance(cb, ProgbarLogger)
                           and cb._overrides("on_batch_end", "on_train_batch_end")]

    def wants_batch_logs(self) -> bool:
        """Whether anyone reads per-batch logs this epoch (decided at the start of each epoch)."""
        return bool(self._batch_end) or (self.progbar is not None and self.progbar.wants_batches)

    @property
    def wants_batch_begin(self) -> bool:
        return bool(self._batch_begin)

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)
        if self.progbar is not None and self.progbar.wants_batches:
            self.progbar.on_batch_end(batch, logs)


# -- monitoring a quantity ---------------------------------------------------------------------

_MAX_METRICS = ("acc", "accuracy", "precision", "recall", "f1", "auc", "specificity")


def _monitor_mode(monitor: str, mode: str, who: str) -> str:
    """'min' or 'max'; 'auto' is 'max' for accuracy-like quantities, 'min' otherwise (Keras)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if name in _MAX_METRICS or "acc" in name else "min"


def _missing_monitor(who: str, monitor: str, logs) -> None:
    warnings.warn(f"{who} is conditioned on {monitor!r}, which is not available. "
                  f"Available: {', '.join(sorted(logs or {})) or 'none'}", stacklevel=3)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has stopped improving (Keras 3 semantics).

    An epoch improves when its value beats the best so far by more than ``min_delta``
    (``mode`` 'min', 'max', or 'auto': 'max' for accuracy-like names). After ``patience``
    epochs without improvement, training stops; ``stopped_epoch`` is that epoch (0-based).
    ``baseline``: training also stops if the value does not beat it within ``patience``
    epochs. ``start_from_epoch``: epochs before it are not monitored (warm-up).
    ``restore_best_weights``: at the end of training (stopped early or not) the weights of the
    best epoch are put back.

    Message: ``Epoch N: early stopping`` (N 1-based) is printed at the end of training when the
    callback's ``verbose`` > 0 — Keras' behaviour, so the default ``verbose=0`` prints nothing;
    with ``verbose=1`` it also reports restoring the best weights.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=5, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.mode = _monitor_mode(monitor, mode, "EarlyStopping")
        self.min_delta = abs(float(min_delta))
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            _missing_monitor("EarlyStopping", self.monitor, logs)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # nothing better seen yet
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``model.save``) at the end of every epoch, or only when ``monitor``
    improved (``save_best_only=True``). ``filepath`` may hold ``{epoch}`` (1-based) and any
    log key, with format specs: ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, mode="auto"):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.mode = _monitor_mode(monitor, mode, "ModelCheckpoint")
        self.best = None

    def on_train_begin(self, logs=None):
        self.best = None

    def _path(self, epoch, logs) -> str:
        return self.filepath.format(epoch=epoch + 1, **(logs or {}))

    def on_epoch_end(self, epoch, logs=None):
        path = self._path(epoch, logs)
        if self.save_best_only:
            current = (logs or {}).get(self.monitor)
            if current is None:
                _missing_monitor("ModelCheckpoint", self.monitor, logs)
                return
            better = self.best is None or (current < self.best if self.mode == "min" else current > self.best)
            if not better:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self.model.save(path)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Write one CSV row per epoch: ``epoch`` (0-based, as Keras), then the log keys in sorted
    order (``loss``, metrics, ``val_*``). ``append=True`` continues an existing file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, logs=None):
        exists = os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._write_header = not (self.append and exists)
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.keys = None
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if self._write_header:
                self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(_csv_value(logs.get(k, "NA")) for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _csv_value(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


class LearningRateScheduler(Callback):
    """At the start of each epoch set ``optimizer.learning_rate = schedule(epoch, lr)``
    (``schedule(epoch)`` is accepted too). The learning rate lives in a variable of the
    compiled training step, so nothing is recompiled. The epoch's rate is added to the logs as
    ``learning_rate`` (Keras 3)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = float(optimizer.learning_rate)
        try:
            new_lr = self.schedule(epoch, lr)
        except TypeError:  # a one-argument schedule
            new_lr = self.schedule(epoch)
        new_lr = float(new_lr)
        if not math.isfinite(new_lr):
            raise ValueError(f"LearningRateScheduler: the schedule returned {new_lr} for epoch {epoch}")
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new_lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
