"""Residual blocks (He et al. 2016, Fig. 5 and Sec. 3.3) and the option-A shortcut."""

import numpy as np
import pytest
import keras

from layers import (StochasticDepth, ZeroPadShortcut, basic_block, bottleneck_block,
                    preact_block, shortcut_branch)
from layers.residual import conv, conv_bn

RNG = np.random.default_rng(0)


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


def block_model(build, input_shape=(8, 8, 16)):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, build(inputs))


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def silence(model, layer_name):
    """Zeroes the gamma and beta of a batch norm, so its branch outputs exactly 0."""
    layer = model.get_layer(layer_name)
    layer.set_weights([np.zeros_like(w) if i < 2 else w
                       for i, w in enumerate(layer.get_weights())])


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def zero_pad_reference(x, filters, strides):
    subsampled = x[:, ::strides, ::strides, :]
    zeros = np.zeros(subsampled.shape[:3] + (filters - x.shape[-1],), "float32")
    return np.concatenate([subsampled, zeros], axis=-1)


@pytest.mark.parametrize("size", [8, 7])
def test_zero_pad_shortcut_subsamples_and_appends_zero_channels(size):
    x = random(2, size, size, 16)
    output = numpy(ZeroPadShortcut(32, strides=2)(x))
    np.testing.assert_array_equal(output, zero_pad_reference(x, 32, 2))
    # It lines up with the stride-2 3x3 convolution (pad 1) of the residual branch.
    branch = conv(keras.Input((size, size, 16)), 32, 3, strides=2, name="branch")
    assert output.shape[1:] == tuple(branch.shape[1:])


def test_zero_pad_shortcut_is_parameter_free_and_symbolic_shape():
    layer = ZeroPadShortcut(64, strides=2)
    output = layer(keras.Input((None, 9, 32)))
    assert tuple(output.shape) == (None, None, 5, 64)
    assert layer.count_params() == 0


@pytest.mark.parametrize("kwargs", [dict(filters=0), dict(filters=-4), dict(filters=2.5),
                                    dict(filters=16, strides=0), dict(filters=16, strides=True)])
def test_zero_pad_shortcut_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        ZeroPadShortcut(**kwargs)


def test_zero_pad_shortcut_cannot_remove_channels():
    with pytest.raises(ValueError, match="only add channels"):
        ZeroPadShortcut(8)(keras.Input((4, 4, 16)))



@pytest.mark.parametrize("shape", [(16,), (4, 16), (2, 4, 4, 16)])
def test_zero_pad_shortcut_takes_maps_only(shape):
    with pytest.raises(ValueError, match=r"ZeroPadShortcut 'sc' takes \(batch, height, width, "
                                         r"channels\) maps, got input shape \(None, "):
        ZeroPadShortcut(32, name="sc")(keras.Input(shape))

def test_zero_pad_shortcut_config_round_trip():
    layer = ZeroPadShortcut(48, strides=2, name="sc")
    clone = ZeroPadShortcut.from_config(layer.get_config())
    assert (clone.filters, clone.strides, clone.name) == (48, 2, "sc")


