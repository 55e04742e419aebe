"""The plain Python arguments of the API (sizes, shapes, axes, rates, seeds, reals) are checked,
never truncated, and no raw Python/NumPy error escapes: every entry point that takes one is
tried with bad values of each kind (a float, a string, None where it means nothing, a bool, a
negative number, a ragged list), and must raise the conventional error (TypeError for a wrong
type, ValueError — ShapeError for shapes and axes — for a value out of range) in one line that
names the op or layer and the argument. NumPy integer and float scalars are accepted.

Everything here only builds graphs (nothing is compiled), so the tables run in well under a
second."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.ir import arguments

L = gc.layers
I = gc.initializers
O = gc.optimizers

X = gc.placeholder((3, 4), name="x")          # axes -2..1; 5 is out of range
X1 = gc.placeholder((3, 1), name="x1")        # for squeeze
IDS = gc.constant(np.array([0, 1, 2]))
IMG = gc.placeholder((2, 8, 8, 6), name="img")
KERN = gc.placeholder((3, 3, 6, 4), name="kern")
KERN_G = gc.placeholder((3, 3, 2, 6), name="kern_g")   # groups=3 over IMG's 6 channels
RAGGED = [[1, 2], [3]]


def _check(build, value, error, what):
    """``build(value)`` raises ``error`` with a one-line message naming ``what`` ("op: arg")."""
    with pytest.raises(error) as info:
        build(value)
    message = str(info.value)
    assert "\n" not in message, message
    assert what.lower() in message.lower(), f"{what!r} not named in: {message}"


def _cases(table, bad_values):
    """The product of a table of entry points with the bad values their kind refuses."""
    cases = []
    for entry in table:
        what, skip = entry[0], entry[-1] if isinstance(entry[-1], set) else set()
        for label, value, error in bad_values:
            if label not in skip:
                cases.append(pytest.param(entry[1], value, error, what, id=f"{what}-{label}"))
    return cases


# -- integer sizes and counts -----------------------------------------------------------------------
# (what, build, good value[, labels of bad values that are valid here])

SIZES = [
    ("one_hot: depth", lambda v: gc.one_hot(IDS, v), 3),
    ("conv2d: groups", lambda v: gc.nn.conv2d(IMG, KERN_G, groups=v), 3),
    ("Dense: units", lambda v: L.Dense(v), 3),
    ("Conv2D: filters", lambda v: L.Conv2D(v, 3), 3),
    ("Conv2D: groups", lambda v: L.Conv2D(6, 3, groups=v), 3),
    ("DepthwiseConv2D: depth_multiplier", lambda v: L.DepthwiseConv2D(3, depth_multiplier=v), 3),
    ("SimpleRNN: units", lambda v: L.SimpleRNN(v), 3),
    ("LSTM: units", lambda v: L.LSTM(v), 3),
    ("GRU: units", lambda v: L.GRU(v), 3),
    ("Embedding: input_dim", lambda v: L.Embedding(v, 4), 3),
    ("Embedding: output_dim", lambda v: L.Embedding(10, v), 3),
    ("Maxout: units", lambda v: L.Maxout(v, 2), 3),
    ("Maxout: pieces", lambda v: L.Maxout(2, v), 3),
    ("Input: batch_size", lambda v: L.Input(shape=(4,), batch_size=v), 3, {"None"}),
    ("confusion_matrix: num_classes", lambda v: gc.metrics.confusion_matrix([0, 1], [1, 1], num_classes=v), 3,
     {"None"}),
    ("precision_score: pos_label", lambda v: gc.metrics.precision_score([0, 1], [1, 1], pos_label=v), 1),
]
BAD_SIZES = [("float", 2.5, TypeError), ("str", "ab", TypeError), ("None", None, TypeError),
             ("bool", True, TypeError), ("negative", -2, ValueError), ("ragged", RAGGED, TypeError),
             ("numpy-float", np.float64(3.0), TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(SIZES, BAD_SIZES))
def test_sizes_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", SIZES, ids=[e[0] for e in SIZES])
def test_sizes_take_numpy_integers(entry):
    entry[1](np.int64(entry[2]))
    entry[1](np.int32(entry[2]))


def test_sizes_are_never_truncated():
    assert gc.one_hot(IDS, np.int64(3)).shape == (3, 3)
    assert L.Dense(np.int64(3)).units == 3 and type(L.Dense(np.int64(3)).units) is int
    assert L.Embedding(np.int32(5), 2).input_dim == 5
    with pytest.raises(TypeError, match="one_hot: depth must be an integer, got float 2.5"):
        gc.one_hot(IDS, 2.5)
    with pytest.raises(ValueError, match="one_hot: depth must be a non-negative integer, got -2"):
        gc.one_hot(IDS, -2)
    with pytest.raises(TypeError, match="Dense: units must be an integer, got str 'ten'"):
        L.Dense("ten")


# -- pairs: strides, kernel and pool sizes, dilations --------------------------------------------------

PAIRS = [
    ("conv2d: strides", lambda v: gc.nn.conv2d(IMG, KERN, strides=v), 2),
    ("conv2d: dilations", lambda v: gc.nn.conv2d(IMG, KERN, dilations=v), 2),
    ("conv2d: dilation_rate", lambda v: gc.nn.conv2d(IMG, KERN, dilation_rate=v), 2, {"None"}),   # not given
    ("max_pool2d: pool_size", lambda v: gc.nn.max_pool2d(IMG, pool_size=v), 2),
    ("max_pool2d: strides", lambda v: gc.nn.max_pool2d(IMG, strides=v), 2, {"None"}),
    ("avg_pool2d: pool_size", lambda v: gc.nn.avg_pool2d(IMG, pool_size=v), 2),
    ("Conv2D: kernel_size", lambda v: L.Conv2D(4, v), 2),
    ("Conv2D: strides", lambda v: L.Conv2D(4, 3, strides=v), 2),
    ("Conv2D: dilation_rate", lambda v: L.Conv2D(4, 3, dilation_rate=v), 2),
    ("DepthwiseConv2D: kernel_size", lambda v: L.DepthwiseConv2D(v), 2),
    ("MaxPooling2D: pool_size", lambda v: L.MaxPooling2D(v), 2),
    ("AveragePooling2D: strides", lambda v: L.AveragePooling2D(2, strides=v), 2, {"None"}),
]
BAD_PAIRS = [("float", 2.5, TypeError), ("str", "ab", TypeError), ("None", None, TypeError),
             ("bool", True, TypeError), ("zero", 0, ValueError), ("negative", -2, ValueError),
             ("float-in-pair", (2, 1.5), TypeError), ("triple", (1, 2, 3), ValueError),
             ("ragged", RAGGED, TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(PAIRS, BAD_PAIRS))
def test_pairs_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", PAIRS, ids=[e[0] for e in PAIRS])
def test_pairs_take_numpy_integers(entry):
    entry[1](np.int64(entry[2]))
    entry[1]((np.int64(entry[2]), np.int32(1)))


def test_conv_padding_is_checked():
    for bad, error in ((1.5, TypeError), ((1, 1.5), TypeError), (-1, ValueError), ((1, 2, 3), ValueError),
                       (((1, 1), (1,)), ValueError), (True, TypeError)):
        _check(lambda v: gc.nn.conv2d(IMG, KERN, padding=v), bad, error, "conv2d: padding")
    assert gc.nn.conv2d(IMG, KERN, padding=np.int64(1)).shape == (2, 8, 8, 4)
    assert gc.nn.conv2d(IMG, KERN, padding=((np.int64(1), 1), (1, 1))).shape == (2, 8, 8, 4)


# -- shapes ---------------------------------------------------------------------------------------------

SHAPES = [
    ("placeholder: shape", lambda v: gc.placeholder(v), (2, 3)),
    ("reshape: shape", lambda v: gc.reshape(X, v), (2, 6)),
    ("broadcast_to: shape", lambda v: gc.broadcast_to(X, v), (2, 3, 4)),
    ("fill: shape", lambda v: gc.fill(v, 1.0), (2, 3)),
    ("zeros: shape", lambda v: gc.zeros(v), (2, 3)),
    ("ones: shape", lambda v: gc.ones(v), (2, 3)),
    ("random.uniform: shape", lambda v: gc.random.uniform(v), (2, 3)),
    ("random.normal: shape", lambda v: gc.random.normal(v), (2, 3)),
    ("transpose: perm", lambda v: gc.transpose(X, v), (1, 0), {"None"}),      # None: reversed
    ("Input: shape", lambda v: L.Input(shape=v), (2, 3), {"None"}),           # None: "give the shape"
    ("Dense: input_shape", lambda v: L.Dense(2, input_shape=v), (2, 3), {"None"}),   # None: not given
    ("GlorotUniform: shape", lambda v: I.GlorotUniform()(v), (2, 3)),
    ("Zeros: shape", lambda v: I.Zeros()(v), (2, 3)),
    ("Constant: shape", lambda v: I.Constant(1.0)(v), (2, 3)),
    ("compute_fans: shape", lambda v: I.compute_fans(v), (2, 3)),
]
BAD_SHAPES = [("float", (2.5, 3), TypeError), ("str", "ab", TypeError), ("None", None, TypeError),
              ("bool", (True, 3), TypeError), ("negative", (-2, 3), ValueError), ("ragged", RAGGED, TypeError),
              ("float-scalar", 2.5, TypeError), ("set", {2, 3}, TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(SHAPES, BAD_SHAPES))
def test_shapes_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", SHAPES, ids=[e[0] for e in SHAPES])
def test_shapes_take_numpy_integers(entry):
    good = entry[2]
    entry[1](tuple(np.int64(d) for d in good))
    entry[1](np.array(good))


def test_negative_sizes_are_shape_errors():
    for build in (lambda: gc.placeholder((3, -1)), lambda: gc.zeros((-1,)), lambda: gc.broadcast_to(X, (-3, 4)),
                  lambda: gc.random.uniform((2, -2))):
        with pytest.raises(gc.ShapeError, match="negative size"):
            build()
    assert gc.placeholder((None, np.int64(3))).shape == (None, 3)
    assert gc.reshape(X, (np.int64(-1), 2)).shape == (6, 2)


# -- axes -----------------------------------------------------------------------------------------------

AXES = [
    ("reduce_sum: axis", lambda v: gc.reduce_sum(X, axis=v), 1, {"None"}),
    ("reduce_mean: axis", lambda v: gc.reduce_mean(X, axis=v), 1, {"None"}),
    ("reduce_max: axis", lambda v: gc.reduce_max(X, axis=v), 1, {"None"}),
    ("reduce_min: axis", lambda v: gc.reduce_min(X, axis=v), 1, {"None"}),
    ("reduce_prod: axis", lambda v: gc.reduce_prod(X, axis=v), 1, {"None"}),
    ("logsumexp: axis", lambda v: gc.logsumexp(X, axis=v), 1, {"None"}),
    ("argmax: axis", lambda v: gc.argmax(X, axis=v), 1),
    ("argmin: axis", lambda v: gc.argmin(X, axis=v), 1),
    ("concat: axis", lambda v: gc.concat([X, X], axis=v), 1),
    ("stack: axis", lambda v: gc.stack([X, X], axis=v), 1),
    ("expand_dims: axis", lambda v: gc.expand_dims(X, v), 1),
    ("squeeze: axis", lambda v: gc.squeeze(X1, v), 1, {"None"}),
    ("gather: axis", lambda v: gc.gather(X, IDS, axis=v), 1),
    ("norm: axis", lambda v: gc.linalg.norm(X, axis=v), 1, {"None"}),
    ("Softmax: axis", lambda v: L.Softmax(axis=v), 1, {"out-of-range"}),         # checked when built
    ("BatchNormalization: axis", lambda v: L.BatchNormalization(axis=v), 1, {"out-of-range"}),
]
BAD_AXES = [("float", 0.5, TypeError), ("str", "ab", TypeError), ("None", None, TypeError),
            ("bool", True, TypeError), ("out-of-range", 5, gc.ShapeError), ("ragged", [[0, 1], [1]], TypeError),
            ("numpy-float", np.float32(1.0), TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(AXES, BAD_AXES))
def test_axes_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", AXES, ids=[e[0] for e in AXES])
def test_axes_take_numpy_integers(entry):
    entry[1](np.int64(entry[2]))
    entry[1](np.int64(-1))


def test_axes_are_never_truncated():
    assert gc.argmax(X, axis=np.int64(0)).shape == (4,)
    with pytest.raises(TypeError, match="argmax: axis must be an integer, got float 0.5"):
        gc.argmax(X, axis=0.5)                    # was: axis 0 applied, shape (3, 4) declared
    with pytest.raises(TypeError, match="reduce_sum: axis must be an integer or a sequence of integers"):
        gc.reduce_sum(X, axis=1.5)                # was: "'float' object is not iterable"
    with pytest.raises(gc.ShapeError, match=r"reduce_sum: axis 2 is out of range for 'x' \(3, 4\)"):
        gc.reduce_sum(X, axis=(0, 2))
    assert gc.reduce_sum(X, axis=[np.int64(0), -1]).shape == ()
    with pytest.raises(gc.ShapeError, match="norm: repeated axis"):
        gc.linalg.norm(X, axis=(0, -2))


# -- reals, rates and seeds -----------------------------------------------------------------------------

REALS = [
    ("leaky_relu: alpha", lambda v: gc.leaky_relu(X, alpha=v)),
    ("elu: alpha", lambda v: gc.elu(X, alpha=v)),
    ("random.uniform: minval", lambda v: gc.random.uniform((2,), minval=v, maxval=10.0)),
    ("random.uniform: maxval", lambda v: gc.random.uniform((2,), minval=-10.0, maxval=v)),
    ("random.normal: mean", lambda v: gc.random.normal((2,), mean=v)),
    ("random.normal: stddev", lambda v: gc.random.normal((2,), stddev=v)),
    ("random.uniform_like: minval", lambda v: gc.random.uniform_like(X, minval=v, maxval=10.0)),
    ("random.normal_like: stddev", lambda v: gc.random.normal_like(X, stddev=v)),
    ("LeakyReLU: alpha", lambda v: L.LeakyReLU(v)),
    ("LeakyReLU: negative_slope", lambda v: L.LeakyReLU(negative_slope=v), {"None"}),   # None: alpha
    ("ELU: alpha", lambda v: L.ELU(v)),
    ("Masking: mask_value", lambda v: L.Masking(v)),
    ("BatchNormalization: momentum", lambda v: L.BatchNormalization(momentum=v)),
    ("BatchNormalization: epsilon", lambda v: L.BatchNormalization(epsilon=v)),
    ("RandomNormal: mean", lambda v: I.RandomNormal(mean=v)),
    ("RandomNormal: stddev", lambda v: I.RandomNormal(stddev=v)),
    ("TruncatedNormal: stddev", lambda v: I.TruncatedNormal(stddev=v)),
    ("RandomUniform: minval", lambda v: I.RandomUniform(minval=v, maxval=10.0)),
    ("VarianceScaling: scale", lambda v: I.VarianceScaling(scale=v)),
    ("Orthogonal: gain", lambda v: I.Orthogonal(gain=v)),
    ("SGD: learning_rate", lambda v: O.SGD(v)),
    ("adam: learning_rate", lambda v: O.Adam(v)),
    ("SGD: momentum", lambda v: O.SGD(momentum=v)),
    ("Adam: epsilon", lambda v: O.Adam(epsilon=v)),
    ("Adagrad: initial_accumulator_value", lambda v: O.Adagrad(initial_accumulator_value=v)),
    ("SGD: clipnorm", lambda v: O.SGD(clipnorm=v), {"None"}),
    ("Rprop: etas[0]", lambda v: O.Rprop(etas=(v, 1.2))),
    ("TimeDecay: decay", lambda v: O.schedules.TimeDecay(0.1, v)),
    ("StepDecay: every", lambda v: O.schedules.StepDecay(0.1, 0.5, v)),
    ("L2: l2", lambda v: gc.regularizers.L2(v)),
    ("L1L2: l1", lambda v: gc.regularizers.L1L2(l1=v)),
]
BAD_REALS = [("str", "ab", TypeError), ("None", None, TypeError), ("bool", True, TypeError),
             ("nan", math.nan, ValueError), ("ragged", RAGGED, TypeError), ("list", [0.5], TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(REALS, BAD_REALS))
def test_reals_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", REALS, ids=[e[0] for e in REALS])
def test_reals_take_numpy_scalars(entry):
    entry[1](np.float32(0.5))
    entry[1](np.array(0.5))


RATES = [
    ("Dropout: rate", lambda v: L.Dropout(v)),
    ("SimpleRNN: dropout", lambda v: L.SimpleRNN(2, dropout=v)),
    ("LSTM: recurrent_dropout", lambda v: L.LSTM(2, recurrent_dropout=v)),
    ("Adam: beta_1", lambda v: O.Adam(beta_1=v)),
    ("RMSprop: rho", lambda v: O.RMSprop(rho=v)),
]
BAD_RATES = [("one", 1.0, ValueError), ("above", 1.5, ValueError), ("negative", -0.1, ValueError),
             ("str", "x", TypeError), ("bool", True, TypeError), ("None", None, TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(RATES, BAD_RATES))
def test_rates_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


def test_rates_take_numpy_scalars():
    assert L.Dropout(np.float32(0.25)).rate == 0.25 and type(L.Dropout(np.float32(0.25)).rate) is float
    assert O.Adam(beta_1=np.float64(0.5)).beta_1 == 0.5


SEEDS = [
    ("random.uniform: seed", lambda v: gc.random.uniform((2,), seed=v)),
    ("random.normal: seed", lambda v: gc.random.normal((2,), seed=v)),
    ("random.uniform_like: seed", lambda v: gc.random.uniform_like(X, seed=v)),
    ("Dense: seed", lambda v: L.Dense(2, seed=v)),
    ("Dropout: seed", lambda v: L.Dropout(0.5, seed=v)),
    ("GlorotUniform: seed", lambda v: I.GlorotUniform(seed=v)),
    ("RandomNormal: seed", lambda v: I.RandomNormal(seed=v)),
]
BAD_SEEDS = [("float", 1.5, TypeError), ("str", "ab", TypeError), ("bool", True, TypeError),
             ("negative", -2, ValueError), ("ragged", RAGGED, TypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(SEEDS, BAD_SEEDS))
def test_seeds_refuse_bad_values(build, value, error, what):
    _check(build, value, error, what)


@pytest.mark.parametrize("entry", SEEDS, ids=[e[0] for e in SEEDS])
def test_seeds_take_numpy_integers_and_none(entry):
    entry[1](np.int64(7))
    entry[1](None)


# -- dtypes ---------------------------------------------------------------------------------------------

DTYPES = [
    ("placeholder: dtype", lambda v: gc.placeholder((2,), dtype=v)),
    ("cast: dtype", lambda v: gc.cast(X, v)),
    ("one_hot: dtype", lambda v: gc.one_hot(IDS, 3, dtype=v)),
    ("fill: dtype", lambda v: gc.fill((2,), 1, dtype=v)),
    ("random.uniform: dtype", lambda v: gc.random.uniform((2,), dtype=v)),
    ("constant: dtype", lambda v: gc.constant([1, 2], dtype=v)),
    ("Dense: dtype", lambda v: L.Dense(2, dtype=v)),
    ("Zeros: dtype", lambda v: I.Zeros()((2,), dtype=v)),
]


@pytest.mark.parametrize("value", ["nope", 2.5, "complex64"])
@pytest.mark.parametrize("entry", DTYPES, ids=[e[0] for e in DTYPES])
def test_dtypes_refuse_bad_values(entry, value):
    _check(entry[1], value, gc.DTypeError, entry[0])


# -- values: ragged lists, strings, objects ---------------------------------------------------------------

VALUES = [
    ("constant", lambda v: gc.constant(v)),
    ("constant", lambda v: gc.constant(v, dtype="float32")),
    ("variable", lambda v: gc.variable(v)),
    ("assign", lambda v: gc.variable(np.zeros((2, 2), "float32")).assign(v)),
    ("assign", lambda v: setattr(gc.variable(np.zeros((2, 2), "float32")), "value", v)),
    ("add", lambda v: gc.add(X, v)),
    ("where", lambda v: gc.where(X > 0.0, v, X)),
    ("matmul", lambda v: gc.matmul(X, v)),
    ("exp", lambda v: gc.exp(v)),
    ("reduce_sum: x", lambda v: gc.reduce_sum(v)),
    ("reshape: x", lambda v: gc.reshape(v, (-1,))),
    ("concat: xs[1]", lambda v: gc.concat([X, v])),
    ("Constant: value", lambda v: I.Constant(v)((2, 2))),
]
BAD_VALUES = [("ragged", RAGGED, gc.ShapeError), ("deep-ragged", [[[1, 2], [3, 4]], [[1, 2], [3]]], gc.ShapeError),
              ("str", "ab", gc.DTypeError), ("object", object(), gc.DTypeError),
              ("dict", {"a": 1}, gc.DTypeError)]


@pytest.mark.parametrize("build, value, error, what", _cases(VALUES, BAD_VALUES))
def test_values_refuse_ragged_lists_and_non_numbers(build, value, error, what):
    _check(build, value, error, what)


def test_a_tensor_is_not_a_constant_value():
    _check(gc.constant, X, gc.GraphError, "constant")
    _check(gc.variable, X, gc.GraphError, "variable")


def test_fill_values_are_numbers():
    for bad in ("a", [1, 2], None, X):
        _check(lambda v: gc.fill((2,), v), bad, TypeError, "fill: value")
    assert gc.fill((2,), np.float64(1.5)).dtype == np.float64


# -- random ops: bad parameters fail when the graph is built ------------------------------------------------

@pytest.mark.parametrize("build, what", [
    (lambda: gc.random.uniform((2,), minval=2, maxval=1), "random.uniform: minval"),
    (lambda: gc.random.uniform((2,), minval=1, maxval=1), "random.uniform: minval"),
    (lambda: gc.random.uniform_like(X, minval=0.5, maxval=-0.5), "random.uniform_like: minval"),
    (lambda: gc.random.normal((2,), stddev=-1.0), "random.normal: stddev"),
    (lambda: gc.random.normal_like(X, stddev=-0.1), "random.normal_like: stddev"),
    (lambda: gc.random.uniform((2,), maxval=math.inf), "random.uniform: maxval"),
    (lambda: I.RandomUniform(minval=1.0, maxval=0.0), "RandomUniform: minval"),
    (lambda: I.RandomNormal(stddev=-1.0), "RandomNormal: stddev"),
    (lambda: I.TruncatedNormal(stddev=-0.5), "TruncatedNormal: stddev"),
], ids=["uniform", "uniform-empty", "uniform_like", "normal", "normal_like", "uniform-inf", "RandomUniform",
        "RandomNormal", "TruncatedNormal"])
def test_random_parameters_fail_at_build_time(build, what):
    _check(lambda _: build(), None, ValueError, what)


def test_random_float_dtype_is_still_required():
    _check(lambda v: gc.random.normal((2,), dtype=v), "int32", gc.DTypeError, "random.normal: dtype")


# -- differentiation targets --------------------------------------------------------------------------------

@pytest.mark.parametrize("build, what", [
    (lambda: gc.grad(gc.reduce_sum(X), 1.0), "grad: xs"),
    (lambda: gc.grad(gc.reduce_sum(X), "x"), "grad: xs"),
    (lambda: gc.grad(gc.reduce_sum(X), [X, 1.0]), "grad: can only differentiate"),
    (lambda: gc.jacobian(gc.reduce_sum(X), 1.0), "jacobian"),
    (lambda: gc.hessian(gc.reduce_sum(X), np.ones(3)), "hessian"),
], ids=["float", "str", "list-with-float", "jacobian", "hessian"])
def test_grad_targets_must_be_tensors(build, what):
    _check(lambda _: build(), None, gc.GraphError, what)


# -- basic indexing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("index, what", [
    (1.5, "getitem: unsupported index"), (True, "getitem: a bool index"), ("a", "getitem: unsupported index"),
    (slice(0, 1.5), "getitem: slice stop"), (slice("a", None), "getitem: slice start"),
    (slice(None, None, 0.5), "getitem: slice step"), ((0, np.bool_(True)), "getitem: a bool index"),
])
def test_getitem_refuses_non_integer_indices(index, what):
    _check(lambda i: X[i], index, TypeError, what)


def test_getitem_takes_numpy_integers():
    assert X[np.int64(1)].shape == (4,)
    assert X[np.int64(0):np.int32(2), ::np.int64(2)].shape == (2, 2)


# -- the helpers themselves ---------------------------------------------------------------------------------

def test_argument_helpers():
    assert arguments.index(np.int64(3), "f: n") == 3
    assert arguments.shape(np.int64(4), "f: shape") == (4,)
    assert arguments.shape((None, 2), "f: shape", allow_unknown=True) == (None, 2)
    assert arguments.pair(np.int32(2), "f: strides") == (2, 2)
    assert arguments.real(np.array(0.5), "f: x") == 0.5
    assert arguments.real(math.inf, "f: x", finite=False) == math.inf
    assert arguments.seed(None, "f: seed") is None
    assert not arguments.is_integer(True) and not arguments.is_integer(2.0) and arguments.is_integer(np.uint8(2))
    with pytest.raises(TypeError, match="f: n must be an integer, got the bool"):
        arguments.index(np.bool_(True), "f: n")
    with pytest.raises(ValueError, match="f: x must be at most 1"):
        arguments.real(2, "f: x", maximum=1)
    with pytest.raises(ValueError, match="f: x must be a finite number"):
        arguments.real(-math.inf, "f: x")
