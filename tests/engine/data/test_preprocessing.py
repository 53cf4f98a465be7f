"""Normalization statistics: fitted on the training images, stored with the run."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from engine.choices import NORMALIZATIONS
from engine.data.preprocessing import ARRAYS, Preprocessing, check_normalization
from layers.errors import UsageError

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


@pytest.mark.parametrize("damage, problem", [
    (lambda array: array.unlink(), "is missing"),
    (lambda array: array.write_bytes(array.read_bytes()[:50]), r"is damaged \(not a whole"),
    (lambda array: array.write_bytes(b""), r"is damaged \(not a whole"),
    (lambda array: array.write_text("mean image"), r"is damaged \(not a whole"),
])
def test_a_missing_or_damaged_array_is_one_sentence_naming_it(tmp_path, fitted, damage, problem):
    # The modes that read a run (evaluate, visualize, export) ended in NumPy's
    # FileNotFoundError, ValueError or EOFError traceback.
    path = tmp_path / "preprocessing.json"
    fitted.save(path)
    array = tmp_path / "preprocessing_mean_image.npy"
    damage(array)
    with pytest.raises(UsageError, match=f"^{array} {problem}.*; the run's normalization needs "
                                         "it: restore it, or rerun the training"):
        Preprocessing.load(path)


@pytest.mark.parametrize("key, value, problem", [
    ("std", [0.0, 1.0, 1.0], "its std is [0.0, 1.0, 1.0], below the 0.001 the fit keeps"),
    ("std", [float("nan")] * 3, "its std is [nan, nan, nan], not one finite number for each "
                               "of the 3 channels"),
    ("std", [None] * 3, "its std is [None, None, None], not one finite number"),
    ("mean", [1.0], "its mean is [1.0], not one finite number for each of the 3 channels"),
    ("input_shape", [0, 8, 3], "its input_shape is [0, 8, 3]"),
])
def test_statistics_no_fit_writes_are_called_damaged(tmp_path, fitted, key, value, problem):
    # A std of 0 or NaN divided every input into infinities: evaluate scored chance (0.097)
    # with exit 0; None or another channel count ended in a traceback.
    path = tmp_path / "preprocessing.json"
    fitted.save(path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, key: value}))
    with pytest.raises(UsageError, match=re.escape(f"{path} is damaged ({problem}")):
        Preprocessing.load(path)


def test_mean_rgb_subtracts_the_mean_colour_unscaled(images):
    # Simonyan and Zisserman 2015, section 2.1: "subtracting the mean RGB value,
    # computed on the training set, from each pixel".
    preprocessing = Preprocessing.fit(tf.data.Dataset.from_tensor_slices(images), SHAPE,
                                      "mean_rgb")
    mean_colour = images.reshape(-1, 3).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(preprocessing(images), images - mean_colour, atol=1e-3)


def test_lenet_maps_background_to_minus_point_one_and_ink_to_1_175():
    # LeCun et al. 1998, section II-B: background -0.1, foreground 1.175, linear between.
    preprocessing = Preprocessing.fit(
        tf.data.Dataset.from_tensor_slices(np.zeros((2, 4, 4, 1), np.float32)), (4, 4, 1),
        "lenet")
    normalized = preprocessing(tf.constant([[0.0], [255.0], [127.5]])).numpy().ravel()
    np.testing.assert_allclose(normalized, [-0.1, 1.175, (1.175 - 0.1) / 2], atol=1e-6)


def pylearn2_gcn_zca(train, test):
    """Goodfellow et al.'s maxout preprocessing, written out independently: pylearn2's
    CIFAR10(gcn=55.) (each vector minus its mean, scaled to norm 55) and ZCA(filter_bias=0.1)
    (covariance + 0.1 I, P = U diag(l^-1/2) U^T, (x - mean) P)."""
    def gcn(x):
        x = x - x.mean(axis=1, keepdims=True)
        return 55.0 * x / np.sqrt((x ** 2).sum(axis=1, keepdims=True))

    train, test = gcn(train), gcn(test)
    mean = train.mean(axis=0)
    centred = train - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / len(train) + 0.1 * np.eye(len(mean)))
    return (test - mean) @ (vectors * values ** -0.5) @ vectors.T


def test_gcn_zca_is_goodfellow_et_als_preprocessing(tmp_path, images):
    # Lin et al. 2014, section 4.2: NiN's CIFAR-10 input, "global contrast normalization
    # and ZCA whitening ... as was used by Goodfellow et al." (maxout, pylearn2).
    preprocessing = Preprocessing.fit(tf.data.Dataset.from_tensor_slices(images), SHAPE,
                                      "gcn_zca")
    flat = images.reshape(len(images), -1).astype(np.float64)
    expected = pylearn2_gcn_zca(flat, flat[:5]).reshape(5, *SHAPE)
    np.testing.assert_allclose(preprocessing(images[:5]), expected, atol=2e-4)
    np.testing.assert_allclose(preprocessing(images[0]), expected[0], atol=2e-4)  # one image
    path = tmp_path / "preprocessing.json"
    preprocessing.save(path)
    assert {file.name for file in tmp_path.iterdir()} == {
        "preprocessing.json", "preprocessing_zca_mean.npy", "preprocessing_zca_matrix.npy"}
    np.testing.assert_array_equal(Preprocessing.load(path)(images), preprocessing(images))


def test_gcn_zca_refuses_inputs_too_large_to_whiten():
    with pytest.raises(ValueError, match=r"'gcn_zca' whitens whole images: a 224x224x3 input "
                                         r"has 150,528 values"):
        check_normalization("gcn_zca", (224, 224, 3))
    check_normalization("gcn_zca", (32, 32, 3))
    check_normalization("per_channel", (224, 224, 3))


def test_normalizations_are_the_listed_choices():
    assert tuple(ARRAYS) == NORMALIZATIONS


def test_bad_normalization_and_empty_split_are_clear_errors():
    from engine.data import DataSpec

    empty = tf.data.Dataset.from_tensor_slices(np.zeros((0, *SHAPE), np.float32))
    with pytest.raises(ValueError, match="Unknown normalization 'zca'; accepted: per_channel"):
        DataSpec(normalization="zca")
    with pytest.raises(ValueError, match="training split is empty"):
        Preprocessing.fit(empty, SHAPE)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_every_normalization_serves_batches_of_any_size_as_it_trains_one_image(
        tmp_path, images, normalization):
    # The export applies the run's Preprocessing inside a SavedModel signature, batch-wise.
    fitted = Preprocessing.fit(tf.data.Dataset.from_tensor_slices(images), SHAPE, normalization)
    fitted.save(tmp_path / "preprocessing.json")
    loaded = Preprocessing.load(tmp_path / "preprocessing.json")
    serve = tf.function(loaded, input_signature=[tf.TensorSpec([None, *SHAPE], tf.float32)])
    single = np.stack([fitted(image).numpy() for image in images[:3]])
    np.testing.assert_allclose(serve(images[:3]).numpy(), single, atol=1e-5)


def test_the_statistics_of_tiny_images_are_read_in_batches_of_thousands(monkeypatch):
    # A 1x1 input asked tf.data for batches of 8 million images: 100 s of statistics
    # for a 1 s epoch.
    batched = []
    batch = tf.data.Dataset.batch

    def recording(dataset, batch_size, *args, **kwargs):
        batched.append(batch_size)
        return batch(dataset, batch_size, *args, **kwargs)

    monkeypatch.setattr(tf.data.Dataset, "batch", recording)
    images = tf.data.Dataset.from_tensor_slices(np.full((300, 1, 1, 1), 7.0, "float32"))
    fitted = Preprocessing.fit(images, (1, 1, 1), size=300)
    assert batched == [10_000]
    assert fitted.mean == pytest.approx([7.0])
