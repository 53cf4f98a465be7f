"""PositionBias: AlphaGo's "different bias for each position" (Silver et al., 2016)."""

import numpy as np
import pytest
import keras

from layers import PositionBias


def test_alphago_policy_output_layer():
    """1 filter of kernel size 1x1 over k = 192 maps, with a bias per position of 19x19."""
    inputs = keras.Input((19, 19, 192))
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="conv13")(inputs)
    x = PositionBias(name="position_bias")(x)
    model = keras.Model(inputs, x)
    assert tuple(model.output.shape) == (None, 19, 19, 1)
    assert model.get_layer("position_bias").count_params() == 19 * 19
    assert model.count_params() == 192 + 361


def test_each_position_gets_its_own_bias():
    layer = PositionBias()
    layer.build((None, 3, 4, 2))
    biases = np.arange(12, dtype="float32").reshape(3, 4, 1)
    layer.set_weights([biases])
    x = np.ones((2, 3, 4, 2), "float32")
    np.testing.assert_array_equal(layer(x), x + biases)  # shared by the 2 channels


def test_per_channel_bias():
    layer = PositionBias(per_channel=True)
    layer.build((None, 3, 4, 2))
    assert layer.count_params() == 3 * 4 * 2
    biases = np.arange(24, dtype="float32").reshape(3, 4, 2)
    layer.set_weights([biases])
    np.testing.assert_array_equal(layer(np.zeros((1, 3, 4, 2), "float32"))[0], biases)


def test_mixed_precision_keeps_a_float32_bias():
    layer = PositionBias(dtype="mixed_float16")
    output = layer(np.zeros((1, 5, 5, 1), "float32"))
    assert output.dtype == "float16" and layer.bias.dtype == "float32"


def test_round_trip(round_trip):
    inputs = keras.Input((5, 5, 3))
    x = keras.layers.Conv2D(2, 1, use_bias=False)(inputs)
    x = PositionBias(per_channel=True, bias_initializer="random_normal")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, x)
    round_trip(model, np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype("float32"))


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="per_channel must be True or False, got 'yes'"):
        PositionBias(per_channel="yes")


@pytest.mark.parametrize("shape", [(None, None, 1), (5, 5, None), (5,)])
def test_unknown_or_missing_positions_raise(shape):
    with pytest.raises(ValueError, match="known"):
        PositionBias()(keras.Input(shape))
