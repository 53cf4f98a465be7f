"""VGG (Simonyan and Zisserman, 2014): Table 1 layouts, Table 2 parameters, the
lecture notes' VGG-16 table, and weight compatibility with keras.applications."""

from __future__ import annotations

import gc

import keras
import numpy as np
import pytest

import recipes
from layers import LocalResponseNormalization

# Table 2: number of parameters in millions.
TABLE_2_MILLIONS = {"vgg_a": 133, "vgg_a_lrn": 133, "vgg_b": 133, "vgg_c": 134, "vgg_d": 138,
                    "vgg_e": 144}
# Table 1: weight layers per configuration.
WEIGHT_LAYERS = {"vgg_a": 11, "vgg_a_lrn": 11, "vgg_b": 13, "vgg_c": 16, "vgg_d": 16,
                 "vgg_e": 19}

# The lecture notes' VGG-16 table: output shape and weights (not counting biases)
# of every layer.
LECTURE_VGG16 = [
    ("conv1_1", (224, 224, 64), 1_728),
    ("conv1_2", (224, 224, 64), 36_864),
    ("pool1", (112, 112, 64), 0),
    ("conv2_1", (112, 112, 128), 73_728),
    ("conv2_2", (112, 112, 128), 147_456),
    ("pool2", (56, 56, 128), 0),
    ("conv3_1", (56, 56, 256), 294_912),
    ("conv3_2", (56, 56, 256), 589_824),
    ("conv3_3", (56, 56, 256), 589_824),
    ("pool3", (28, 28, 256), 0),
    ("conv4_1", (28, 28, 512), 1_179_648),
    ("conv4_2", (28, 28, 512), 2_359_296),
    ("conv4_3", (28, 28, 512), 2_359_296),
    ("pool4", (14, 14, 512), 0),
    ("conv5_1", (14, 14, 512), 2_359_296),
    ("conv5_2", (14, 14, 512), 2_359_296),
    ("conv5_3", (14, 14, 512), 2_359_296),
    ("pool5", (7, 7, 512), 0),
    ("fc6", (4096,), 102_760_448),
    ("fc7", (4096,), 16_777_216),
    ("logits", (1000,), 4_096_000),
]


def _weight_layers(model):
    return [layer for layer in model.layers if layer.weights]


@pytest.fixture(scope="module")
def vgg16():
    model = recipes.build("vgg_d")
    yield model
    del model
    gc.collect()


@pytest.mark.parametrize("name", sorted(TABLE_2_MILLIONS))
def test_parameters_and_depth_match_tables_1_and_2(name):
    model = recipes.build(name)
    assert round(model.count_params() / 1e6) == TABLE_2_MILLIONS[name]
    assert len(_weight_layers(model)) == WEIGHT_LAYERS[name]


def test_vgg16_matches_the_lecture_table(vgg16):
    for layer_name, shape, weights in LECTURE_VGG16:
        layer = vgg16.get_layer(layer_name)
        assert tuple(layer.output.shape[1:]) == shape, layer_name
        kernel_size = int(np.prod(layer.kernel.shape)) if layer.weights else 0
        assert kernel_size == weights, layer_name
    # "TOTAL params: 138M"; biases add 13,416 to the lecture's weights-only sum.
    assert vgg16.count_params() == sum(w for _, _, w in LECTURE_VGG16) + 13_416 == 138_357_544


def test_configuration_c_has_1x1_convolutions_at_the_end_of_stages_3_to_5():
    model = recipes.build("vgg_c")
    ones = sorted(layer.name for layer in model.layers
                  if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1))
    assert ones == ["conv3_3", "conv4_3", "conv5_3"]


def test_a_lrn_normalizes_after_conv1_1_with_alexnets_parameters():
    model = recipes.build("vgg_a_lrn")
    names = [layer.name for layer in model.layers]
    assert names[names.index("conv1_1") + 1] == "norm1"
    norm = model.get_layer("norm1")
    assert isinstance(norm, LocalResponseNormalization)
    assert (norm.size, norm.k, norm.alpha, norm.beta) == (5, 2.0, 1e-4, 0.75)
    assert sum(isinstance(layer, LocalResponseNormalization) for layer in model.layers) == 1


@pytest.mark.parametrize("alias, name", [("vgg11", "vgg_a"), ("vgg13", "vgg_b"),
                                         ("vgg16", "vgg_d"), ("vgg19", "vgg_e")])
