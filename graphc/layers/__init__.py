"""Layers: the building blocks of ``gc.models.Sequential``, Keras' names and arguments.

One module per family, each importing only ``base`` (the ``Layer`` class and what every layer
shares) and ``registry`` (class name -> layer, for model files), and another family only where
it builds on it (the wrappers on the recurrent layers). Importing this package imports every
family, so every layer is registered before anything is deserialized. How a layer is written,
and how masks (Keras' mechanism for padded sequences) travel from layer to layer, is told in
``graphc.layers.base``.
"""
from __future__ import annotations

from graphc.layers.base import Layer, derive_seed, get_mask, unique_name, weight_budget
from graphc.layers.registry import deserialize, register, serialize
from graphc.layers.core import Activation, Dense, Dropout, Flatten, Input, InputLayer, Maxout
from graphc.layers.activation_layers import ELU, LeakyReLU, PReLU, Softmax
from graphc.layers.conv import (AveragePooling2D, Conv2D, DepthwiseConv2D, GlobalAveragePooling1D,
                                GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling2D)
from graphc.layers.embedding import Embedding
from graphc.layers.normalization import BatchNormalization
from graphc.layers.recurrent import GRU, LSTM, SimpleRNN
from graphc.layers.wrappers import Bidirectional, Masking, TimeDistributed

__all__ = ["ELU", "GRU", "LSTM", "Activation", "AveragePooling2D", "BatchNormalization", "Bidirectional", "Conv2D",
           "Dense", "DepthwiseConv2D", "Dropout", "Embedding", "Flatten", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer",
           "LeakyReLU", "Masking", "MaxPooling2D", "Maxout", "PReLU", "SimpleRNN", "Softmax", "TimeDistributed",
           "deserialize", "get_mask", "serialize"]

