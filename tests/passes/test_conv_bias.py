"""The conv_bias pass: add(conv2d(x, w), b) → conv2d_bias(x, w, b) when b is one value per
output channel and the add is the convolution's only reader; the values bit for bit those of
the unoptimized graph (same GEMM, same addition), forward and through a training step."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.ir.graph import Graph
from graphc.passes.conv_bias import conv_bias

RNG = np.random.default_rng(21)


def _ops(tensor_or_graph):
    graph = tensor_or_graph if isinstance(tensor_or_graph, Graph) else Graph([tensor_or_graph])
    return [n.op for n in graph.nodes]


def _image(n=2, h=6, w=5, c=3, dtype="float32"):
    return RNG.standard_normal((n, h, w, c)).astype(dtype)


@pytest.mark.parametrize("bias_shape", [(4,), (1, 4), (1, 1, 1, 4)])
@pytest.mark.parametrize("bias_first", [False, True])
def test_per_channel_bias_is_folded_into_the_convolution(bias_shape, bias_first):
    x = gc.placeholder((2, 6, 5, 3), "float32", name="x")
    k = gc.placeholder((3, 3, 3, 4), "float32", name="k")
    b = gc.placeholder(bias_shape, "float32", name="b")
    conv = gc.nn.conv2d(x, k, 1, "same")
    y = b + conv if bias_first else conv + b
    out, report = conv_bias(Graph([y]))
    assert "conv2d_bias" in _ops(out) and "add" not in _ops(out) and "conv2d" not in _ops(out)
    assert sum(report.changes.values()) == 1
    feeds = [_image(), RNG.standard_normal((3, 3, 3, 4)).astype("float32"),
             RNG.standard_normal(bias_shape).astype("float32")]
    fused = gc.function([x, k, b], y)
    plain = gc.function([x, k, b], y, optimize=False)
    assert "nn_conv2d_bias(" in fused.source
    np.testing.assert_array_equal(fused(*feeds), plain(*feeds))


@pytest.mark.parametrize("case", ["conv_read_twice", "spatial_bias", "scalar_bias", "wider_dtype", "conv_is_output"])
def test_not_rewritten(case):
    x = gc.placeholder((2, 6, 5, 3), "float32", name="x")
    k = gc.placeholder((3, 3, 3, 4), "float32", name="k")
    conv = gc.nn.conv2d(x, k, 1, "same")
    outputs = {
        "conv_read_twice": [conv + gc.placeholder((4,), "float32", name="b"), gc.exp(conv)],
        "spatial_bias": [conv + gc.placeholder((6, 5, 4), "float32", name="b")],
        "scalar_bias": [conv + 1.5],
        "wider_dtype": [conv + gc.placeholder((4,), "float64", name="b")],
        "conv_is_output": [conv + gc.placeholder((4,), "float32", name="b"), conv],
    }[case]
    out, report = conv_bias(Graph(outputs))
    assert "conv2d_bias" not in _ops(out) and not report.changes


def test_training_step_is_bit_identical_with_the_fused_bias():
    """A conv → bias → ReLU → pool → dense step, SGD: the loss and every updated weight equal
    those of the unoptimized graph exactly (the bias gradient stays the sum of the add's
    cotangent)."""
    def run(optimize):
        rng = np.random.default_rng(3)
        x = gc.placeholder((4, 8, 8, 2), "float32", name="x")
        y = gc.placeholder((4,), "int64", name="y")
        k = gc.variable(rng.standard_normal((3, 3, 2, 5)).astype("float32") * 0.3, name="k")
        b = gc.variable(rng.standard_normal(5).astype("float32") * 0.1, name="b")
        w = gc.variable(rng.standard_normal((80, 3)).astype("float32") * 0.2, name="w")
        h = gc.nn.max_pool2d(gc.relu(gc.nn.conv2d(x, k, 1, "same") + b), 2)
        logits = gc.reshape(h, (4, 80)) @ w
        loss = gc.reduce_mean(gc.nn.softmax_cross_entropy_with_logits(gc.one_hot(y, 3), logits))
        params = [k, b, w]
        f = gc.function([x, y], loss, updates=[(p, p - 0.5 * g) for p, g in zip(params, gc.grad(loss, params))],
                        optimize=optimize)
        data = np.random.default_rng(4).standard_normal((4, 8, 8, 2)).astype("float32")
        losses = [f(data, np.array([0, 1, 2, 1])) for _ in range(3)]
        return f, losses, [p.value for p in params]
    fused, fused_losses, fused_params = run(True)
    _, plain_losses, plain_params = run(False)
    assert "nn_conv2d_bias(" in fused.source
    np.testing.assert_array_equal(fused_losses, plain_losses)
    for a, b in zip(fused_params, plain_params):
        np.testing.assert_array_equal(a, b)


def test_keras_conv2d_layers_train_through_the_fused_op():
    model = gc.models.Sequential([gc.layers.Input((8, 8, 1)), gc.layers.Conv2D(4, 3, activation="relu"),
                                  gc.layers.Flatten(), gc.layers.Dense(2)])
    model.compile(gc.optimizers.SGD(0.1), gc.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = np.random.default_rng(5).standard_normal((8, 8, 8, 1)).astype("float32")
    labels = np.arange(8) % 2
    model.train_on_batch(data, labels)
    assert "nn_conv2d_bias(" in model.train_function.source
    kernel, bias = model.layers[0].get_weights()
    want = np.maximum(gc.function([], gc.nn.conv2d(gc.constant(data), gc.constant(kernel)), optimize=False)() + bias, 0)
    got = gc.function([], model.layers[0](gc.constant(data)))()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_bias_of_the_wrong_shape_is_refused_by_the_op():
    x = gc.placeholder((2, 6, 5, 3), "float32", name="x")
    k = gc.placeholder((3, 3, 3, 4), "float32", name="k")
    from graphc.ir.opdef import apply
    for bad in [gc.placeholder((5,), "float32", name="b5"), gc.placeholder((2, 4), "float32", name="b24"),
                gc.placeholder((4,), "float64", name="b64")]:
        with pytest.raises(gc.ShapeError, match="conv2d_bias: the bias"):
            apply("conv2d_bias", [x, k, bad], strides=(1, 1), pads=((1, 1), (1, 1)), dilations=(1, 1), groups=1)
