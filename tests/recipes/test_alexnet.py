"""AlexNet (lecture table, Krizhevsky et al. 2012) and ZFNet (Zeiler and Fergus 2014)."""

from __future__ import annotations

import gc

import keras
import numpy as np
import pytest

import recipes
from layers import LocalResponseNormalization, MaxFilterRMS

# The lecture notes' "Full (simplified) AlexNet architecture".
LECTURE_ALEXNET = [
    ("conv1", (55, 55, 96)),
    ("pool1", (27, 27, 96)),
    ("norm1", (27, 27, 96)),
    ("conv2", (27, 27, 256)),
    ("pool2", (13, 13, 256)),
    ("norm2", (13, 13, 256)),
    ("conv3", (13, 13, 384)),
    ("conv4", (13, 13, 384)),
    ("conv5", (13, 13, 256)),
    ("pool3", (6, 6, 256)),
    ("fc6", (4096,)),
    ("fc7", (4096,)),
    ("logits", (1000,)),
]

# Zeiler and Fergus, Figure 3.
ZFNET_FIGURE_3 = [
    ("conv1", (110, 110, 96)),
    ("pool1", (55, 55, 96)),
    ("conv2", (26, 26, 256)),
    ("pool2", (13, 13, 256)),
    ("conv3", (13, 13, 384)),
    ("conv4", (13, 13, 384)),
    ("conv5", (13, 13, 256)),
    ("pool3", (6, 6, 256)),
    ("fc6", (4096,)),
    ("fc7", (4096,)),
]
# Table 2's widened variant: layers 3, 4, 5 of 512, 1024, 512 maps (the lectures' ZFNet).
ZFNET_WIDE_CHANNELS = {"conv3": 512, "conv4": 1024, "conv5": 512, "pool3": 512}


def conv_params(kernel, channels_in, filters, groups=1):
    return kernel * kernel * channels_in // groups * filters + filters


def dense_params(inputs, units):
    return inputs * units + units


@pytest.fixture(scope="module")
def alexnet():
    model = recipes.build("alexnet")
    yield model
    del model
    gc.collect()


def _layer_order(model):
    return [layer.name for layer in model.layers]


def test_output_shapes_follow_the_lecture_table(alexnet):
    for name, shape in LECTURE_ALEXNET:
        assert tuple(alexnet.get_layer(name).output.shape[1:]) == shape, name
    order = _layer_order(alexnet)
    assert order.index("pool1") < order.index("norm1") < order.index("conv2")


def test_single_tower_parameters(alexnet):
    expected = (conv_params(11, 3, 96) + conv_params(5, 96, 256) + conv_params(3, 256, 384)
                + conv_params(3, 384, 384) + conv_params(3, 384, 256)
                + dense_params(6 * 6 * 256, 4096) + dense_params(4096, 4096)
                + dense_params(4096, 1000))
    assert alexnet.count_params() == expected == 62_378_344


def test_initialization_of_section_5(alexnet):
    """Weights N(0, 0.01); biases 1 in conv2, conv4, conv5, fc6, fc7 and 0 elsewhere."""
    ones = {"conv2", "conv4", "conv5", "fc6", "fc7"}
    for layer in alexnet.layers:
        if layer.weights:
            bias = keras.ops.convert_to_numpy(layer.bias)
            np.testing.assert_array_equal(bias, 1.0 if layer.name in ones else 0.0)
    fc6 = keras.ops.convert_to_numpy(alexnet.get_layer("fc6").kernel)
    assert abs(fc6.std() - 0.01) < 1e-4 and abs(fc6.mean()) < 1e-4
    # Each layer its own draws: one shared initializer started every kernel from the same
    # numbers (conv3's and conv4's, fc6's and fc7's equal where they overlap).
    for first, second in (("conv3", "conv4"), ("fc6", "fc7"), ("fc7", "logits")):
        a, b = (keras.ops.convert_to_numpy(alexnet.get_layer(name).kernel).ravel()
                for name in (first, second))
        size = min(a.size, b.size)
        assert abs(np.corrcoef(a[:size], b[:size])[0, 1]) < 0.01, (first, second)


