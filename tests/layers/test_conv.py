"""PaddedConv2D and factorized_conv against the notes' examples and plain Keras layers."""

import numpy as np
import pytest
import keras

from layers import PaddedConv2D, factorized_conv, receptive_field

RNG = np.random.default_rng(0)


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


def test_lecture_worked_example():
    """The notes' cross-correlation example: 5x5 input, 3x3 kernel, no padding."""
    image = np.array([[3, 3, 2, 1, 0],
                      [0, 0, 1, 3, 1],
                      [3, 1, 2, 2, 3],
                      [2, 0, 0, 2, 2],
                      [2, 0, 0, 0, 1]], "float32")
    kernel = np.array([[0, 1, 2],
                       [2, 2, 0],
                       [0, 1, 2]], "float32")
    conv = PaddedConv2D(1, 3, use_bias=False)
    conv.build((1, 5, 5, 1))
    conv.set_weights([kernel.reshape(3, 3, 1, 1)])
    output = conv(image.reshape(1, 5, 5, 1))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(output)[0, :, :, 0],
                                  [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


def test_ten_5x5_filters_pad_2_on_32x32x3():
    conv = PaddedConv2D(10, 5, strides=1, padding=2)
    output = conv(keras.Input((32, 32, 3)))
    assert tuple(output.shape) == (None, 32, 32, 10)
    assert conv.count_params() == 760  # (5*5*3 + 1) * 10


def test_alexnet_conv1():
    conv = PaddedConv2D(96, 11, strides=4, padding=0)
    output = conv(keras.Input((227, 227, 3)))
    assert tuple(output.shape) == (None, 55, 55, 96)
    assert conv.count_params() == 34_944  # (11*11*3 + 1) * 96


def test_alexnet_conv2_two_towers():
    """CONV2: 256 5x5 filters at stride 1, pad 2, each seeing the 48 maps of its tower."""
    conv = PaddedConv2D(256, 5, padding=2, groups=2)
    output = conv(keras.Input((27, 27, 96)))
    assert tuple(output.shape) == (None, 27, 27, 256)
    assert conv.count_params() == 307_456  # 5*5*48*256 + 256


def test_pad_2_keeps_1x1_and_2x2_inputs_under_a_5x5_filter():
    # The notes: a 1x1 (or 2x2) input, 5x5 filter, stride 1, pad 2 keeps its size.
    for size in (1, 2):
        output = PaddedConv2D(3, 5, padding=2)(keras.Input((size, size, 3)))
        assert output.shape[1:3] == (size, size)


@pytest.mark.parametrize("padding, pairs", [
    (2, ((2, 2), (2, 2))),
    ((0, 1, 2, 3), ((0, 1), (2, 3))),
    ([1, 0, 0, 2], ((1, 0), (0, 2))),
])
def test_explicit_padding_equals_zero_padding_then_valid_conv(padding, pairs):
    x = random(2, 7, 6, 3)
    padded = PaddedConv2D(4, 3, padding=padding, strides=2)
    reference = keras.layers.Conv2D(4, 3, strides=2)
    padded.build(x.shape)
    reference.build((2, 7 + sum(pairs[0]), 6 + sum(pairs[1]), 3))
    reference.set_weights(padded.get_weights())
    expected = reference(keras.layers.ZeroPadding2D(pairs)(x))
    np.testing.assert_allclose(padded(x), expected, atol=1e-5)
    assert padded.compute_output_shape((None, 7, 6, 3)) == (None, *expected.shape[1:])


def test_channels_first_pads_the_spatial_axes():
    # Symbolic: TensorFlow's CPU Conv2D kernel runs NHWC only (TF 2.21 refuses NCHW).
    conv = PaddedConv2D(2, 3, padding=(1, 0, 0, 1), data_format="channels_first")
    assert tuple(conv(keras.KerasTensor((1, 3, 5, 5))).shape) == (1, 2, 4, 4)
    assert conv.compute_output_shape((None, 3, 5, 5)) == (None, 2, 4, 4)


@pytest.mark.parametrize("padding", ["valid", "same", "SAME"])
def test_modes_behave_as_conv2d(padding):
    x = random(1, 9, 9, 2)
    padded = PaddedConv2D(3, 4, strides=2, padding=padding)
    reference = keras.layers.Conv2D(3, 4, strides=2, padding=padding)
    padded.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(padded.get_weights())
    np.testing.assert_allclose(padded(x), reference(x), atol=1e-5)
    assert padded.explicit_padding is None


@pytest.mark.parametrize("padding, shape, said", [
    (1, (2, 2, 3), r"Layer 'conv' does not fit its input: height \(2 - 5 \+ 2\)/1 \+ 1 = 0 < 1"),
    ("valid", (8, 4, 3), r"Layer 'conv' does not fit its input: width \(4 - 5 \+ 0\)/1"),
    ((3, 3, 0, 0), (2, 2, 3), r"width \(2 - 5 \+ 0\)/1 \+ 1 = -2 < 1")])
def test_a_window_that_does_not_fit_names_the_layer_and_the_users_sizes(padding, shape, said):
    # Keras's own error quoted the padded shape and the inner padding="valid".
    with pytest.raises(ValueError, match=said):
        PaddedConv2D(4, 5, padding=padding, name="conv")(keras.Input(shape))
    with pytest.raises(ValueError, match=said):  # called eagerly, too
        PaddedConv2D(4, 5, padding=padding, name="conv")(np.ones((1, *shape), "float32"))


def test_dilation_passes_through():
    x = random(1, 7, 7, 2)
    padded = PaddedConv2D(3, 3, dilation_rate=2, padding=2)
    reference = keras.layers.Conv2D(3, 3, dilation_rate=2)
    padded.build(x.shape)
    reference.build((1, 11, 11, 2))
    reference.set_weights(padded.get_weights())
    output = padded(x)
    assert tuple(output.shape) == (1, 7, 7, 3)  # (7 - 5 + 4)/1 + 1
    np.testing.assert_allclose(output, reference(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))),
                               atol=1e-5)


