"""Batched, prefetched tf.data pipelines for one run.

Each split goes: source -> shard (multi-worker) -> decode and the preset's
deterministic geometry (parallel ``map``) -> ``cache`` in memory where it fits ->
``shuffle`` (train: the whole split where it is cached; else an image folder's file
names, whole, before decoding; else a buffer of about 1 GiB) -> the preset's random
augmentation (train) or evaluation view -> normalization -> ``batch`` -> ``prefetch``;
the presets that augment whole batches (and evaluation views of images of one shape)
come after ``batch``. ``deterministic`` decides whether parallel maps keep element
order; the augmentation is reproducible either way because every image (or batch) gets
its own stateless seed from the run's seed (a stream apart from the shuffle's and, in
sharded data, from the other shards': :func:`augmentation_seed`, :func:`shuffle_seed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import re

import numpy as np
import tensorflow as tf
from absl import logging

from engine.data.augment import Augmentation, make_augmentation
from engine.data.folder import DECODE_SCOPE, first_files
from engine.data.preprocessing import STATS_MAX_IMAGES, Preprocessing
from engine.data.source import Source
from engine.data.sources import load_source
from engine.data.spec import DataSpec
from engine.data.tta import VIEWS, dense_scale, views
from layers.errors import RunFailure, UsageError

LABEL_ERROR = "label outside the class range:"
MIRRORING_TTA = ("flip", "10crop")  # the test-time views that include mirror images
SHUFFLE_BUFFER = 10_000  # images, at most, of a split that is not cached
# A split that is not cached, of a source that cannot reorder its files (TFDS), is shuffled
# as decoded images: the buffer holds at most this much (10,000 whole ImageNet images would
# take about 5 GB).
SHUFFLE_BUDGET_BYTES = 2**30
UNKNOWN_IMAGE_BYTES = 500 * 400 * 3  # a stored image of unknown shape, counted as a photo
CACHE_BUDGET_BYTES = 2 * 2**30  # per split; larger splits are decoded every epoch
CHANNELS = (1, 3)


class DataFailure(RunFailure):
    """A fault of the data met while reading it (a label out of range, an image folder's
    file changed after the check): every run, or trial of a search, that reads the same
    split meets it again."""


@dataclasses.dataclass(frozen=True)
class Pipelines:
    """The batched splits; ``validation`` is None where the run has no validation split
    (``validation_fraction=0``)."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run's data: the source, the augmentation preset, the preprocessing fitted on
    the training split, the pipelines, and the training split as stored (cached where
    it fits), from which :meth:`training_pipeline` builds the training pipeline anew."""

    spec: DataSpec
    source: Source
    augmentation: Augmentation
    preprocessing: Preprocessing
    pipelines: Pipelines
    stored_train: tf.data.Dataset

    def training_pipeline(self, seed: int) -> tf.data.Dataset:
        """The training pipeline built anew over the stored split: its shuffles and
        augmentation seeds drawn from ``seed`` from its first pass on, as a new run's
        with that ``--seed`` are, however many passes this process made over
        ``pipelines.train`` (each pass draws the next ones)."""
        spec = dataclasses.replace(self.spec, seed=seed)
        return _training(*_training_order(self.source, self.stored_train,
                                          self.augmentation.store, spec),
                         self.augmentation, self.preprocessing, spec)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape

    def tta_pipeline(self, mode: str) -> tf.data.Dataset:
        """Batches of ``([images, VIEWS[mode], H, W, C] normalized views, labels)`` of the
        test split; each batch holds ``batch_size // VIEWS[mode]`` images (``dense``
        views of stored images of different sizes: one image per batch)."""
        store = self.augmentation.store_whole if mode == "dense" else self.augmentation.store
        test = _stored(self.source.test, store, self.spec)
        stored_same_size = test.element_spec[0].shape.is_fully_defined()
        scale = dense_scale(self.augmentation, self.spec.test_scale) if mode == "dense" else None
        normalize = self.preprocessing.at_any_size if mode == "dense" else self.preprocessing
        test = test.map(
            lambda image, label: (normalize(views(self.augmentation, image, mode, scale)), label),
            num_parallel_calls=tf.data.AUTOTUNE)
        # Stored images of one size have views of one size; so have flip and 10crop views
        # of whole images of any size (vgg, resnet, inception): all at the input size.
        same_size = stored_same_size or test.element_spec[0].shape.is_fully_defined()
        batch_size = max(1, self.spec.batch_size // VIEWS[mode]) if same_size else 1
        return _finish(test.batch(batch_size), self.spec)


def prepare(spec: DataSpec, input_shape, classes: int | None = None,
            preprocessing: Preprocessing | None = None, source: Source | None = None,
            batch_sizes: tuple[int, int] | None = None,
            training: bool | None = None) -> Prepared:
    """Loads ``spec.dataset`` (or takes ``source``, already loaded), fits the
    preprocessing on its training split (or uses ``preprocessing``, a saved run's) and
    builds the pipelines for a recipe input of ``input_shape`` (``spec.image_size``
    overrides its sides). ``classes`` sets the class count of ``synthetic`` data
    (default 10). ``batch_sizes``: a search's smallest and largest batch size, whose
    trials rebatch the data; ``spec.batch_size`` trains otherwise. ``training``: the
    data will train a network (the default without a saved ``preprocessing``; a resumed
    run trains with its own), which the checks of the flags take into account."""
    input_shape = resolve_input_shape(input_shape, spec.image_size)
    if source is None:
        source = open_source(spec, input_shape, classes)
    source = with_checked_labels(source)
    augmentation = make_augmentation(spec.augmentation, input_shape)
    # A saved run's preprocessing: the data is only evaluated, in batches of any size,
    # unless the run resumes training.
    check_misfits(source, augmentation, spec,
                  training=preprocessing is None if training is None else training,
                  batch_sizes=batch_sizes)
    stored = {split: _stored(getattr(source, split), augmentation.store, spec) for split in
              ("train", "validation", "test")}
    stored = {split: _maybe_cache(dataset, worker_size(source, spec, split))
              for split, dataset in stored.items()}
    if preprocessing is None:
        preprocessing = _fit_preprocessing(source, stored, augmentation, input_shape, spec)
    augmentation = augmentation.with_colour_basis(preprocessing.colour_basis)
    pipelines = Pipelines(
        train=_training(*_training_order(source, stored["train"], augmentation.store, spec),
                        augmentation, preprocessing, spec),
        validation=_evaluation(stored["validation"], augmentation, preprocessing, spec,
                               size=worker_size(source, spec, "validation"))
        if source.sizes["validation"] else None,
        test=_evaluation(stored["test"], augmentation, preprocessing, spec))
    return Prepared(spec, source, augmentation, preprocessing, pipelines, stored["train"])


def open_source(spec: DataSpec, input_shape, classes: int | None = None,
                validation_fraction_given: bool = False) -> Source:
    """The source ``spec`` names, opened but not read: its splits, sizes and class names
    are known, and nothing has been decoded yet. ``validation_fraction_given``:
    ``--validation_fraction`` was set, which a dataset that ships its own validation
    split refuses (:func:`engine.data.sources.load_source`)."""
    return load_source(spec.dataset, spec.data_dir, spec.manual_dir,
                       image_shape=resolve_input_shape(input_shape, spec.image_size),
                       classes=classes or 10, validation_fraction=spec.validation_fraction,
                       validation_fraction_given=validation_fraction_given)


def check_misfits(source: Source, augmentation: Augmentation, spec: DataSpec,
                  training: bool = True, batch_sizes: tuple[int, int] | None = None) -> None:
    """Warns where the flags do not suit the data: a batch larger than the training
    split (one step per epoch, when ``training``; ``batch_sizes``: a search's smallest
    and largest), mirror images of data that is not mirror-symmetric; refuses to train
    on crops that mostly miss an image smaller than their padding."""
    smallest, largest = batch_sizes or (spec.batch_size, spec.batch_size)
    examples = source.sizes["train"]
    if training and largest > examples and smallest == largest:
        logging.warning("--batch_size=%d is larger than the %d training images of %s: each "
                        "epoch is a single step; use a batch of at most %d.", largest,
                        examples, source.name, examples)
    elif training and largest > examples:
        logging.warning("The search tries batch sizes from %d to %d, and %s has %d training "
                        "images: a trial with a larger batch takes a single step per epoch; "
                        "fix --batch_size at most %d.", smallest, largest, source.name,
                        examples, examples)
    empty = empty_crop_share(augmentation.crop_padding, augmentation.size)
    if training and empty > 0.5:
        # Such crops, all alike, make constant batches: batch normalization's zero variance
        # then multiplies the gradient by 1/sqrt(epsilon) at each layer (seen: ResNet-20 at
        # 1x1 reached a NaN loss at step 7 at a learning rate of 1e-6).
        side = next(side for side in itertools.count(1)
                    if empty_crop_share(augmentation.crop_padding, (side, side)) <= 0.5)
        raise UsageError(
            f"--augment={spec.augmentation} pads {augmentation.crop_padding} pixels on each "
            f"side and crops {augmentation.size[0]}x{augmentation.size[1]}: "
            f"{100 * empty:.0f}% of the crops of a {augmentation.size[0]}x"
            f"{augmentation.size[1]} image hold none of its pixels, and batches of such crops "
            f"end the run in a NaN loss whatever the learning rate; use --image_size={side} "
            "or larger, or --augment=none.")
    if not source.mirror_symmetric:
        for flag, value, mirrors in (("--augment", spec.augmentation, augmentation.mirrors),
                                     ("--tta", spec.tta, spec.tta in MIRRORING_TTA)):
            if mirrors:
                logging.warning("%s=%s adds mirror images, but %s is not mirror-symmetric (a "
                                "mirrored digit or letter is not the same class): expect lower "
                                "accuracy.", flag, value, source.name)


def empty_crop_share(padding: int, size) -> float:
    """The share of the crops of ``size`` from an image of ``size`` padded by ``padding``
    pixels on each side (every offset alike) that hold none of the image's pixels."""
    if not padding:
        return 0.0
    holding = 1.0
    for side in size:  # the offsets 0..2p at which a crop of this side overlaps the image
        holding *= (min(2 * padding, padding + side - 1)
                    - max(0, padding - side + 1) + 1) / (2 * padding + 1)
    return 1.0 - holding


def with_checked_labels(source: Source) -> Source:
    """``source`` whose splits stop with :data:`LABEL_ERROR` at a label outside
    ``[0, num_classes)`` (see :func:`named_data_errors`)."""
    def check(image, label):
        in_range = tf.logical_and(label >= 0, label < source.num_classes)
        with tf.control_dependencies([tf.debugging.Assert(in_range, [LABEL_ERROR, label])]):
            return image, tf.identity(label)

    def checked(split: tf.data.Dataset) -> tf.data.Dataset:
        return split.map(check, num_parallel_calls=tf.data.AUTOTUNE)

    reshuffled = source.reshuffled_train
    return dataclasses.replace(
        source, reshuffled_train=reshuffled and (lambda *worker: checked(reshuffled(*worker))),
        **{split: checked(getattr(source, split)) for split in ("train", "validation", "test")})


@contextlib.contextmanager
def named_data_errors(source: Source):
    """Turns a bad label met while reading ``source``, or an image folder's file that no
    longer reads or decodes, into a :class:`DataFailure` that names the dataset, the
    label, or TensorFlow's reason and the files changed since the check."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError,
            tf.errors.DataLossError) as error:
        if f"{{{{node {DECODE_SCOPE}/" in str(error):  # [[{{node folder_image/ReadFile}}]]
            found = re.search(r"Iterator::\S+: ([^\n]*)", str(error))  # ...::Zip[0]::...: why
            detail = found.group(1) if found else type(error).__name__
            changed = source.changed_files() if source.changed_files else []
            named = (f" (the files changed since, the latest first: {first_files(changed)})"
                     if changed else "")
            raise DataFailure(
                f"A file of {source.name} cannot be read or decoded any more ({detail}): the "
                f"folder changed after the run checked it{named}. Restore the file and run the "
                "command again (without it the split changes, and the run starts afresh with "
                "--overwrite or another --model_dir).") from None
        if LABEL_ERROR not in str(error):
            raise
        found = re.search(re.escape(LABEL_ERROR) + r"[^\d-]*(-?\d+)", str(error))
        label = found.group(1) if found else "?"
        raise DataFailure(f"Dataset {source.name!r} has a label ({label}) outside the range of "
                         f"its {source.num_classes} classes, 0 to {source.num_classes - 1}; "
                         "fix its labels.") from None


def _fit_preprocessing(source, stored, augmentation, input_shape, spec: DataSpec):
    # The statistics come from the whole training split, identical on every worker; when
    # they read all of the worker's training split, this pass also fills its cache.
    if spec.num_shards == 1 and source.sizes["train"] <= STATS_MAX_IMAGES:
        statistics_images = stored["train"]
    else:
        # In order: which images the statistics read (the first STATS_MAX_IMAGES) is fixed.
        statistics_images = _stored(source.train, augmentation.store, dataclasses.replace(
            spec, num_shards=1, shard_index=0, deterministic=True))
    return Preprocessing.fit(
        statistics_images.map(lambda image, label: augmentation.evaluate(image),
                              num_parallel_calls=tf.data.AUTOTUNE),
        input_shape, spec.normalization, size=source.sizes["train"])


def resolve_input_shape(input_shape, image_size: int | None) -> tuple[int, int, int]:
    """The recipe's ``(H, W, C)``, with ``image_size`` for H and W when given."""
    height, width, channels = (int(side) for side in input_shape)
    if channels not in CHANNELS:
        raise UsageError(f"The recipe takes {channels}-channel input; image datasets give "
                         f"1 (grey) or 3 (RGB) channels, so train it on your own data through "
                         "the Python API (recipes.build).")
    if image_size is not None:
        height = width = image_size
    return height, width, channels


def _stored(split: tf.data.Dataset, store, spec: DataSpec):
    """``split`` (this worker's shard of it) with each image through ``store``
    (an :class:`Augmentation`'s ``store`` or ``store_whole``)."""
    if spec.num_shards > 1:
        split = split.shard(spec.num_shards, spec.shard_index)
    return split.map(lambda image, label: (store(image), label),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=spec.deterministic)


def _maybe_cache(stored: tf.data.Dataset, size: float) -> tf.data.Dataset:
    """``stored.cache()`` when it fits the cache (:func:`_fits_cache`)."""
    return stored.cache() if _fits_cache(stored, size) else stored


def _fits_cache(stored: tf.data.Dataset, size: float) -> bool:
    """Whether ``size`` images of ``stored`` (uint8 ones, or evaluation views) have a
    known shape and fit :data:`CACHE_BUDGET_BYTES`."""
    image = stored.element_spec[0]
    return (image.shape.is_fully_defined()
            and size * np.prod(image.shape) * image.dtype.size <= CACHE_BUDGET_BYTES)


def worker_size(source: Source, spec: DataSpec, split: str) -> int:
    """How many of ``split``'s images this worker's shard holds (at most)."""
    return math.ceil(source.sizes[split] / spec.num_shards)


def shuffle_buffer(stored: tf.data.Dataset, size: int) -> int:
    """The training shuffle's buffer over ``size`` stored images: all of them where the
    split is cached (:func:`_maybe_cache`; the buffer holds references to the cached
    tensors, not copies), else as many as :data:`SHUFFLE_BUDGET_BYTES` holds, at most
    :data:`SHUFFLE_BUFFER` (images of unknown shape counted at
    :data:`UNKNOWN_IMAGE_BYTES`, so larger photos take more). A TFDS split too large to
    cache (ImageNet) is read in its prepared order (TFDS shuffled its examples then) and
    mixed in this buffer only: TFDS's ``shuffle_files`` would reorder its record files,
    but lazily, under the buffer, so a resumed run's skipped epochs would not advance
    that order and the run would not repeat the uninterrupted one."""
    if _fits_cache(stored, size):
        return max(1, size)
    shape = stored.element_spec[0].shape
    image_bytes = np.prod(shape) if shape.is_fully_defined() else UNKNOWN_IMAGE_BYTES
    return max(1, min(SHUFFLE_BUFFER, SHUFFLE_BUDGET_BYTES // int(image_bytes), size))


def _training_order(source: Source, stored: tf.data.Dataset, store,
                    spec: DataSpec) -> tuple[tf.data.Dataset, int]:
    """This worker's training images as stored (``stored``, its split through ``store``)
    and the buffer that shuffles them (0: they come shuffled): a cached split is shuffled
    whole in the buffer; one decoded every epoch is reshuffled before decoding where the
    source can (``Source.reshuffled_train``, from ``spec.seed``), else in the buffer."""
    size = worker_size(source, spec, "train")
    if source.reshuffled_train is None or _fits_cache(stored, size):
        return stored, shuffle_buffer(stored, size)
    reshuffled = source.reshuffled_train(shuffle_seed(spec), spec.num_shards, spec.shard_index)
    return _stored(reshuffled, store, dataclasses.replace(spec, num_shards=1, shard_index=0)), 0


def _training(stored, buffer: int, augmentation, preprocessing,
              spec: DataSpec) -> tf.data.Dataset:
    """The training pipeline over ``stored`` shuffled in a ``buffer`` of images (0: it
    comes shuffled)."""
    shuffled = (stored.shuffle(buffer, seed=shuffle_seed(spec), reshuffle_each_iteration=True)
                if buffer else stored)
    if not augmentation.random:
        return _evaluation(shuffled, augmentation, preprocessing, spec)
    draws = tf.data.Dataset.random(seed=augmentation_seed(spec), rerandomize_each_iteration=True)
    options = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=spec.deterministic)
    if augmentation.batched:  # each image's random integer, batched with it
        return _finish(tf.data.Dataset.zip(shuffled, draws).batch(spec.batch_size).map(
            lambda examples, batch_draws: (
                preprocessing(augmentation.train_batch(examples[0], batch_draws)), examples[1]),
            **options), spec)
    seeds = draws.batch(2)
    images = tf.data.Dataset.zip(shuffled, seeds).map(
        lambda example, seed: (preprocessing(augmentation.train(example[0], seed)), example[1]),
        **options)
    return _finish(images.batch(spec.batch_size), spec)


def shuffle_seed(spec: DataSpec) -> int:
    """The seed of this worker's training shuffle: ``spec.seed`` itself, unless the data is
    sharded (``num_shards > 1``), where each shard draws its own with its index
    (:func:`_stream_seeds`): shards of one length shuffled with one seed move in lockstep,
    the k-th image of shard 1 always the one stored after shard 0's k-th, so the same
    images met in every global batch. (A run that is not sharded keeps ``--seed`` as its
    shuffle's seed, so its order is the one runs of that seed have taken.)"""
    return spec.seed if spec.num_shards == 1 else _stream_seeds(spec)[1]


def augmentation_seed(spec: DataSpec) -> int:
    """The seed of this worker's augmentation draws, a stream apart from the shuffle's
    (:func:`_stream_seeds`). With the shuffle's seed, ``Dataset.random`` returns the very
    numbers ``shuffle`` picks its images with (one Philox key), so that an image's crop hung
    on its place in the stored order (``shift``'s top offset matched the stored index
    modulo 5 for 28% of the views, against the 20% of independent draws), and every shard
    of sharded data drew the same crops, position by position. (The workers of
    ``--distribute=multi_worker`` run one pipeline each, unsharded, and TensorFlow divides
    its batches between them by position: their draws must agree, and do.)"""
    return _stream_seeds(spec)[0]


def _stream_seeds(spec: DataSpec) -> tuple[int, int]:
    """Two seeds drawn from ``spec.seed`` and ``spec.shard_index``: the augmentation's
    and a shard's shuffle's."""
    words = np.random.SeedSequence((spec.seed, spec.shard_index)).generate_state(2)
    return int(words[0]), int(words[1])


def _evaluation(stored, augmentation, preprocessing, spec: DataSpec,
                size: int = 0) -> tf.data.Dataset:
    """Batches of normalized evaluation views; computed on whole batches (several times
    faster) where the stored images share one shape. Views of whole images of other
    sizes (which cannot be cached: ``vgg``, ``resnet``, ... on photos) are cached where
    the ``size`` views of a split read every epoch (validation's) fit the cache: they
    were decoded again each epoch."""

    def view(images, labels):
        return preprocessing(augmentation.evaluate(images)), labels

    options = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=spec.deterministic)
    if stored.element_spec[0].shape.is_fully_defined():
        return _finish(stored.batch(spec.batch_size).map(view, **options), spec)
    views = stored.map(view, **options)
    return _finish((_maybe_cache(views, size) if size else views).batch(spec.batch_size), spec)


def _finish(batches: tf.data.Dataset, spec: DataSpec) -> tf.data.Dataset:
    options = tf.data.Options()
    options.deterministic = spec.deterministic
    if spec.num_shards > 1:  # already sharded here; tf.distribute must not shard again
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF)
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)
