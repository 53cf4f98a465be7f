"""Test-time augmentation views: AlexNet's ten crops and the flip pair."""

import numpy as np
import pytest
import tensorflow as tf

from engine.data.augment import make_augmentation
from engine.data.tta import ten_crops, views


def test_ten_crops_are_corners_centre_and_their_reflections():
    # Krizhevsky et al. 2012, section 4.1: four corner patches, the centre patch, flips.
    canvas = np.arange(9 * 10 * 2, dtype=np.float32).reshape(9, 10, 2)
    crops = ten_crops(tf.constant(canvas), (5, 4)).numpy()
    assert crops.shape == (10, 5, 4, 2)
    expected = [canvas[:5, :4], canvas[:5, 6:], canvas[4:, :4], canvas[4:, 6:], canvas[2:7, 3:7]]
    np.testing.assert_array_equal(crops[:5], expected)
    np.testing.assert_array_equal(crops[5:], np.asarray(expected)[:, :, ::-1])


def test_alexnet_ten_crops_come_from_the_256_image():
    augmentation = make_augmentation("alexnet", (227, 227, 3))
    stored = tf.random.stateless_uniform((256, 256, 3), [1, 2], maxval=255)
    crops = views(augmentation, stored, "10crop").numpy()
    assert crops.shape == (10, 227, 227, 3)
    np.testing.assert_array_equal(crops[4], augmentation.evaluate(stored))  # the centre crop
    np.testing.assert_array_equal(crops[3], stored[29:, 29:])


# shift trains on translations of up to 2 pixels: its corner crops are those, not cifar's
# 4-pixel ones (it cropped from cifar's canvas, translations it never trained on).
@pytest.mark.parametrize("preset, shape, pixels", [("cifar", (32, 32, 3), 4),
                                                   ("shift", (28, 28, 1), 2)])
def test_ten_crops_are_the_presets_largest_translations(preset, shape, pixels):
    augmentation = make_augmentation(preset, shape)
    stored = tf.random.stateless_uniform(shape, [1, 3], maxval=255)
    crops = views(augmentation, stored, "10crop").numpy()
    side = shape[0] - pixels
    np.testing.assert_array_equal(crops[4], stored)
    np.testing.assert_array_equal(crops[0][pixels:, pixels:], stored[:side, :side])
    assert crops[0][:pixels].max() == 0


def test_flip_views_are_the_evaluation_view_and_its_mirror():
    augmentation = make_augmentation("none", (8, 8, 1))
    stored = tf.random.stateless_uniform((8, 8, 1), [1, 4], maxval=255)
    pair = views(augmentation, stored, "flip").numpy()
    np.testing.assert_array_equal(pair[0], stored)
    np.testing.assert_array_equal(pair[1], stored.numpy()[:, ::-1])


def test_unknown_mode_is_a_clear_error():
    from engine.data import DataSpec

    with pytest.raises(ValueError, match=r"Unknown tta '5crop'; accepted: none, flip, 10crop"):
        DataSpec(tta="5crop")


@pytest.mark.parametrize("preset", ["vgg", "none", "alexnet"])
def test_dense_views_of_a_strip_are_cut_to_its_centre_first(preset):
    # A 1x1500 test image gave dense views of 384 x 576,000 (11 GB) before the network ran.
    augmentation = make_augmentation(preset, (224, 224, 3))
    strip = tf.ones((1, 1500, 3), tf.uint8)
    dense = views(augmentation, augmentation.store_whole(strip), "dense", 384)
    assert dense.shape[1] == 384 and dense.shape[2] <= 4 * 384

