"""The papers' augmentations, tested on their properties: shapes, ranges, crops, flips,
scales, crop areas and the PCA colour noise's covariance."""

import numpy as np
import pytest
import tensorflow as tf

from engine.data.augment import CIFAR_PAD, PCA_STDDEV, PRESETS, SHIFT_PIXELS, make_augmentation
from engine.data.geometry import canvas_size
from engine.choices import AUGMENTATIONS
from engine.data import DataSpec

SEEDS = [tf.constant([7, index], tf.int64) for index in range(48)]


def distinct_image(height, width, channels=3):
    """Every pixel and channel a different value, so a crop identifies its offset."""
    values = np.arange(height * width * channels) % 251
    return tf.constant(values.reshape(height, width, channels), tf.uint8)


def find_window(large, small):
    """(top, left, flipped) of ``small`` inside ``large``, or None."""
    height, width = small.shape[:2]
    for flipped, candidate in ((False, small), (True, small[:, ::-1])):
        for top in range(large.shape[0] - height + 1):
            for left in range(large.shape[1] - width + 1):
                if np.array_equal(large[top:top + height, left:left + width], candidate):
                    return top, left, flipped
    return None


def test_presets_are_the_command_lines_augmentations():
    assert tuple(PRESETS) == AUGMENTATIONS
    with pytest.raises(ValueError, match=r"Unknown augmentation 'autoaugment'.*cifar"):
        DataSpec(augmentation="autoaugment")


def test_none_fits_the_image_and_is_not_random():
    augmentation = make_augmentation("none", (32, 32, 1))
    stored = augmentation.store(distinct_image(28, 28, 1))
    assert stored.dtype == tf.uint8 and stored.shape == (32, 32, 1)
    assert not augmentation.random
    np.testing.assert_array_equal(augmentation.train(stored, SEEDS[0]),
                                  augmentation.evaluate(stored))


def test_cifar_crops_the_4_pixel_padded_image_and_flips():
    # He et al. 2016, section 4.2: pad 4, random 32x32 crop, horizontal flip.
    augmentation = make_augmentation("cifar", (32, 32, 3))
    stored = augmentation.store(distinct_image(32, 32))
    padded = np.pad(stored.numpy().astype(np.float32), [(4, 4), (4, 4), (0, 0)])
    windows = []
    for seed in SEEDS:
        view = augmentation.train(stored, seed).numpy()
        assert view.shape == (32, 32, 3) and view.min() >= 0 and view.max() <= 255
        windows.append(find_window(padded, view))
    assert None not in windows
    tops = {top for top, _, _ in windows}
    assert min(tops) >= 0 and max(tops) <= 2 * CIFAR_PAD and len(tops) > 4
    assert {flipped for _, _, flipped in windows} == {False, True}
    np.testing.assert_array_equal(augmentation.evaluate(stored), stored.numpy())


def test_cifar_reflect_crops_the_reflection_padded_image():
    # Zagoruyko and Komodakis 2016, section 4: padding filled with reflections of the
    # image (no repeated edge, as Torch's SpatialReflectionPadding); zeros for "cifar".
    augmentation = make_augmentation("cifar_reflect", (32, 32, 3))
    stored = augmentation.store(distinct_image(32, 32))
    padded = np.pad(stored.numpy().astype(np.float32), [(4, 4), (4, 4), (0, 0)], mode="reflect")
    windows = [find_window(padded, augmentation.train(stored, seed).numpy())
               for seed in SEEDS[:16]]
    assert None not in windows
    assert any(top in (0, 8) or left in (0, 8) for top, left, _ in windows)  # border views
    np.testing.assert_array_equal(augmentation.tta_canvas(stored), padded)
    zero_padded = make_augmentation("cifar", (32, 32, 3)).tta_canvas(stored).numpy()
    assert zero_padded[0].max() == 0 and padded[0].max() > 0


