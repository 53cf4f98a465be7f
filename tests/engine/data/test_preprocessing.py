"""Normalization statistics: fitted on the training images, stored with the run."""

import json

import numpy as np
import pytest
import tensorflow as tf

from engine.data.preprocessing import Preprocessing

SHAPE = (6, 5, 3)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    colours = rng.normal(size=(40 * 6 * 5, 3)) @ np.array([[40, 10, 0], [0, 20, 5], [0, 0, 8]])
    return np.clip(colours + [120, 110, 100], 0, 255).reshape(40, *SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(images):
    return Preprocessing.fit(tf.data.Dataset.from_tensor_slices(images), SHAPE, "mean_image")


def test_per_channel_statistics_match_numpy(images, fitted):
    pixels = images.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(fitted.mean, pixels.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(fitted.std, pixels.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(fitted.mean_image, images.mean(axis=0), rtol=1e-5)


def test_colour_components_are_the_pixel_covariance_eigenpairs(images, fitted):
    pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
    covariance = np.cov(pixels.T, bias=True)
    values, vectors = np.asarray(fitted.colour_eigenvalues), np.asarray(fitted.colour_eigenvectors)
    assert list(values) == sorted(values, reverse=True)
    np.testing.assert_allclose(vectors @ np.diag(values) @ vectors.T, covariance, atol=1e-9)
    np.testing.assert_allclose(fitted.colour_basis, vectors * values)


def test_per_channel_normalization_standardizes(images):
    preprocessing = Preprocessing.fit(tf.data.Dataset.from_tensor_slices(images), SHAPE)
    normalized = preprocessing(images).numpy().reshape(-1, 3)
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(normalized.std(axis=0), 1, atol=1e-4)
    assert preprocessing.mean_image is None


def test_mean_image_normalization_subtracts_it_unscaled(images, fitted):
    # Krizhevsky et al. 2012, section 2: only the mean image is subtracted.
    np.testing.assert_allclose(fitted(images[0]), images[0] - images.mean(axis=0), atol=1e-3)


def test_save_and_load_give_the_same_numbers(tmp_path, images, fitted):
    path = tmp_path / "preprocessing.json"
    fitted.save(path)
    assert (tmp_path / "preprocessing_mean_image.npy").is_file()
    data = json.loads(path.read_text())
    assert data["normalization"] == "mean_image" and "mean_image" not in data
    loaded = Preprocessing.load(path)
    np.testing.assert_array_equal(loaded(images), fitted(images))
    assert loaded.to_json() == fitted.to_json()


def test_bad_normalization_and_empty_split_are_clear_errors():
    from engine.data import DataSpec

    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, *SHAPE), np.float32))
    with pytest.raises(ValueError, match="Unknown normalization 'zca'; accepted: per_channel"):
        DataSpec(normalization="zca")
    with pytest.raises(ValueError, match="training split is empty"):
        Preprocessing.fit(empty, SHAPE)
