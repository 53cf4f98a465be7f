"""Network in Network (Lin et al., 2013), CIFAR-10 configuration."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import recipes

# Output shape of every layer on a 32x32x3 CIFAR-10 image.
SHAPES = [
    ("conv1", (32, 32, 192)), ("cccp1", (32, 32, 160)), ("cccp2", (32, 32, 96)),
    ("pool1", (16, 16, 96)),
    ("conv2", (16, 16, 192)), ("cccp3", (16, 16, 192)), ("cccp4", (16, 16, 192)),
    ("pool2", (8, 8, 192)),
    ("conv3", (8, 8, 192)), ("cccp5", (8, 8, 192)), ("cccp6", (8, 8, 10)),
    ("logits", (10,)),
]


@pytest.fixture(scope="module")
def nin():
    return recipes.build("nin")


def test_layer_shapes(nin):
    for name, shape in SHAPES:
        assert tuple(nin.get_layer(name).output.shape[1:]) == shape, name


def test_parameters_counted_by_hand(nin):
    def conv(kernel, channels_in, filters):
        return kernel * kernel * channels_in * filters + filters

    expected = (conv(5, 3, 192) + conv(1, 192, 160) + conv(1, 160, 96)
                + conv(5, 96, 192) + conv(1, 192, 192) + conv(1, 192, 192)
                + conv(3, 192, 192) + conv(1, 192, 192) + conv(1, 192, 10))
    assert nin.count_params() == expected == 966_986


def test_no_fully_connected_layer_and_dropout_between_blocks(nin):
    assert not any(isinstance(layer, keras.layers.Dense) for layer in nin.layers)
    assert {layer.name: layer.rate for layer in nin.layers
            if isinstance(layer, keras.layers.Dropout)} == {"dropout1": 0.5, "dropout2": 0.5}
    for name in ("pool1", "pool2"):  # the authors' CIFAR-10 prototxt: MAX, kernel 3, stride 2
        pool = nin.get_layer(name)
        assert isinstance(pool, keras.layers.MaxPooling2D), name
        assert (pool.pool_size, pool.strides) == ((3, 3), (2, 2)), name


def test_logits_are_the_spatial_mean_of_the_class_maps(nin):
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    probe = keras.Model(nin.input, [nin.get_layer("cccp6").output, nin.get_layer("logits").output])
    maps, logits = (keras.ops.convert_to_numpy(t) for t in probe(images, training=False))
    np.testing.assert_allclose(logits, maps.mean(axis=(1, 2)), rtol=1e-5, atol=1e-7)
    probabilities = keras.ops.convert_to_numpy(nin(images, training=False))
    np.testing.assert_allclose(probabilities, keras.ops.convert_to_numpy(
        keras.ops.softmax(logits)), rtol=1e-5, atol=1e-7)


def test_classes_set_the_last_mlpconv_width():
    model = recipes.build("nin", classes=100)
    assert model.get_layer("cccp6").filters == 100
    assert tuple(model.output.shape[1:]) == (100,)


def test_round_trip(nin, round_trip):
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    round_trip(nin, images, atol=1e-6)


def test_training_follows_section_4():
    training = recipes.get("nin").training
    # Section 4.1: divided by 10 when the training accuracy stops improving, twice (the
    # final rate is 1% of the initial one); section 4.2: GCN and ZCA whitening.
    assert (training.schedule, training.decay_factor) == ("plateau", 0.1)
    assert (training.plateau_monitor, training.plateau_drops) == ("training", 2)
    assert (training.normalization, training.augmentation) == ("gcn_zca", "cifar")
