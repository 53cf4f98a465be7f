"""Sources: the embedded digits, synthetic data, prepared TFDS datasets and offline
preparation from hand-downloaded archives (--manual_dir)."""

import os
import re
import tempfile

import numpy as np
import pytest

from engine.data.sources import load_source
from engine.data.synthetic import SYNTHETIC_SIZES
from layers.errors import UsageError


def first_examples(dataset, count):
    images, labels = zip(*dataset.take(count).as_numpy_iterator())
    return np.stack(images), np.asarray(labels)


def test_digits_are_split_1293_144_360():
    source = load_source("digits")
    assert source.sizes == {"train": 1293, "validation": 144, "test": 360}
    assert source.num_classes == 10 and source.image_shape == (8, 8, 1)
    assert source.class_names == tuple("0123456789")
    images, labels = first_examples(source.test, 5)
    assert images.dtype == np.uint8 and images.shape == (5, 8, 8, 1) and labels.dtype == np.int64


def test_validation_fraction_zero_trains_on_the_whole_training_split():
    # LeNet-5 trains on all of MNIST's training images; the test split does not change.
    whole = load_source("digits", validation_fraction=0.0)
    assert whole.sizes == {"train": 1437, "validation": 0, "test": 360}
    assert len(list(whole.validation)) == 0 and len(list(whole.train)) == 1437
    np.testing.assert_array_equal(first_examples(whole.test, 360)[1],
                                  first_examples(load_source("digits").test, 360)[1])
    assert load_source("digits", validation_fraction=0.25).sizes["validation"] == 360
    assert load_source("synthetic", validation_fraction=0.0).sizes["validation"] == 0


def test_synthetic_data_has_the_recipe_shape_and_classes():
    source = load_source("synthetic", image_shape=(20, 24, 3), classes=7)
    assert source.sizes == SYNTHETIC_SIZES and source.num_classes == 7
    assert source.class_names == tuple(f"class_{index}" for index in range(7))
    images, labels = first_examples(source.train, 100)
    assert images.shape == (100, 20, 24, 3) and images.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() < 7 and images.std() > 50


@pytest.mark.parametrize("name, meant", [
    ("mnsit", " (did you mean 'mnist'?)"),
    ("svhn", " (did you mean 'svhn_cropped'?)"),  # TFDS's names that begin with it
    ("digit", " (did you mean 'digits'?)"),
    ("no_such_dataset", ""),
    # Case and hyphens set aside, as recipe names are; image datasets only ('flores' is text).
    ("CIFAR-10", " (did you mean 'cifar10', 'cifar100', 'cifar100_n'?)"),
    ("flowers", " (did you mean 'tf_flowers'?)"),
])
def test_unknown_dataset_names_the_accepted_sources_and_the_names_it_may_mean(name, meant):
    with pytest.raises(ValueError, match=re.escape(
            f"Unknown dataset {name!r}{meant}: use 'digits', 'synthetic', 'folder:PATH' or a "
            "TFDS image-classification dataset name such as 'mnist' or 'cifar10'.")):
        load_source(name)


def test_unprepared_tfds_dataset_points_at_data_dir_and_manual_dir(tmp_path, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(ValueError, match=r"'mnist' is not prepared.*--manual_dir"):
        load_source("mnist", str(tmp_path / "empty"))
    assert not list(temp.iterdir())  # TFDS's folder for the bucket's info files is removed
    assert tempfile.gettempdir() == str(temp)


def test_manual_dir_without_the_archives_names_the_missing_files(tmp_path):
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"lacks t10k-images-idx3-ubyte.gz, t10k-labels-idx1-"
                                         r"ubyte.gz, train-labels-idx1-ubyte.gz of the archives "
                                         r"that preparing 'mnist/3.0.1' offline needs: t10k-"):
        load_source("mnist", str(tmp_path / "data"), str(tmp_path / "manual"))
    assert not (tmp_path / "data" / "mnist").exists()
    (tmp_path / "manual" / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"lacks the archives that preparing 'mnist/3.0.1' "
                                         r"offline needs: t10k-images-idx3-ubyte.gz, "):
        load_source("mnist", str(tmp_path / "data"), str(tmp_path / "manual"))


def test_prepared_mnist_carves_validation_from_train(shared_tfds):
    source = load_source("mnist", str(shared_tfds))
    assert source.sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert source.image_shape == (28, 28, 1) and source.num_classes == 10


