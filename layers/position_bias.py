"""A bias per spatial position: AlphaGo's policy-network output layer."""

from __future__ import annotations

import keras

from layers.checks import check_switch
from layers.errors import UsageError


@keras.saving.register_keras_serializable(package="convnet_recipes")
class PositionBias(keras.layers.Layer):
    """Adds one trainable bias per spatial position (optionally per position and channel).

    Silver et al., "Mastering the game of Go with deep neural networks and tree
    search", Nature 529, 2016, Methods (policy network): "The final layer
    convolves 1 filter of kernel size 1x1 with stride 1, with a different bias
    for each position, and applies a softmax function."  That layer is
    ``Conv2D(1, 1, use_bias=False)`` followed by ``PositionBias()``: 361
    biases on the 19x19 board.

    Inputs are channels_last with known spatial sizes.  The bias has shape
    ``(*spatial, 1)``, shared by all channels, or ``(*spatial, channels)``
    with ``per_channel=True``.
    """

    def __init__(self, per_channel: bool = False, bias_initializer="zeros",
                 bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.per_channel = check_switch("per_channel", per_channel)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        positions = tuple(input_shape[1:-1])
        if len(input_shape) < 3 or None in positions or input_shape[-1] is None:
            raise UsageError("PositionBias needs inputs (batch, *positions, channels) with known "
                             f"sizes, got input shape {tuple(input_shape)}.")
        channels = input_shape[-1] if self.per_channel else 1
        self.bias = self.add_weight(
            name="bias", shape=(*positions, channels), initializer=self.bias_initializer,
            regularizer=self.bias_regularizer)

    def call(self, inputs):
        return inputs + self.bias

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "per_channel": self.per_channel,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
