"""Dense evaluation (VGG, section 3.2): the fully connected head as convolutions."""

import keras
import numpy as np
import pytest

import recipes
from layers import UsageError, fully_convolutional


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def images(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(3)
    return recipes.build("lenet5_modern", classes=10, input_shape=(32, 32, 1),
                         classifier_activation="softmax")


def test_at_the_native_size_the_converted_network_is_the_original(lenet):
    dense = fully_convolutional(lenet)
    x = images((4, 32, 32, 1))
    np.testing.assert_allclose(numpy(dense(x)), numpy(lenet(x)), rtol=0, atol=1e-6)
    kernels = {layer.name: layer.kernel_size for layer in dense.layers
               if isinstance(layer, keras.layers.Conv2D)}
    assert kernels["f6"] == (1, 1) and kernels["logits"] == (1, 1)  # C5 leaves a 1x1 map
    assert not [layer for layer in dense.layers if isinstance(layer, keras.layers.Dense)]
    assert dense.count_params() == lenet.count_params()


def test_a_larger_image_averages_the_class_scores_of_every_window(lenet):
    # Sliding the 32x32 network over a 48x40 image at its total stride (4: two 2x2 pools)
    # gives a 5x3 class score map; dense evaluation averages it, then applies the softmax.
    dense = fully_convolutional(lenet)
    x = images((2, 48, 40, 1), seed=1)
    scores = keras.Model(lenet.input, lenet.get_layer("logits").output)
    windows = [numpy(scores(x[:, 4 * i:4 * i + 32, 4 * j:4 * j + 32]))
               for i in range(5) for j in range(3)]
    expected = numpy(keras.activations.softmax(np.mean(windows, axis=0)))
    np.testing.assert_allclose(numpy(dense(x)), expected, rtol=1e-5, atol=1e-6)


def test_vgg_fully_connected_layers_become_convolutions_sharing_the_trunk():
    keras.utils.set_random_seed(4)
    model = recipes.build("vgg11", classes=10, input_shape=(64, 64, 3),
                          classifier_activation=None)
    dense = fully_convolutional(model)
    x = images((2, 64, 64, 3), seed=2)
    np.testing.assert_allclose(numpy(dense(x)), numpy(model(x)), rtol=1e-5, atol=1e-5)
    assert [dense.get_layer(name).kernel_size for name in ("fc6", "fc7", "logits")] == [
        (2, 2), (1, 1), (1, 1)]  # a 64x64 input leaves a 2x2x512 map after pool5
    assert dense.get_layer("conv1_1") is model.get_layer("conv1_1")  # shared, not copied
    assert numpy(dense(images((1, 96, 128, 3)))).shape == (1, 10)


@pytest.mark.slow
def test_vgg16_at_224_fc6_is_a_7x7_convolution():
    # The paper's numbers: fc6 over the 7x7x512 map of pool5 as a 7x7 conv, fc7 and fc8 as 1x1.
    keras.utils.set_random_seed(5)
    model = recipes.build("vgg16", classes=10, classifier_activation="softmax")
    dense = fully_convolutional(model)
    assert [(dense.get_layer(name).kernel_size, dense.get_layer(name).filters)
            for name in ("fc6", "fc7", "logits")] == [((7, 7), 4096), ((1, 1), 4096), ((1, 1), 10)]
    x = images((1, 224, 224, 3), seed=3)
    np.testing.assert_allclose(numpy(dense(x)), numpy(model(x)), rtol=1e-5, atol=1e-6)
    del model, dense
    keras.backend.clear_session()


@pytest.mark.parametrize("name, reaches", [("nin", "'logits' (GlobalAveragePooling2D)"),
                                           ("resnet20", "'avg_pool' (GlobalAveragePooling2D)"),
                                           ("alphago_policy", None)])
def test_networks_without_fully_connected_layers_to_convert_are_refused(name, reaches):
    # NiN and ResNet end in global average pooling; AlphaGo flattens its last 1x1
    # convolution's map into the move logits, with no Dense layer.
    with pytest.raises(UsageError, match="no fully connected layers") as error:
        fully_convolutional(recipes.build(name))
    if reaches:
        assert f"its head reaches {reaches} before any Flatten layer" in str(error.value)


def test_a_layer_after_the_fully_connected_layers_that_is_not_per_position_is_named():
    # LeNet-5 has F6, but its RBF output compares the whole vector with each class's code:
    # it was said to have no fully connected layers.
    with pytest.raises(UsageError, match=r"^'lenet5' cannot be evaluated densely: 'rbf' "
                                         r"\(EuclideanRBF\), after its fully connected layers"):
        fully_convolutional(recipes.build("lenet5"))


def with_moving_statistics(model, seed):
    """``model`` with random moving means and variances in its batch normalizations (at
    their initial 0 and 1 they would hide a normalization on the wrong axis)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(size=size).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=size).astype("float32"))
    return model


def test_batch_normalization_in_the_head_normalizes_every_position():
    keras.utils.set_random_seed(6)
    model = with_moving_statistics(recipes.build(
        "lenet5_modern", classes=10, input_shape=(32, 32, 1), batch_norm=True,
        classifier_activation="softmax"), seed=6)
    assert isinstance(model.get_layer("f6_bn"), keras.layers.BatchNormalization)
    dense = fully_convolutional(model)
    x = images((2, 32, 32, 1), seed=7)
    np.testing.assert_allclose(numpy(dense(x)), numpy(model(x)), rtol=1e-5, atol=1e-6)
    larger = images((2, 40, 36, 1), seed=8)  # a 3x2 score map
    scores = keras.Model(model.input, model.get_layer("logits").output)
    windows = [numpy(scores(larger[:, 4 * i:4 * i + 32, 4 * j:4 * j + 32]))
               for i in range(3) for j in range(2)]
    np.testing.assert_allclose(numpy(dense(larger)),
                               numpy(keras.activations.softmax(np.mean(windows, axis=0))),
                               rtol=1e-5, atol=1e-6)


def test_a_sequential_model_converts():
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(5, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    x = images((2, 8, 8, 2), seed=9)
    np.testing.assert_allclose(numpy(fully_convolutional(model)(x)), numpy(model(x)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [keras.layers.BatchNormalization(name="flat"),
                                   keras.layers.Activation("softmax", name="flat")])
def test_a_normalization_of_the_flattened_map_is_refused(layer):
    # A softmax over the flattened map became one over each position's channels: at the
    # native size the converted network's scores were 0.77 off.
    inputs = keras.Input((4, 4, 2))
    flat = layer(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(flat))
    with pytest.raises(UsageError, match=rf"'flat' .{type(layer).__name__}. acts on each of the "
                                         "flattened map's features"):
        fully_convolutional(model)


def test_batch_normalization_after_a_dense_layer_on_axis_1_converts():
    # axis=1 is a vector's features, and would be a map's rows: the copy failed to build.
    keras.utils.set_random_seed(8)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Dense(8)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(inputs)))
    x = keras.layers.BatchNormalization(axis=1, beta_initializer="ones")(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    x = images((2, 6, 6, 3), seed=10)
    np.testing.assert_allclose(numpy(fully_convolutional(model)(x)), numpy(model(x)),
                               rtol=1e-5, atol=1e-6)


def test_the_bodys_batch_normalizations_stay_the_originals():
    # Every batch normalization was copied with axis=-1: one of the body on rows (axis=1)
    # then normalized channels (2.72 off at the native size) and the body's layers were
    # no longer the original's.
    keras.utils.set_random_seed(9)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)  # 4x4x4: rows and channels of one size
    x = keras.layers.BatchNormalization(axis=1, beta_initializer="ones", name="rows")(x)
    model = with_moving_statistics(keras.Model(
        inputs, keras.layers.Dense(5)(keras.layers.Flatten()(x))), seed=11)
    dense = fully_convolutional(model)
    x = images((2, 6, 6, 3), seed=12)
    np.testing.assert_allclose(numpy(dense(x)), numpy(model(x)), rtol=1e-5, atol=1e-6)
    assert dense.get_layer("rows") is model.get_layer("rows")


def test_only_a_functional_model_converts():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(UsageError, match=r"Dense evaluation takes a functional Keras model "
                                         r"\(one called on keras.Input\), got Subclassed"):
        fully_convolutional(Subclassed(name="plain"))


def test_a_channels_last_model_converts_under_channels_first(lenet):
    # The converted layers took keras.json's format: the conversion failed in arithmetic.
    keras.config.set_image_data_format("channels_first")
    try:
        dense = fully_convolutional(lenet)
    finally:
        keras.config.set_image_data_format("channels_last")
    x = images((2, 32, 32, 1))
    np.testing.assert_allclose(numpy(dense(x)), numpy(lenet(x)), rtol=0, atol=1e-6)
