"""Batched, prefetched tf.data pipelines for one run."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from engine.data.preprocessing import Preprocessing
from engine.data.sources import Source

SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class Pipelines:
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset


def make_pipelines(source: Source, preprocessing: Preprocessing, batch_size: int,
                   seed: int) -> Pipelines:
    """Decode and preprocess once (cached), then shuffle, batch and prefetch."""

    def prepare(split: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        split = split.map(lambda image, label: (preprocessing(image), label),
                          num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            split = split.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        return split.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return Pipelines(train=prepare(source.train, training=True),
                     validation=prepare(source.validation, training=False),
                     test=prepare(source.test, training=False))
