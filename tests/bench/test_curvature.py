"""bench/curvature.py: the paper's Gauss-Newton diagonal and the squared gradient,
against the formulas worked by hand on a two-layer network."""

import sys

import keras
import numpy as np
import pytest

from tests.bench.test_bench import ROOT

sys.path.insert(0, str(ROOT))
from bench import curvature  # noqa: E402


def squared_error(labels, outputs):
    """Per pattern: sum_j (out_j - t_j)^2, whose Hessian in the outputs is 2 I."""
    return keras.ops.sum(keras.ops.square(outputs - labels), axis=-1)


@pytest.fixture
def network():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="tanh", name="hidden")(inputs)
    flat = keras.layers.Flatten(name="flatten")(hidden)
    outputs = keras.layers.Dense(2, name="out")(flat)
    return keras.Model(inputs, outputs)


def test_the_diagonal_is_the_papers_backpropagated_second_derivatives(network):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 4)).astype("float32")
    targets = rng.normal(size=(5, 2)).astype("float32")
    w1, b1 = (v.numpy() for v in network.get_layer("hidden").weights)
    w2 = network.get_layer("out").weights[0].numpy()
    sums = images @ w1 + b1
    hidden = np.tanh(sums)
    # Top: h = 2 for each output unit (linear, so h_a = 2 too).
    expected_w2 = np.mean(hidden[:, :, None] ** 2 * np.full(2, 2.0), axis=0)
    expected_b2 = np.full(2, 2.0)
    h_hidden = (w2 ** 2 @ np.full(2, 2.0))  # sum_j w_ij^2 h_j, the same for every pattern
    h_sums = (1 - hidden ** 2) ** 2 * h_hidden  # f'(a)^2 h
    expected_w1 = np.mean(images[:, :, None] ** 2 * h_sums[:, None, :], axis=0)
    expected_b1 = np.mean(h_sums, axis=0)

    diagonal = curvature.gauss_newton_diagonal(network, squared_error, images, targets)
    np.testing.assert_allclose(diagonal["out/kernel"], expected_w2, rtol=1e-5)
    np.testing.assert_allclose(diagonal["out/bias"], expected_b2, rtol=1e-5)
    np.testing.assert_allclose(diagonal["hidden/kernel"], expected_w1, rtol=1e-4)
    np.testing.assert_allclose(diagonal["hidden/bias"], expected_b1, rtol=1e-4)

    # The squared gradient of the last layer: (x_i * 2 (out_j - t_j))^2, averaged.
    outputs = hidden @ w2 + network.get_layer("out").weights[1].numpy()
    squared = curvature.squared_gradient(network, squared_error, images, targets)
    np.testing.assert_allclose(
        squared["out/kernel"],
        np.mean((hidden[:, :, None] * 2 * (outputs - targets)[:, None, :]) ** 2, axis=0),
        rtol=1e-4)
    rows = curvature.compare(network, squared_error, images, targets)
    assert [row["weights"] for row in rows] == [
        "hidden/kernel", "hidden/bias", "out/kernel", "out/bias"]
    assert rows[3]["gauss_newton"] == pytest.approx(2.0)


def test_a_layer_that_does_more_than_rearrange_is_refused():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="tanh")(inputs)
    scaled = keras.layers.Rescaling(2.0, name="double")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(scaled))
    images = np.ones((2, 4), dtype="float32")
    with pytest.raises(ValueError, match="'double' .* does more than rearrange"):
        curvature.gauss_newton_diagonal(model, squared_error, images, np.zeros((2, 2), "float32"))


def test_a_model_that_is_not_a_chain_is_refused():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inputs)
    skip = keras.layers.Add(name="skip")([inputs, hidden])  # a shortcut: not a chain
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(skip))
    images = np.ones((2, 4), dtype="float32")
    with pytest.raises(ValueError, match="is not a chain of its layers"):
        curvature.gauss_newton_diagonal(model, squared_error, images, np.zeros((2, 2), "float32"))


def test_held_curvature_steps_by_eta_over_mu_plus_h_and_keeps_h():
    weights = keras.Variable(np.array([1.0, 2.0, 3.0], "float32"))
    optimizer = curvature.HeldCurvatureSDLM(learning_rate=0.1, damping=0.02)
    optimizer.build([weights])
    held = np.array([0.0, 0.18, 1.98], "float32")
    optimizer.curvature(weights).assign(held)
    gradient = np.array([1.0, -2.0, 4.0], "float32")
    optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), weights)])
    np.testing.assert_allclose(weights.numpy(), [1 - 0.1 / 0.02, 2 + 0.2 / 0.2, 3 - 0.4 / 2.0],
                               rtol=1e-5)
    np.testing.assert_array_equal(optimizer.curvature(weights).numpy(), held)


