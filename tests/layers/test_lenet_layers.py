"""LeNet-5's layers: squashing, initialization, trainable subsampling, Table I's C3, RBF output.

LeCun et al., "Gradient-based learning applied to document recognition", 1998,
Section II-B, Table I and Appendix A.
"""

import itertools
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import (LENET5_C3_CONNECTIONS, EuclideanRBF, FanInUniform, PartialConnectionConv2D,
                    TrainableSubsampling, UsageError, scaled_tanh)
from layers.lenet import DIGIT_BITMAPS, rbf_codes

# Table I as printed: rows are S2 maps 0-5, columns C3 maps 0-15, X = connected.
TABLE_I = (
    "X---XXX--XXXX-XX",
    "XX---XXX--XXXX-X",
    "XXX---XXX--X-XXX",
    "-XXX--XXXX--X-XX",
    "--XXX--XXXX-XX-X",
    "---XXX--XXXX-XXX",
)


def test_table_i_as_data_matches_the_printed_table():
    columns = tuple(tuple(row for row in range(6) if TABLE_I[row][column] == "X")
                    for column in range(16))
    assert LENET5_C3_CONNECTIONS == columns
    assert sum(len(inputs) for inputs in LENET5_C3_CONNECTIONS) == 60


def test_scaled_tanh_is_appendix_a_squashing_function():
    x = np.array([-1.0, 0.0, 1.0, 50.0], dtype="float32")
    y = keras.ops.convert_to_numpy(scaled_tanh(x))
    np.testing.assert_allclose(y[:3], [-1.0, 0.0, 1.0], atol=1e-4)  # f(+-1) = +-1
    np.testing.assert_allclose(y[3], 1.7159, rtol=1e-6)  # amplitude A


def test_fan_in_uniform_draws_within_plus_minus_2_4_over_fan_in():
    values = np.asarray(FanInUniform(seed=1)((5, 5, 16, 120)))
    limit = 2.4 / 400  # C5: F = 5 * 5 * 16
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit  # the whole range is used
    np.testing.assert_array_equal(values, np.asarray(FanInUniform(seed=1)((5, 5, 16, 120))))


def test_fan_in_uniform_takes_one_fan_in_per_output():
    values = np.asarray(FanInUniform(fan_in=[1, 100], seed=0)((500, 2)))
    assert np.abs(values[:, 0]).max() > 1.0
    assert np.abs(values[:, 1]).max() <= 0.024


def test_fan_in_uniform_takes_a_numpy_integer_seed():
    layer = keras.layers.Dense(3, kernel_initializer=FanInUniform(seed=np.int64(1)))
    layer.build((None, 4))
    np.testing.assert_array_equal(np.asarray(layer.kernel), np.asarray(FanInUniform(seed=1)((4, 3))))


def test_subsampling_and_c3_are_channels_last_whatever_keras_json_says():
    x = np.random.default_rng(0).normal(size=(2, 14, 14, 6)).astype("float32")
    subsampling, c3 = TrainableSubsampling(2), PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5)
    expected = np.asarray(c3(subsampling(x)))
    keras.config.set_image_data_format("channels_first")
    try:
        np.testing.assert_array_equal(np.asarray(c3(subsampling(x))), expected)
    finally:
        keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("kwargs", [{"scale": 0}, {"scale": True}, {"scale": float("inf")},
                                    {"fan_in": 0}, {"fan_in": []}, {"fan_in": [3, -1]},
                                    {"seed": 1.5}])
def test_fan_in_uniform_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        FanInUniform(**kwargs)


def test_subsampling_sums_windows_times_coefficient_plus_bias_then_squashes():
    layer = TrainableSubsampling(2, bias_initializer=keras.initializers.RandomNormal(seed=0))
    inputs = np.random.default_rng(0).normal(size=(2, 28, 28, 6)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(inputs))
    coefficient, bias = (keras.ops.convert_to_numpy(w) for w in (layer.coefficient, layer.bias))
    sums = inputs.reshape(2, 14, 2, 14, 2, 6).sum(axis=(2, 4))
    expected = 1.7159 * np.tanh(2.0 / 3.0 * (sums * coefficient + bias))
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 12  # S2: a coefficient and a bias per map


def test_subsampling_coefficient_starts_within_2_4_over_window_area():
    layer = TrainableSubsampling(2, coefficient_initializer=None)
    layer.build((None, 10, 10, 400))
    coefficient = keras.ops.convert_to_numpy(layer.coefficient)
    assert 0.5 < np.abs(coefficient).max() <= 0.6  # F = 4 inputs per unit


def test_subsampling_of_s4_has_32_parameters_and_halves_the_maps():
    layer = TrainableSubsampling(2)
    outputs = layer(np.zeros((1, 10, 10, 16), dtype="float32"))
    assert tuple(outputs.shape) == (1, 5, 5, 16)
    assert layer.count_params() == 32