def test_prepared_mnist_with_validation_fraction_zero_trains_on_all_60000(shared_tfds):
    source = load_source("mnist", str(shared_tfds), validation_fraction=0.0)
    assert source.sizes == {"train": 60_000, "validation": 0, "test": 10_000}
    assert len(list(source.validation)) == 0
    held_out = load_source("mnist", str(shared_tfds), validation_fraction=0.05)
    assert held_out.sizes == {"train": 57_000, "validation": 3_000, "test": 10_000}
    # A fraction holding out no image trained without validation, as 0 asks.
    with pytest.raises(UsageError, match=r"^--validation_fraction=5e-06 holds out no image of "
                                         r"the 60,000 training images; pass 0 .* at least "
                                         r"1\.7e-05\.$"):
        load_source("mnist", str(shared_tfds), validation_fraction=5e-6)
    smallest = load_source("mnist", str(shared_tfds), validation_fraction=1.7e-5)
    assert smallest.sizes == {"train": 59_999, "validation": 1, "test": 10_000}


def test_the_default_fraction_holds_out_the_first_tenth_of_train(shared_tfds):
    import tensorflow_datasets as tfds

    source = load_source("mnist", str(shared_tfds))
    for split, ours in (("train[:10%]", source.validation), ("train[10%:]", source.train)):
        reference = tfds.load("mnist", split=split, data_dir=str(shared_tfds),
                              as_supervised=True, shuffle_files=False)
        np.testing.assert_array_equal(first_examples(ours, 16)[0],
                                      first_examples(reference, 16)[0])


def test_a_tfds_name_with_a_version_reads_the_same_dataset(shared_tfds):
    source = load_source("mnist:3.0.1", str(shared_tfds))
    assert source.sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert not source.mirror_symmetric  # a digit's mirror image is no digit


