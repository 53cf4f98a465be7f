"""Where images come from: ``digits``, ``synthetic``, ``folder:PATH`` or a TFDS dataset.

Every source yields unbatched ``(image uint8 HxWxC, label int64)`` datasets for
three disjoint splits. The test split is only ever used for the final evaluation;
where a dataset has no validation split, one is carved from train deterministically.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

# Fractions held out by sources that ship no split of their own.
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # fixed, so every run of every seed sees the same test images
FOLDER_PREFIX = "folder:"
# synthetic: a pool of distinct random images, repeated to these split sizes.
SYNTHETIC_SIZES = {"train": 10_000, "validation": 1_000, "test": 1_000}
SYNTHETIC_POOL = 64


@dataclasses.dataclass(frozen=True)
class Source:
    """Three disjoint splits of one dataset plus what a run needs to know about it.

    ``image_shape`` has ``None`` sides where image sizes vary (image folders,
    ImageNet); ``skipped`` lists the files an image folder could not decode.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    image_shape: tuple[int | None, int | None, int]
    sizes: dict[str, int]
    class_names: tuple[str, ...] | None = None
    skipped: tuple[str, ...] = ()


def load_source(name: str, data_dir: str | None = None, manual_dir: str | None = None, *,
                image_shape=(32, 32, 3), classes: int = 10) -> Source:
    """The dataset called ``name``.

    ``digits`` (embedded), ``synthetic`` (random ``image_shape`` images of ``classes``
    classes), ``folder:PATH`` (an image folder) or a TFDS dataset in ``data_dir``,
    prepared offline from ``manual_dir`` if it is not prepared yet.
    """
    if name == "digits":
        return digits()
    if name == "synthetic":
        return synthetic(tuple(image_shape), classes)
    if name.startswith(FOLDER_PREFIX):
        from engine.data.folder import image_folder

        return image_folder(name[len(FOLDER_PREFIX):])
    from engine.data.tfds_source import tfds_source

    return tfds_source(name, data_dir, manual_dir)


def digits() -> Source:
    """scikit-learn's copy of the UCI handwritten digits: 1,797 8x8 images, 17 grey levels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x, rest_y, test_size=VALIDATION_FRACTION, stratify=rest_y, random_state=SPLIT_SEED)
    splits = {"train": (train_x, train_y), "validation": (val_x, val_y), "test": (test_x, test_y)}
    datasets = {key: tf.data.Dataset.from_tensor_slices(value) for key, value in splits.items()}
    return Source(name="digits", num_classes=10, image_shape=(8, 8, 1),
                  class_names=tuple(str(digit) for digit in range(10)),
                  sizes={key: len(value[1]) for key, value in splits.items()}, **datasets)


def synthetic(image_shape: tuple[int, int, int], classes: int) -> Source:
    """Uniform random uint8 images of ``image_shape`` with random labels, for benchmarks:
    :data:`SYNTHETIC_POOL` distinct images repeated to :data:`SYNTHETIC_SIZES`."""
    rng = np.random.default_rng(SPLIT_SEED)
    pool = tf.constant(rng.integers(0, 256, (SYNTHETIC_POOL, *image_shape), dtype=np.uint8))

    def split(size: int) -> tf.data.Dataset:
        labels = tf.constant(rng.integers(0, classes, size), tf.int64)
        return tf.data.Dataset.range(size).map(
            lambda index: (tf.gather(pool, index % SYNTHETIC_POOL), tf.gather(labels, index)))

    return Source(name="synthetic", num_classes=classes, image_shape=tuple(image_shape),
                  sizes=dict(SYNTHETIC_SIZES),
                  **{key: split(size) for key, size in SYNTHETIC_SIZES.items()})