@pytest.mark.parametrize("option, filters, strides, expected", [
    ("A", 16, 1, []), ("B", 16, 1, []), ("C", 16, 1, ["Conv2D", "BatchNormalization"]),
    ("A", 32, 2, ["ZeroPadShortcut"]), ("B", 32, 2, ["Conv2D", "BatchNormalization"]),
    ("C", 32, 2, ["Conv2D", "BatchNormalization"]), ("B", 32, 1, ["Conv2D", "BatchNormalization"]),
])
def test_shortcut_options(option, filters, strides, expected):
    """Sec. 3.3: A zero-pads, B projects only where the shape changes, C always projects."""
    model = block_model(lambda x: shortcut_branch(x, filters, strides=strides, option=option,
                                                  name="b"))
    assert layer_types(model)[1:] == expected
    assert tuple(model.output.shape) == (None, 8 // strides, 8 // strides, filters)
    if expected[:1] == ["Conv2D"]:
        assert model.get_layer("b_0_conv").kernel.shape == (1, 1, 16, filters)


@pytest.mark.parametrize("shortcut, strides, filters", [("A", 2, 32), ("B", 2, 32),
                                                        ("C", 1, 16), ("B", 1, 16)])
def test_basic_block_with_silenced_branch_is_relu_of_its_shortcut(shortcut, strides, filters):
    """y = relu(F(x) + shortcut(x)): with F = 0 only the shortcut is left (Fig. 2)."""
    model = block_model(lambda x: basic_block(x, filters, strides=strides, shortcut=shortcut,
                                              name="b"))
    silence(model, "b_2_bn")
    x = random(2, 8, 8, 16)
    if shortcut == "A":
        expected = zero_pad_reference(x, filters, strides)
    elif shortcut == "B" and strides == 1:
        expected = x
    else:
        expected = numpy(keras.Model(model.input, model.get_layer("b_0_bn").output)(x))
    np.testing.assert_allclose(numpy(model(x)), np.maximum(expected, 0), atol=1e-6)


def test_plain_block_has_no_shortcut():
    """shortcut=None is the plain network of Fig. 3: silencing F silences the block."""
    model = block_model(lambda x: basic_block(x, 16, shortcut=None, name="b"))
    assert "Add" not in layer_types(model)
    silence(model, "b_2_bn")
    np.testing.assert_array_equal(numpy(model(random(2, 8, 8, 16))), 0)


def test_bottleneck_with_silenced_branch_is_relu_of_the_identity():
    model = block_model(lambda x: bottleneck_block(x, 4, 16, name="b"))
    silence(model, "b_3_bn")
    x = random(2, 8, 8, 16)
    np.testing.assert_allclose(numpy(model(x)), np.maximum(x, 0), atol=1e-6)


def test_bottleneck_table1_conv2_block_shapes():
    """Table 1, 50-layer conv2_x: [1x1, 64; 3x3, 64; 1x1, 256] on the 64 maps of pool1."""
    model = block_model(lambda x: bottleneck_block(x, 64, 256, name="conv2_block1"),
                        input_shape=(56, 56, 64))
    kernels = {name: model.get_layer(f"conv2_block1_{name}_conv").kernel.shape
               for name in ("0", "1", "2", "3")}
    assert kernels == {"0": (1, 1, 64, 256), "1": (1, 1, 64, 64), "2": (3, 3, 64, 64),
                       "3": (1, 1, 64, 256)}
    assert tuple(model.output.shape) == (None, 56, 56, 256)
    assert not any(model.get_layer(f"conv2_block1_{n}_conv").use_bias for n in "0123")


@pytest.mark.parametrize("stride_on, first, middle", [("1x1", (2, 2), (1, 1)),
                                                      ("3x3", (1, 1), (2, 2))])
def test_bottleneck_stride_placement(stride_on, first, middle):
    """v1 (the paper's Caffe model) strides the first 1x1; torchvision's v1.5 the 3x3."""
    model = block_model(lambda x: bottleneck_block(x, 8, 32, strides=2, stride_on=stride_on,
                                                   name="b"))
    assert model.get_layer("b_1_conv").strides == first
    assert model.get_layer("b_2_conv").strides == middle
    assert tuple(model.output.shape) == (None, 4, 4, 32)


def test_grouped_bottleneck_splits_the_3x3_convolution():
    """ResNeXt (Xie et al. 2017, Fig. 3c): 32 groups of 4 channels in the 3x3 layer."""
    model = block_model(lambda x: bottleneck_block(x, 128, 256, groups=32, name="b"),
                        input_shape=(8, 8, 256))
    layer = model.get_layer("b_2_conv")
    assert layer.kernel.shape == (3, 3, 4, 128)
    assert layer.count_params() == 3 * 3 * 128 * 128 // 32


def test_strided_convolution_pads_symmetrically_like_caffe():
    import tensorflow as tf

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, conv(inputs, 4, 3, strides=2, name="c"))
    x = random(1, 8, 8, 3)
    kernel = model.get_layer("c_conv").kernel
    expected = tf.nn.conv2d(x, numpy(kernel), strides=2, padding=[[0, 0], [1, 1], [1, 1], [0, 0]])
    np.testing.assert_allclose(numpy(model(x)), expected.numpy(), atol=1e-5)


def test_he_initialization():
    """He et al. 2015: N(0, 2/fan_in), not truncated at two standard deviations."""
    inputs = keras.Input((8, 8, 256))
    model = keras.Model(inputs, conv(inputs, 256, 3, name="c"))
    kernel = numpy(model.get_layer("c_conv").kernel)
    std = np.sqrt(2 / (3 * 3 * 256))
    assert kernel.std() == pytest.approx(std, rel=0.02)
    assert np.abs(kernel).max() > 3 * std


