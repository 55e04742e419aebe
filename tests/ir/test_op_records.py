"""Every registered op carries, in its record, what the passes, the memory plan and the Dask
partitioning read (result ownership, batch rule, reduction monoid), and every backend either
lowers it or refuses it by name."""
import re

import numpy as np
import pytest

import graphc  # noqa: F401 - registers the ops
from graphc.backends.cupy import device_ops, lowering
from graphc.backends.numpy import kernels
from graphc.errors import GraphError
from graphc.ir import batching
from graphc.ir.opdef import MONOIDS, OPS, RESULTS, OpDef, reduction_identity, register

OP_NAMES = sorted(OPS)


@pytest.mark.parametrize("name", OP_NAMES)
def test_every_op_states_its_result_and_batch_rule(name):
    od = OPS[name]
    assert od.result in RESULTS
    if od.args:
        assert callable(od.batch), f"{name} has no batch rule"
    if od.kind == "elementwise":
        assert od.batch is batching.elementwise or name == "broadcast_like"
    if od.monoid is not None:
        assert od.kind == "reduction" and od.monoid in MONOIDS


@pytest.mark.parametrize("name", OP_NAMES)
def test_numpy_backend_binds_every_helper_an_op_template_calls(name):
    od = OPS[name]
    called = set(re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", od.numpy)) - {"slice", "tuple"}
    bound = kernels.helpers_of(od)
    for helper in called:
        assert helper in bound, f"{name}'s template calls {helper}, which the NumPy backend does not bind"
        assert callable(bound[helper])


@pytest.mark.parametrize("name", OP_NAMES)
def test_cupy_backend_lowers_or_refuses_every_op(name):
    od = OPS[name]
    if od.kind == "elementwise":
        assert od.scalar and od.scalar.get("cuda"), f"{name} has no CUDA scalar template"
        return
    tables = [name in lowering.SAME_AS_NUMPY, name in lowering.DEVICE_TEMPLATES, name in lowering.REFUSED]
    assert sum(tables) == 1, f"{name}: lowered or refused by exactly one CuPy table, got {tables}"
    if name in lowering.SAME_AS_NUMPY:
        for helper in od.helpers:
            assert callable(getattr(device_ops, helper, None)), f"no device version of {helper} ({name})"


def test_an_op_without_a_batch_rule_or_result_is_refused_at_registration():
    infer = lambda inputs, attrs: ((), np.dtype("float32"))  # noqa: E731
    with pytest.raises(GraphError, match="no batch rule"):
        register(OpDef("_test_unbatched", ("x",), infer, "{x}", result="new"))
    with pytest.raises(GraphError, match="result must be one of"):
        register(OpDef("_test_no_result", ("x",), infer, "{x}", batch=batching.elementwise))
    with pytest.raises(GraphError, match="monoid"):
        register(OpDef("_test_monoid", ("x",), infer, "{x}", result="new", batch=batching.elementwise,
                       monoid="sum"))
    assert not any(n.startswith("_test_") for n in OPS)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int64", "uint16", "bool"])
def test_reduction_identity_is_neutral_for_its_monoid(dtype):
    rng = np.random.default_rng(0)
    x = (rng.integers(0, 2, 20) if dtype == "bool" else rng.integers(-50, 50, 20)).astype(dtype)
    combine = {"sum": np.add, "max": np.maximum, "min": np.minimum, "prod": np.multiply}
    for monoid, ufunc in combine.items():
        if dtype == "bool" and monoid in ("sum", "prod"):
            continue
        identity = reduction_identity(monoid, dtype)
        assert identity.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(ufunc(x, identity), x)
