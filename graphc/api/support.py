"""What the Keras-style library needs beyond the public API: argument checks with the library's
wording, tensors and shapes as messages show them, arrays back on the host, which backends
exist, sharded feeds, convolution geometry and the Jupyter display. The library imports the
compiler through ``graphc.api`` and this module only (a contract in ``.importlinter``)."""
from graphc import backend_registry
from graphc.compile.host import to_host
from graphc.ir import arguments
from graphc.ir.opdef import describe
from graphc.ir.tensor import as_tensor, format_shape, to_array
from graphc.ops.conv import effective_kernel
from graphc.plan.shards import Shards, is_dask_array
from graphc.render import repr_svg

__all__ = ["Shards", "arguments", "as_tensor", "backend_registry", "describe", "effective_kernel",
           "format_shape", "is_dask_array", "repr_svg", "to_array", "to_host"]