def test_lrn_has_the_papers_constants_and_dropout_is_one_half(alexnet):
    for name in ("norm1", "norm2"):
        norm = alexnet.get_layer(name)
        assert isinstance(norm, LocalResponseNormalization)
        assert (norm.size, norm.k, norm.alpha, norm.beta) == (5, 2.0, 1e-4, 0.75)
    assert {layer.name: layer.rate for layer in alexnet.layers
            if isinstance(layer, keras.layers.Dropout)} == {"drop6": 0.5, "drop7": 0.5}


def test_forward_pass_gives_a_float32_distribution(alexnet):
    images = np.random.default_rng(0).normal(size=(1, 227, 227, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(alexnet(images, training=False))
    assert probabilities.shape == (1, 1000) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)


def test_two_towers_group_conv2_conv4_conv5():
    model = recipes.build("alexnet_grouped")
    expected = (conv_params(11, 3, 96) + conv_params(5, 96, 256, groups=2)
                + conv_params(3, 256, 384) + conv_params(3, 384, 384, groups=2)
                + conv_params(3, 384, 256, groups=2) + dense_params(6 * 6 * 256, 4096)
                + dense_params(4096, 4096) + dense_params(4096, 1000))
    assert model.count_params() == expected == 60_965_224
    assert tuple(model.get_layer("conv2").kernel.shape) == (5, 5, 48, 256)  # "5x5x48"
    for name, shape in LECTURE_ALEXNET:
        assert tuple(model.get_layer(name).output.shape[1:])[-1] == shape[-1], name
    order = _layer_order(model)
    # Section 3.5: max pooling follows the response-normalization layers.
    assert order.index("norm1") < order.index("pool1")
    assert order.index("norm2") < order.index("pool2")


def test_zfnet_follows_figure_3():
    model = recipes.build("zfnet")
    for name, shape in ZFNET_FIGURE_3:
        assert tuple(model.get_layer(name).output.shape[1:]) == shape, name
    assert tuple(model.get_layer("conv1").kernel.shape) == (7, 7, 3, 96)
    assert model.get_layer("conv1").strides == (2, 2)
    assert model.get_layer("conv2").strides == (2, 2)
    expected = (conv_params(7, 3, 96) + conv_params(5, 96, 256) + conv_params(3, 256, 384)
                + conv_params(3, 384, 384) + conv_params(3, 384, 256)
                + dense_params(6 * 6 * 256, 4096) + dense_params(4096, 4096)
                + dense_params(4096, 1000))
    assert model.count_params() == expected == 62_357_608
    biases = [keras.ops.convert_to_numpy(layer.bias) for layer in model.layers if layer.weights]
    assert all(not bias.any() for bias in biases)  # section 3.1: biases set to 0
    order = _layer_order(model)  # Figure 3's caption: ReLU, pool, contrast normalization
    assert order.index("pool1") < order.index("norm1") < order.index("conv2")


def test_zfnet_wide_is_table_2s_variant_of_figure_3():
    model = recipes.build("zfnet_wide")
    for name, shape in ZFNET_FIGURE_3:
        channels = ZFNET_WIDE_CHANNELS.get(name, shape[-1])
        assert tuple(model.get_layer(name).output.shape[1:]) == (*shape[:-1], channels), name
    expected = (conv_params(7, 3, 96) + conv_params(5, 96, 256) + conv_params(3, 256, 512)
                + conv_params(3, 512, 1024) + conv_params(3, 1024, 512)
                + dense_params(6 * 6 * 512, 4096) + dense_params(4096, 4096)
                + dense_params(4096, 1000))
    assert model.count_params() == expected == 107_627_624


def test_zfnet_renormalizes_conv_filters_to_rms_point_one():
    # Section 3.1: conv filters whose RMS exceeds 0.1 are renormalized to 0.1; AlexNet's
    # and the FC layers' weights are unconstrained.
    small = dict(input_shape=(63, 63, 3), classes=10)
    for name in ("zfnet", "zfnet_wide"):
        model = recipes.build(name, **small)
        for index in range(1, 6):
            constraint = model.get_layer(f"conv{index}").kernel_constraint
            assert isinstance(constraint, MaxFilterRMS) and constraint.max_rms == 0.1
        assert all(model.get_layer(layer).kernel_constraint is None
                   for layer in ("fc6", "fc7", "logits"))
    alexnet = recipes.build("alexnet", input_shape=(67, 67, 3), classes=10)
    assert alexnet.get_layer("conv1").kernel_constraint is None
    model = recipes.build("zfnet", **small)
    conv1 = model.get_layer("conv1")
    conv1.kernel.assign(np.full(conv1.kernel.shape, 0.5, "float32"))  # RMS 0.5
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).normal(size=(2, 63, 63, 3)).astype("float32")
    model.train_on_batch(images, np.array([0, 1]))
    kernel = keras.ops.convert_to_numpy(conv1.kernel)
    np.testing.assert_allclose(np.sqrt(np.mean(kernel ** 2, axis=(0, 1, 2))), 0.1, rtol=1e-5)


