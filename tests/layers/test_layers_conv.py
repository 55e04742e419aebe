"""Conv2D (dilated, grouped), DepthwiseConv2D, MaxPooling2D, AveragePooling2D and the global
pooling layers: values against direct NumPy loops over output pixels for many
kernel/stride/padding/dilation/groups combinations, Keras' output shapes, parameter counts and
initializers, gradients by finite differences, errors, configuration, trained CNNs' save/load
round trips."""
import math
import re

import numpy as np
import pytest

import graphc as gc
from graphc import layers as L

RNG = np.random.default_rng(0)


def same_pads(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def padded(x, window, strides, padding, value=0.0):
    """x padded as TensorFlow pads it, and a mask of its real cells."""
    if padding == "valid":
        return x, np.ones(x.shape, bool)
    (top, bottom), (left, right) = (same_pads(n, k, s) for n, k, s in zip(x.shape[1:3], window, strides))
    widths = ((0, 0), (top, bottom), (left, right), (0, 0))
    return np.pad(x, widths, constant_values=value), np.pad(np.ones(x.shape, bool), widths)


def ref_conv(x, kernel, bias, strides, padding):
    """Cross-correlation by a loop over output pixels."""
    kh, kw = kernel.shape[:2]
    xp, _ = padded(x, (kh, kw), strides, padding)
    oh = (xp.shape[1] - kh) // strides[0] + 1
    ow = (xp.shape[2] - kw) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw, :]
            out[:, i, j, :] = np.tensordot(window, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return out + bias


def ref_pool(x, pool, strides, padding, kind):
    xp, real = padded(x, pool, strides, padding)
    oh = (xp.shape[1] - pool[0]) // strides[0] + 1
    ow = (xp.shape[2] - pool[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * strides[0], i * strides[0] + pool[0])
            cols = slice(j * strides[1], j * strides[1] + pool[1])
            window, mask = xp[:, rows, cols, :], real[:, rows, cols, :]
            if kind == "max":
                out[:, i, j, :] = np.where(mask, window, -np.inf).max(axis=(1, 2))
            else:
                out[:, i, j, :] = (window * mask).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))
    return out


def run(layer, x, dtype="float32"):
    p = gc.placeholder((None,) + x.shape[1:], dtype, name="x")
    return gc.function([p], layer(p))(x.astype(dtype))


CONV_CASES = [  # (image size, channels, filters, kernel_size, strides, padding)
    ((8, 8), 1, 4, 3, 1, "valid"),
    ((8, 8), 1, 4, 3, 1, "same"),
    ((7, 9), 3, 5, (3, 2), (2, 1), "same"),
    ((7, 9), 3, 5, (2, 4), (1, 3), "valid"),
    ((6, 6), 2, 3, 1, 2, "valid"),
    ((5, 5), 2, 3, 5, 1, "same"),
    ((10, 7), 2, 6, (4, 3), (3, 2), "same"),
]


@pytest.mark.parametrize("size,channels,filters,kernel_size,strides,padding", CONV_CASES)
def test_conv2d_values_and_shapes(size, channels, filters, kernel_size, strides, padding):
    layer = L.Conv2D(filters, kernel_size, strides=strides, padding=padding, activation="relu", seed=1)
    x = RNG.normal(size=(3, *size, channels))
    layer.build_for((None, *size, channels))
    kernel, bias = layer.get_weights()
    bias = RNG.normal(size=bias.shape).astype(np.float32)
    layer.set_weights([kernel, bias])
    out = run(layer, x)
    pair = (strides, strides) if isinstance(strides, int) else strides
    want = np.maximum(ref_conv(x, kernel.astype(np.float64), bias, pair, padding), 0)
    assert out.shape == want.shape and layer.output_shape == (None,) + want.shape[1:]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


