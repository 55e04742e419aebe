"""``Embedding``: integer indices (e.g. word ids) to learned dense vectors, one ``gc.gather`` of
the embedding matrix, whose gradient is a scatter-add into the rows read, so only the rows
seen in a batch change. With ``mask_zero=True`` it is where masks usually start.
"""
from __future__ import annotations

import numpy as np

from graphc import initializers, regularizers
from graphc.api.support import arguments
from graphc.api import not_equal
from graphc.api import gather
from graphc.api import cast
from graphc.layers.base import Layer, serialize_object
from graphc.layers.registry import register

__all__ = ["Embedding"]


@register
class Embedding(Layer):
    """A lookup table of ``input_dim`` vectors of ``output_dim`` values: inputs of shape
    (batch, ...) of integer indices give outputs (batch, ..., output_dim),

        output[..., :] = embeddings[index]          embeddings: (input_dim, output_dim)

    input_dim · output_dim parameters, initialized (Keras' default) uniform on [−0.05, 0.05].
    The inputs are integers 0 .. input_dim − 1: a model whose first layer is an Embedding gets
    an int64 input placeholder (``input_dtype``), and ``fit``/``predict`` check the values
    before anything runs. Float inputs given to the layer in a raw graph are cast to int64 (as
    Keras casts them).

    ``mask_zero=True`` reserves index 0 for padding, as Keras: the layer attaches the mask
    ``ids != 0`` to its output (see ``graphc.layers.base``, "masks"), the recurrent layers skip
    the masked steps (carrying their state across them) and GlobalAveragePooling1D averages over
    the others, so a sequence padded with zeros — before or after its tokens — gives the same
    result as the sequence alone. The vector of index 0 is still looked up (and learned from
    what sees it)."""

    input_dtype = "int64"

    def __init__(self, input_dim, output_dim, embeddings_initializer="random_uniform",
                 embeddings_regularizer=None, mask_zero=False, input_shape=None, **kwargs):
        kwargs.pop("input_length", None)   # Keras 2's argument; the input shape says it
        super().__init__(input_shape=input_shape, **kwargs)
        self.input_dim = arguments.index(input_dim, "Embedding: input_dim", minimum=1)
        self.output_dim = arguments.index(output_dim, "Embedding: output_dim", minimum=1)
        if mask_zero and self.input_dim < 2:
            raise ValueError(f"Embedding: with mask_zero=True index 0 is padding, so input_dim must be at least 2 "
                             f"(the vocabulary size + 1), got {input_dim}")
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        self.embeddings = None

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def call(self, x, training=False):
        return gather(self.embeddings, self._indices(x), axis=0)

    def compute_mask(self, x, mask=None):
        """With ``mask_zero``: true where the index is not 0 (shaped like the indices)."""
        if not self.mask_zero:
            return None
        return not_equal(self._indices(x), 0)

    @staticmethod
    def _indices(x):
        return x if x.dtype.kind in "iu" else cast(x, "int64")

    def check_input_values(self, values: np.ndarray, who: str, name: str = "x"):
        """Raise a ValueError naming the culprit when ``values`` are not indices 0..input_dim−1."""
        if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
            raise ValueError(f"{who}: {name} must hold integer indices for {self.name} (Embedding), "
                             f"found non-integer values such as {values[values != np.round(values)][0]}")
        bad = (values < 0) | (values >= self.input_dim)
        if bad.any():
            raise ValueError(f"{who}: {name} holds indices outside 0..{self.input_dim - 1} for {self.name} "
                             f"(Embedding with input_dim={self.input_dim}), e.g. "
                             f"{sorted(set(values[bad].tolist()))[:5]}")

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": serialize_object(self.embeddings_initializer, initializers),
                "embeddings_regularizer": serialize_object(self.embeddings_regularizer, regularizers)}