@pytest.fixture
def tfds_without_a_labelled_test_split(tmp_path, monkeypatch):
    """A TFDS data dir with datasets shaped like imagenette (train and validation
    splits), imagenet2012 (a test split labelled -1), one with a train split only and one
    with all three labelled; train is labelled 1, validation 0."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from engine.data import tfds_source

    def split(count, label):
        return tf.data.Dataset.from_tensor_slices(
            {"image": np.zeros((count, 8, 8, 1), np.uint8), "label": np.full(count, label)})

    features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                           "label": tfds.features.ClassLabel(num_classes=2)})
    for name, splits in (("nette", {"train": split(20, 1), "validation": split(6, 0)}),
                         ("net2012", {"train": split(20, 1), "validation": split(6, 0),
                                      "test": split(4, -1)}),
                         ("trainonly", {"train": split(20, 1)}),
                         ("allthree", {"train": split(20, 1), "validation": split(6, 0),
                                       "test": split(4, 1)})):
        tfds.dataset_builders.store_as_tfds_dataset(
            name=name, version="1.0.0", features=features, split_datasets=splits,
            data_dir=str(tmp_path))
    # An ad hoc builder declares no supervised keys; the real datasets do.
    monkeypatch.setattr(tfds_source, "_supervised_keys", lambda info: ("image", "label"))
    return str(tmp_path)


@pytest.mark.parametrize("name, fraction, sizes, test_label, said", [
    ("nette", 0.1, {"train": 18, "validation": 2, "test": 6}, 0,
     "its validation split (6 images) is the test split, 2 images of train the validation"),
    ("nette", 0.0, {"train": 20, "validation": 0, "test": 6}, 0,
     "its validation split (6 images) is the test split."),
    ("net2012", 0.1, {"train": 18, "validation": 2, "test": 6}, 0,
     "its validation split (6 images) is the test split, 2 images of train the validation"),
    ("trainonly", 0.1, {"train": 14, "validation": 2, "test": 4}, 1,
     "the first 20% of train (4 images) is the test split, 2 images of train the validation")])
def test_without_a_labelled_test_split_validation_or_train_is_tested_on_saying_so(
        tfds_without_a_labelled_test_split, caplog, name, fraction, sizes, test_label, said):
    with caplog.at_level("WARNING"):
        source = load_source(name, tfds_without_a_labelled_test_split,
                             validation_fraction=fraction)
    assert source.sizes == sizes
    assert f"Dataset {name!r} has no labelled test split" in caplog.text and said in caplog.text
    assert set(first_examples(source.test, sizes["test"])[1]) == {test_label}
    assert len(list(source.train)) == sizes["train"]
    assert len(list(source.validation)) == sizes["validation"]
    # None of these ships a validation split that train's would replace: a fraction set on
    # the command line is read.
    assert load_source(name, tfds_without_a_labelled_test_split, validation_fraction=fraction,
                       validation_fraction_given=True).sizes == sizes


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5])
def test_a_shipped_validation_split_is_read_whatever_the_fraction_and_a_set_fraction_refused(
        tfds_without_a_labelled_test_split, fraction):
    source = load_source("allthree", tfds_without_a_labelled_test_split,
                         validation_fraction=fraction)
    assert source.sizes == {"train": 20, "validation": 6, "test": 4}
    assert set(first_examples(source.validation, 6)[1]) == {0}
    with pytest.raises(UsageError, match=f"^--validation_fraction={fraction:g} does not apply: "
                       "allthree ships its own validation split, which the run validates on; "
                       "leave the flag out.$"):
        load_source("allthree", tfds_without_a_labelled_test_split,
                    validation_fraction=fraction, validation_fraction_given=True)
    carved = load_source("digits", validation_fraction=fraction or 0.1,
                         validation_fraction_given=True)  # held out of train: accepted
    assert carved.sizes["validation"] > 0


def test_prepared_cifar10_has_45000_5000_10000(shared_tfds):
    source = load_source("cifar10", str(shared_tfds))
    assert source.sizes == {"train": 45_000, "validation": 5_000, "test": 10_000}
    assert source.image_shape == (32, 32, 3) and source.class_names[0] == "airplane"


@pytest.mark.slow
def test_manual_dir_prepares_mnist_offline_identical_to_tfds(mnist_archives, shared_tfds,
                                                             tmp_path):
    # About 40 s on 2 cores: TFDS parses the four archives and writes the records.
    data_dir = tmp_path / "data"
    source = load_source("mnist", str(data_dir), str(mnist_archives))
    assert source.sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    assert (data_dir / "downloads" / "extracted" / "mnist" / "3.0.1").is_dir()
    reference = load_source("mnist", str(shared_tfds))
    for split in ("test", "validation"):
        images, labels = first_examples(getattr(source, split), 64)
        reference_images, reference_labels = first_examples(getattr(reference, split), 64)
        np.testing.assert_array_equal(images, reference_images)
        np.testing.assert_array_equal(labels, reference_labels)
    again = load_source("mnist", str(data_dir))  # prepared now: no manual_dir needed
    assert again.sizes == source.sizes


def test_a_manual_dir_beside_a_prepared_dataset_is_said_to_be_unread(shared_tfds, tmp_path,
                                                                      caplog):
    # It was recorded in run.json and ignored without a word.
    with caplog.at_level("WARNING"):
        source = load_source("mnist", str(shared_tfds), str(tmp_path / "archives"))
    assert source.sizes["test"] == 10_000
    assert (f"--manual_dir={tmp_path / 'archives'} is not read: 'mnist' is prepared in "
            f"{shared_tfds} already, and that copy is used.") in caplog.text


def test_the_synthetic_test_split_does_not_depend_on_the_validation_fraction():
    tests = [load_source("synthetic", validation_fraction=fraction).test
             for fraction in (0.0, 0.25)]
    labels = [np.array([label for _, label in test.as_numpy_iterator()]) for test in tests]
    np.testing.assert_array_equal(*labels)


def test_the_default_run_folder_is_one_folder_named_after_the_dataset():
    from engine.spec import default_model_dir

    assert default_model_dir("vgg16", "mnist") == "runs/vgg16-mnist"
    assert default_model_dir("vgg16", "mnist:3.0.1") == "runs/vgg16-mnist-3.0.1"
    assert default_model_dir("vgg16", "imagenette/320px-v2") == "runs/vgg16-imagenette-320px-v2"
    assert default_model_dir("vgg16", "folder:/data/pets/") == "runs/vgg16-pets"
    here = os.path.basename(os.getcwd())
    assert default_model_dir("vgg16", "folder:.") == f"runs/vgg16-{here}"


def test_a_tfds_name_in_capitals_is_the_same_dataset():
    # TFDS reads MNIST as mnist; the run recorded 'MNIST' in runs/...-MNIST, and
    # --mode=evaluate --dataset=mnist refused it as another dataset.
    from engine.spec import default_model_dir, recorded_dataset

    assert recorded_dataset("MNIST") == "mnist" and recorded_dataset("Digits") == "digits"
    assert recorded_dataset("Imagenette/320px-v2:1.0.0") == "imagenette/320px-v2:1.0.0"
    assert default_model_dir("vgg16", "CIFAR10:3.0.2") == "runs/vgg16-cifar10-3.0.2"
    assert recorded_dataset("folder:Pets").endswith("/Pets")
    assert recorded_dataset("FOLDER:pets") == "FOLDER:pets"  # no folder: refused as a name