def test_shift_translates_by_up_to_2_pixels_and_never_flips():
    # For digits: a crop of the 2-pixel zero-padded image; a mirrored digit is another class.
    augmentation = make_augmentation("shift", (32, 32, 1))
    stored = augmentation.store(distinct_image(28, 28, 1))
    padded = np.pad(stored.numpy().astype(np.float32), [(2, 2), (2, 2), (0, 0)])
    windows = [find_window(padded, augmentation.train(stored, seed).numpy()) for seed in SEEDS]
    assert None not in windows and not any(flipped for _, _, flipped in windows)
    offsets = {(top, left) for top, left, _ in windows}
    assert SHIFT_PIXELS == 2 and {top for top, _ in offsets} == set(range(5))
    assert {left for _, left in offsets} == set(range(5))
    assert augmentation.random and not augmentation.mirrors
    np.testing.assert_array_equal(augmentation.evaluate(stored), stored.numpy())


@pytest.mark.parametrize("name, mode", [("cifar", "constant"), ("cifar_reflect", "reflect"),
                                        ("shift", "constant")])
def test_a_batch_gives_each_image_its_own_crop_from_its_own_draw(name, mode):
    # The pipeline augments these presets a batch at a time: every image of the batch is
    # a window of its own padded image (flipped only where the preset mirrors), read from
    # its own random integer, so its view is the same alone as in any batch.
    augmentation = make_augmentation(name, (32, 32, 3))
    pixels = augmentation.crop_padding
    images = tf.stack([augmentation.store(tf.roll(distinct_image(32, 32), shift, axis=0))
                       for shift in range(48)])
    draws = tf.random.stateless_uniform([48], SEEDS[0], minval=None, maxval=None,
                                        dtype=tf.int64)
    views = augmentation.train_batch(images, draws).numpy()
    assert augmentation.batched and views.shape == (48, 32, 32, 3) and views.dtype == np.float32
    padded = np.pad(images.numpy().astype(np.float32),
                    [(0, 0), (pixels, pixels), (pixels, pixels), (0, 0)], mode=mode)
    windows = [find_window(padded[index], views[index]) for index in range(48)]
    assert None not in windows
    assert {top for top, _, _ in windows} == set(range(2 * pixels + 1))
    assert {left for _, left, _ in windows} == set(range(2 * pixels + 1))
    flips = sum(flipped for _, _, flipped in windows)
    assert 12 <= flips <= 36 if augmentation.mirrors else flips == 0
    np.testing.assert_array_equal(augmentation.train_batch(images[5:6], draws[5:6])[0],
                                  views[5])
    assert augmentation.train(images[5], SEEDS[1]).shape == (32, 32, 3)


def test_the_same_seed_gives_the_same_view():
    augmentation = make_augmentation("cifar", (32, 32, 3))
    stored = augmentation.store(distinct_image(32, 32))
    first, again = (augmentation.train(stored, SEEDS[3]) for _ in range(2))
    np.testing.assert_array_equal(first, again)
    assert any(not np.array_equal(first, augmentation.train(stored, seed)) for seed in SEEDS[4:8])


@pytest.fixture
def alexnet():
    return make_augmentation("alexnet", (227, 227, 3)).with_colour_basis(np.zeros((3, 3)))


def test_alexnet_stores_the_256_image_and_crops_227(alexnet):
    # Krizhevsky et al. 2012: shorter side 256, central 256x256, random crops + flips.
    stored = alexnet.store(distinct_image(300, 400))
    assert stored.shape == (256, 256, 3) and stored.dtype == tf.uint8
    stored = stored.numpy().astype(np.float32)
    windows = [find_window(stored, alexnet.train(stored, seed).numpy()) for seed in SEEDS[:12]]
    assert None not in windows and {flipped for _, _, flipped in windows} == {False, True}
    assert all(0 <= top <= 29 and 0 <= left <= 29 for top, left, _ in windows)
    np.testing.assert_array_equal(alexnet.evaluate(stored), stored[14:241, 14:241])


def test_zfnet_trains_on_the_ten_corner_and_centre_crops_without_colour_noise():
    # Zeiler and Fergus 2014, section 3.1: "10 different sub-crops of size 224x224
    # (corners + center with(out) horizontal flips)" of the central 256x256.
    augmentation = make_augmentation("zfnet", (224, 224, 3))  # no colour basis needed
    stored = augmentation.store(distinct_image(300, 400))
    assert stored.shape == (256, 256, 3)
    stored = stored.numpy().astype(np.float32)
    windows = {find_window(stored, augmentation.train(stored, seed).numpy())
               for seed in SEEDS}  # exact crops: no colour shift
    corners_and_centre = {(0, 0), (0, 32), (32, 0), (32, 32), (16, 16)}
    assert {(top, left) for top, left, _ in windows} == corners_and_centre
    assert len(windows) == 10  # all ten views, each with and without its flip
    np.testing.assert_array_equal(augmentation.evaluate(stored), stored[16:240, 16:240])


