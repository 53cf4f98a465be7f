"""im2col: the lectures' convolution as one matrix product, against Keras's Conv2D."""

import keras
import numpy as np
import pytest

from layers import UsageError, conv_as_matmul, im2col, kernel_rows


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def keras_conv(x, kernel, bias, strides, padding):
    layer = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], strides=strides,
                                padding=padding)
    layer.build(x.shape)
    layer.set_weights([kernel, bias])
    return numpy(layer(x))


def test_the_lectures_example_5x5x3_input_32_3x3_filters():
    # CS189, Conv2D slides: Input = (5, 5, 3), Filters = 32 of size (3, 3), Stride = (1, 1)
    # -> X_col (27 x 9), W_row (32 x 27); W_row @ X_col is the 32 maps of 3x3.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 5, 3)).astype("float32")
    kernel = rng.normal(size=(3, 3, 3, 32)).astype("float32")
    bias = rng.normal(size=32).astype("float32")
    x_col, w_row = numpy(im2col(x, 3)), numpy(kernel_rows(kernel))
    assert x_col.shape == (27, 9) and w_row.shape == (32, 27)
    # Column 0 is the top-left window, row by row, channels innermost; column 1 moves right.
    np.testing.assert_array_equal(x_col[:, 0], x[:3, :3].reshape(-1))
    np.testing.assert_array_equal(x_col[:, 1], x[:3, 1:4].reshape(-1))
    np.testing.assert_array_equal(x_col[:, 3], x[1:4, :3].reshape(-1))
    np.testing.assert_array_equal(w_row[5], kernel[..., 5].reshape(-1))
    maps = (w_row @ x_col + bias[:, None]).T.reshape(3, 3, 32)
    expected = keras_conv(x[None], kernel, bias, 1, "valid")[0]
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(numpy(conv_as_matmul(x, kernel, bias)), expected,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, kernel_size, strides, padding, columns", [
    ((7, 7, 2), 3, 2, "same", 16),         # SAME at stride 2: a 4x4 output
    ((6, 9, 3), (3, 2), (2, 3), "same", 9),  # odd total padding: the extra zero after
    ((8, 8, 1), 5, 3, "valid", 4),         # the last row and column left out
])
def test_strided_padded_convolutions_match_keras(shape, kernel_size, strides, padding, columns):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, *shape)).astype("float32")
    kernel_hw = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    kernel = rng.normal(size=(*kernel_hw, shape[-1], 4)).astype("float32")
    bias = rng.normal(size=4).astype("float32")
    x_col = numpy(im2col(x, kernel_size, strides, padding))
    assert x_col.shape == (2, kernel_hw[0] * kernel_hw[1] * shape[-1], columns)
    np.testing.assert_allclose(numpy(conv_as_matmul(x, kernel, bias, strides, padding)),
                               keras_conv(x, kernel, bias, strides, padding),
                               rtol=1e-5, atol=1e-5)


def test_conv_as_matmul_builds_a_model_on_a_symbolic_batch():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 7, 7, 2)).astype("float32")
    kernel = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    inputs = keras.Input((7, 7, 2))
    model = keras.Model(inputs, conv_as_matmul(inputs, kernel, strides=2, padding="same"))
    assert tuple(model.output.shape) == (None, 4, 4, 4)
    np.testing.assert_allclose(numpy(model(x)),
                               numpy(conv_as_matmul(x, kernel, strides=2, padding="same")),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("image_dtype", ["int64", "uint8"])
def test_an_integer_image_with_a_float_kernel_convolves_in_float(image_dtype):
    # The lectures' images are integers: a 3x3 box filter (1/9 each) cast to them was all
    # zeros, and uint8 wrapped around.
    image = (np.arange(5 * 5 * 2).reshape(1, 5, 5, 2) % 7).astype(image_dtype)
    kernel = np.random.default_rng(4).normal(size=(3, 3, 2, 2)).astype("float32")
    kernel[..., 0] = 1 / 9
    ours = conv_as_matmul(image, kernel)
    assert keras.backend.standardize_dtype(ours.dtype) == "float32"
    np.testing.assert_allclose(numpy(ours), keras_conv(image.astype("float32"), kernel,
                                                       np.zeros(2, "float32"), 1, "valid"),
                               rtol=1e-5, atol=1e-5)
    # A float image keeps its dtype, whatever the kernel's (NumPy's float64 here), and the
    # bias's: a float32 bias added to a float64 image's maps stopped TensorFlow.
    floats = conv_as_matmul(image.astype("float32"), kernel.astype("float64"))
    assert keras.backend.standardize_dtype(floats.dtype) == "float32"
    bias = np.array([0.5, -1.0], "float32")
    doubles = conv_as_matmul(image.astype("float64"), kernel, bias)
    assert keras.backend.standardize_dtype(doubles.dtype) == "float64"
    np.testing.assert_allclose(numpy(doubles), keras_conv(image.astype("float32"), kernel, bias,
                                                          1, "valid"), rtol=1e-5, atol=1e-5)


def test_explicit_zeros_pad_like_the_papers_tables():
    # Dumoulin and Visin, Figure 2.6: a 3x3 kernel over a 5x5 input padded with a 1x1
    # border of zeros at stride 2 gives 3x3; "pad 1" is Keras's "same" here.
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 5, 1)).astype("float32")
    kernel = rng.normal(size=(3, 3, 1, 2)).astype("float32")
    x_col = numpy(im2col(x, 3, 2, 1))
    assert x_col.shape == (9, 9)
    np.testing.assert_array_equal(x_col[:, 0].reshape(3, 3)[0], 0)  # the zero border
    np.testing.assert_allclose(numpy(conv_as_matmul(x, kernel, strides=2, padding=1)),
                               numpy(conv_as_matmul(x, kernel, strides=2, padding="same")))
    asymmetric = numpy(im2col(x, 3, 1, ((0, 2), (1, 0))))
    assert asymmetric.shape == (9, 5 * 4)


@pytest.mark.parametrize("call, message", [
    (lambda: im2col(np.zeros((5, 5)), 3), r"\(H, W, C\) image"),
    (lambda: im2col(np.zeros((5, 5, 1)), 0), "kernel must be a positive int"),
    (lambda: im2col(np.zeros((2, 2, 1)), 3), "does not fit"),
    (lambda: conv_as_matmul(np.zeros((5, 5, 3)), np.zeros((3, 3, 1, 4))), "does not fit the input"),
])
def test_mistakes_are_usage_errors(call, message):
    with pytest.raises(UsageError, match=message):
        call()


@pytest.mark.parametrize("image, bias, message", [
    (np.zeros((4, 4, 3)), np.zeros(3), r"The bias \(3,\) does not fit the kernel "
                                       r"\(3, 3, 3, 4\): it needs one value per filter, \(4,\)"),
    (np.zeros((4, 3)), None, r"conv_as_matmul takes an \(H, W, C\) image or an \(N, H, W, C\) "
                             r"batch, got shape \(4, 3\)"),
])
def test_conv_as_matmul_refuses_a_bias_or_an_image_that_does_not_fit(image, bias, message):
    # A backend shape error, and Python's "not enough values to unpack".
    with pytest.raises(UsageError, match=message):
        conv_as_matmul(image, np.zeros((3, 3, 3, 4)), bias=bias)