@pytest.mark.parametrize("pool_size", [0, -2, 2.5, "2"])
def test_subsampling_rejects_bad_pool_sizes(pool_size):
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        TrainableSubsampling(pool_size)


def test_c3_has_the_paper_1516_parameters_and_10x10x16_output():
    layer = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5)
    outputs = layer(np.zeros((1, 14, 14, 6), dtype="float32"))
    assert tuple(outputs.shape) == (1, 10, 10, 16)
    assert layer.count_params() == 1516


def test_c3_equals_one_convolution_per_map_over_its_table_i_inputs():
    layer = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5, activation=scaled_tanh,
                                    bias_initializer=keras.initializers.RandomNormal(seed=1))
    inputs = np.random.default_rng(1).normal(size=(2, 14, 14, 6)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(inputs))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias)
    offsets = np.cumsum([0] + [len(inputs_) for inputs_ in LENET5_C3_CONNECTIONS])
    for output_map, maps in enumerate(LENET5_C3_CONNECTIONS):
        weights = kernel[:, :, offsets[output_map]:offsets[output_map + 1], None]
        selected = tf.gather(inputs, list(maps), axis=-1)
        reference = tf.nn.conv2d(selected, weights, strides=1, padding="VALID")[..., 0]
        expected = 1.7159 * np.tanh(2.0 / 3.0 * (reference.numpy() + bias[output_map]))
        np.testing.assert_allclose(outputs[..., output_map], expected, rtol=1e-4, atol=1e-5)


def test_c3_maps_ignore_the_s2_maps_table_i_does_not_connect():
    layer = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5)
    inputs = np.random.default_rng(2).normal(size=(1, 14, 14, 6)).astype("float32")
    changed = inputs.copy()
    changed[..., 3] += 10.0  # S2 map 3 feeds C3 maps 1, 2, 3, 6-9, 12, 14, 15 only
    difference = np.abs(keras.ops.convert_to_numpy(layer(changed) - layer(inputs)))
    moved = {m for m in range(16) if difference[..., m].max() > 0}
    assert moved == {m for m, maps in enumerate(LENET5_C3_CONNECTIONS) if 3 in maps}


def test_c3_weights_start_within_each_maps_own_fan_in():
    layer = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5)
    layer.build((None, 14, 14, 6))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    three_input_map = np.abs(kernel[:, :, :3]).max()  # C3 map 0: F = 75
    six_input_map = np.abs(kernel[:, :, -6:]).max()  # C3 map 15: F = 150
    assert 2.4 / 150 < three_input_map <= 2.4 / 75
    assert six_input_map <= 2.4 / 150


def test_c3_table_naming_a_missing_input_map_raises_on_build():
    layer = PartialConnectionConv2D(((0, 1), (2, 6)), 5, name="c3")
    with pytest.raises(ValueError, match=r"'c3': connections\[1\] = \[2, 6\] names input map"
                                         r"\(s\) \[6\], but the input has 6 maps"):
        layer(np.zeros((1, 14, 14, 6), dtype="float32"))


@pytest.mark.parametrize("connections", [(), [[]], [[0, -1]], [[0, 0]], [[0.5]], "012"])
def test_c3_rejects_malformed_tables_at_construction(connections):
    with pytest.raises(ValueError, match="connections"):
        PartialConnectionConv2D(connections, 5)


@pytest.mark.parametrize("kernel_size", [0, -5, (5,), (5, 0), 2.0])
def test_c3_rejects_bad_kernel_sizes(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        PartialConnectionConv2D(LENET5_C3_CONNECTIONS, kernel_size)


def test_digit_codes_are_distinct_plus_minus_one_7x12_bitmaps():
    assert all(len(bitmap) == 12 and all(len(row) == 7 for row in bitmap)
               for bitmap in DIGIT_BITMAPS)
    codes = rbf_codes(10, 84, "digits")
    assert codes.shape == (10, 84)
    assert set(np.unique(codes)) == {-1.0, 1.0}
    hamming = min(int(np.sum(a != b)) for a, b in itertools.combinations(codes, 2))
    assert hamming >= 6


def test_rbf_outputs_squared_distances_to_the_fixed_codes():
    layer = EuclideanRBF(10)
    inputs = np.random.default_rng(3).uniform(-1.7, 1.7, size=(4, 84)).astype("float32")
    outputs = keras.ops.convert_to_numpy(layer(inputs))
    codes = rbf_codes(10, 84, "digits")
    expected = ((inputs[:, None, :] - codes[None]) ** 2).sum(axis=-1)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5)
    assert layer.count_params() == 0 and not layer.trainable_weights
    # An input equal to a code is at distance zero from it: the best (lowest) penalty.
    assert keras.ops.convert_to_numpy(layer(codes[7:8]))[0].argmin() == 7


