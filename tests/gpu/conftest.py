"""tests/gpu/: the CuPy backend on a real CUDA device. Every test here is marked ``gpu``;
each module skips as a whole, with the backend's own reason (CuPy not installed, no driver,
driver too old, no device), where the backend cannot run. The helpers of tests/ (op_table,
the random-graph strategy, the CUDA op cases) are imported from the ``tests`` package."""
import pathlib

import pytest


def pytest_collection_modifyitems(config, items):
    here = pathlib.Path(__file__).resolve().parent
    for item in items:
        if here in pathlib.Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gpu)
