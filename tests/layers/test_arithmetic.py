"""Conv arithmetic against the lecture notes' numbers and TensorFlow's own convolution."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from layers import (conv_formula, conv_output_size, grow_receptive_field, receptive_field,
                    resolve_padding, same_padding)


def tf_conv1d_output(size, kernel, stride, padding, dilation=1, signal=None):
    """TensorFlow's 1-D convolution of ``signal`` (default: ones) with an all-ones kernel."""
    signal = np.ones(size, "float32") if signal is None else signal
    return tf.nn.convolution(signal.reshape(1, size, 1), tf.ones((kernel, 1, 1)),
                             strides=stride, padding=padding, dilations=dilation)[0, :, 0].numpy()


class TestTensorFlowPaddingExample:
    """The notes' "Padding in Tensorflow": input width 13, filter width 6, stride 5."""

    def test_valid_gives_two_outputs(self):
        assert conv_output_size(13, 6, 5, "valid") == 2
        assert len(tf_conv1d_output(13, 6, 5, "VALID")) == 2

    def test_valid_drops_the_right_most_columns(self):
        outputs = conv_output_size(13, 6, 5, "valid")
        covered = (outputs - 1) * 5 + 6
        assert 13 - covered == 2  # columns 12 and 13 (1-based) are never read
        signal = np.arange(1, 14, dtype="float32")
        base = tf_conv1d_output(13, 6, 5, "VALID", signal=signal)
        dropped = signal.copy()
        dropped[covered:] = 1000.0
        np.testing.assert_array_equal(tf_conv1d_output(13, 6, 5, "VALID", signal=dropped), base)
        read = signal.copy()
        read[covered - 1] = 1000.0
        assert not np.array_equal(tf_conv1d_output(13, 6, 5, "VALID", signal=read), base)

    def test_same_gives_three_outputs_one_zero_left_two_right(self):
        assert conv_output_size(13, 6, 5, "same") == 3
        assert same_padding(13, 6, 5) == (1, 2)
        signal = np.arange(1, 14, dtype="float32")
        padded = np.pad(signal, (1, 2))
        np.testing.assert_array_equal(tf_conv1d_output(13, 6, 5, "SAME", signal=signal),
                                      tf_conv1d_output(16, 6, 5, "VALID", signal=padded))


@pytest.mark.parametrize("size, kernel, stride, padding, expected", [
    (32, 5, 1, 2, 32),     # notes: 32x32x3, ten 5x5 filters, stride 1, pad 2
    (1, 5, 1, 2, 1),       # notes: 1x1 input, 5x5 filter, stride 1, pad 2
    (2, 5, 1, 2, 2),       # notes: 2x2 input
    (227, 11, 4, 0, 55),   # AlexNet CONV1
    (55, 3, 2, 0, 27),     # AlexNet MAX POOL1
    (27, 5, 1, 2, 27),     # AlexNet CONV2
    (27, 3, 2, 0, 13),     # AlexNet MAX POOL2
    (13, 3, 1, 1, 13),     # AlexNet CONV3-5
    (19, 5, 1, 2, 19),     # AlphaGo CONV1: 19x19 zero-padded to 23x23
    (7, 3, 1, 0, 5),       # notes: 7x7 input, 3x3 filter, stride 1
    (7, 3, 2, 0, 3),       # notes: stride 2
])
def test_lecture_output_sizes(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding, strict=True) == expected


def test_strict_rejects_a_3x3_filter_at_stride_3_on_7x7_with_the_arithmetic():
    assert conv_output_size(7, 3, 3) == 2  # TensorFlow semantics: floor
    with pytest.raises(ValueError, match=r"\(7 - 3 \+ 0\)/3 \+ 1 = 2\.33"):
        conv_output_size(7, 3, 3, strict=True)


def test_zero_padding_makes_the_stride_fit():
    # The notes: "one can zero-pad the input so that the stride is appropriate".
    assert conv_output_size(7, 3, 3, padding=1, strict=True) == 3


