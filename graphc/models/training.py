"""The loops that run a model's compiled steps over users' data: ``fit`` (epochs, mini-batches,
shuffling, ``steps_per_epoch``, callbacks, validation, class and sample weights),
``evaluate``, ``predict`` and the ``*_on_batch`` calls, and the logs they report (Keras'
names, order and return shapes).

The graphs are built by ``graphc.models.model``; this module only decides the batches, calls
the model's ``train_function`` / ``test_function`` / ``predict_function`` once per batch and
folds their outputs (the loss and each metric's batch statistics) into logs. Of the model's
internal state it reads two things: its shuffling generator (``_rng``) and how many
statistics each metric contributes to a step's outputs (``_stat_counts``, set when a step is
built).
"""
from __future__ import annotations

import math
import time

import numpy as np

from graphc import callbacks as callbacks_module
from graphc.api.support import to_host
from graphc.api.support import arguments
from graphc.models.inputs import (as_inputs, as_targets, checked_batch_size, checked_verbose, sample_weights,
                                  split_validation)
from graphc.progress import Progbar

EVAL_BATCH = 1024   # rows per call of evaluate/predict when batch_size is None


def fit(model, x, y, *, epochs, batch_size, validation_split, validation_data, shuffle, callbacks, verbose,
        class_weight, sample_weight, initial_epoch, steps_per_epoch, distribute):
    """``Sequential.fit`` on a compiled model (see its docstring): every argument and input is
    checked before the first batch is trained."""
    who = f"{model.name}.fit"
    epochs = arguments.index(epochs, f"{who}: epochs", minimum=0)
    batch_size = checked_batch_size(batch_size, who, default=32)
    initial_epoch = arguments.index(initial_epoch, f"{who}: initial_epoch", minimum=0)
    steps_per_epoch = arguments.index(steps_per_epoch, f"{who}: steps_per_epoch", minimum=1, allow_none=True)
    validation_split = arguments.real(validation_split, f"{who}: validation_split", minimum=0.0)
    if not validation_split < 1.0:
        raise ValueError(f"{who}: validation_split must be a fraction in [0, 1), got {validation_split}")
    verbose = checked_verbose(verbose, who)
    x = as_inputs(model, x, who)
    y = as_targets(model, y, len(x), who)
    weights = sample_weights(model, y, len(x), class_weight, sample_weight, who)
    x, y, weights, val = split_validation(model, x, y, weights, validation_data, validation_split, who)
    if len(x) == 0:
        raise ValueError(f"{who}: no training samples")

    train_step = model.train_function
    if distribute is not None:   # data-parallel on Dask: graphc/distribute.py
        from graphc.distribute import data_parallel_step
        train_step = data_parallel_step(model, distribute)
    n = len(x)
    steps = steps_per_epoch if steps_per_epoch is not None else math.ceil(n / batch_size)
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
              "samples": n}
    cbs = callbacks_module.CallbackList(callbacks, model, params, add_history=True, add_progbar=verbose != 0)
    model.stop_training = False
    metric_slices = _metric_slices(model)
    cbs.on_train_begin()
    epoch_logs = {}
    position = n   # where the next batch starts in the current pass over the data (xe, ye, we)
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        batch_logs = cbs.wants_batch_logs()
        batch_begin = cbs.wants_batch_begin
        loss_sum, seen = 0.0, 0
        totals = [0.0] * sum(model._stat_counts)
        if steps_per_epoch is None:
            position = n   # each epoch is one whole pass
        for i in range(steps):
            if position >= n:   # a new pass over the data, in a new order when shuffling
                if shuffle:
                    order = model._rng.permutation(n)
                    xe, ye, we = x[order], y[order], weights[order]
                else:
                    xe, ye, we = x, y, weights
                position = 0
            lo = position
            hi = position = min(lo + batch_size, n)
            if batch_begin:
                cbs.on_train_batch_begin(i)
            outs = train_step(xe[lo:hi], ye[lo:hi], we[lo:hi])
            loss_sum += float(outs[0]) * (hi - lo)
            seen += hi - lo
            for k in range(len(totals)):
                totals[k] += float(outs[k + 1])
            if batch_logs:
                cbs.on_train_batch_end(i, _logs(loss_sum / seen, totals, metric_slices))
            if model.stop_training:
                break
        logs = _logs(loss_sum / max(seen, 1), totals, metric_slices)
        if val is not None:
            val_logs = _evaluate_arrays(model, *val, batch_size=None)
            logs.update({f"val_{k}": v for k, v in sorted(val_logs.items())})
        epoch_logs = logs
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(epoch_logs)
    return cbs.history


