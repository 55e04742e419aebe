"""Weight initializers (``gc.initializers``), Keras 3 semantics.

An initializer is called with a shape and a dtype and returns a NumPy array: the initial value
of a variable (initial values are data, not graph). Random initializers with a ``seed`` give
the same values on every call (as Keras 3); ``seed=None`` draws fresh values each call.

Fans follow Keras' ``compute_fans``: a Dense kernel (in, out) has fan_in = in and
fan_out = out; a convolution kernel (kh, kw, cin, cout) has receptive field kh*kw,
fan_in = kh*kw*cin and fan_out = kh*kw*cout; a vector (n,) has fan_in = fan_out = n; a scalar
has 1 and 1.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.api.support import arguments
from graphc.catalog import Catalog, Configurable

# Keras' correction so that a normal truncated at two standard deviations has the requested
# standard deviation: the stddev of a unit normal truncated to [-2, 2].
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape`` (see the module docstring)."""
    shape = arguments.shape(shape, "compute_fans: shape")
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _shape(shape, who: str = "initializer") -> tuple:
    return arguments.shape(shape, f"{who}: shape")


def _dtype(dtype, who: str) -> np.dtype:
    return arguments.dtype(dtype, f"{who}: dtype")


def _float_dtype(dtype, who: str) -> np.dtype:
    dt = _dtype(dtype, who)
    if dt.kind != "f":
        raise ValueError(f"{who}: random initial values need a float dtype, got {dt}")
    return dt


