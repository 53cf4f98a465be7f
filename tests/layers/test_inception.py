"""The Inception module with 1x1 reductions and pool projection (Szegedy et al. 2015, Fig. 2(b))."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from layers import InceptionFilters, UsageError, inception_module

INCEPTION_3A = InceptionFilters(64, 96, 128, 16, 32, 32)  # Table 1, inception (3a)
BRANCH_LAYERS = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool", "pool_proj")


def module_model(filters, shape, name="inception_3a"):
    inputs = keras.Input(shape)
    return keras.Model(inputs, inception_module(inputs, filters, name=name))


def test_inception_3a_is_28x28x256_with_table_1_weights():
    model = module_model(INCEPTION_3A, (28, 28, 192))
    assert tuple(model.output_shape) == (None, 28, 28, 256)
    assert INCEPTION_3A.output_channels == 256
    weights = sum(int(np.prod(layer.kernel.shape)) for layer in model.layers
                  if isinstance(layer, keras.layers.Conv2D))
    # 192*64 + 192*96 + 9*96*128 + 192*16 + 25*16*32 + 192*32 = 163,328 = 159.5K (K = 1024)
    assert weights == 163_328
    assert model.count_params() == 163_328 + 64 + 96 + 128 + 16 + 32 + 32


def test_layers_are_named_after_the_reference_blobs():
    model = module_model(INCEPTION_3A, (28, 28, 192))
    names = {layer.name for layer in model.layers}
    assert {f"inception_3a_{suffix}" for suffix in BRANCH_LAYERS} | {"inception_3a"} <= names
    assert model.get_layer("inception_3a_3x3").kernel.shape == (3, 3, 96, 128)
    assert model.get_layer("inception_3a_5x5").kernel.shape == (5, 5, 16, 32)
    assert model.get_layer("inception_3a_pool_proj").kernel.shape == (1, 1, 192, 32)


def test_module_equals_the_four_relu_branches_concatenated():
    filters = InceptionFilters(3, 2, 4, 1, 2, 5)
    model = module_model(filters, (9, 7, 6), name="m")
    inputs = np.random.default_rng(0).normal(size=(2, 9, 7, 6)).astype("float32")
    for layer in model.layers:  # non-zero biases, so the reference checks them too
        if isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(np.random.default_rng(1).normal(size=layer.bias.shape))

    def conv(x, suffix):
        layer = model.get_layer(f"m_{suffix}")
        return tf.nn.relu(tf.nn.conv2d(x, layer.kernel.numpy(), 1, "SAME") + layer.bias.numpy())

    pooled = tf.nn.max_pool2d(inputs, 3, 1, "SAME")
    expected = tf.concat([conv(inputs, "1x1"), conv(conv(inputs, "3x3_reduce"), "3x3"),
                          conv(conv(inputs, "5x5_reduce"), "5x5"), conv(pooled, "pool_proj")],
                         axis=-1)
    np.testing.assert_allclose(model(inputs).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert model.output_shape[-1] == 3 + 4 + 2 + 5


@pytest.mark.parametrize("filters, message", [
    ((64, 96, 128, 16, 32), "six counts"),
    ((64, 96, 128, 16, 32, 0), "pool_proj must be a positive integer, got 0"),
    ((64, -96, 128, 16, 32, 32), "n3x3_reduce must be a positive integer, got -96"),
    ((64, 96, 12.5, 16, 32, 32), "n3x3 must be a positive integer"),
    (64, "six counts"),
])
def test_bad_filter_counts_raise_a_clear_value_error(filters, message):
    with pytest.raises(ValueError, match=message):
        inception_module(keras.Input((28, 28, 192)), filters, name="inception_3a")


def test_conv_kwargs_reach_every_convolution():
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, inception_module(
        inputs, InceptionFilters(1, 1, 1, 1, 1, 1), "m", kernel_regularizer="l2",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)))
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 6 and all(layer.kernel_regularizer is not None for layer in convs)
    # One initializer instance for every convolution: each draws its own numbers (Keras
    # fixes an unseeded one's seed when it is made; the four 1x1 kernels were equal).
    ones = [keras.ops.convert_to_numpy(model.get_layer(f"m_{branch}").kernel).ravel()
            for branch in ("1x1", "3x3_reduce", "5x5_reduce", "pool_proj")]
    assert len({tuple(kernel) for kernel in ones}) == 4


@pytest.mark.parametrize("kwargs", [{"padding": "valid"}, {"activation": None},
                                    {"strides": 2}, {"data_format": "channels_first"}])
def test_conv_kwargs_cannot_change_the_fixed_padding_stride_layout_or_relu(kwargs):
    # strides=2 and channels_first reached Keras's Concatenate, which refused the branches.
    with pytest.raises(UsageError, match=f"inception_module fixes {next(iter(kwargs))}"):
        inception_module(keras.Input((8, 8, 4)), InceptionFilters(1, 1, 1, 1, 1, 1), "m",
                         **kwargs)


def test_a_model_with_inception_modules_round_trips(round_trip):
    inputs = keras.Input((8, 8, 3))
    x = inception_module(inputs, InceptionFilters(4, 3, 5, 2, 3, 2), name="inception_a")
    x = inception_module(x, InceptionFilters(2, 2, 2, 2, 2, 2), name="inception_b")
    model = keras.Model(inputs, x)
    round_trip(model, np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32"))