def _metric_slices(model):
    slices, start = [], 0
    for m, count in zip(model.metrics, model._stat_counts):
        slices.append((m, start, start + count))
        start += count
    return slices


def _logs(loss, totals, metric_slices) -> dict:
    logs = {"loss": loss}
    for m, lo, hi in metric_slices:
        logs[m.name] = float(m.result(totals[lo:hi]))
    return dict(sorted(logs.items()))   # Keras 3 orders the logs by name


def _evaluate_arrays(model, x, y, weights, batch_size=None) -> dict:
    test_step = model.test_function
    batch_size = int(batch_size or EVAL_BATCH)
    loss_sum, seen = 0.0, 0
    totals = [0.0] * sum(model._stat_counts)
    for lo in range(0, len(x), batch_size):
        hi = min(lo + batch_size, len(x))
        outs = test_step(x[lo:hi], y[lo:hi], weights[lo:hi])
        loss_sum += float(outs[0]) * (hi - lo)
        seen += hi - lo
        for k in range(len(totals)):
            totals[k] += float(outs[k + 1])
    return _logs(loss_sum / max(seen, 1), totals, _metric_slices(model))


def evaluate(model, x, y, batch_size, verbose, return_dict, sample_weight):
    """``Sequential.evaluate`` on a compiled model (see its docstring)."""
    who = f"{model.name}.evaluate"
    batch_size = checked_batch_size(batch_size, who, default=None)
    verbose = checked_verbose(verbose, who)
    x = as_inputs(model, x, who)
    y = as_targets(model, y, len(x), who)
    weights = sample_weights(model, y, len(x), None, sample_weight, who)
    start = time.perf_counter()
    logs = _evaluate_arrays(model, x, y, weights, batch_size)
    if verbose:
        steps = math.ceil(len(x) / int(batch_size or EVAL_BATCH))
        bar = Progbar(steps, verbose=verbose)
        bar.start = start
        bar.finish(logs)
    return _as_returned(model, logs, return_dict)


def train_on_batch(model, x, y, sample_weight, class_weight, return_dict):
    """``Sequential.train_on_batch`` on a compiled model: one training step, updates applied."""
    who = f"{model.name}.train_on_batch"
    x = as_inputs(model, x, who)
    y = as_targets(model, y, len(x), who)
    weights = sample_weights(model, y, len(x), class_weight, sample_weight, who)
    return _batch_logs(model, model.train_function(x, y, weights), return_dict)


def test_on_batch(model, x, y, sample_weight, return_dict):
    """``Sequential.test_on_batch`` on a compiled model: one evaluation step, no updates."""
    who = f"{model.name}.test_on_batch"
    x = as_inputs(model, x, who)
    y = as_targets(model, y, len(x), who)
    weights = sample_weights(model, y, len(x), None, sample_weight, who)
    return _batch_logs(model, model.test_function(x, y, weights), return_dict)


def predict_on_batch(model, x):
    """The model's outputs for x as one batch (one call of the inference graph), NumPy."""
    x = as_inputs(model, x, f"{model.name}.predict_on_batch")
    return to_host(model.predict_function(x))


def _batch_logs(model, outs, return_dict):
    logs = _logs(float(outs[0]), [float(o) for o in outs[1:]], _metric_slices(model))
    return _as_returned(model, logs, return_dict)


def _as_returned(model, logs, return_dict):
    """Keras' return shape: the dict, the loss alone (no metrics), or [loss, *metrics]."""
    if return_dict:
        return logs
    if not model.metrics:
        return logs["loss"]
    return [logs["loss"]] + [logs[m.name] for m in model.metrics]


def predict(model, x, batch_size, verbose):
    """``Sequential.predict`` (see its docstring): x in batches through the inference graph."""
    who = f"{model.name}.predict"
    batch_size = checked_batch_size(batch_size, who, default=EVAL_BATCH)
    verbose = checked_verbose(verbose, who)
    x = as_inputs(model, x, who)
    fn = model.predict_function
    bar = Progbar(math.ceil(len(x) / batch_size), verbose=verbose) if verbose else None
    parts = [fn(x[lo:lo + batch_size]) for lo in range(0, len(x), batch_size)]
    if bar is not None:
        bar.finish()
    if not parts:
        return np.zeros((0,) + tuple(model.output_shape[1:]), np.float32)
    parts = [to_host(p) for p in parts]  # NumPy, as Keras, whichever backend ran it
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