def test_preact_block_is_identity_plus_branch_without_final_relu():
    """Wide ResNet block (Fig. 1d): x + conv(relu(bn(conv(relu(bn(x)))))), no ReLU after."""
    model = block_model(lambda x: preact_block(x, 16, dropout=0.3, name="b"))
    assert layer_types(model).count("Dropout") == 1
    kernel = model.get_layer("b_2_conv").kernel
    kernel.assign(np.zeros(kernel.shape, "float32"))
    x = random(2, 8, 8, 16)
    np.testing.assert_allclose(numpy(model(x)), x, atol=1e-6)


def test_preact_block_projects_the_preactivated_input_when_the_shape_changes():
    model = block_model(lambda x: preact_block(x, 32, strides=2, name="b"))
    projection = model.get_layer("b_0_conv")
    assert projection.kernel.shape == (1, 1, 16, 32)
    assert projection.input is model.get_layer("b_preact_relu").output


def test_stochastic_depth_sits_on_the_residual_branch():
    model = block_model(lambda x: basic_block(x, 16, survival_probability=0.8, name="b"))
    drop = model.get_layer("b_drop")
    assert isinstance(drop, StochasticDepth) and drop.survival_probability == 0.8
    assert drop.input is model.get_layer("b_2_bn").output


@pytest.mark.parametrize("build, message", [
    (lambda x: basic_block(x, 0, name="b"), "filters must be a positive integer"),
    (lambda x: basic_block(x, 16, shortcut="D", name="b"), "shortcut must be one of"),
    (lambda x: bottleneck_block(x, 8, 32, stride_on="2x2", name="b"), "stride_on must be one"),
    (lambda x: bottleneck_block(x, 10, 32, groups=4, name="b"), "multiple of groups"),
    (lambda x: preact_block(x, 16, dropout=1.0, name="b"), r"dropout must be in \[0, 1\)"),
    (lambda x: basic_block(x, 16, shortcut=None, survival_probability=0.5, name="b"),
     "needs a shortcut"),
    # 1.5 built no stochastic depth; "2" and (2, 2) were Python's TypeError
    (lambda x: basic_block(x, 16, survival_probability=1.5, name="b"),
     r"survival_probability must be in \(0, 1\], got 1.5"),
    (lambda x: bottleneck_block(x, 8, 32, strides="2", name="b"),
     "strides must be a positive integer, got '2'"),
    (lambda x: preact_block(x, 16, strides=(2, 2), name="b"),
     r"strides must be a positive integer, got \(2, 2\)"),
])
def test_bad_block_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build(keras.Input((8, 8, 16)))


def test_numpy_integers_build_as_pythons():
    # Keras's Conv2D refused np.int64(2) ("must be a tuple of 2 integers"), though the
    # blocks' checks let NumPy integers through.
    def build(stride, kernel):
        x = keras.Input((8, 8, 16))
        x = basic_block(x, 16, strides=stride, name="a")
        x = bottleneck_block(x, 8, 32, strides=stride, name="b")
        x = preact_block(x, 32, strides=stride, name="c")
        return conv_bn(x, 8, kernel, strides=stride, name="d")

    assert build(np.int64(2), np.int64(3)).shape == build(2, 3).shape == (None, 1, 1, 8)


def test_blocks_round_trip(round_trip):
    def build(x):
        x = basic_block(x, 32, strides=2, shortcut="A", survival_probability=0.9, name="a")
        x = bottleneck_block(x, 16, 64, strides=2, groups=4, stride_on="3x3", name="b")
        x = preact_block(x, 64, dropout=0.3, name="c")
        return keras.layers.GlobalAveragePooling2D()(x)

    round_trip(block_model(build), random(2, 8, 8, 16), atol=1e-5)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_blocks_under_mixed_precision(mixed_precision):
    model = block_model(lambda x: basic_block(x, 32, strides=2, shortcut="A",
                                              survival_probability=0.5, name="b"))
    assert model.get_layer("b_0_pad").compute_dtype == "float16"
    for training in (False, True):
        output = model(random(2, 8, 8, 16), training=training)
        assert output.dtype == "float16"
        assert np.isfinite(numpy(output)).all()