POOL_CASES = [  # (image size, pool_size, strides, padding)
    ((8, 8), 2, None, "valid"),
    ((7, 7), 2, None, "valid"),
    ((7, 7), 2, None, "same"),
    ((9, 6), 3, 2, "valid"),
    ((9, 6), 3, 2, "same"),
    ((5, 8), (2, 3), (1, 2), "same"),
    ((6, 6), (3, 1), 1, "valid"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("size,pool_size,strides,padding", POOL_CASES)
def test_pooling_values_and_shapes(kind, size, pool_size, strides, padding):
    cls = L.MaxPooling2D if kind == "max" else L.AveragePooling2D
    layer = cls(pool_size, strides=strides, padding=padding)
    x = RNG.normal(size=(2, *size, 3))
    out = run(layer, x)
    pool = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    step = pool if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    want = ref_pool(x, pool, step, padding, kind)
    assert out.shape == want.shape and layer.output_shape == (None,) + want.shape[1:]
    assert layer.count_params() == 0
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)


def test_keras_defaults():
    conv = L.Conv2D(8, 3)
    assert (conv.strides, conv.padding, conv.use_bias, conv.kernel_initializer) == ((1, 1), "valid", True,
                                                                                   "glorot_uniform")
    pool = L.MaxPooling2D()
    assert (pool.pool_size, pool.strides, pool.padding) == ((2, 2), (2, 2), "valid")
    assert L.AveragePooling2D(3).strides == (3, 3)
    assert L.Conv2D(1, 3).name.startswith("conv2d") and L.MaxPooling2D().name.startswith("max_pooling2d")


def test_conv2d_parameters_and_glorot_fans():
    layer = L.Conv2D(32, 3, seed=0)
    layer.build_for((None, 28, 28, 1))
    assert layer.count_params() == 3 * 3 * 1 * 32 + 32 == 320
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 1, 32) and not bias.any()
    limit = math.sqrt(6 / (3 * 3 * 1 + 3 * 3 * 32))       # fan_in = kh·kw·cin, fan_out = kh·kw·filters
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit
    no_bias = L.Conv2D(4, (2, 3), use_bias=False)
    no_bias.build_for((None, 5, 5, 3))
    assert no_bias.count_params() == 2 * 3 * 3 * 4


def test_summary_of_a_cnn():
    model = gc.models.Sequential([L.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(),
                                  L.Conv2D(64, 3, padding="same"), L.AveragePooling2D(), L.Flatten(), L.Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    for pattern in [r"conv2d(_\d+)? \(Conv2D\) +│ \(None, 26, 26, 32\) +│ +320 │",
                    r"max_pooling2d(_\d+)? \(MaxPooling2D\) +│ \(None, 13, 13, 32\) +│ +0 │",
                    r"\(Conv2D\) +│ \(None, 13, 13, 64\) +│ +18,496 │",
                    r"│ \(None, 6, 6, 64\) +│ +0 │",
                    r"\(Flatten\) +│ \(None, 2304\) +│ +0 │"]:
        assert re.search(pattern, text), (pattern, text)
    assert f"Total params: {320 + 18496 + 23050:,}" in text


@pytest.mark.parametrize("padding,strides", [("valid", 1), ("same", 2)])
def test_conv2d_gradients_match_finite_differences(padding, strides):
    layer = L.Conv2D(2, (2, 3), strides=strides, padding=padding, activation="tanh", dtype="float64", seed=3)
    x = gc.placeholder((2, 5, 4, 2), "float64", name="x")
    out = layer(x)
    weights = gc.constant(RNG.normal(size=out.shape))
    gc.check_grad(gc.reduce_sum(out * weights), [x, layer.kernel, layer.bias], {x: RNG.normal(size=(2, 5, 4, 2))})


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D])
def test_pooling_gradients_match_finite_differences(cls):
    layer = cls((2, 3), strides=(2, 1), padding="same")
    x = gc.placeholder((2, 5, 5, 2), "float64", name="x")
    out = layer(x)
    weights = gc.constant(RNG.normal(size=out.shape))
    values = RNG.permutation(100)[:100].reshape(2, 5, 5, 2) * 0.1   # distinct values: no ties for max
    gc.check_grad(gc.reduce_sum(out * weights), x, {x: values})


def test_errors_say_what_to_do():
    with pytest.raises(gc.ShapeError, match=r"images \(batch, height, width, channels\).*reshape"):
        L.Conv2D(4, 3)(gc.placeholder((None, 64)))
    with pytest.raises(gc.ShapeError, match="larger than the input"):
        L.Conv2D(4, 5)(gc.placeholder((None, 3, 3, 1)))
    with pytest.raises(gc.ShapeError, match="larger than the input"):
        L.MaxPooling2D(4)(gc.placeholder((None, 3, 3, 1)))
    with pytest.raises(ValueError, match="channels_last"):
        L.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        L.MaxPooling2D(padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        L.Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match=r"Conv2D: strides > 1 together with dilation_rate > 1"):
        L.Conv2D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"filters must be divisible by groups.*filters=6 and groups=4"):
        L.Conv2D(6, 3, groups=4)
    with pytest.raises(gc.ShapeError, match=r"conv2d_\w* \(Conv2D\): the 3 input channels are not divisible by groups=2"):
        L.Conv2D(4, 3, groups=2)(gc.placeholder((None, 5, 5, 3)))
    with pytest.raises(gc.ShapeError, match="larger than the input"):     # dilated span (3 - 1)·3 + 1 = 7
        L.Conv2D(4, 3, dilation_rate=3)(gc.placeholder((None, 6, 6, 1)))
    with pytest.raises(ValueError, match="depth_multiplier"):
        L.DepthwiseConv2D(3, depth_multiplier=0)


