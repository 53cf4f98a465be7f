"""Deterministic geometry: channels, pad-or-resize, centre crops, the 256/224 canvas."""

import numpy as np
import pytest
import tensorflow as tf

from engine.data.geometry import (canvas_size, centre_crop, cover, fit_to, fit_whole,
                                  match_channels, resize_to_cover, to_uint8, trim_to_cover)


def ramp(height, width, channels=1):
    """An image whose every pixel has a distinct value."""
    return np.arange(height * width * channels, dtype=np.float32).reshape(height, width, channels)


def test_match_channels_converts_grey_and_rgb_and_drops_alpha():
    rgb = np.random.default_rng(0).uniform(0, 255, (4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(match_channels(rgb, 1), tf.image.rgb_to_grayscale(rgb), rtol=1e-6)
    grey = rgb[..., :1]
    np.testing.assert_array_equal(match_channels(grey, 3), np.repeat(grey, 3, axis=-1))
    rgba = np.concatenate([rgb, np.full((4, 5, 1), 255, np.float32)], axis=-1)
    np.testing.assert_array_equal(match_channels(rgba, 3), rgb)


def test_mnist_sized_images_are_zero_padded_into_lenet_input():
    # LeCun et al. 1998: the 28x28 MNIST field centred in LeNet-5's 32x32 input.
    image = ramp(28, 28) + 1
    fitted = fit_to(image, (32, 32)).numpy()
    assert fitted.shape == (32, 32, 1)
    np.testing.assert_array_equal(fitted[2:30, 2:30], image)
    assert fitted.sum() == image.sum()  # the 2-pixel border is zeros


def test_much_smaller_images_are_resized_not_padded():
    image = np.full((8, 8, 1), 200, np.float32)
    fitted = fit_to(image, (32, 32)).numpy()
    assert fitted.shape == (32, 32, 1)
    np.testing.assert_allclose(fitted, 200, atol=1e-3)  # no zero border


def test_cover_keeps_the_aspect_ratio_and_crops_the_centre():
    # 40x80 -> scaled by 0.8 to 32x64 -> the central 32 columns, i.e. source columns 20..59.
    columns = np.tile(np.arange(80, dtype=np.float32), (40, 1))[..., None]
    covered = cover(columns, (32, 32)).numpy()
    assert covered.shape == (32, 32, 1)
    assert 19 <= covered[:, 0].mean() <= 21 and 58 <= covered[:, -1].mean() <= 60
    np.testing.assert_allclose(covered[0], covered[-1], atol=1e-4)  # rows unchanged


def test_centre_crop_takes_the_middle_window():
    image = ramp(10, 12)
    np.testing.assert_array_equal(centre_crop(image, (4, 6)), image[3:7, 3:9])


@pytest.mark.parametrize("size, canvas", [(224, 256), (227, 256), (32, 40), (28, 32), (8, 8)])
def test_canvas_is_256_over_224_rounded_to_8(size, canvas):
    assert canvas_size((size, size)) == (canvas, canvas)


def test_to_uint8_rounds_and_saturates():
    values = tf.constant([-3.0, 0.4, 0.6, 254.5, 300.0])
    np.testing.assert_array_equal(to_uint8(values), [0, 0, 1, 254, 255])


def test_grey_pixels_stored_as_rgb_come_back_exactly():
    # The luma weights sum to 0.9999: without the exception a white pixel would be 254.97.
    grey = np.arange(256, dtype=np.float32).reshape(16, 16, 1)
    np.testing.assert_array_equal(match_channels(np.repeat(grey, 3, axis=-1), 1), grey)
    np.testing.assert_array_equal(match_channels(np.repeat(grey[None], 3, axis=-1), 1),
                                  grey[None])


@pytest.mark.parametrize("height, width", [(28, 28), (10, 12), (50, 40)])
def test_fit_to_a_batch_fits_each_image(height, width):
    batch = np.random.default_rng(0).uniform(0, 255, (3, height, width, 3)).astype(np.float32)
    fitted = fit_to(batch, (32, 32))
    assert fitted.shape == (3, 32, 32, 3)
    np.testing.assert_allclose(fitted, np.stack([fit_to(image, (32, 32)) for image in batch]),
                               atol=1e-4)


@pytest.mark.parametrize("shape", [(3, 700, 1), (3, 701, 1), (700, 3, 3), (2, 40, 900, 3)])
def test_a_thin_image_is_trimmed_before_its_covering_resize_to_the_same_window(shape):
    # A 1 KB PNG of 1,000,000 x 1 pixels was resized to 32 x 32,000,000 floats (4 GB)
    # before its crop: predict and serve_bytes ran out of memory.
    # A smooth image: the trimmed resize rounds the covering size of fewer pixels, which
    # moves its samples by a fraction of a pixel (0.05 here), nothing more.
    rows, columns = shape[-3], shape[-2]
    ramp = (tf.range(rows, dtype=tf.float32)[:, None] * 0.3
            + tf.range(columns, dtype=tf.float32)[None, :] * 0.2)
    image = tf.broadcast_to(ramp[..., None], shape)
    size = (32, 32)
    assert trim_to_cover(image, size).shape[-3:-1] == (
        (3, 12 + shape[1] % 2) if shape[0] == 3 else (12, 3) if shape[1] == 3 else (40, 160))
    untrimmed = centre_crop(resize_to_cover(image, size), size)
    np.testing.assert_allclose(cover(image, size), untrimmed, atol=0.05)
    np.testing.assert_allclose(fit_to(image, size), centre_crop(fit_whole(image, size), size),
                               atol=0.05)
    assert trim_to_cover(tf.zeros((1, 1_000_000, 1)), size).shape == (1, 4, 1)


def test_an_image_near_the_targets_shape_is_not_trimmed():
    image = tf.zeros((480, 1900, 3))  # 3.96 times as wide for its height as 224 x 224
    assert trim_to_cover(image, (224, 224)).shape == image.shape

