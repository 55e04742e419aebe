"""gc.nn: activations, softmax family, dropout, normalization, convolution and pooling."""
from graphc.ops.conv import avg_pool2d, conv2d, depthwise_conv2d, max_pool2d
from graphc.ops.math import elu, leaky_relu, relu, sigmoid, softplus, step, tanh
from graphc.ops.nn import (batch_norm, dropout, log_softmax, maxout, prelu, softmax,
                     softmax_cross_entropy_with_logits)

__all__ = ["avg_pool2d", "batch_norm", "conv2d", "depthwise_conv2d", "dropout", "elu", "leaky_relu", "log_softmax",
           "max_pool2d", "maxout", "prelu", "relu", "sigmoid", "softmax",
           "softmax_cross_entropy_with_logits", "softplus", "step", "tanh"]
