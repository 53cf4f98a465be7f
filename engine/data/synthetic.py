"""Random images for benchmarks: ``--dataset=synthetic``."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from engine.data.source import SPLIT_SEED, VALIDATION_FRACTION, Source, held_out

# A pool of distinct random images, repeated to these split sizes (validation's is
# the validation fraction of train's: 1,000 at the default 0.1).
SYNTHETIC_SIZES = {"train": 10_000, "validation": 1_000, "test": 1_000}
SYNTHETIC_POOL = 64


def synthetic(image_shape: tuple[int, int, int], classes: int,
              validation_fraction: float = VALIDATION_FRACTION) -> Source:
    """Uniform random uint8 images of ``image_shape`` with random labels, classes named
    ``class_0``, ``class_1``, ...: :data:`SYNTHETIC_POOL` distinct images repeated to
    :data:`SYNTHETIC_SIZES`, validation's ``validation_fraction`` times train's."""
    sizes = {"train": SYNTHETIC_SIZES["train"],
             "validation": held_out(validation_fraction, SYNTHETIC_SIZES["train"]),
             "test": SYNTHETIC_SIZES["test"]}
    pool = tf.constant(np.random.default_rng(SPLIT_SEED).integers(
        0, 256, (SYNTHETIC_POOL, *image_shape), dtype=np.uint8))

    def split(position: int, size: int) -> tf.data.Dataset:
        # Each split's labels from a generator of its own: the test split does not
        # depend on the validation fraction.
        rng = np.random.default_rng((SPLIT_SEED, position))
        labels = tf.constant(rng.integers(0, classes, size), tf.int64)
        return tf.data.Dataset.range(size).map(
            lambda index: (tf.gather(pool, index % SYNTHETIC_POOL), tf.gather(labels, index)))

    return Source(name="synthetic", num_classes=classes, image_shape=tuple(image_shape),
                  class_names=tuple(f"class_{index}" for index in range(classes)),
                  sizes=sizes, **{key: split(position, size)
                                  for position, (key, size) in enumerate(sizes.items())})
