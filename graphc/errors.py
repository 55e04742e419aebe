"""The four error types of graphc (API §5).

Each subclasses the built-in exception a Python user would already catch, so
``except ValueError`` keeps working around graphc code.
"""


class ShapeError(ValueError):
    """Shapes that cannot work together: raised when the graph is built if the
    shapes are static, else when a compiled function is called."""


class DTypeError(TypeError):
    """A dtype an op cannot take, or a feed that cannot be cast safely."""


class GraphError(ValueError):
    """A graph that is malformed or used wrongly (unknown op, missing feed, ...)."""


class BackendUnavailable(RuntimeError):
    """A backend that is unknown or cannot run on this machine."""


class NumericsError(FloatingPointError):
    """A value holding NaN or Inf where a numerics check was asked for
    (``gc.function(..., check_numerics=True)``, ``gc.debugging.enable_check_numerics()``)."""
