"""What the Keras-style library needs beyond the public API: argument checks with the library's
wording, tensors and shapes as messages show them, arrays back on the host, which backends
exist, sharded feeds, convolution geometry and the Jupyter display. The library imports the
compiler through ``graphc.api`` and this module only (a contract in ``.importlinter``).

These are the compiler's own objects, re-exported as they are, so that the library checks, words
and converts things exactly as the ops do; none is part of ``gc`` (``graphc.api`` star-exports
its ``__all__`` only). Why each is here:

- ``arguments``: the checks of plain Python arguments (sizes, axes, rates, seeds, dtypes): a
  layer or optimizer rejects ``2.5`` units or a string rate with the ops' one-line errors.
- ``format_shape``, ``describe``: shapes (``(?, 3)``) and tensors (name, shape, dtype) in error
  messages, worded as the ops word them.
- ``as_tensor``, ``to_array``: a value as a Tensor (a Tensor as is, else a constant) or as a
  NumPy array of a supported dtype, with ``gc.constant``'s errors naming the argument.
- ``to_host``: what the library hands out (weights, predictions, saved files) is NumPy whichever
  backend ran the model; ``gc.function`` returns the backend's own arrays.
- ``backend_registry``: ``compile(backend=...)`` fails early with ``BackendUnavailable`` saying
  why (``get``), and a model file must name a backend graphc knows, usable here or not
  (``known``; ``gc.backends()`` lists the usable ones only).
- ``Shards``, ``is_dask_array``: feeds already split, and the dask.array test, which
  ``gc.distribute`` shares with the Dask backend.
- ``effective_kernel``: the span of a dilated window, the rule ``gc.nn.conv2d`` applies, so a
  convolution layer's output shape agrees with the op's.
- ``repr_svg``: a model's SVG for Jupyter (None without Graphviz or for graphs too large to lay
  out quickly), as ``gc.Tensor`` displays itself.
"""
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
