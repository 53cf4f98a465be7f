"""Where images come from: the embedded ``digits`` set and any TFDS dataset.

Every source yields unbatched ``(image uint8 HxWxC, label int64)`` datasets for
three disjoint splits. The test split is only ever used for the final evaluation;
where a dataset has no validation split, one is carved from train deterministically.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

EMBEDDED = ("digits",)
# Fractions held out by sources that ship no split of their own.
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # fixed, so every run of every seed sees the same test images


@dataclasses.dataclass(frozen=True)
class Source:
    """Three disjoint splits of one dataset plus what a run needs to know about it."""

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    image_shape: tuple[int, int, int]
    sizes: dict[str, int]


def load_source(name: str, data_dir: str | None = None) -> Source:
    """The dataset called ``name``: ``digits`` or a prepared TFDS dataset."""
    if name == "digits":
        return _digits()
    return _tfds(name, data_dir)


def _digits() -> Source:
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
                  sizes={key: len(value[1]) for key, value in splits.items()}, **datasets)


def _tfds(name: str, data_dir: str | None) -> Source:
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset {name!r}: use 'digits' or a TFDS image-classification "
            "dataset name such as 'mnist' or 'cifar10'.") from None
    if not builder.is_prepared():
        raise ValueError(
            f"Dataset {name!r} is not prepared in {builder.data_dir_root!r}; pass "
            "--data_dir=DIR pointing at a TFDS data dir that holds it.")
    info = builder.info
    image_key, label_key = _supervised_keys(info)
    splits = dict(info.splits)
    if "validation" in splits:
        names = {"train": "train", "validation": "validation"}
    else:
        held_out = round(VALIDATION_FRACTION * 100)
        names = {"train": f"train[{held_out}%:]", "validation": f"train[:{held_out}%]"}
    names["test"] = "test"
    if "test" not in splits:
        raise ValueError(f"Dataset {name!r} has no test split; splits are {sorted(splits)}.")
    read_config = tfds.ReadConfig(shuffle_seed=SPLIT_SEED)
    datasets = {
        key: builder.as_dataset(split=split, shuffle_files=False, read_config=read_config)
        .map(lambda ex: (ex[image_key], ex[label_key]), num_parallel_calls=tf.data.AUTOTUNE)
        for key, split in names.items()
    }
    sizes = {key: builder.info.splits[split].num_examples for key, split in names.items()}
    return Source(name=name, num_classes=info.features[label_key].num_classes,
                  image_shape=tuple(info.features[image_key].shape), sizes=sizes, **datasets)


def _supervised_keys(info) -> tuple[str, str]:
    keys = info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(
            f"Dataset {info.name!r} is not an image-classification dataset "
            "(it has no (image, label) supervised keys).")
    return keys
