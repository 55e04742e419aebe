"""Arrays back on the host: what the Keras-style library hands out (weights, predictions,
saved files) is NumPy whichever backend ran the model; ``gc.function`` itself returns the
backend's own arrays (CuPy arrays stay on the device)."""
from __future__ import annotations

import numpy as np


def to_host(array, copy: bool = False) -> np.ndarray:
    """``array`` as a NumPy array: a device array (CuPy's, which has ``.get()``) is copied to
    the host; a NumPy array is returned as is, or copied when ``copy``."""
    if not isinstance(array, np.ndarray) and hasattr(array, "get") and hasattr(array, "__cuda_array_interface__"):
        return array.get()
    return np.array(array, copy=True) if copy else np.asarray(array)
