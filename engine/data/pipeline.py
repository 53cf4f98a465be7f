"""Batched, prefetched tf.data pipelines for one run."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from engine.data.preprocessing import Preprocessing
from engine.data.sources import Source, load_source

SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What the flags say about the input: which data, and how to feed it."""

    dataset: str = "digits"
    data_dir: str | None = None
    batch_size: int = 32
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Pipelines:
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run's data: the source, the preprocessing fitted on its training split, the pipelines."""

    source: Source
    preprocessing: Preprocessing
    pipelines: Pipelines


def prepare(spec: DataSpec, input_shape) -> Prepared:
    """Loads ``spec.dataset``, fits the preprocessing on its training split and
    builds the batched pipelines."""
    source = load_source(spec.dataset, spec.data_dir)
    preprocessing = Preprocessing.fit(source.train.map(lambda image, label: image), input_shape)
    return Prepared(source, preprocessing,
                    make_pipelines(source, preprocessing, spec.batch_size, spec.seed))


def make_pipelines(source: Source, preprocessing: Preprocessing, batch_size: int,
                   seed: int) -> Pipelines:
    """Decode and preprocess once (cached), then shuffle, batch and prefetch."""

    def prepare_split(split: tf.data.Dataset, training: bool) -> tf.data.Dataset:
        split = split.map(lambda image, label: (preprocessing(image), label),
                          num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            split = split.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
        return split.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return Pipelines(train=prepare_split(source.train, training=True),
                     validation=prepare_split(source.validation, training=False),
                     test=prepare_split(source.test, training=False))