def test_rbf_random_codes_are_seeded():
    first = keras.ops.convert_to_numpy(EuclideanRBF(5, codes="random", seed=3)(np.zeros((1, 20))))
    again = keras.ops.convert_to_numpy(EuclideanRBF(5, codes="random", seed=3)(np.zeros((1, 20))))
    other = keras.ops.convert_to_numpy(EuclideanRBF(5, codes="random", seed=4)(np.zeros((1, 20))))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, np.full((1, 5), 20.0))  # every code entry is +-1
    assert not np.array_equal(rbf_codes(5, 20, "random", 3), rbf_codes(5, 20, "random", 4))
    assert other.shape == (1, 5)


@pytest.mark.parametrize("kwargs, message", [
    ({"units": 0}, "units"),
    ({"units": 10, "codes": "ascii"}, "codes must be one of"),
    ({"units": 26, "codes": "digits"}, "units must be 10"),
    ({"units": 10, "seed": -1}, "seed"),
    ({"units": 4, "codes": "random", "seed": 2**32}, r"seed must be an integer from 0 to "
                                                     r"2\*\*32 - 1, got 4294967296"),
])
def test_rbf_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EuclideanRBF(**kwargs)


def test_rbf_digit_codes_need_an_84_wide_input():
    with pytest.raises(ValueError, match="84-wide input"):
        EuclideanRBF(10)(np.zeros((1, 80), dtype="float32"))


def test_layers_compute_in_float16_under_mixed_precision():
    inputs = np.random.default_rng(4).normal(size=(2, 14, 14, 6)).astype("float32")
    exact = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5, activation=scaled_tanh)
    mixed = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5, activation=scaled_tanh,
                                    dtype="mixed_float16")
    subsample = TrainableSubsampling(2, dtype="mixed_float16")
    rbf = EuclideanRBF(10, dtype="mixed_float16")
    exact.build(inputs.shape)
    mixed.build(inputs.shape)
    mixed.set_weights(exact.get_weights())
    assert mixed.kernel.dtype == "float32"
    outputs = mixed(inputs)
    assert keras.backend.standardize_dtype(outputs.dtype) == "float16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outputs).astype("float32"),
                               keras.ops.convert_to_numpy(exact(inputs)), atol=2e-2)
    pooled = subsample(outputs)
    assert keras.backend.standardize_dtype(pooled.dtype) == "float16"
    assert subsample.coefficient.dtype == "float32"
    penalties = rbf(keras.ops.reshape(pooled, (2, -1))[:, :84])
    assert keras.backend.standardize_dtype(penalties.dtype) == "float16"


def test_a_model_of_lenet_layers_round_trips(round_trip):
    inputs = keras.Input((14, 14, 6))
    x = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5, activation=scaled_tanh)(inputs)
    x = TrainableSubsampling(2, bias_initializer="ones")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(84, activation=scaled_tanh, kernel_initializer=FanInUniform())(x)
    x = EuclideanRBF(10)(x)
    x = keras.layers.Activation("tanh")(x)
    model = keras.Model(inputs, EuclideanRBF(3, codes="random", seed=5)(x))
    data = np.random.default_rng(5).normal(size=(2, 14, 14, 6)).astype("float32")
    round_trip(model, data, atol=1e-5)


def test_initializer_and_layer_configs_rebuild_equal_layers():
    initializer = FanInUniform(scale=1.2, fan_in=[3, 4], seed=7)
    assert FanInUniform.from_config(initializer.get_config()).get_config() == \
        initializer.get_config()
    for layer in (TrainableSubsampling(3, activation="relu"),
                  PartialConnectionConv2D(((0,), (0, 1)), (3, 5)),
                  EuclideanRBF(4, codes="random", seed=9)):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize("layer, input_shape, arithmetic", [
    (TrainableSubsampling(2, name="s2"), (1, 1, 3), "height (1 - 2 + 0)/2 + 1 = 0.50 < 1"),
    (PartialConnectionConv2D(LENET5_C3_CONNECTIONS, 5, name="c3"), (5, 3, 6),
     "width (3 - 5 + 0)/1 + 1 = -1 < 1"),
])
def test_a_window_larger_than_its_input_names_the_layer(layer, input_shape, arithmetic):
    """On their own too, not only through a recipe's guard (Keras's poolings refuse an
    empty output; these layers used to return one)."""
    said = re.escape(f"Layer '{layer.name}' does not fit its input: {arithmetic}")
    with pytest.raises(UsageError, match=said):
        layer(keras.Input(input_shape))
    with pytest.raises(UsageError, match=said):  # called eagerly, it returned an empty map
        type(layer).from_config(layer.get_config())(np.ones((1, *input_shape), "float32"))
