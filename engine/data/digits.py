"""The embedded default: scikit-learn's copy of the UCI handwritten digits.

Shipped inside scikit-learn's wheel, so a new user trains without any download.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from engine.data.source import SPLIT_SEED, TEST_FRACTION, VALIDATION_FRACTION, Source
from layers.errors import UsageError

CLASSES = 10


def digits(validation_fraction: float = VALIDATION_FRACTION) -> Source:
    """1,797 8x8 images with 17 grey levels, in fixed stratified splits (seed 0): 360 test
    images, then ``validation_fraction`` of the rest for validation (1,293 train and 144
    validation images at the default 0.1; 1,437 train and none at 0)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    held_out = math.ceil(validation_fraction * len(rest_y))  # as scikit-learn counts it
    if 0 < held_out < CLASSES:
        smallest = math.ceil(1000 * CLASSES / len(rest_y)) / 1000
        raise UsageError(f"--validation_fraction={validation_fraction} holds out {held_out} of "
                         f"the {len(rest_y):,} digits, fewer than one per class; pass 0 or at "
                         f"least {smallest}.")
    if validation_fraction > 0:
        train_x, val_x, train_y, val_y = train_test_split(
            rest_x, rest_y, test_size=validation_fraction, stratify=rest_y,
            random_state=SPLIT_SEED)
    else:
        train_x, train_y, val_x, val_y = rest_x, rest_y, rest_x[:0], rest_y[:0]
    splits = {"train": (train_x, train_y), "validation": (val_x, val_y), "test": (test_x, test_y)}
    datasets = {key: tf.data.Dataset.from_tensor_slices(value) for key, value in splits.items()}
    return Source(name="digits", num_classes=CLASSES, image_shape=(8, 8, 1),
                  class_names=tuple(str(digit) for digit in range(CLASSES)), mirror_symmetric=False,
                  sizes={key: len(value[1]) for key, value in splits.items()}, **datasets)
