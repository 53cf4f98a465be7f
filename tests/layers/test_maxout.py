"""Maxout (Goodfellow et al., 2013): the activations it represents and its two forms."""

import numpy as np
import pytest
import keras

from layers import ChannelMaxout, Maxout, max_over_pieces

RNG = np.random.default_rng(0)
GRID = np.linspace(-3.0, 3.0, 13, dtype="float32").reshape(-1, 1)


def two_piece_unit(slopes):
    """A one-input maxout unit max(slopes[0] * x, slopes[1] * x)."""
    unit = Maxout(units=1, pieces=2)
    unit.build((None, 1))
    unit.set_weights([np.array([slopes], "float32"), np.zeros(2, "float32")])
    return unit


@pytest.mark.parametrize("slopes, activation", [
    ((1.0, 0.0), lambda x: np.maximum(x, 0.0)),        # ReLU
    ((1.0, -1.0), np.abs),                              # |x|
    ((1.0, 0.1), lambda x: np.maximum(x, 0.1 * x)),    # leaky ReLU
])
def test_two_pieces_represent_relu_abs_and_leaky_relu(slopes, activation):
    np.testing.assert_allclose(two_piece_unit(slopes)(GRID), activation(GRID), atol=1e-6)


def test_two_pieces_double_the_parameters_of_a_unit():
    # The notes: "Problem: doubles the number of parameters/neuron".
    maxout, dense = Maxout(10, 2), keras.layers.Dense(10)
    maxout.build((None, 32))
    dense.build((None, 32))
    assert maxout.count_params() == 2 * dense.count_params() == 2 * (32 + 1) * 10


def test_dense_maxout_is_channel_maxout_of_a_dense_layer():
    x = RNG.standard_normal((4, 7)).astype("float32")
    maxout = Maxout(3, 4)
    maxout.build(x.shape)
    dense = keras.layers.Dense(12)
    dense.build(x.shape)
    dense.set_weights(maxout.get_weights())
    np.testing.assert_allclose(maxout(x), ChannelMaxout(4)(dense(x)), atol=1e-6)
    reference = (x @ maxout.kernel.numpy() + maxout.bias.numpy()).reshape(4, 3, 4).max(axis=-1)
    np.testing.assert_allclose(maxout(x), reference, atol=1e-5)


def test_channel_maxout_takes_the_max_of_consecutive_channels():
    maps = RNG.standard_normal((2, 5, 5, 6)).astype("float32")
    output = ChannelMaxout(3)(maps)
    assert tuple(output.shape) == (2, 5, 5, 2)
    np.testing.assert_array_equal(output, maps.reshape(2, 5, 5, 2, 3).max(axis=-1))
    channels_first = ChannelMaxout(2, axis=1)(np.transpose(maps, (0, 3, 1, 2)))
    np.testing.assert_array_equal(np.transpose(channels_first, (0, 2, 3, 1)),
                                  maps.reshape(2, 5, 5, 3, 2).max(axis=-1))


def test_convolutional_maxout_represents_the_absolute_value_of_a_filter():
    """Conv2D(units * pieces) + ChannelMaxout(pieces): with pieces (w, -w) it is |w * x|."""
    x = RNG.standard_normal((1, 6, 6, 2)).astype("float32")
    single = keras.layers.Conv2D(1, 3, use_bias=False)
    single.build(x.shape)
    (kernel,) = single.get_weights()
    pieces = keras.layers.Conv2D(2, 3, use_bias=False)
    pieces.build(x.shape)
    pieces.set_weights([np.concatenate([kernel, -kernel], axis=-1)])
    np.testing.assert_allclose(ChannelMaxout(2)(pieces(x)), np.abs(single(x)), atol=1e-6)


def test_mixed_precision():
    x = RNG.standard_normal((2, 8)).astype("float32")
    layer = Maxout(4, 3, dtype="mixed_float16")
    output = layer(x)
    assert output.dtype == "float16" and layer.kernel.dtype == "float32"


def test_round_trip(round_trip):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = ChannelMaxout(2, name="maxout1")(x)
    x = keras.layers.Flatten()(x)
    x = Maxout(5, 3, name="maxout2")(x)
    model = keras.Model(inputs, x)
    assert tuple(model.output.shape) == (None, 5)
    round_trip(model, RNG.standard_normal((2, 6, 6, 3)).astype("float32"), atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: Maxout(0, 2), lambda: Maxout(-3, 2), lambda: Maxout(3, 0), lambda: Maxout(3, 1.5),
    lambda: Maxout(3, 2, use_bias="no"),  # a string was read as on
    lambda: ChannelMaxout(0), lambda: ChannelMaxout(2, axis="last"),
])
def test_bad_arguments_raise_value_error(make):
    with pytest.raises(ValueError, match="got"):
        make()


def test_channels_not_divisible_by_pieces_raise():
    with pytest.raises(ValueError, match="multiple of 4"):
        ChannelMaxout(4)(keras.Input((5, 5, 6)))


@pytest.mark.parametrize("pieces, message", [
    (4, r"max_over_pieces with pieces=4 needs a size along axis 1 that is a multiple of 4, "
        r"got 6"),
    (0, "pieces must be an integer >= 1, got 0"),
])
def test_max_over_pieces_refuses_groups_that_do_not_divide_the_axis(pieces, message):
    # A reshape error from the backend, and a ZeroDivisionError.
    with pytest.raises(ValueError, match=message):
        max_over_pieces(np.zeros((2, 6), "float32"), pieces)


def test_an_unknown_channel_count_stays_unknown_in_the_output_shape():
    assert ChannelMaxout(2).compute_output_shape((None, 4, 4, None)) == (None, 4, 4, None)