def test_single_tower_documents_its_norm_pool_order():
    # The lectures' table pools, then normalizes; the paper's order is alexnet_grouped's.
    for text in (recipes.get("alexnet").description, recipes.get("alexnet").table):
        assert "pool" in text
    assert "alexnet_grouped" in recipes.get("alexnet").description
    assert "before" in recipes.get("alexnet_grouped").description


def test_training_configurations_of_the_papers():
    alexnet = recipes.get("alexnet").training
    assert (alexnet.optimizer, alexnet.learning_rate, alexnet.momentum) == ("momentum", 0.01, 0.9)
    assert (alexnet.weight_decay, alexnet.batch_size, alexnet.epochs) == (5e-4, 128, 90)
    assert (alexnet.schedule, alexnet.decay_factor, alexnet.augmentation) == (
        "plateau", 0.1, "alexnet")
    # Section 5: the rate divided by 10 three times, watching the validation error.
    assert (alexnet.plateau_monitor, alexnet.plateau_drops, alexnet.plateau_patience) == (
        "validation", 3, 5)
    assert recipes.get("alexnet_grouped").training == alexnet
    zfnet = recipes.get("zfnet").training
    assert (zfnet.learning_rate, zfnet.momentum, zfnet.batch_size, zfnet.epochs) == (
        0.01, 0.9, 128, 70)
    # Section 3.1: ten fixed sub-crops, no PCA colour noise; per-pixel mean subtracted.
    assert (zfnet.augmentation, zfnet.normalization) == ("zfnet", "mean_image")
    assert recipes.get("zfnet_wide").training == zfnet


def test_mnist_sized_input_names_the_layer_and_the_arithmetic():
    # conv1: (28 - 11)/4 + 1 = 5, pool1: 2, conv2 (pad 2): 2, then pool2 cannot fit.
    with pytest.raises(ValueError, match=r"'pool2'.*\(2 - 3 \+ 0\)/2 \+ 1"):
        recipes.build("alexnet", input_shape=(28, 28, 1), classes=10)


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="Unknown architecture 'lenet'"):
        recipes.build("alexnet", architecture="lenet")


def test_grouped_model_round_trips(round_trip):
    # 67x67 is the smallest input AlexNet's arithmetic accepts (pool3 gives 1x1).
    model = recipes.build("alexnet_grouped", input_shape=(67, 67, 3), classes=10)
    assert tuple(model.get_layer("pool3").output.shape[1:]) == (1, 1, 256)
    images = np.random.default_rng(1).normal(size=(2, 67, 67, 3)).astype("float32")
    round_trip(model, images, atol=1e-6)
