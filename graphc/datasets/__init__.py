"""Datasets as NumPy arrays: the 8×8 handwritten digits (shipped with graphc, offline), the
logic gates of the perceptron lessons, and a reader for MNIST-style IDX files a user already
has on disk."""
from graphc.datasets.digits import load_digits
from graphc.datasets.gates import and_gate, or_gate, xor
from graphc.datasets.idx import load_fashion_mnist, load_idx, load_mnist

__all__ = ["and_gate", "load_digits", "load_fashion_mnist", "load_idx", "load_mnist", "or_gate", "xor"]
