"""The public namespaces of the compiler that the facade re-exports (``gc.nn``, ``gc.linalg``,
``gc.random``, ``gc.debugging``)."""