class Initializer(Configurable):
    """Base class: ``init(shape, dtype="float32") -> np.ndarray``."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32"):
        return np.zeros(_shape(shape, "Zeros"), dtype=_dtype(dtype, "Zeros"))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32"):
        return np.ones(_shape(shape, "Ones"), dtype=_dtype(dtype, "Ones"))


class Constant(Initializer):
    """Every element equal to ``value`` (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        from graphc.api.support import to_array
        value = to_array(self.value, _dtype(dtype, "Constant"), "Constant: value")
        shape = _shape(shape, "Constant")
        try:
            return np.array(np.broadcast_to(value, shape))
        except ValueError:
            raise ValueError(f"Constant: a value of shape {value.shape} does not broadcast to the weight's "
                             f"shape {shape}") from None

    def get_config(self):
        value = self.value.tolist() if isinstance(self.value, np.ndarray) else self.value
        return {"value": value}


class _Random(Initializer):
    """Shared seeding: a fixed seed gives the same values on every call."""

    def __init__(self, seed=None):
        self.seed = arguments.seed(seed, f"{type(self).__name__}: seed")

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(rng, mean, stddev, shape) -> np.ndarray:
    """Normal samples redrawn until they lie within two standard deviations of the mean."""
    out = rng.normal(0.0, 1.0, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


def _normal_params(who: str, mean, stddev) -> tuple:
    return (arguments.real(mean, f"{who}: mean"), arguments.real(stddev, f"{who}: stddev", minimum=0.0))


class RandomNormal(_Random):
    """Normal with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = _normal_params("RandomNormal", mean, stddev)

    def __call__(self, shape, dtype="float32"):
        dt = _float_dtype(dtype, "RandomNormal")
        return self._rng().normal(self.mean, self.stddev, size=_shape(shape, "RandomNormal")).astype(dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(_Random):
    """Normal with ``mean`` and ``stddev``, redrawn beyond two standard deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = _normal_params("TruncatedNormal", mean, stddev)

    def __call__(self, shape, dtype="float32"):
        dt = _float_dtype(dtype, "TruncatedNormal")
        return _truncated_normal(self._rng(), self.mean, self.stddev, _shape(shape, "TruncatedNormal")).astype(dt)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Random):
    """Uniform on [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = arguments.real(minval, "RandomUniform: minval")
        self.maxval = arguments.real(maxval, "RandomUniform: maxval")
        if not self.minval < self.maxval:
            raise ValueError(f"RandomUniform: minval must be less than maxval, got minval={self.minval} and "
                             f"maxval={self.maxval}")

    def __call__(self, shape, dtype="float32"):
        dt = _float_dtype(dtype, "RandomUniform")
        return self._rng().uniform(self.minval, self.maxval, size=_shape(shape, "RandomUniform")).astype(dt)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(_Random):
    """Samples with variance ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    ``distribution``: "truncated_normal" (stddev sqrt(scale/n) / 0.8796..., cut at two
    stddevs), "untruncated_normal" (stddev sqrt(scale/n)) or "uniform" (limit sqrt(3 scale/n)).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        scale = arguments.real(scale, "VarianceScaling: scale")
        if not scale > 0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {self._DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def fan(self, shape) -> float:
        """The n of scale / n for a weight of ``shape``."""
        fan_in, fan_out = compute_fans(_shape(shape, type(self).__name__))
        return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]

    def __call__(self, shape, dtype="float32"):
        dt = _float_dtype(dtype, type(self).__name__)
        shape = _shape(shape, type(self).__name__)
        variance = self.scale / max(1.0, self.fan(shape))
        rng = self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, 0.0, math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV, shape)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        return values.astype(dt)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _Fixed(VarianceScaling):
    """A VarianceScaling with fixed scale/mode/distribution: only the seed is configurable."""
    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed=None):
        super().__init__(self._SCALE, self._MODE, self._DISTRIBUTION, seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotUniform(_Fixed):
    """Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Xavier/Glorot)."""
    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "uniform"


class GlorotNormal(_Fixed):
    """Truncated normal, stddev = sqrt(2 / (fan_in + fan_out)) / 0.8796... (Keras)."""
    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class HeNormal(_Fixed):
    """Truncated normal, stddev = sqrt(2 / fan_in) / 0.8796... (Keras)."""
    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class HeUniform(_Fixed):
    """Uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""
    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "uniform"


class LecunNormal(_Fixed):
    """Truncated normal, stddev = sqrt(1 / fan_in) / 0.8796..."""
    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


class LecunUniform(_Fixed):
    """Uniform on [-limit, limit], limit = sqrt(3 / fan_in)."""
    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "uniform"


class Orthogonal(_Random):
    """A random orthogonal matrix times ``gain`` (Saxe et al., 2014; Keras' algorithm): a
    normal matrix of shape (max(rows, cols), min(rows, cols)) with rows = prod(shape[:-1]) and
    cols = shape[-1], its QR factorisation, Q with each column's sign made that of R's
    diagonal (so Q is uniformly distributed), transposed when rows < cols, reshaped to
    ``shape``. The rows (or columns, whichever are fewer) are orthonormal. The default
    ``recurrent_initializer`` of the recurrent layers."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = arguments.real(gain, "Orthogonal: gain")

    def __call__(self, shape, dtype="float32"):
        dt = _float_dtype(dtype, "Orthogonal")
        shape = _shape(shape, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of at least 2 dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dt)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


# Keras' lowercase aliases are the classes themselves: initializers.glorot_uniform(seed=1)
zeros = Zeros
ones = Ones
constant = Constant
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = Orthogonal

_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal)}
_ALIASES = {"zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
            "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
            "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
            "glorot_normal": GlorotNormal, "he_normal": HeNormal, "he_uniform": HeUniform,
            "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
            "orthogonal": Orthogonal}


_CATALOG = Catalog("initializer", Initializer, _CLASSES.values(), _ALIASES,
                   on_callable=lambda fn: fn, none_ok=True)
serialize = _CATALOG.serialize
deserialize = _CATALOG.deserialize


def get(identifier):
    """An initializer from a name ("glorot_uniform", "GlorotUniform", ...), an instance, a
    class, a ``serialize`` dict or a callable ``(shape, dtype) -> array``; None gives None."""
    return _CATALOG.get(identifier)
