"""Models: ``Sequential`` (Keras' stack of layers, trained by compiled graphs), ``load_model``
and Rosenblatt's ``Perceptron``.

One idea per module, each importing only the ones below it:

- ``model``: the ``Sequential`` class (structure, weights, ``compile``, the compiled train /
  test / predict graphs) and ``load_model``;
- ``training``: the fit / evaluate / predict loops (batches, epochs, callbacks, logs);
- ``inputs``: users' x, y, sample and class weights and validation data, checked and converted;
- ``summary``: the text of ``summary()``;
- ``saving``: the model file format (``save`` / ``load_model``, checksums, ``ModelFileError``);
- ``perceptron``: ``Perceptron``.
"""
from __future__ import annotations

from graphc.models.model import Sequential, load_model
from graphc.models.perceptron import Perceptron
from graphc.models.saving import ModelFileError
from graphc.models.saving import DIGEST_ENTRY, FORMAT, FORMAT_VERSION, MODEL_ENTRY  # noqa: F401 - the file format's names
from graphc.models.training import EVAL_BATCH  # noqa: F401 - rows per evaluate/predict call by default

__all__ = ["ModelFileError", "Perceptron", "Sequential", "load_model"]

