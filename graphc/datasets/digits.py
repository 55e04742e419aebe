"""The UCI optical-recognition handwritten digits (8×8), as scikit-learn bundles them.

The data file ships inside graphc (``data/digits.csv.gz``, see ``data/README.md`` for its
source and license); loading needs neither a network nor scikit-learn.
"""
import gzip
import importlib.resources

import numpy as np


def load_digits():
    """1797 images of handwritten digits: ``(x, y)`` with x float64 of shape (1797, 64) — each
    row an 8×8 image flattened row by row, pixel values 0..16 — and y int64 labels 0..9.
    The same arrays as ``sklearn.datasets.load_digits(return_X_y=True)``."""
    resource = importlib.resources.files(__package__).joinpath("data", "digits.csv.gz")
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.float64)
    return table[:, :-1], table[:, -1].astype(np.int64)