def test_numbered_names_are_the_same_networks_with_glorot_initialization(alias, name):
    assert recipes.get(alias).builder is recipes.get(name).builder
    assert ({**recipes.get(alias).variant, "initialization": "normal"}
            == dict(recipes.get(name).variant))
    assert recipes.get(alias).variant["initialization"] == "glorot"


def test_the_papers_initialization_and_glorots():
    # Section 3.1: weights from N(0, 0.01) (the paper's "10^-2 variance", read as AlexNet's
    # std), biases zero; its later note: Glorot & Bengio's initialization.
    small = dict(input_shape=(32, 32, 3), classes=10)
    for name in ("vgg_a", "vgg_d"):
        model = recipes.build(name, **small)
        for layer in _weight_layers(model):
            kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
            assert not bias.any(), layer.name
            if kernel.size > 10_000:  # enough weights for the std to show
                assert abs(kernel.std() - 0.01) < 5e-4 and abs(kernel.mean()) < 5e-4, layer.name
        keras.backend.clear_session()
    glorot = recipes.build("vgg16", **small)
    conv = keras.ops.convert_to_numpy(glorot.get_layer("conv3_1").kernel)  # 3x3x128 -> 256
    limit = np.sqrt(6 / (9 * 128 + 9 * 256))
    # The draw is float32: its largest value may be the limit rounded up (0.041666668).
    assert abs(conv.std() - limit / np.sqrt(3)) < 1e-3
    assert np.abs(conv).max() <= np.float32(limit)
    keras.backend.clear_session()


def test_net_a_layers_that_initialize_the_deeper_nets():
    # Section 3.1: "the first four convolutional layers and the last three fully-connected
    # layers" of net A.
    model = recipes.build("vgg_a", input_shape=(32, 32, 3), classes=10)
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert recipes.vgg.NET_A_LAYERS == (*convs[:4], *dense[-3:])
    assert "vgg_shallow" in recipes.get("vgg_d").description


@pytest.mark.parametrize("name, application", [("vgg_d", "VGG16"), ("vgg_e", "VGG19")])
def test_weights_copy_from_keras_applications(name, application):
    reference = getattr(keras.applications, application)(weights=None,
                                                          classifier_activation=None)
    model = recipes.build(name, classifier_activation=None)
    for ours, theirs in zip(_weight_layers(model), _weight_layers(reference), strict=True):
        ours.set_weights(theirs.get_weights())
    images = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(images))
    actual = keras.ops.convert_to_numpy(model(images, training=False))
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_paper_training_configuration():
    training = recipes.get("vgg16").training
    assert training.optimizer == "momentum"
    assert (training.learning_rate, training.momentum) == (0.01, 0.9)
    assert (training.weight_decay, training.batch_size, training.epochs) == (5e-4, 256, 74)
    assert (training.schedule, training.decay_factor, training.dropout) == ("plateau", 0.1, 0.5)
    assert (training.plateau_monitor, training.plateau_drops) == ("validation", 3)
    # Section 2.1: the mean RGB value subtracted, nothing else.
    assert (training.augmentation, training.normalization) == ("vgg", "mean_rgb")
    # Table 3: A, A-LRN and B trained at S = 256 only; C, D and E's best with S jittered.
    scales = {name: recipes.get(name).training.augmentation
              for name in ("vgg_a", "vgg_a_lrn", "vgg_b", "vgg11", "vgg13", "vgg_c", "vgg_d",
                           "vgg_e", "vgg19")}
    assert scales == {**dict.fromkeys(("vgg_a", "vgg_a_lrn", "vgg_b", "vgg11", "vgg13"),
                                      "vgg_single_scale"),
                      **dict.fromkeys(("vgg_c", "vgg_d", "vgg_e", "vgg19"), "vgg")}


def test_dropout_follows_fc6_and_fc7(vgg16):
    rates = {layer.name: layer.rate for layer in vgg16.layers
             if isinstance(layer, keras.layers.Dropout)}
    assert rates == {"drop6": 0.5, "drop7": 0.5}


def test_too_small_input_names_the_layer_and_the_arithmetic():
    with pytest.raises(ValueError, match=r"'pool5'.*\(1 - 2 \+ 0\)/2 \+ 1"):
        recipes.build("vgg16", input_shape=(16, 16, 3))


def test_unknown_configuration_is_refused():
    with pytest.raises(ValueError, match="Unknown VGG configuration 'F'"):
        recipes.build("vgg16", configuration="F")