@pytest.mark.parametrize("layer", [L.Conv2D(3, (2, 4), strides=(1, 2), padding="same", activation="relu",
                                            kernel_regularizer=gc.regularizers.L2(0.01)),
                                   L.MaxPooling2D(3, strides=1, padding="same"), L.AveragePooling2D((1, 2))])
def test_config_round_trip(layer):
    clone = L.deserialize(L.serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()


def test_a_cnn_trains_and_save_load_predicts_identically(tmp_path):
    x = RNG.normal(size=(256, 6, 6, 1)).astype(np.float32)
    y = (x[:, :3].sum(axis=(1, 2, 3)) > x[:, 3:].sum(axis=(1, 2, 3))).astype(np.int64)  # top vs bottom half
    model = gc.models.Sequential([L.Input((6, 6, 1)), L.Conv2D(4, 3, padding="same", activation="relu"),
                                  L.AveragePooling2D(), L.Conv2D(4, 2, activation="relu"), L.MaxPooling2D(),
                                  L.Flatten(), L.Dense(2, activation="softmax")], seed=1)
    model.compile(gc.optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.8
    loaded = gc.models.load_model(model.save(tmp_path / "cnn.npz"))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded.fit(x, y, epochs=1, verbose=0)      # resumes training


# -- dilation, groups, depthwise, global pooling -------------------------------------------------------

def ref_conv_general(x, kernel, bias, strides, padding, dilation, groups):
    """Output pixel by output pixel: tap (a, b) reads pixel (i·s + a·d, j·s + b·d) of the padded
    image; filter f belongs to group f // (filters / groups) and reads that group's channels."""
    kh, kw, cg, filters = kernel.shape
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)
    xp, _ = padded(x, span, strides, padding)
    oh = (xp.shape[1] - span[0]) // strides[0] + 1
    ow = (xp.shape[2] - span[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, filters))
    for f in range(filters):
        first = f // (filters // groups) * cg
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for b in range(kw):
                        pixel = xp[:, i * strides[0] + a * dilation[0], j * strides[1] + b * dilation[1],
                                   first:first + cg]
                        out[:, i, j, f] += pixel @ kernel[a, b, :, f]
    return out + bias


DG_CASES = [  # (image size, channels, filters, kernel_size, strides, padding, dilation_rate, groups)
    ((9, 9), 1, 3, 3, 1, "valid", 2, 1),
    ((9, 8), 2, 4, 3, 1, "same", (2, 3), 1),
    ((8, 8), 4, 6, 3, 1, "same", 1, 2),
    ((7, 9), 6, 3, (2, 3), (2, 1), "valid", 1, 3),
    ((10, 10), 4, 8, 3, 1, "same", 2, 4),
    ((6, 7), 6, 6, 1, 1, "valid", 1, 6),
]


@pytest.mark.parametrize("size,channels,filters,kernel_size,strides,padding,dilation,groups", DG_CASES)
def test_dilated_grouped_conv2d_values_shapes_and_parameters(size, channels, filters, kernel_size, strides,
                                                             padding, dilation, groups):
    layer = L.Conv2D(filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                     activation="tanh", seed=2)
    layer.build_for((None, *size, channels))
    kernel, bias = layer.get_weights()
    k2 = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    assert kernel.shape == k2 + (channels // groups, filters)
    assert layer.count_params() == k2[0] * k2[1] * channels // groups * filters + filters
    bias = RNG.normal(size=bias.shape).astype(np.float32)
    layer.set_weights([kernel, bias])
    x = RNG.normal(size=(2, *size, channels))
    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    want = np.tanh(ref_conv_general(x, kernel.astype(np.float64), bias, pair(strides), padding, pair(dilation),
                                    groups))
    out = run(layer, x)
    assert out.shape == want.shape and layer.output_shape == (None,) + want.shape[1:]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_grouped_kernel_glorot_fans_follow_keras():
    layer = L.Conv2D(8, 3, groups=4, seed=0)
    layer.build_for((None, 6, 6, 8))
    kernel = layer.get_weights()[0]
    limit = math.sqrt(6 / (3 * 3 * 2 + 3 * 3 * 8))       # fan_in = kh·kw·(channels / groups)
    assert kernel.shape == (3, 3, 2, 8) and limit * 0.9 < np.abs(kernel).max() <= limit


@pytest.mark.parametrize("mult,strides,padding,dilation", [(1, 1, "same", 1), (2, 2, "valid", 1),
                                                           (3, 1, "same", 2)])
def test_depthwise_conv2d_values_shapes_and_parameters(mult, strides, padding, dilation):
    layer = L.DepthwiseConv2D(3, strides=strides, padding=padding, depth_multiplier=mult, dilation_rate=dilation,
                              activation="relu", seed=4)
    layer.build_for((None, 9, 8, 3))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 3, mult) and bias.shape == (3 * mult,)
    assert layer.count_params() == 9 * 3 * mult + 3 * mult
    assert [w.name.split("/")[1] for w in layer.weights] == ["kernel", "bias"]
    bias = RNG.normal(size=bias.shape).astype(np.float32)
    layer.set_weights([kernel, bias])
    x = RNG.normal(size=(2, 9, 8, 3))
    out = run(layer, x)
    s2, d2 = (strides, strides), (dilation, dilation)
    for c in range(3):     # channel c alone, with its own `mult` filters: outputs c·mult .. c·mult + mult − 1
        alone = ref_conv_general(x[..., c:c + 1], kernel[:, :, c:c + 1, :].astype(np.float64),
                                 bias[c * mult:(c + 1) * mult], s2, padding, d2, 1)
        np.testing.assert_allclose(out[..., c * mult:(c + 1) * mult], np.maximum(alone, 0), rtol=1e-5, atol=1e-5)
    assert layer.output_shape == (None,) + out.shape[1:]
    limit = math.sqrt(6 / (3 * 3 * 3 + 3 * 3 * mult))    # Glorot on (kh, kw, channels, multiplier), as Keras
    assert np.abs(kernel).max() <= limit


@pytest.mark.parametrize("make", [lambda: L.Conv2D(4, (2, 3), padding="same", dilation_rate=(2, 1), groups=2,
                                                   activation="tanh", dtype="float64", seed=3),
                                  lambda: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dilation_rate=2,
                                                            activation="tanh", dtype="float64", seed=3)])
