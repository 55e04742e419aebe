"""The IR: Tensors (immutable nodes), dtypes, graphs, fusion groups and the op record.
It imports nothing of graphc but the errors and argument checks; every other layer builds on it."""