def test_grouped_conv_equals_two_convs_on_channel_halves():
    """AlexNet's two towers: each half of the filters sees one half of the channels."""
    x = random(2, 8, 8, 6)
    grouped = PaddedConv2D(4, 3, padding=1, groups=2)
    grouped.build(x.shape)
    kernel, bias = grouped.get_weights()
    assert kernel.shape == (3, 3, 3, 4)
    towers = []
    for tower in range(2):
        conv = PaddedConv2D(2, 3, padding=1)
        conv.build((2, 8, 8, 3))
        conv.set_weights([kernel[..., 2 * tower:2 * tower + 2], bias[2 * tower:2 * tower + 2]])
        towers.append(conv(x[..., 3 * tower:3 * tower + 3]))
    np.testing.assert_allclose(grouped(x), np.concatenate(towers, axis=-1), atol=1e-5)


def test_1x1_convolution_is_a_dense_layer_applied_to_every_pixel():
    x = random(2, 5, 5, 8)
    conv = PaddedConv2D(3, 1)
    conv.build(x.shape)
    dense = keras.layers.Dense(3)
    dense.build((None, 8))
    kernel, bias = conv.get_weights()
    dense.set_weights([kernel.reshape(8, 3), bias])
    per_pixel = keras.ops.convert_to_numpy(dense(x.reshape(-1, 8))).reshape(2, 5, 5, 3)
    np.testing.assert_allclose(conv(x), per_pixel, atol=1e-5)


def test_mixed_precision_computes_in_float16_with_float32_weights():
    x = random(1, 6, 6, 3)
    mixed = PaddedConv2D(4, 3, padding=1, dtype="mixed_float16")
    plain = PaddedConv2D(4, 3, padding=1)
    mixed.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(mixed.get_weights())
    output = mixed(x)
    assert output.dtype == "float16" and mixed.kernel.dtype == "float32"
    np.testing.assert_allclose(np.asarray(output, "float32"), plain(x), atol=1e-2)


class TestFactorizedConv:
    """Szegedy et al. 2016, Section 3.2: NxN -> 1xN followed by Nx1."""

    def test_names_shapes_and_33_percent_fewer_weights(self):
        inputs = keras.Input((17, 17, 64))
        outputs = factorized_conv(inputs, 64, 3, "mixed", padding="same", use_bias=False)
        model = keras.Model(inputs, outputs)
        assert [layer.name for layer in model.layers[1:]] == ["mixed_1x3", "mixed_3x1"]
        assert tuple(outputs.shape) == (None, 17, 17, 64)
        full = 3 * 3 * 64 * 64
        assert model.count_params() == 2 * 3 * 64 * 64 == full * 2 // 3

    def test_intermediate_filters_and_column_first(self):
        inputs = keras.Input((17, 17, 768))
        outputs = factorized_conv(inputs, 192, 7, "branch7x7", intermediate_filters=128,
                                  column_first=True, padding="same")
        model = keras.Model(inputs, outputs)
        first, second = model.layers[1:]
        assert (first.name, first.kernel_size, first.filters) == ("branch7x7_7x1", (7, 1), 128)
        assert (second.name, second.kernel_size, second.filters) == ("branch7x7_1x7", (1, 7), 192)
        assert receptive_field([(7, 1), (1, 1)]) == receptive_field([(1, 1), (7, 1)]) == 7

    def test_equals_the_nxn_conv_with_the_composed_kernel(self):
        x = random(2, 9, 9, 2)
        inputs = keras.Input((9, 9, 2))
        model = keras.Model(inputs, factorized_conv(inputs, 3, 3, "f", intermediate_filters=4,
                                                    use_bias=False))
        row, column = (layer.get_weights()[0] for layer in model.layers[1:])
        composed = np.einsum("jcm,imo->ijco", row[0], column[:, 0])
        full = keras.layers.Conv2D(3, 3, use_bias=False)
        full.build(x.shape)
        full.set_weights([composed])
        assert tuple(model(x).shape) == (2, 7, 7, 3)
        np.testing.assert_allclose(model(x), full(x), atol=1e-4)

    @pytest.mark.parametrize("padding, strides", [
        (2, 1), ((0, 1, 2, 0), 1), ("same", 2), ("valid", (2, 3)), (1, 2)])
    def test_padding_and_strides_apply_along_each_half_s_axis(self, padding, strides):
        x = random(2, 11, 10, 2)
        inputs = keras.Input((11, 10, 2))
        model = keras.Model(inputs, factorized_conv(inputs, 3, 5, "f", intermediate_filters=4,
                                                    use_bias=False, padding=padding,
                                                    strides=strides))
        row, column = (layer.get_weights()[0] for layer in model.layers[1:])
        full = PaddedConv2D(3, 5, padding=padding, strides=strides, use_bias=False)
        full.build(x.shape)
        full.set_weights([np.einsum("jcm,imo->ijco", row[0], column[:, 0])])
        assert model.output.shape[1:] == full.compute_output_shape(x.shape)[1:]
        np.testing.assert_allclose(model(x), full(x), atol=1e-4)

    def test_custom_conv_builds_each_half(self):
        def conv_bn(x, filters, kernel_size, name, **kwargs):
            x = PaddedConv2D(filters, kernel_size, name=name, use_bias=False, **kwargs)(x)
            return keras.layers.BatchNormalization(name=f"{name}_bn")(x)

        inputs = keras.Input((8, 8, 4))
        model = keras.Model(inputs, factorized_conv(inputs, 4, 3, "b", conv=conv_bn,
                                                    padding="same"))
        assert [layer.name for layer in model.layers[1:]] == ["b_1x3", "b_1x3_bn", "b_3x1",
                                                             "b_3x1_bn"]

    def test_kernel_size_below_two_raises(self):
        with pytest.raises(ValueError, match="kernel_size must be an int >= 2"):
            factorized_conv(keras.Input((8, 8, 4)), 4, 1, "f")


