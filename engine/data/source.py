"""What every source of images gives: :class:`Source`, three disjoint splits of one
dataset, and the constants the sources share.

Every source yields unbatched ``(image uint8 HxWxC, label int64)`` datasets for
three disjoint splits. The test split is only ever used for the final evaluation;
where a dataset has no validation split, one is carved from train deterministically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from layers.errors import UsageError

# Fractions held out by sources that ship no split of their own.
TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
SPLIT_SEED = 0  # fixed, so every run of every seed sees the same test images
FOLDER_PREFIX = "folder:"  # --dataset=folder:PATH, an image folder


@dataclasses.dataclass(frozen=True)
class TrainingOrder:
    """How a source puts its training split in a new order on each pass, before any
    image is decoded: where a split is too large to cache, a buffer of decoded images
    alone mixes only nearby images, so every epoch would see much the same batches.

    ``reshuffled(seed, num_shards, shard_index)`` is that worker's shard of the training
    split, the same images as ``Source.train.shard(num_shards, shard_index)`` unless
    the source shards otherwise, in an order drawn from ``seed`` anew on each pass; None
    where this worker's shard cannot be drawn so (the pipeline then shuffles the shard
    in a buffer). ``complete``: every order is equally likely (an image folder's paths
    shuffled whole), so no buffer is needed; else only the order of the files changes
    (a prepared dataset's record files) and a buffer still mixes their images.
    """

    reshuffled: Callable[[int, int, int], tf.data.Dataset | None]
    complete: bool


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
    ``training_order`` reorders the training split before decoding (:class:`TrainingOrder`);
    None for sources held in memory, which are cached and shuffled whole.
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
    training_order: TrainingOrder | None = None


def shipped_validation_refusal(name: str, fraction: float) -> UsageError:
    """The refusal of a ``--validation_fraction`` set on the command line for dataset
    ``name``, which ships its own validation split: nothing is held out of train, so
    the flag would be silently ignored."""
    return UsageError(f"--validation_fraction={fraction:g} does not apply: {name} ships its "
                      "own validation split, which the run validates on; leave the flag out.")
