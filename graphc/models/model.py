"""Models: ``Sequential``, Keras' stack of layers trained by compiled graphs, and
``load_model``.

How a Sequential model trains. ``compile`` picks the loss, optimizer and metrics; the first
time the model is used it builds three graphs over the same weight variables and compiles
each once with ``gc.function``:

- ``train_function`` (inputs x, y, sample_weight): the forward pass with ``training=True``
  (dropout active), the loss plus the layers' regularization penalties, the metrics' batch
  statistics, the gradients and the optimizer's update of every weight and optimizer slot —
  ONE graph, whose ``updates`` are applied after each call. Outputs: [loss, *statistics].
- ``test_function`` (x, y, sample_weight): the same loss and statistics on the inference
  forward pass (``training=False``), no updates.
- ``predict_function`` (x): the inference forward pass.

Each Function specializes itself per input shape: a fit with 1257 samples in batches of 32
compiles the training step twice (batches of 32 and the last batch of 9), once for the whole
run. Whether dropout is active is decided by which graph runs, never by Python at run time.
All three are ``gc.Function`` objects: render them (``gc.render(model.train_function, ...)``,
``gc.render(model, ...)`` draws the training step), read their ``.source`` or ``.explain()``.

This module holds the model's structure, weights and graphs; the loops that run the graphs
over data are ``graphc.models.training``, the checks of users' data ``graphc.models.inputs``,
the ``summary()`` table ``graphc.models.summary`` and the file format ``graphc.models.saving``.
"""
from __future__ import annotations

import os

import numpy as np

from graphc.api.support import backend_registry
from graphc import layers as layers_module
from graphc import losses as losses_module
from graphc import metrics as metrics_module
from graphc import optimizers as optimizers_module
from graphc.api import function
from graphc.api.support import to_host
from graphc.errors import ShapeError
from graphc.api import Graph
from graphc.api.support import format_shape
from graphc.api import placeholder
from graphc.layers import InputLayer, Layer, derive_seed, unique_name
import graphc.models.training as training
from graphc.models.inputs import input_dtype, target_spec
from graphc.models.saving import restore_model, save_model
from graphc.models.summary import summary_text

__all__ = ["Sequential", "load_model"]