def test_pca_noise_shifts_every_pixel_by_one_colour():
    basis = np.diag([0.2, 0.02, 0.004]).astype(np.float32)
    augmentation = make_augmentation("alexnet", (227, 227, 3)).with_colour_basis(basis)
    stored = tf.fill((256, 256, 3), 128.0)
    shift = augmentation.train(stored, SEEDS[0]).numpy() - 128.0
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0, 0], shift.shape), atol=1e-3)
    assert np.abs(shift[0, 0]).max() > 0


def test_pca_noise_has_the_papers_covariance():
    # noise = P diag(lambda) alpha, alpha ~ N(0, 0.1^2 I), so its covariance is
    # 0.01 * P diag(lambda)^2 P^T (0-1 units; x 255^2 in pixel units).
    rng = np.random.default_rng(0)
    eigenvectors, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    eigenvalues = np.array([0.2175, 0.0188, 0.0045])  # ImageNet's, for scale
    augmentation = make_augmentation("alexnet", (8, 8, 3)).with_colour_basis(
        eigenvectors * eigenvalues)
    noises = np.concatenate(list(
        tf.data.Dataset.range(20_000)
        .map(lambda index: augmentation.pca_noise(tf.stack([tf.constant(11, tf.int64), index])))
        .batch(5_000).as_numpy_iterator()))
    assert PCA_STDDEV == 0.1  # Krizhevsky et al. 2012, section 4.1
    expected = PCA_STDDEV**2 * (eigenvectors * eigenvalues**2) @ eigenvectors.T * 255.0**2
    standard_errors = np.sqrt(np.diag(expected) / len(noises))
    assert np.all(np.abs(noises.mean(axis=0)) < 4 * standard_errors)
    np.testing.assert_allclose(np.cov(noises.T), expected, atol=0.03 * expected.max())


def test_pca_noise_needs_the_colour_basis():
    with pytest.raises(ValueError, match="colour basis"):
        make_augmentation("alexnet", (227, 227, 3)).pca_noise(SEEDS[0])


def shorter_sides(preset: str, draws: int = 4_000) -> set[int]:
    """The shorter sides ``preset``'s scale augmentation draws from ``draws`` seeds."""
    augmentation = make_augmentation(preset, (224, 224, 3))
    return set(tf.data.Dataset.range(draws)
               .map(lambda index: augmentation.shorter_side(
                   tf.stack([tf.constant(3, tf.int64), index])))
               .as_numpy_iterator())


def test_vgg_scale_jitter_draws_s_from_256_to_512():
    # Simonyan and Zisserman 2015, section 3.1: S uniform in [S_min, S_max] = [256, 512],
    # both ends included: every side of the range is drawn, none outside it.
    assert shorter_sides("vgg") == set(range(256, 513))


def test_vgg_single_scale_trains_and_tests_at_s_256():
    # Table 3: A, A-LRN and B trained at a fixed S = 256 and tested at Q = S.
    from engine.data.tta import dense_scale

    assert shorter_sides("vgg_single_scale", draws=200) == {256}
    assert dense_scale(make_augmentation("vgg_single_scale", (224, 224, 3))) == 256
    assert dense_scale(make_augmentation("vgg", (224, 224, 3))) == 384


def test_resnet_scale_augmentation_draws_s_from_256_to_480():
    # He et al. 2016, section 3.4: "shorter side randomly sampled in [256, 480]".
    assert shorter_sides("resnet") == set(range(256, 481))


def test_vgg_views_are_input_sized_crops():
    augmentation = make_augmentation("vgg", (64, 64, 3)).with_colour_basis(np.zeros((3, 3)))
    stored = augmentation.store(tf.fill((50, 80, 1), 90))
    assert stored.shape == (50, 80, 3)  # kept whole, channels matched
    for seed in SEEDS[:4]:
        view = augmentation.train(stored, seed).numpy()
        assert view.shape == (64, 64, 3)
        np.testing.assert_allclose(view, 90, atol=1e-3)
    assert augmentation.evaluate(stored).shape == (64, 64, 3)
    assert augmentation.tta_canvas(stored).shape == (*canvas_size((64, 64)), 3)


