"""The truth tables of two-input logic gates: x is the four input pairs in the order
(0, 0), (0, 1), (1, 0), (1, 1) as float64, y the gate's output as int64."""
import numpy as np

_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))


def _gate(outputs):
    return np.array(_INPUTS, dtype=np.float64), np.array(outputs, dtype=np.int64)


def and_gate():
    """AND: y = [0, 0, 0, 1] (linearly separable: a perceptron learns it)."""
    return _gate((0, 0, 0, 1))


def or_gate():
    """OR: y = [0, 1, 1, 1]."""
    return _gate((0, 1, 1, 1))


def xor():
    """XOR: y = [0, 1, 1, 0] (not linearly separable: a perceptron cannot learn it)."""
    return _gate((0, 1, 1, 0))