def test_a_window_larger_than_the_padded_input_raises():
    with pytest.raises(ValueError, match=r"\(2 - 3 \+ 0\)/2 \+ 1 = 0\.50 < 1"):
        conv_output_size(2, 3, 2)


def test_conv_formula_matches_the_notes():
    assert conv_formula(32, 5, 1, 2) == "(32 - 5 + 4)/1 + 1 = 32"
    assert conv_formula(7, 3, 3) == "(7 - 3 + 0)/3 + 1 = 2.33"
    assert conv_formula(7, 3, 1, dilation=2) == "(7 - 5 + 0)/1 + 1 = 3"
    assert conv_formula(13, 6, 5, "same") == "(13 - 6 + 3)/5 + 1 = 3"


def test_sizes_and_same_padding_agree_with_tensorflow():
    for size, kernel, stride, dilation in itertools.product(range(1, 10), range(1, 5),
                                                            range(1, 4), (1, 2)):
        if stride > 1 and dilation > 1:
            continue  # TensorFlow refuses strides and dilations both above 1
        before, after = same_padding(size, kernel, stride, dilation)
        signal = np.arange(1, size + 1, dtype="float32")
        same = tf_conv1d_output(size, kernel, stride, "SAME", dilation, signal)
        assert conv_output_size(size, kernel, stride, "same", dilation) == len(same)
        np.testing.assert_array_equal(
            tf_conv1d_output(size + before + after, kernel, stride, "VALID", dilation,
                             np.pad(signal, (before, after))), same)
        if size >= (kernel - 1) * dilation + 1:
            valid = tf_conv1d_output(size, kernel, stride, "VALID", dilation)
            assert conv_output_size(size, kernel, stride, "valid", dilation) == len(valid)


def test_explicit_padding_pairs():
    assert resolve_padding(10, 3, padding=(0, 2)) == (0, 2)
    assert conv_output_size(10, 3, 1, (0, 2)) == 10
    assert resolve_padding(10, 3, padding=2) == (2, 2)
    assert resolve_padding(10, 3, padding="VALID") == (0, 0)


@pytest.mark.parametrize("layers, expected", [
    ([(3, 1), (3, 1)], 5),               # notes: two stacked 3x3 convs see 5x5
    ([(3, 1)] * 3, 7),                    # VGG: three 3x3 convs see 7x7
    ([(3, 1, 2)], 5),                     # notes: a 3x3 conv with dilation 2 sees 5x5
    ([(3, 1, 1), (3, 1, 2), (3, 1, 4)], 15),  # Yu & Koltun 2016: 2^(i+2) - 1
    ([(11, 4), (3, 2)], 19),              # AlexNet CONV1 + POOL1
    ([(11, 4), (3, 2), (5, 1)], 51),      # ... + CONV2
    ([], 1),
])
def test_receptive_field(layers, expected):
    assert receptive_field(layers) == expected


def test_grow_receptive_field_tracks_the_jump():
    field, jump = grow_receptive_field(1, 1, kernel=11, stride=4)
    assert (field, jump) == (11, 4)
    assert grow_receptive_field(field, jump, kernel=3, stride=2) == (19, 8)


@pytest.mark.parametrize("call", [
    lambda: conv_output_size(-1, 3),
    lambda: conv_output_size(5, 0),
    lambda: conv_output_size(5, 3, stride=0),
    lambda: conv_output_size(5, 3, dilation=0),
    lambda: conv_output_size(5, 3, padding="full"),
    lambda: conv_output_size(5, 3, padding=-1),
    lambda: conv_output_size(5, 3, padding=(1, 2, 3)),
    lambda: conv_output_size(5.0, 3),
    lambda: same_padding(5, 3, stride=-2),
    lambda: receptive_field([(3,)]),
    lambda: receptive_field([(3, 0)]),
])
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError, match="got"):
        call()
