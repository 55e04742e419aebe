"""gc.random: random ops (a fresh sample per call of a compiled function; seeds reproduce)."""
from graphc.ops.random import normal, normal_like, uniform, uniform_like

__all__ = ["normal", "normal_like", "uniform", "uniform_like"]