def test_round_trip(round_trip):
    inputs = keras.Input((9, 9, 4))
    x = PaddedConv2D(8, 3, padding=1, groups=2, activation="relu", name="conv1")(inputs)
    x = PaddedConv2D(8, 3, padding=(0, 1, 2, 0), dilation_rate=(1, 2), name="conv2")(x)
    x = factorized_conv(x, 4, 3, "conv3", padding="same")
    model = keras.Model(inputs, x)
    assert model.get_layer("conv2").get_config()["padding"] == [0, 1, 2, 0]
    round_trip(model, random(2, 9, 9, 4), atol=1e-5)


def test_config_keeps_the_padding_argument():
    conv = PaddedConv2D(4, 5, padding=2, strides=2, dilation_rate=1, groups=1)
    config = conv.get_config()
    assert config["padding"] == 2
    clone = PaddedConv2D.from_config(config)
    assert clone.explicit_padding == (2, 2, 2, 2)
    assert clone.padding == "valid"


@pytest.mark.parametrize("padding", [-1, "full", (1, 2, 3), (1, 2, 3, -1), 1.5, True, None])
def test_bad_padding_raises_value_error(padding):
    with pytest.raises(ValueError, match=r"padding must be .* got"):
        PaddedConv2D(4, 3, padding=padding)


def test_a_factorized_pair_given_one_initializer_draws_each_half_on_its_own():
    # Keras fixes an unseeded initializer's seed when it is made: the 1x3 and 3x1 halves
    # started from the same numbers.
    inputs = keras.Input((6, 6, 16))
    model = keras.Model(inputs, factorized_conv(
        inputs, 16, 3, "f", padding="same",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)))
    first, second = (keras.ops.convert_to_numpy(model.get_layer(name).kernel).ravel()
                     for name in ("f_1x3", "f_3x1"))
    assert abs(np.corrcoef(first, second)[0, 1]) < 0.5


@pytest.mark.parametrize("strides", [(1, 2, 3), "2", 0])
def test_a_factorized_pair_refuses_strides_that_are_not_a_size(strides):
    with pytest.raises(ValueError, match=r"strides must be a positive int or a \(height, "
                                         r"width\) pair of them, got "):
        factorized_conv(keras.Input((5, 5, 3)), 4, 3, "f", strides=strides)


@pytest.mark.parametrize("kwargs, message", [
    ({"intermediate_filters": 0}, "intermediate_filters must be a positive integer, got 0"),
    ({"column_first": "no"}, "column_first must be True or False, got 'no'"),
])
def test_a_factorized_pair_refuses_a_bad_width_or_order(kwargs, message):
    # 0 was read as "filters" and "no" as True.
    with pytest.raises(ValueError, match=message):
        factorized_conv(keras.Input((5, 5, 3)), 4, 3, "f", **kwargs)


def test_numpy_integers_size_a_padded_convolution_as_pythons():
    layer = PaddedConv2D(2, np.int64(3), strides=np.int64(2), padding=1,
                         dilation_rate=(np.int64(1), np.int64(1)))
    assert layer(keras.Input((9, 9, 1))).shape == (None, 5, 5, 2)
    assert (layer.kernel_size, layer.strides) == ((3, 3), (2, 2))

