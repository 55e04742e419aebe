"""Shared by tests/gpu/: the skip when the CuPy backend cannot run, and comparisons of
device results with NumPy ones."""
import numpy as np
import pytest

from graphc.backends.cupy.backend import CupyBackend

REASON = CupyBackend().unavailable_reason()


def require_gpu():
    """Skip the calling test module, with the backend's reason, where it cannot run."""
    if REASON:
        pytest.skip(f"the CuPy backend cannot run here: {REASON}", allow_module_level=True)


def host(value):
    """A backend's output as a NumPy array (CuPy arrays are copied back)."""
    import cupy
    if isinstance(value, cupy.ndarray):
        return cupy.asnumpy(value)
    return np.asarray(value)


def assert_same(got, want, rtol, atol, what=""):
    got, want = host(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)