def test_dilated_grouped_and_depthwise_gradients_match_finite_differences(make):
    layer = make()
    x = gc.placeholder((2, 6, 5, 2), "float64", name="x")
    out = layer(x)
    weights = gc.constant(RNG.normal(size=out.shape))
    gc.check_grad(gc.reduce_sum(out * weights), [x, layer.kernel, layer.bias], {x: RNG.normal(size=(2, 6, 5, 2))},
                  eps=1e-5)


@pytest.mark.parametrize("cls,axes,reduce", [(L.GlobalAveragePooling1D, (1,), np.mean),
                                             (L.GlobalMaxPooling1D, (1,), np.max),
                                             (L.GlobalAveragePooling2D, (1, 2), np.mean),
                                             (L.GlobalMaxPooling2D, (1, 2), np.max)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(cls, axes, reduce, keepdims):
    shape = (3, 5, 4) if len(axes) == 1 else (3, 5, 6, 4)
    x = RNG.normal(size=shape)
    layer = cls(keepdims=keepdims)
    out = run(layer, x)
    want = reduce(x, axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-6)
    assert layer.output_shape == (None,) + want.shape[1:] and layer.count_params() == 0
    assert L.deserialize(L.serialize(layer)).get_config() == layer.get_config()
    with pytest.raises(gc.ShapeError, match="expects"):
        cls()(gc.placeholder((None, 4) if len(axes) == 1 else (None, 4, 4)))


def test_summary_of_a_depthwise_separable_cnn_and_it_trains(tmp_path):
    model = gc.models.Sequential([L.Input((8, 8, 2)), L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                                  L.Conv2D(6, 1, groups=2, activation="relu"),
                                  L.Conv2D(4, 3, dilation_rate=2, activation="relu"),
                                  L.GlobalAveragePooling2D(), L.Dense(2, activation="softmax")], seed=3)
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    for pattern in [r"depthwise_conv2d(_\d+)? +│ \(None, 8, 8, 4\) +│ +40 │\n│ \(DepthwiseConv2D\)",   # 9·4 + 4
                    r"\(Conv2D\) +│ \(None, 8, 8, 6\) +│ +18 │",         # 1·1·(4/2)·6 + 6
                    r"\(Conv2D\) +│ \(None, 4, 4, 4\) +│ +220 │",        # span 5: 8 − 5 + 1 = 4
                    r"global_average_pooling2d(_\d+)? +│ \(None, 4\) +│ +0 │"]:
        assert re.search(pattern, text), (pattern, text)
    x = RNG.normal(size=(128, 8, 8, 2)).astype(np.float32)
    y = (x[..., 0].mean(axis=(1, 2)) > x[..., 1].mean(axis=(1, 2))).astype(np.int64)
    model.compile(gc.optimizers.Adam(0.02), "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loaded = gc.models.load_model(model.save(tmp_path / "separable.npz"))
    assert loaded.layers[1].groups == 2 and loaded.layers[2].dilation_rate == (2, 2)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("layer", [L.Conv2D(6, 3, dilation_rate=(2, 1), groups=3, padding="same"),
                                   L.DepthwiseConv2D((3, 2), strides=2, depth_multiplier=2, use_bias=False,
                                                     depthwise_regularizer=gc.regularizers.L2(0.01))])
def test_dilated_grouped_depthwise_config_round_trip(layer):
    clone = L.deserialize(L.serialize(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