@pytest.fixture
def patterns(network):
    """Ten patterns for ``network``, compiled with the held-curvature optimizer, one per batch."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    images = rng.normal(size=(10, 4)).astype("float32")
    targets = rng.normal(size=(10, 2)).astype("float32")
    network.compile(optimizer=curvature.HeldCurvatureSDLM(), loss=squared_error)
    network.optimizer.build(network.trainable_variables)
    return images, targets, tf.data.Dataset.from_tensor_slices((images, targets)).batch(1)


def diagonal_on(network, images, targets, chunk):
    return curvature.gauss_newton_diagonal(network, squared_error, images[chunk], targets[chunk])


def assert_held(network, expected):
    for variable in network.trainable_variables:
        np.testing.assert_allclose(network.optimizer.curvature(variable).numpy(),
                                   expected[variable.path], rtol=1e-6)


def test_the_paper_curvature_is_set_before_each_pass_from_the_next_patterns(network, patterns):
    images, targets, batches = patterns
    callback = curvature.PaperCurvature(network, batches, patterns=5)
    for epoch, chunk in enumerate((slice(0, 5), slice(5, 10))):
        callback.on_epoch_begin(epoch)
        assert_held(network, diagonal_on(network, images, targets, chunk))


def test_the_paper_curvature_is_also_set_every_n_updates_within_a_pass(network, patterns):
    images, targets, batches = patterns
    callback = curvature.PaperCurvature(network, batches, patterns=5, every=4)
    first, second = (diagonal_on(network, images, targets, chunk)
                     for chunk in (slice(0, 5), slice(5, 10)))
    callback.on_epoch_begin(0)
    for batch in (0, 2):  # steps 0-3 use the estimate made before the pass
        callback.on_train_batch_begin(batch)
        assert_held(network, first)
    callback.on_train_batch_begin(4)  # a call starting at step 4 gets a new one
    assert_held(network, second)
    callback.on_train_batch_begin(6)
    assert_held(network, second)
    callback.on_epoch_begin(1)  # the patterns go round again: each pass starts afresh
    assert_held(network, first)
    with pytest.raises(ValueError, match="every must be 0"):
        curvature.PaperCurvature(network, batches, patterns=5, every=-1)


def test_the_connection_squared_gradient_sums_each_connections_square_then_steps():
    """One update at batch 1 of a conv net: each shared weight's ``h`` is
    ``sum_p (x_p delta_p)^2`` over its connections, not ``(sum_p x_p delta_p)^2``, and
    the step is ``eta g / (mu + h)`` (the running mean's first step, bias-corrected)."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((3, 3, 1))
    maps = keras.layers.Conv2D(1, 2, activation="tanh", name="conv")(inputs)
    flat = keras.layers.Flatten(name="flatten")(maps)
    network = keras.Model(inputs, keras.layers.Dense(2, name="out")(flat))
    kernel, bias = (v.numpy() for v in network.get_layer("conv").weights)
    w2, b2 = (v.numpy() for v in network.get_layer("out").weights)
    rng = np.random.default_rng(2)
    image = rng.normal(size=(1, 3, 3, 1)).astype("float32")
    target = rng.normal(size=(1, 2)).astype("float32")

    windows = np.stack([image[0, i:i + 2, j:j + 2, 0] for i in range(2) for j in range(2)])
    sums = (windows * kernel[:, :, 0, 0]).sum(axis=(1, 2)) + bias[0]  # 4 positions
    delta_out = 2 * (np.tanh(sums) @ w2 + b2 - target[0])
    delta = (1 - np.tanh(sums) ** 2) * (w2 @ delta_out)  # at the conv's weighted sums
    gradient = (windows * delta[:, None, None]).sum(axis=0)
    squares = (windows ** 2 * delta[:, None, None] ** 2).sum(axis=0)
    assert not np.allclose(squares, gradient ** 2)  # the two estimates differ

    optimizer = curvature.ConnectionSquaredGradientSDLM(learning_rate=0.1, damping=0.02)
    trained = curvature.ConnectionSquaredGradient(network)
    trained.compile(optimizer=optimizer, loss=squared_error)
    history = trained.fit(image, target, batch_size=1, epochs=1, verbose=0)
    assert history.history["loss"] == [pytest.approx(np.sum((delta_out / 2) ** 2), rel=1e-5)]
    held = optimizer.curvature(network.get_layer("conv").kernel).numpy()[:, :, 0, 0]
    np.testing.assert_allclose(held, (1 - optimizer.curvature_decay) * squares, rtol=1e-4)
    np.testing.assert_allclose(
        optimizer.curvature(network.get_layer("conv").bias).numpy(),
        [(1 - optimizer.curvature_decay) * np.sum(delta ** 2)], rtol=1e-4)
    np.testing.assert_allclose(network.get_layer("conv").kernel.numpy()[:, :, 0, 0],
                               kernel[:, :, 0, 0] - 0.1 * gradient / (0.02 + squares),
                               rtol=1e-4, atol=1e-6)