def test_inception_crops_8_to_100_percent_with_aspect_3_4_to_4_3():
    # Szegedy et al. 2015, section 6: "patches of the image whose size is distributed
    # evenly between 8% and 100% of the image area". TensorFlow's bounding-box sampler
    # draws the height uniformly: 26% of its windows fell under a fifth of the image
    # (13% for areas uniform on [0.08, 1]) and 5.8% above 80% (21.7%).
    augmentation = make_augmentation("inception", (224, 224, 3))
    window = tf.function(augmentation.crop_window)
    for height, width in ((256, 256), (300, 400)):
        shape = tf.constant([height, width, 3])
        areas, ratios = [], []
        for index in range(1000):
            begin, size = window(shape, tf.constant([5, index], tf.int64))
            rows, columns = int(size[0]), int(size[1])
            assert 0 <= int(begin[0]) <= height - rows and 0 <= int(begin[1]) <= width - columns
            areas.append(rows * columns / (height * width))
            ratios.append(columns / rows)
        areas = np.array(areas)
        assert 0.08 - 0.01 <= areas.min() < 0.1 and 0.97 < areas.max() <= 1.0
        assert 0.12 < (areas < 0.2).mean() < 0.18 and (areas > 0.8).mean() > 0.04
        assert min(ratios) >= 0.75 - 0.02 and max(ratios) <= 4 / 3 + 0.02
        if height == width:  # log-uniform: as many windows wider than high as higher
            assert abs(np.mean(np.array(ratios) > 1) - 0.5) < 0.05


def test_inception_photometric_distortions_stay_in_range_and_vary():
    augmentation = make_augmentation("inception", (32, 32, 3))
    stored = augmentation.store(tf.fill((40, 40, 3), 128))
    views = np.stack([augmentation.train(stored, seed).numpy() for seed in SEEDS[:8]])
    assert views.shape == (8, 32, 32, 3)
    assert views.min() >= 0 and views.max() <= 255
    assert np.unique(views.mean(axis=(1, 2, 3)).round(3)).size > 1  # brightness/contrast vary


def test_grey_inputs_get_brightness_and_contrast_only():
    augmentation = make_augmentation("inception", (32, 32, 1))
    view = augmentation.train(augmentation.store(tf.fill((40, 40, 3), 128)), SEEDS[0])
    assert view.shape == (32, 32, 1)


def test_fb_resnet_colour_jitters_are_fb_resnet_torchs_blends():
    # datasets/transforms.lua: blend(img1, img2, alpha) = alpha * img1 + (1 - alpha) * img2,
    # with black (Brightness), the mean grey (Contrast) or each pixel's grey (Saturation).
    from engine.data.augment import brightness, contrast, saturation

    image = tf.constant([[[0.2, 0.4, 0.6], [1.0, 0.0, 0.5]]])  # 1x2 RGB, 0-1 values
    greys = np.array([0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, 0.299 * 1.0 + 0.114 * 0.5])
    np.testing.assert_allclose(brightness(image, 1.3), 1.3 * image.numpy(), rtol=1e-6)
    np.testing.assert_allclose(contrast(image, 0.7),
                               0.7 * image.numpy() + 0.3 * greys.mean(), rtol=1e-6)
    np.testing.assert_allclose(saturation(image, 1.4),
                               1.4 * image.numpy() - 0.4 * greys[None, :, None], rtol=1e-5)


