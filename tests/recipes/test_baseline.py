"""The lectures' baselines: the dropout MLP and the generic convnet pattern."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import recipes


def test_mlp_is_784_256_256_10_with_dropout():
    model = recipes.build("mlp")
    assert model.count_params() == (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    assert [(layer.name, layer.units) for layer in model.layers
            if isinstance(layer, keras.layers.Dense)] == [
        ("hidden1", 256), ("hidden2", 256), ("logits", 10)]
    assert {layer.name: layer.rate for layer in model.layers
            if isinstance(layer, keras.layers.Dropout)} == {"dropout1": 0.5, "dropout2": 0.5}


def test_mlp_inference_is_the_plain_affine_relu_stack():
    """At inference dropout is off: the output is softmax(relu(relu(x W1 + b1) W2 + b2) W3 + b3)."""
    model = recipes.build("mlp")
    images = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    x = images.reshape(3, -1)
    for name in ("hidden1", "hidden2"):
        kernel, bias = model.get_layer(name).get_weights()
        x = np.maximum(x @ kernel + bias, 0)
    kernel, bias = model.get_layer("logits").get_weights()
    logits = x @ kernel + bias
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    actual = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6)


def test_mlp_builds_the_lectures_activation_statistics_network():
    """10 tanh layers of 500 units, no dropout, the initializer under study."""
    model = recipes.build("mlp", input_shape=(500,), hidden_units=(500,) * 10,
                          activation="tanh", dropout=0.0,
                          kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    hidden = [layer for layer in model.layers if layer.name.startswith("hidden")]
    assert [layer.units for layer in hidden] == [500] * 10
    assert all(layer.activation is keras.activations.tanh for layer in hidden)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert abs(float(np.std(hidden[0].get_weights()[0])) - 0.01) < 5e-4


def test_checking_the_mlps_initializer_draws_nothing_from_the_seeded_streams(monkeypatch):
    # Checking kernel_initializer="he_normal" made an unseeded HeNormal, which draws its
    # seed from Python's random stream: every layer's weights moved after a seed was set.
    from recipes import baseline

    def weights():
        keras.utils.set_random_seed(0)
        return recipes.build("mlp", kernel_initializer="he_normal").get_weights()

    checked = weights()
    monkeypatch.setattr(baseline, "_check_identifier", lambda *args: None)
    for expected, actual in zip(weights(), checked):
        np.testing.assert_array_equal(actual, expected)


def convnet_parameters(input_size, channels, n, m, k, filters, fc_units, kernel, classes, pool):
    """The pattern's parameter count, written out independently of the builder."""
    total, size = 0, input_size
    for width in filters:
        for _ in range(n):
            total += kernel * kernel * channels * width + width
            channels = width
        size = size // 2 if pool else size
    features = size * size * channels
    for units in fc_units:
        total += features * units + units
        features = units
    return total + features * classes + classes


@pytest.mark.parametrize("options", [
    {},
    {"convs_per_block": 1, "blocks": 2, "fc_layers": 0, "filters": 16, "fc_units": ()},
    {"convs_per_block": 3, "blocks": 2, "fc_layers": 2, "filters": (8, 16), "fc_units": (64, 32),
     "kernel_size": 5},
    {"convs_per_block": 1, "blocks": 1, "fc_layers": 1, "filters": 4, "fc_units": 10,
     "pool": False},
])
def test_convnet_follows_the_pattern(options):
    variant = {**recipes.get("convnet").variant, "kernel_size": 3, "pool": True, **options}
    n, m, k = variant["convs_per_block"], variant["blocks"], variant["fc_layers"]
    filters, fc_units = variant["filters"], variant["fc_units"]
    filters = filters if isinstance(filters, tuple) else (filters,) * m
    fc_units = fc_units if isinstance(fc_units, tuple) else (fc_units,) * k
    model = recipes.build("convnet", **options)
    layers = model.layers
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in layers) == n * m
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in layers) == (
        m if variant["pool"] else 0)
    assert sum(isinstance(layer, keras.layers.Dense) for layer in layers) == k + 1
    assert model.count_params() == convnet_parameters(
        32, 3, n, m, k, filters, fc_units, variant["kernel_size"], 10, variant["pool"])


def test_convnet_default_is_n2_m3_k1():
    model = recipes.build("convnet")
    assert [layer.name for layer in model.layers if layer.weights] == [
        "block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
        "block3_conv2", "fc1", "logits"]
    assert tuple(model.get_layer("block3_pool").output.shape[1:]) == (4, 4, 128)


def test_numpy_integers_and_booleans_build_what_pythons_do():
    # A configuration read from an array: "fc_units must be one positive integer ...,
    # got np.int64(64)", where the other recipes took NumPy values.
    given = dict(filters=32, growth=2, fc_units=64, pool=True, kernel_size=3, blocks=2)
    numpy = {name: np.bool_(value) if isinstance(value, bool) else np.int64(value)
             for name, value in given.items()}
    assert recipes.build("convnet", **numpy).get_config() == \
        recipes.build("convnet", **given).get_config()
    assert recipes.build("mlp", hidden_units=(np.int64(64), np.int32(32))).count_params() == \
        recipes.build("mlp", hidden_units=(64, 32)).count_params()


@pytest.mark.parametrize("options, message", [
    ({"convs_per_block": 0}, "convs_per_block"),
    ({"blocks": 0}, "blocks"),
    ({"fc_layers": -1}, "fc_layers"),
    ({"blocks": 2}, "filters"),  # the default widths name three blocks
    ({"filters": (32, 0, 64)}, "filters"),
    ({"fc_units": "wide"}, "fc_units"),
    ({"kernel_size": 0}, "kernel_size"),
    ({"pool": "yes"}, "pool"),
    ({"growth": 2}, r"filters=\(32, 64, 128\) gives every block's, so growth=2 would be "
                    r"ignored\."),
])
def test_convnet_refuses_nonsense(options, message):
    with pytest.raises(ValueError, match=message):
        recipes.build("convnet", **options)


@pytest.mark.parametrize("options, message", [
    ({"hidden_units": ()}, "hidden_units"),
    ({"hidden_units": (256, -1)}, "hidden_units"),
    ({"dropout": 1.0}, "dropout"),
    # Keras's own ValueError ("Could not interpret activation function identifier").
    ({"activation": "nope"}, r"^activation must be what Keras takes there, such as 'relu' or "
                             r"'tanh'; got 'nope'\.$"),
    ({"kernel_initializer": "nope"}, r"^kernel_initializer must be what Keras takes there"),
])
def test_mlp_refuses_nonsense(options, message):
    with pytest.raises(ValueError, match=message):
        recipes.build("mlp", **options)


def test_too_many_pools_name_the_layer():
    with pytest.raises(ValueError, match=r"'block3_pool'.*\(1 - 2 \+ 0\)/2 \+ 1"):
        recipes.build("convnet", input_shape=(4, 4, 3))


def test_logits_head_and_round_trip(round_trip):
    model = recipes.build("convnet", input_shape=(8, 8, 3), classifier_activation=None,
                          filters=4, fc_units=8)
    images = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    probe = keras.Model(model.input, model.get_layer("logits").output)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(images)),
                                  keras.ops.convert_to_numpy(probe(images)))
    round_trip(model, images)
    round_trip(recipes.build("mlp", input_shape=(8, 8, 3)), images)
