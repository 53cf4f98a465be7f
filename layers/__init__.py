"""The convolution arithmetic and the custom Keras layers the classic papers need.

Everything here imports ``keras`` only (never ``tensorflow``), and every layer
is registered for ``.keras`` serialization under the package "convnet_recipes".
"""

from layers.arithmetic import (conv_formula, conv_output_size, effective_kernel,
                               grow_receptive_field, layer_output_size, receptive_field,
                               resolve_padding, same_padding)
from layers.constraints import MaxFilterRMS
from layers.conv import PaddedConv2D, explicit_padding, factorized_conv
from layers.errors import RunFailure, UsageError
from layers.dense_evaluation import fully_connected_head, fully_convolutional
from layers.im2col import conv_as_matmul, im2col, kernel_rows
from layers.lrn import LocalResponseNormalization
from layers.monte_carlo import MonteCarloDropout, with_dropout_at_test_time
from layers.maxout import ChannelMaxout, Maxout, max_over_pieces
from layers.position_bias import PositionBias
from layers.regularization import FractalJoin, GlobalDropPath, StochasticDepth
from layers.residual import (ZeroPadShortcut, basic_block, bottleneck_block, bn_relu,
                             conv_bn, preact_block, shortcut_branch)
from layers.lenet import (LENET5_C3_CONNECTIONS, EuclideanRBF, FanInUniform,
                          PartialConnectionConv2D, TrainableSubsampling, scaled_tanh)
from layers.inception import InceptionFilters, inception_module

__all__ = [
    "RunFailure",
    "UsageError",
    "conv_formula",
    "conv_output_size",
    "layer_output_size",
    "effective_kernel",
    "grow_receptive_field",
    "receptive_field",
    "resolve_padding",
    "same_padding",
    "MaxFilterRMS",
    "conv_as_matmul",
    "fully_connected_head",
    "fully_convolutional",
    "im2col",
    "kernel_rows",
    "PaddedConv2D",
    "explicit_padding",
    "factorized_conv",
    "LocalResponseNormalization",
    "ChannelMaxout",
    "Maxout",
    "max_over_pieces",
    "MonteCarloDropout",
    "with_dropout_at_test_time",
    "PositionBias",
    "FractalJoin",
    "GlobalDropPath",
    "StochasticDepth",
    "ZeroPadShortcut",
    "basic_block",
    "bottleneck_block",
    "bn_relu",
    "conv_bn",
    "preact_block",
    "shortcut_branch",
    "LENET5_C3_CONNECTIONS",
    "EuclideanRBF",
    "FanInUniform",
    "PartialConnectionConv2D",
    "TrainableSubsampling",
    "scaled_tanh",
    "InceptionFilters",
    "inception_module",
]