def test_fb_resnet_lighting_uses_fb_resnet_torchs_imagenet_eigenpairs():
    # A uniform grey image: the jitters scale every channel alike (its grey is itself), so
    # the channels differ by the Lighting shift alone, V (alpha * eigval), alpha ~ N(0, 0.1).
    augmentation = make_augmentation("fb_resnet", (16, 16, 3))
    stored = augmentation.store(tf.fill((20, 20, 3), 128))
    train = tf.function(augmentation.train)
    views = np.stack([train(stored, tf.constant([7, index], tf.int64)).numpy()
                      for index in range(400)])
    assert np.ptp(views, axis=(1, 2)).max() < 1e-3  # each channel uniform: nothing else moves
    red_minus_green = (views[:, 0, 0, 0] - views[:, 0, 0, 1]) / 255
    vectors = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                        [-0.5836, -0.6948, 0.4203]])
    expected = 0.1 * np.linalg.norm((vectors[0] - vectors[1]) * [0.2175, 0.0188, 0.0045])
    assert red_minus_green.std() == pytest.approx(expected, rel=0.15)
    brightness = views[:, 0, 0].mean(axis=1) / 128  # the lighting shift is almost zero-sum
    assert 0.55 < brightness.min() < 0.7 and 1.3 < brightness.max() < 1.45


def test_fb_resnet_crops_swap_uniform_ratios_and_fall_back_to_the_centre():
    # RandomSizedCrop: aspect ratio uniform over [3/4, 4/3], then w and h swapped with
    # probability 1/2; after 10 draws that do not fit, Scale(size) and CenterCrop(size).
    augmentation = make_augmentation("fb_resnet", (32, 32, 3))
    draw = tf.function(augmentation.window_draw)
    ratios = []
    for index in range(600):
        _, size, found = draw(tf.constant([256, 256, 3]), tf.constant([3, index], tf.int64))
        assert bool(found)
        ratios.append(int(size[1]) / int(size[0]))
    ratios = np.array(ratios)
    assert ratios.min() >= 0.75 - 0.02 and ratios.max() <= 4 / 3 + 0.02
    assert abs(np.mean(ratios > 1) - 0.5) < 0.06
    _, _, found = draw(tf.constant([3, 900, 3]), tf.constant([3, 0], tf.int64))
    assert not bool(found)  # too elongated for any window: the centre of the image instead
    strip = tf.cast(tf.tile(tf.range(900)[tf.newaxis, :, tf.newaxis] % 256, [3, 1, 3]), tf.uint8)
    assert augmentation.train(augmentation.store(strip), tf.constant([3, 0], tf.int64)).shape \
        == (32, 32, 3)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_evaluation_views_of_a_batch_are_those_of_each_image(name):
    # The pipeline evaluates whole batches where the stored images share one shape.
    augmentation = make_augmentation(name, (24, 24, 3))
    images = tf.random.stateless_uniform((3, 30, 36, 3), [1, 2], maxval=256, dtype=tf.int32)
    stored = tf.stack([augmentation.store(tf.cast(image, tf.uint8)) for image in images])
    np.testing.assert_allclose(augmentation.evaluate(stored),
                               tf.stack([augmentation.evaluate(image) for image in stored]),
                               atol=1e-4)


@pytest.mark.parametrize("name", ["vgg", "resnet", "inception"])
def test_a_whole_image_preset_stores_a_decoded_image_as_it_is(name):
    # A uint8 image of the right channels went through float32 and back, every image
    # of every epoch of an uncached dataset; others are still converted.
    augmentation = make_augmentation(name, (224, 224, 3))
    image = distinct_image(37, 53)
    assert augmentation.store(image) is image
    rgba = tf.concat([image, tf.fill([37, 53, 1], tf.constant(255, tf.uint8))], axis=-1)
    np.testing.assert_array_equal(augmentation.store(rgba), image)
    np.testing.assert_array_equal(augmentation.store(tf.cast(image, tf.float32)), image)


@pytest.mark.parametrize("preset", ["vgg", "vgg_single_scale", "resnet"])
def test_a_strips_training_view_comes_from_its_centre(preset):
    # Its rescale to a shorter side S was S x (N S) floats (a 1x40000 PNG: 9 GB an epoch),
    # the crop anywhere along it; cut to its centre first, as every other resize is.
    augmentation = make_augmentation(preset, (64, 64, 3)).with_colour_basis(np.zeros((3, 3)))
    columns = np.zeros((1, 3000, 3), np.uint8)
    columns[:, 1490:1510] = 255  # the centre, at most four times the input's aspect ratio
    view = augmentation.train(augmentation.store(tf.constant(columns)),
                              tf.constant([5, 0], tf.int64))
    assert view.shape == (64, 64, 3) and float(tf.reduce_mean(view)) > 200