class Sequential:
    """A linear stack of layers (Keras' ``Sequential``).

    ``Sequential([Dense(128, activation="relu", input_shape=(784,)), Dense(10)])`` or
    ``Sequential([Input((784,)), ...])`` or ``model.add(layer)``. The model is built (its
    weights created) as soon as its input shape is known: from an ``Input`` layer, a first
    layer's ``input_shape``, ``build((None, 784))``, or the data of the first ``fit``.

    ``seed``: seeds every layer that has no seed of its own (initial weights, dropout masks)
    and the shuffling of ``fit``, so a run is reproducible; None draws fresh entropy (as Keras
    without ``set_random_seed``).
    """

    def __init__(self, layers=None, name=None, seed=None):
        self.name = name or unique_name("sequential")
        self.seed = None if seed is None else int(seed)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._build_input_shape = None
        self.built = False
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self._metric_ids = []
        self.backend = "numpy"
        self.stop_training = False
        self.history = None
        self._rng = np.random.default_rng(derive_seed(self.seed, 1 << 20))
        self._functions = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The layers, in order (an ``Input`` is not a layer of the stack, as in Keras 3)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer (an ``Input`` may only come first)."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"{self.name}: an Input can only be the first layer")
            self._input_layer = layer
            self.build((None,) + layer.declared_input_shape)
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"{self.name}.add: expected a gc.layers.Layer, got {layer!r}")
        if getattr(layer, "return_state", False):
            raise ValueError(f"{self.name}: {layer.name} ({type(layer).__name__}) has return_state=True and returns "
                             "several tensors [output, *states]; a Sequential model passes one tensor from layer to "
                             "layer. Call the layer on tensors directly (outputs = layer(x)) or drop return_state")
        if getattr(layer, "merge_mode", "concat") is None:
            raise ValueError(f"{self.name}: {layer.name} ({type(layer).__name__}) has merge_mode=None and returns "
                             "[forward, backward]; a Sequential model passes one tensor from layer to layer. Use "
                             "merge_mode='concat', 'sum', 'mul' or 'ave', or call the layer on tensors directly")
        if any(layer is other for other in self._layers):
            raise ValueError(f"{self.name}: layer {layer.name!r} is already in the model")
        names = {other.name for other in self._layers}
        if layer.name in names:
            if not layer.auto_named:
                raise ValueError(f"{self.name}: two layers named {layer.name!r}; layer names must be unique")
            base = _base_name(layer.name)
            while layer.name in names:   # e.g. a new Dense added to a loaded model
                layer.name = unique_name(base)
        self._layers.append(layer)
        self._functions = None
        if self.built:
            self._seed_layer(layer, len(self._layers) - 1)
            shape = self._layers[-2].output_shape if len(self._layers) > 1 else self._build_input_shape
            layer.build_for(shape)
        elif len(self._layers) == 1 and layer.declared_input_shape is not None:
            self.build((None,) + layer.declared_input_shape)

    def _seed_layer(self, layer, index):
        if layer.seed is None and self.seed is not None:
            layer.seed = derive_seed(self.seed, index)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch included, e.g.
        ``(None, 784)``)."""
        if input_shape is None:
            input_shape = self._build_input_shape
        if input_shape is None:
            raise ValueError(f"{self.name}: the input shape is unknown; give the first layer input_shape=..., "
                             "start with gc.layers.Input(shape), call build((None, ...)) or fit on data")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        if len(shape) < 2:
            raise ShapeError(f"{self.name}.build: expected (batch, features...) like (None, 784), got {input_shape!r}")
        shape = (None,) + shape[1:]
        if self.built and shape != self._build_input_shape:
            raise ShapeError(f"{self.name}: already built for inputs {format_shape(self._build_input_shape)}, "
                             f"cannot rebuild for {format_shape(shape)}")
        self._build_input_shape = shape
        for i, layer in enumerate(self._layers):
            self._seed_layer(layer, i)
            shape = layer.build_for(shape)
        self.built = True

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        if not self.built:
            return None
        return self._layers[-1].output_shape if self._layers else self._build_input_shape

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{self.name}: the model has not been built yet, so {what} is unknown. "
                             "Build it first: give the first layer input_shape=..., start with gc.layers.Input, "
                             "call build((None, ...)) or fit on data")

    def __call__(self, x, training=False):
        """The model applied to a symbolic Tensor (like a layer). Masks travel with the tensors
        from layer to layer (see ``graphc.layers.base``, "Masks"): an ``Embedding(mask_zero=True)``
        masks the padding steps for the recurrent layers above it."""
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    @property
    def losses(self) -> list:
        """The layers' regularization penalties (scalar Tensors)."""
        return [p for layer in self._layers for p in layer.losses]

    def count_params(self) -> int:
        self._require_built("the number of parameters")
        return sum(layer.count_params() for layer in self._layers)

    def get_weights(self) -> list:
        """Copies of every weight, layer by layer (kernel, bias, ...)."""
        return [to_host(w.value, copy=True) for w in self.weights]

    def set_weights(self, weights):
        """Assign every weight from a list shaped like ``get_weights()``; shapes are checked for
        all of them before any is changed."""
        ws = self.weights
        weights = list(weights)
        if len(weights) != len(ws):
            raise ValueError(f"{self.name}.set_weights: the model has {len(ws)} weight arrays, got {len(weights)}")
        for var, value in zip(ws, weights):
            if np.shape(value) != var.shape:
                raise ShapeError(f"{self.name}.set_weights: weight {var.name!r} has shape "
                                 f"{format_shape(var.shape)}, got {format_shape(np.shape(value))}")
        for var, value in zip(ws, weights):
            var.assign(value)

    # -- compiling ----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, backend="numpy"):
        """Choose the optimizer, the loss and the metrics (names or objects) and the backend
        the graphs are compiled for. The graphs are built at first use."""
        if loss is None:
            raise ValueError(f"{self.name}.compile: a loss is needed, e.g. loss='mse' or "
                             "loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        if isinstance(metrics, (str, dict)) or (metrics is not None and not isinstance(metrics, (list, tuple))):
            metrics = [metrics]
        self._metric_ids = list(metrics or [])
        self.metrics = [metrics_module.get(m, loss=self.loss) for m in self._metric_ids]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or "loss" in names:
            raise ValueError(f"{self.name}.compile: metric names must be distinct and not 'loss', got {names}")
        backend_registry.get(backend)  # BackendUnavailable now, saying why, rather than at the first fit
        self.backend = backend
        self.compiled = True
        self._functions = None

    def _require_compiled(self, who):
        if not self.compiled:
            raise RuntimeError(f"{self.name}.{who}: call compile(optimizer, loss, metrics) first")

    def _placeholders(self):
        x = placeholder(self._build_input_shape, input_dtype(self), name="x")
        shape, dtype = target_spec(self)
        y = placeholder(shape, dtype, name="y")
        sample_weight = placeholder((None,), "float32", name="sample_weight")
        return x, y, sample_weight

    def _loss_and_stats(self, y, y_pred, sample_weight):
        """The loss (plus regularization penalties) and each metric's batch statistics. When
        the output carries a mask (padded sequences), the loss — which reads the mask itself,
        as Keras 3's — and the metrics count only the unmasked steps (``graphc.losses``)."""
        total = self.loss(y, y_pred, sample_weight=sample_weight)
        for penalty in self.losses:
            total = total + penalty
        mask = layers_module.get_mask(y_pred)
        stats = [metrics_module.batch_stats(m, y, y_pred, mask) for m in self.metrics]
        self._stat_counts = [len(s) for s in stats]
        return total, [s for group in stats for s in group]

    def _build_train_function(self):
        """Forward (training=True) + loss + gradients + optimizer updates: ONE graph."""
        self._require_compiled("fit")
        self._require_built("the training graph")
        x, y, sample_weight = self._placeholders()
        for layer in self._layers:
            layer.pop_updates()
        y_pred = self(x, training=True)
        state_updates = [u for layer in self._layers for u in layer.pop_updates()]
        loss, stats = self._loss_and_stats(y, y_pred, sample_weight)
        updates = self.optimizer.get_updates(loss, self.trainable_weights) + state_updates
        return function([x, y, sample_weight], [loss] + stats, updates=updates, backend=self.backend,
                        name="train_step")

    def _build_test_function(self):
        """Inference forward pass (training=False) + loss + metric statistics; no updates."""
        self._require_compiled("evaluate")
        self._require_built("the evaluation graph")
        x, y, sample_weight = self._placeholders()
        loss, stats = self._loss_and_stats(y, self(x, training=False), sample_weight)
        return function([x, y, sample_weight], [loss] + stats, backend=self.backend, name="test_step")

    def _build_predict_function(self):
        self._require_built("the prediction graph")
        x = placeholder(self._build_input_shape, input_dtype(self), name="x")
        return function([x], self(x, training=False), backend=self.backend, name="predict_step")

    def _function(self, kind):
        if self._functions is None:
            self._functions = {}
        fn = self._functions.get(kind)
        if fn is None:
            builder = {"train": self._build_train_function, "test": self._build_test_function,
                       "predict": self._build_predict_function}[kind]
            fn = self._functions[kind] = builder()
        return fn

    @property
    def train_function(self):
        """The compiled training step (a ``gc.Function``): inputs (x, y, sample_weight),
        outputs [loss, *metric statistics], updates: every weight and optimizer slot."""
        return self._function("train")

    @property
    def test_function(self):
        """The compiled evaluation step: inference forward pass, loss and metric statistics."""
        return self._function("test")

    @property
    def predict_function(self):
        """The compiled inference forward pass: x -> predictions."""
        return self._function("predict")

    def to_graph(self) -> Graph:
        """The graph of the training step (outputs and updates), for ``gc.render``; before
        ``compile``, the inference graph."""
        fn = self.train_function if self.compiled else self.predict_function
        return Graph(fn.outputs, fn.updates)

    def _repr_svg_(self):
        if not self.built:
            return None   # nothing to draw yet: Jupyter shows the text repr
        from graphc.api.support import repr_svg
        return repr_svg(self)

    def _optimizer_variables(self) -> list:
        """The optimizer's variables once the training step exists (it creates the slots),
        else none: what ``summary`` counts and ``save`` stores."""
        return self.optimizer.variables() if self._functions and "train" in self._functions else []

    # -- training, evaluation and prediction: graphc.models.training ---------------------------
    def fit(self, x, y, *, epochs=1, batch_size=32, validation_split=0.0, validation_data=None,
            shuffle=True, callbacks=None, verbose=1, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, distribute=None):
        """Train for ``epochs`` passes over (x, y) in mini-batches of ``batch_size`` (the last
        may be smaller); returns the ``History``.

        ``validation_split``: the fraction of samples taken from the END of x, y (before
        shuffling) and evaluated after each epoch, as Keras; ``validation_data``: (x_val, y_val)
        instead. ``class_weight``: {class index: weight} scales each sample's loss by its
        class's weight (classes not listed weigh 1; an index that is not a class of the output
        is an error); ``sample_weight``: a weight per sample. ``initial_epoch``: the epoch to
        start from (resuming a run: epochs ``initial_epoch``..``epochs - 1`` are trained).
        ``steps_per_epoch``: train this many batches per epoch instead of one pass over the
        data; successive epochs continue where the last one stopped, a new pass (reshuffled
        when ``shuffle``) starting whenever one ends. Every argument and input is checked
        before anything is trained: integer arguments must be integers (``epochs=2.5`` is a
        TypeError, not 2 epochs), lengths, feature shape, NaN/inf, labels valid for the loss.
        ``verbose``: 0 silent, 1 progress bar, 2 one line per epoch ("auto": 1).
        ``distribute``: a ``dask.distributed.Client`` (or ``"threads"``) to train data-parallel
        on Dask, each global batch split across the workers (see ``graphc.distribute``).
        """
        self._require_compiled("fit")
        return training.fit(self, x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                            validation_data=validation_data, shuffle=shuffle, callbacks=callbacks, verbose=verbose,
                            class_weight=class_weight, sample_weight=sample_weight, initial_epoch=initial_epoch,
                            steps_per_epoch=steps_per_epoch, distribute=distribute)

    def evaluate(self, x, y, batch_size=None, verbose=0, return_dict=False, sample_weight=None):
        """Loss and metrics on (x, y) with the inference graph: the loss alone when there are
        no metrics, else ``[loss, *metrics]`` (compile order), or a dict with
        ``return_dict=True``. ``batch_size=None`` evaluates up to 1024 samples per call (the
        results do not depend on it beyond float rounding)."""
        self._require_compiled("evaluate")
        return training.evaluate(self, x, y, batch_size, verbose, return_dict, sample_weight)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """ONE training step on (x, y) as a single batch (the compiled train step, updates
        applied). Returns the loss alone when there are no metrics, else ``[loss, *metrics]``,
        or a dict with ``return_dict=True``: this batch's values (metrics are not carried
        over from earlier calls)."""
        self._require_compiled("train_on_batch")
        return training.train_on_batch(self, x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss and metrics of (x, y) as one batch with the inference graph, returned as by
        ``train_on_batch``; nothing is updated."""
        self._require_compiled("test_on_batch")
        return training.test_on_batch(self, x, y, sample_weight, return_dict)

    def predict_on_batch(self, x):
        """The model's outputs for x as one batch (one call of the inference graph), NumPy."""
        return training.predict_on_batch(self, x)

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x (inference graph: no dropout), as one NumPy array.
        ``batch_size=None`` predicts up to 1024 samples per call; ``verbose=1`` prints the
        progress line (Keras prints it by default; graphc is silent by default)."""
        return training.predict(self, x, batch_size, verbose)

    # -- summary: graphc.models.summary --------------------------------------------------------
    def summary(self, print_fn=None):
        """Print Keras 3's table: each layer's name (type), output shape and parameter count,
        then the total, trainable and non-trainable counts (and the optimizer's state, once it
        exists, which Keras 3 also counts in the total)."""
        self._require_built("the summary")
        print_fn = print_fn or print
        print_fn(summary_text(self, self._optimizer_variables()))

    # -- configuration and files --------------------------------------------------------------
    def get_config(self) -> dict:
        layers = ([layers_module.serialize(self._input_layer)] if self._input_layer is not None else [])
        layers += [layers_module.serialize(layer) for layer in self._layers]
        return {"name": self.name, "seed": self.seed, "layers": layers,
                "build_input_shape": None if self._build_input_shape is None else list(self._build_input_shape)}

    @classmethod
    def from_config(cls, config: dict):
        model = cls(name=config.get("name"), seed=config.get("seed"))
        for layer_config in config.get("layers", []):
            model.add(layers_module.deserialize(layer_config))
        if not model.built and config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def get_compile_config(self) -> dict | None:
        """The arguments of ``compile`` as a model file stores them (None before ``compile``)."""
        if not self.compiled:
            return None
        metrics = [m if isinstance(m, str) else m.name for m in self._metric_ids]
        return {"optimizer": optimizers_module.serialize(self.optimizer),
                "loss": losses_module.serialize(self.loss),
                "metrics": metrics, "backend": self.backend}

    def save(self, path):
        """Write the architecture, the weights and the optimizer state to ONE file (see
        ``graphc.models.saving`` for the format); returns the path.

        Atomic: the archive is written to a temporary file beside ``path`` named
        ``.<basename>.<pid>.<random>.tmp`` (``pid``: the writing process, which holds an
        advisory ``flock`` on it while it writes), flushed to disk (``fsync``) and renamed over
        ``path`` (``os.replace``), so ``path`` holds the previous file or the new one, whole,
        even if the process is killed mid-save.

        Killed saves leave no debris for long: each save first removes the temporaries of
        earlier saves of the same ``path`` whose writer is gone — its PID no longer runs (or is
        a zombie) and no process holds the lock on the file. Temporaries of saves still
        running, in this process or another, are never touched, nor are other files.
        """
        return save_model(self, path, self._optimizer_variables())

    def __repr__(self):
        return f"<Sequential {self.name!r}: {len(self._layers)} layers, {'built' if self.built else 'not built'}>"


def _base_name(name: str) -> str:
    """dense_3 -> dense (the base of an automatic name)."""
    head, _, tail = name.rpartition("_")
    return head if head and tail.isdigit() else name


def load_model(path):
    """A model saved by ``save``: same architecture and weights (so it predicts identically),
    compiled again as it was, with its optimizer state restored so training can resume.

    Raises ``ModelFileError`` (a ``ValueError``) naming the file for anything but an intact
    file written by ``save`` (see ``graphc.models.saving``: nothing in a model file can run
    code); ``FileNotFoundError`` / ``PermissionError`` when it cannot be opened;
    ``BackendUnavailable`` when the model was compiled for a backend this machine cannot run
    (the file itself is fine)."""
    return restore_model(os.fspath(path), Sequential)
