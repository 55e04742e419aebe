"""gc.initializers: shapes, dtypes, fans, the Keras limits and standard deviations, seeds."""
import math

import numpy as np
import pytest

from graphc import initializers as init


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((4, 5), (4, 5)),
    ((3, 3, 2, 8), (18, 72)),        # conv2d HWIO: receptive field 9
    ((5, 16, 32), (80, 160)),        # conv1d
    ((2, 3, 4, 5, 6), (120, 144)),   # conv3d: receptive field 24
])
def test_compute_fans_like_keras(shape, fans):
    assert init.compute_fans(shape) == fans


@pytest.mark.parametrize("cls", [init.Zeros, init.Ones, init.RandomNormal, init.RandomUniform, init.GlorotUniform,
                                 init.GlorotNormal, init.HeNormal, init.HeUniform, init.TruncatedNormal,
                                 init.LecunNormal, init.LecunUniform])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shape_and_dtype(cls, dtype):
    out = cls()((3, 4), dtype=dtype)
    assert isinstance(out, np.ndarray) and out.shape == (3, 4) and out.dtype == np.dtype(dtype)
    assert cls()(5).shape == (5,)
    assert cls()((3, 4)).dtype == np.float32  # the default dtype


def test_constant_values():
    np.testing.assert_array_equal(init.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.Ones()((2,), dtype="int64"), [1, 1])
    np.testing.assert_array_equal(init.Constant(2.5)((2, 2)), np.full((2, 2), 2.5, np.float32))
    np.testing.assert_array_equal(init.Constant([1.0, 2.0])((3, 2)), [[1, 2]] * 3)


def test_random_normal_and_uniform_statistics():
    x = init.RandomNormal(mean=1.0, stddev=0.5, seed=0)((200, 500), dtype="float64")
    assert x.mean() == pytest.approx(1.0, abs=0.005) and x.std() == pytest.approx(0.5, rel=0.01)
    u = init.RandomUniform(-0.2, 0.6, seed=0)((200, 500), dtype="float64")
    assert u.min() >= -0.2 and u.max() < 0.6
    assert u.mean() == pytest.approx(0.2, abs=0.005)
    assert u.std() == pytest.approx(0.8 / math.sqrt(12), rel=0.01)
    assert init.RandomNormal()((100, 100)).std() == pytest.approx(0.05, rel=0.05)  # Keras default
    assert np.abs(init.RandomUniform()((100, 100))).max() <= 0.05


@pytest.mark.parametrize("shape", [(300, 200), (5, 5, 16, 32)])
def test_glorot_uniform_limit(shape):
    fan_in, fan_out = init.compute_fans(shape)
    limit = math.sqrt(6 / (fan_in + fan_out))
    x = init.GlorotUniform(seed=1)(shape, "float64")
    assert np.abs(x).max() <= limit
    assert np.abs(x).max() > 0.99 * limit
    assert x.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 64, 64)])
def test_glorot_normal_is_truncated_with_the_keras_stddev(shape):
    fan_in, fan_out = init.compute_fans(shape)
    target = math.sqrt(2 / (fan_in + fan_out))
    x = init.GlorotNormal(seed=2)(shape, "float64")
    sampling_stddev = target / 0.87962566103423978
    assert np.abs(x).max() <= 2 * sampling_stddev  # truncated at two (sampling) standard deviations
    assert np.abs(x).max() > 1.9 * sampling_stddev
    assert x.std() == pytest.approx(target, rel=0.02)  # the correction restores the target stddev


@pytest.mark.parametrize("shape", [(500, 300), (3, 3, 32, 64)])
def test_he_normal_and_uniform(shape):
    fan_in, _ = init.compute_fans(shape)
    x = init.HeNormal(seed=3)(shape, "float64")
    assert x.std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    assert np.abs(x).max() <= 2 * math.sqrt(2 / fan_in) / 0.87962566103423978
    u = init.HeUniform(seed=3)(shape, "float64")
    limit = math.sqrt(6 / fan_in)
    assert np.abs(u).max() <= limit and np.abs(u).max() > 0.99 * limit


def test_lecun_and_variance_scaling():
    x = init.LecunUniform(seed=0)((400, 100), "float64")
    assert np.abs(x).max() <= math.sqrt(3 / 400)
    vs = init.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal", seed=0)
    assert vs((100, 400), "float64").std() == pytest.approx(math.sqrt(3 / 400), rel=0.02)
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan")


@pytest.mark.parametrize("cls", [init.RandomNormal, init.RandomUniform, init.TruncatedNormal, init.GlorotUniform,
                                 init.GlorotNormal, init.HeNormal, init.HeUniform])
def test_same_seed_same_values_and_no_seed_fresh_values(cls):
    a = cls(seed=42)((6, 7))
    np.testing.assert_array_equal(a, cls(seed=42)((6, 7)))
    np.testing.assert_array_equal(a, cls(seed=42)((6, 7)))  # every call, as Keras 3
    assert not np.array_equal(a, cls(seed=43)((6, 7)))
    unseeded = cls()
    assert not np.array_equal(unseeded((6, 7)), unseeded((6, 7)))


def test_random_initializers_need_a_float_dtype():
    with pytest.raises(ValueError, match="float"):
        init.GlorotUniform()((2, 2), dtype="int32")


def test_lowercase_aliases_are_the_classes():
    names = "zeros ones constant random_normal random_uniform glorot_uniform glorot_normal he_normal he_uniform"
    for name in names.split():
        alias = getattr(init, name)
        assert isinstance(alias, type) and issubclass(alias, init.Initializer)
        assert type(init.get(name)) is alias
    assert init.glorot_uniform(seed=5)((2, 2)).shape == (2, 2)


def test_get():
    assert init.get(None) is None
    g = init.GlorotUniform(seed=1)
    assert init.get(g) is g
    assert isinstance(init.get("HeNormal"), init.HeNormal)
    assert isinstance(init.get(init.Ones), init.Ones)
    fn = lambda shape, dtype="float32": np.full(shape, 7, dtype)  # noqa: E731
    assert init.get(fn) is fn
    with pytest.raises(ValueError, match="unknown initializer 'xavier'.*glorot_uniform"):
        init.get("xavier")


@pytest.mark.parametrize("obj", [init.Zeros(), init.Constant(3.0), init.RandomNormal(0.5, 2.0, seed=3),
                                 init.RandomUniform(-1, 1, seed=4), init.GlorotUniform(seed=7), init.HeNormal(),
                                 init.VarianceScaling(2.0, "fan_avg", "uniform", seed=1)],
                         ids=lambda o: type(o).__name__)
def test_config_round_trip(obj):
    again = init.deserialize(init.serialize(obj))
    assert type(again) is type(obj) and again.get_config() == obj.get_config()
    if obj.get_config().get("seed") is not None:
        np.testing.assert_array_equal(again((3, 3)), obj((3, 3)))
