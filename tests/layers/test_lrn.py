"""LocalResponseNormalization against AlexNet's formula, TensorFlow's op and Caffe's convention."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from layers import LocalResponseNormalization

RNG = np.random.default_rng(0)


def activations(*shape, scale=30.0):
    """ReLU-like activations large enough that the alpha term matters."""
    return (scale * np.abs(RNG.standard_normal(shape))).astype("float32")


def paper_lrn(a, n=5, k=2.0, alpha=1e-4, beta=0.75):
    """Krizhevsky et al. 2012, Section 3.3, written as the paper's sum over j."""
    channels = a.shape[-1]
    b = np.empty_like(a, dtype="float64")
    for i in range(channels):
        lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
        square_sum = np.sum(a[..., lo:hi + 1].astype("float64") ** 2, axis=-1)
        b[..., i] = a[..., i] / (k + alpha * square_sum) ** beta
    return b


def test_defaults_are_alexnets():
    config = LocalResponseNormalization().get_config()
    assert (config["size"], config["k"], config["alpha"], config["beta"]) == (5, 2.0, 1e-4, 0.75)


def test_matches_the_papers_formula():
    a = activations(2, 4, 4, 16)
    np.testing.assert_allclose(LocalResponseNormalization()(a), paper_lrn(a), rtol=1e-5)


@pytest.mark.parametrize("size, k, alpha, beta, channels", [
    (5, 2.0, 1e-4, 0.75, 96),   # AlexNet NORM1
    (3, 1.0, 1e-3, 0.5, 8),
    (5, 2.0, 1e-4, 0.75, 3),    # fewer channels than the window
    (1, 1.0, 1e-2, 1.0, 4),
])
def test_matches_tensorflow_local_response_normalization(size, k, alpha, beta, channels):
    a = activations(2, 5, 5, channels)
    expected = tf.nn.local_response_normalization(a, depth_radius=size // 2, bias=k,
                                                  alpha=alpha, beta=beta)
    layer = LocalResponseNormalization(size=size, k=k, alpha=alpha, beta=beta)
    np.testing.assert_allclose(layer(a), expected, rtol=1e-5)


def test_from_caffe_divides_alpha_by_local_size():
    a = activations(1, 3, 3, 12)
    caffe = LocalResponseNormalization.from_caffe(local_size=5, alpha=5e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(caffe(a), paper_lrn(a), rtol=1e-5)
    # A prototxt's alpha=1e-4 with local_size=5 is alpha=2e-5 in the paper's convention.
    assert LocalResponseNormalization.from_caffe(5, 1e-4).alpha == pytest.approx(2e-5)
    with pytest.raises(ValueError, match="odd positive integer, got 0"):
        LocalResponseNormalization.from_caffe(local_size=0)


def test_channels_first_axis():
    a = activations(2, 4, 4, 10)
    channels_first = LocalResponseNormalization(axis=1)(np.transpose(a, (0, 3, 1, 2)))
    np.testing.assert_allclose(np.transpose(channels_first, (0, 2, 3, 1)), paper_lrn(a),
                               rtol=1e-5)


def test_mixed_float16_sums_squares_in_float32():
    # Squares of activations above 256 overflow float16 (max 65504).
    a = activations(1, 3, 3, 16, scale=1000.0)
    layer = LocalResponseNormalization(dtype="mixed_float16")
    output = layer(a)
    assert output.dtype == "float16"
    assert np.isfinite(np.asarray(output, "float32")).all()
    np.testing.assert_allclose(np.asarray(output, "float32"), paper_lrn(a), rtol=2e-3)


def test_in_a_model_and_round_trip(round_trip):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = LocalResponseNormalization(size=3, name="norm1")(x)
    model = keras.Model(inputs, x)
    assert tuple(model.output.shape) == (None, 4, 4, 8)
    round_trip(model, activations(2, 6, 6, 3, scale=10.0), atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    {"size": 4}, {"size": 0}, {"size": -5}, {"size": 5.0},
    {"k": 0}, {"k": -1.0}, {"k": True}, {"alpha": -1e-4}, {"alpha": float("nan")},
    {"beta": -0.75}, {"beta": "0.75"},
    {"axis": "channels"},
])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError, match="got"):
        LocalResponseNormalization(**kwargs)


def test_unknown_channel_count_or_axis_raises():
    with pytest.raises(ValueError, match="known number of channels"):
        LocalResponseNormalization()(keras.Input((4, 4, None)))
    with pytest.raises(ValueError, match="out of range"):
        LocalResponseNormalization(axis=4)(keras.Input((4, 4, 3)))
