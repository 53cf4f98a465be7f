"""recipes.common.apply: window layers that do not fit their input name themselves."""

import re

import keras
import numpy as np
import pytest

from layers import PaddedConv2D
import recipes
from recipes.common import apply, scaled


def test_a_pooling_that_does_not_fit_shows_the_arithmetic():
    expected = ("Layer 'pool2' does not fit its input: height (2 - 3 + 0)/2 + 1 = 0.50 < 1; "
                "use a larger input_shape.")
    with pytest.raises(ValueError, match=re.escape(expected)):
        apply(keras.layers.MaxPooling2D(3, strides=2, name="pool2"), keras.Input((2, 2, 8)))


def test_a_dilated_conv_counts_its_dilated_span():
    with pytest.raises(ValueError, match=re.escape("width (6 - 7 + 0)/1 + 1 = 0 < 1")):
        apply(keras.layers.Conv2D(4, 3, dilation_rate=(1, 3), name="conv"),
              keras.Input((6, 6, 3)))


def test_explicit_padding_is_counted_per_side():
    # (top, bottom, left, right) = (2, 2, 0, 1): the height fits, the width does not.
    with pytest.raises(ValueError, match=re.escape("Layer 'conv1' does not fit its input: "
                                                   "width (3 - 5 + 1)/1 + 1 = 0 < 1")):
        apply(PaddedConv2D(4, 5, padding=(2, 2, 0, 1), name="conv1"), keras.Input((4, 3, 3)))


def test_padding_that_makes_the_window_fit_passes():
    # The notes: a 1x1 input with a 5x5 filter, stride 1, pad 2 gives a 1x1 output.
    assert tuple(apply(PaddedConv2D(4, 5, padding=2), keras.Input((1, 1, 3))).shape) == (
        None, 1, 1, 4)
    assert tuple(apply(keras.layers.Conv2D(4, 5, padding="same"),
                       keras.Input((1, 1, 3))).shape) == (None, 1, 1, 4)


def test_layers_without_a_window_and_unknown_sizes_pass_through():
    assert tuple(apply(keras.layers.Dense(3), keras.Input((4,))).shape) == (None, 3)
    assert tuple(apply(keras.layers.MaxPooling2D(2), keras.Input((None, None, 3))).shape) == (
        None, None, None, 3)


@pytest.mark.parametrize("recipe, argument", [("alexnet", "lrn"), ("vgg_a", "lrn"),
                                              ("googlenet", "aux_heads"),
                                              ("lenet5_modern", "batch_norm"),
                                              ("resnet20", "conv_bias")])
def test_an_on_off_argument_that_is_not_a_bool_is_refused(recipe, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be True or False, got 'no'\.$"):
        recipes.build(recipe, **{argument: "no"})


def test_an_on_off_argument_takes_numpy_bools():
    model = recipes.build("lenet5_modern", batch_norm=np.bool_(True))
    assert "c1_bn" in [layer.name for layer in model.layers]
    model = recipes.build("lenet5_modern", batch_norm=np.bool_(False))
    assert "c1_bn" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("recipe", ["mlp", "alexnet", "vgg_a", "googlenet", "nin",
                                    "wrn28_10_dropout"])
def test_a_dropout_rate_that_is_not_a_number_is_refused(recipe):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got '0.5'\."):
        recipes.build(recipe, dropout="0.5", input_shape=(32, 32, 3))


@pytest.mark.parametrize("recipe, argument, value, message", [
    ("resnet20", "width_multiplier", "0.5", "width_multiplier must be a positive number, got '0.5'"),
    ("resnet20", "width_multiplier", None, "width_multiplier must be a positive number, got None"),
    ("resnet20", "width_multiplier", float("inf"), "width_multiplier must be a positive number"),
    ("resnet110_sd", "final_survival_probability", "0.5",
     r"final_survival_probability must be in \(0, 1\], got '0.5'")])
def test_a_number_argument_that_is_no_number_is_refused_in_one_sentence(recipe, argument, value,
                                                                         message):
    # It raised TypeError ('>' not supported) or OverflowError (inf) from inside the builder.
    with pytest.raises(ValueError, match=message):
        recipes.build(recipe, **{argument: value})


@pytest.mark.parametrize("recipe, argument, value", [("alphago_policy", "filters", 4),
                                                     ("fractalnet", "columns", 1)])
def test_a_count_argument_takes_numpy_integers(recipe, argument, value):
    # Refused before, naming the value: "must be a positive integer, got np.int64(4)".
    ours = recipes.build(recipe, **{argument: np.int64(value)})
    assert ours.count_params() == recipes.build(recipe, **{argument: value}).count_params()


@pytest.mark.parametrize("channels, multiplier, divisor, width", [
    (100, 0.29, 1, 29),  # 28.999999999999996: truncation would give 28
    (7, 0.5, 1, 4),  # 3.5 rounds to even, 4
    (128, 0.3, 8, 40),  # 38.4 to the nearest multiple of 8 (truncation: 32)
    (3, 0.1, 4, 4),  # at least one group of 4
    (64, 2, 1, 128),
])
def test_a_scaled_width_is_the_nearest_multiple_of_its_divisor(channels, multiplier, divisor,
                                                                 width):
    assert scaled(channels, multiplier, divisor) == width


def test_a_layer_initializer_given_once_starts_each_layer_from_its_own_numbers():
    # Keras fixes an unseeded initializer's seed when it is made: one instance given to
    # every hidden layer started hidden2 and hidden3 from the same weights.
    model = recipes.build("mlp", input_shape=(50,), hidden_units=(50,) * 3, dropout=0.0,
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.05))
    kernels = [keras.ops.convert_to_numpy(model.get_layer(f"hidden{index}").kernel)
               for index in (2, 3)]
    assert abs(np.corrcoef(kernels[0].ravel(), kernels[1].ravel())[0, 1]) < 0.1
    assert abs(kernels[0].std() - 0.05) < 0.005
