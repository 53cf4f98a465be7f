"""Maxout units (Goodfellow, Warde-Farley, Mirza, Courville and Bengio, ICML 2013).

``h_i(x) = max_j (x^T W_ij + b_ij)`` for ``j`` in ``1..pieces``: a learned
piecewise-linear convex activation.  With two pieces it represents ReLU
(``max(w^T x + b, 0)``), leaky ReLU and ``|x|``, at twice the parameters of a
plain unit, as the lecture notes put it.

Both layers group the same way: piece ``j`` of unit ``u`` is feature
``u * pieces + j``, so ``Maxout(units, pieces)`` equals ``ChannelMaxout(pieces)``
applied to a ``Dense(units * pieces)``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from layers.checks import check_switch, is_int
from layers.errors import UsageError


@keras.saving.register_keras_serializable(package="convnet_recipes")
class Maxout(keras.layers.Layer):
    """A dense maxout layer: ``units`` outputs, each the max of ``pieces`` affine maps.

    Goodfellow et al. 2013, Section 2, equation (1).  Like ``Dense`` it acts on
    the last axis, so on a feature map it is a per-pixel (1x1) maxout.  The
    kernel has shape ``(input_dim, units * pieces)`` with column
    ``u * pieces + j`` holding piece ``j`` of unit ``u``.
    """

    def __init__(self, units: int, pieces: int, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        _check_count("units", units)
        _check_count("pieces", pieces)
        self.units = int(units)
        self.pieces = int(pieces)
        self.use_bias = check_switch("use_bias", use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise UsageError(f"Maxout needs a known last dimension, got input shape "
                             f"{tuple(input_shape)}.")
        features = self.units * self.pieces
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], features),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(
            name="bias", shape=(features,), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer) if self.use_bias else None

    def call(self, inputs):
        affine = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            affine = affine + self.bias
        return max_over_pieces(affine, self.pieces, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def macs(self, input_shape) -> int:
        """Multiply-adds per example for ``recipes.summarize``: the affine maps of every
        piece, ``positions * input_dim * units * pieces``; the max adds none."""
        return math.prod(input_shape[1:]) * self.units * self.pieces

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "pieces": self.pieces,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }


@keras.saving.register_keras_serializable(package="convnet_recipes")
class ChannelMaxout(keras.layers.Layer):
    """Convolutional maxout: the max over groups of ``pieces`` consecutive channels.

    Goodfellow et al. 2013, Section 2: "in a convolutional network, a maxout
    feature map can be constructed by taking the maximum across k affine
    feature maps".  Put it after a ``Conv2D(units * pieces, ...)``: channel
    ``u * pieces + j`` is piece ``j`` of output map ``u``.  ``axis`` is the
    channel axis; its size must be a multiple of ``pieces``.
    """

    def __init__(self, pieces: int, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        _check_count("pieces", pieces)
        if not is_int(axis):
            raise UsageError(f"axis must be an integer (the channel axis), got {axis!r}.")
        self.pieces = int(pieces)
        self.axis = int(axis)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise UsageError(f"axis {self.axis} is out of range for inputs of rank {rank}.")
        channels = input_shape[self.axis]
        if channels is None or channels % self.pieces:
            raise UsageError(f"ChannelMaxout with pieces={self.pieces} needs a channel count "
                             f"that is a multiple of {self.pieces}, got {channels}.")

    def call(self, inputs):
        return max_over_pieces(inputs, self.pieces, self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self.axis] is not None:
            shape[self.axis] //= self.pieces
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces, "axis": self.axis}


def max_over_pieces(x, pieces: int, axis: int = -1):
    """The max over consecutive groups of ``pieces`` entries along ``axis``."""
    _check_count("pieces", pieces)
    axis = axis % len(x.shape)
    if x.shape[axis] is None or x.shape[axis] % pieces:
        raise UsageError(f"max_over_pieces with pieces={pieces} needs a size along axis "
                         f"{axis} that is a multiple of {pieces}, got {x.shape[axis]}.")
    shape = ops.shape(x)
    grouped = ops.reshape(
        x, (*shape[:axis], x.shape[axis] // pieces, pieces, *shape[axis + 1:]))
    return ops.max(grouped, axis=axis + 1)


def _check_count(name: str, value) -> None:
    if not is_int(value) or value < 1:
        raise UsageError(f"{name} must be an integer >= 1, got {value!r}.")
