"""What every source of images gives: :class:`Source`, three disjoint splits of one
dataset, and the constants the sources share.

Every source yields unbatched ``(image uint8 HxWxC, label int64)`` datasets for
three disjoint splits. The test split is only ever used for the final evaluation;
where a dataset has no validation split, one is carved from train deterministically.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import tensorflow as tf

from layers.errors import UsageError

# Fractions held out by sources that ship no split of their own.
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # fixed, so every run of every seed sees the same test images
FOLDER_PREFIX = "folder:"  # --dataset=folder:PATH, an image folder
# The sources that are not TFDS datasets, each with why --data_dir and --manual_dir
# do not apply to it.
NOT_TFDS = {"digits": "it is embedded in scikit-learn", "synthetic": "its images are random",
            FOLDER_PREFIX: "its images are in the folder its name gives"}


@dataclasses.dataclass(frozen=True)
class Source:
    """Three disjoint splits of one dataset plus what a run needs to know about it.

    ``image_shape`` has ``None`` sides where image sizes vary (image folders,
    ImageNet); ``class_names`` names each label, in label order; ``skipped`` lists
    the files an image folder could not decode.
    ``split_digest`` fingerprints an image folder's split (its files' names and sizes),
    so that a run can tell the same split from another of the same sizes; None elsewhere
    (a prepared dataset's splits are fixed by its version).
    ``mirror_symmetric`` is False for
    data whose mirror image is another thing (digits, letters): flips, in training
    or at test time, then hurt.
    ``reshuffled_train(seed, num_shards, shard_index)`` is that worker's shard of the
    training split (the images of ``train.shard(num_shards, shard_index)``) in a new
    order on each pass, drawn from ``seed`` before any image is decoded: for a split too
    large to cache, which a buffer of decoded images would only mix with its neighbours,
    epoch after epoch; None where every split is cached (sources held in memory) or the
    source cannot reorder its files (TFDS: see :func:`engine.data.pipeline.shuffle_buffer`).
    ``changed_files()`` lists an image folder's files that changed since it was checked
    (the latest first), to name the one a run fails to read later; None elsewhere.
    """

    name: str
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    num_classes: int
    image_shape: tuple[int | None, int | None, int]
    sizes: dict[str, int]
    class_names: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    mirror_symmetric: bool = True
    split_digest: str | None = None
    reshuffled_train: Callable[[int, int, int], tf.data.Dataset] | None = None
    changed_files: Callable[[], list[str]] | None = None


def shipped_validation_refusal(name: str, fraction: float) -> UsageError:
    """The refusal of a ``--validation_fraction`` set on the command line for dataset
    ``name``, which ships its own validation split: nothing is held out of train, so
    the flag would be silently ignored."""
    return UsageError(f"--validation_fraction={fraction:g} does not apply: {name} ships its "
                      "own validation split, which the run validates on; leave the flag out.")


def held_out(fraction: float, size: int) -> int:
    """The images a validation ``fraction`` holds out of ``size`` training images,
    rounded; a fraction above 0 that holds out none is a :class:`UsageError` (the run
    would go on without validation, as ``0`` asks)."""
    count = round(fraction * size)
    if fraction > 0 and not count:
        smallest = math.ceil(1e6 / size) / 1e6  # 1/size, rounded up to six decimals
        raise UsageError(f"--validation_fraction={fraction:g} holds out no image of the "
                         f"{size:,} training images; pass 0 for no validation split, or at "
                         f"least {smallest:g}.")
    return count
