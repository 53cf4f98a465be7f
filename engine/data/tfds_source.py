"""TFDS image-classification datasets, read from a data dir or prepared offline.

``--manual_dir=DIR`` prepares a dataset that is not prepared yet from archives a
user downloaded by hand: TFDS's download manager looks each URL's registered file
name (the URL's basename for MNIST, e.g. ``train-images-idx3-ubyte.gz``) up in
``DIR`` instead of downloading it. Each dataset extracts into its own directory,
because MNIST and Fashion-MNIST share file names.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

import tensorflow as tf
from absl import logging

from engine.data.source import (FOLDER_PREFIX, NOT_TFDS, SPLIT_SEED, TEST_FRACTION,
                                VALIDATION_FRACTION, Source, held_out,
                                shipped_validation_refusal)
from layers.checks import close_names
from layers.errors import UsageError

DATASET_NAMES = ("use 'digits', 'synthetic', 'folder:PATH' or a TFDS image-classification "
                 "dataset name such as 'mnist' or 'cifar10'")
# TFDS datasets of characters, whose mirror images are not the same class.
NOT_MIRROR_SYMMETRIC = ("mnist", "emnist", "kmnist", "svhn_cropped", "binary_alpha_digits")


def tfds_source(name: str, data_dir: str | None, manual_dir: str | None = None,
                validation_fraction: float = VALIDATION_FRACTION,
                validation_fraction_given: bool = False) -> Source:
    """The TFDS dataset ``name`` from ``data_dir``; where the dataset has no validation
    split, the first ``validation_fraction`` of train is one (TFDS shuffled the examples
    when it prepared them; 10% by default, 6,000 of MNIST's 60,000; with 0 the whole
    training split trains and the validation split is empty). Where it has no labelled
    test split (``imagenette`` has none, ``imagenet2012``'s images are labelled -1), its
    validation split is the test split, as papers report ImageNet's, and validation comes
    from train; with neither, the first ``TEST_FRACTION`` of train is the test split. A
    fraction set on the command line (``validation_fraction_given``) for a dataset that
    ships its validation split is refused.
    """
    import tensorflow_datasets as tfds

    with _without_tfds_warnings():  # "Variant folder ... has no dataset_info.json"
        builder = _builder(name, data_dir)
        prepared = builder.is_prepared()
    if not prepared:
        if manual_dir is None:
            raise UsageError(
                f"Dataset {name!r} is not prepared in {str(builder.data_dir_root)!r}; pass "
                "--data_dir=DIR pointing at a TFDS data dir that holds it, or prepare it "
                "from its downloaded archives with --manual_dir=DIR (a flag of --mode=train "
                "and --mode=tune).")
        prepare_offline(builder, manual_dir)
    elif manual_dir is not None:
        logging.warning("--manual_dir=%s is not read: %r is prepared in %s already, and that "
                        "copy is used.", manual_dir, name, str(builder.data_dir_root))
    info = builder.info
    image_key, label_key = _supervised_keys(info)
    names = _split_names(builder, label_key, validation_fraction)
    if validation_fraction_given and names.get("validation") == "validation":
        raise shipped_validation_refusal(name, validation_fraction)
    read_config = tfds.ReadConfig(shuffle_seed=SPLIT_SEED, try_autocache=False)
    datasets = {
        key: builder.as_dataset(split=split, shuffle_files=False, read_config=read_config)
        .map(lambda example: (example[image_key], tf.cast(example[label_key], tf.int64)),
             num_parallel_calls=tf.data.AUTOTUNE)
        for key, split in names.items()
    }
    sizes = {key: info.splits[split].num_examples for key, split in names.items()}
    if "validation" not in names:
        datasets["validation"], sizes["validation"] = datasets["train"].take(0), 0
    label = info.features[label_key]
    class_names = (getattr(label, "names", None)
                   or [str(index) for index in range(label.num_classes)])
    return Source(name=name, num_classes=label.num_classes,
                  image_shape=tuple(info.features[image_key].shape),
                  class_names=tuple(class_names), sizes=sizes,
                  mirror_symmetric=builder.name not in NOT_MIRROR_SYMMETRIC, **datasets)


def _split_names(builder, label_key: str, validation_fraction: float) -> dict[str, str]:
    """The TFDS split (or slice of train) that each of train, validation and test reads;
    no validation where there is none to take (a fraction of 0)."""
    splits = builder.info.splits
    if "train" not in splits:
        raise UsageError(f"Dataset {builder.name!r} has no train split; splits are "
                         f"{sorted(splits)}.")
    test = "test" if "test" in splits and _labelled(builder, "test", label_key) else None
    if test is None and "validation" in splits:
        test = "validation"
    size = splits["train"].num_examples
    start = 0 if test else round(TEST_FRACTION * size)
    names = {"test": test or _train_slice(0, start)}
    if "validation" in splits and test != "validation":
        names["validation"] = "validation"
    elif held := held_out(validation_fraction, size - start):
        names["validation"] = _train_slice(start, start + held)
        start += held
    names["train"] = _train_slice(start, None)
    if names["test"] != "test":
        taken = "its validation split" if test else f"the first {TEST_FRACTION:.0%} of train"
        validation = names.get("validation", "validation")
        carved = (f", {splits[validation].num_examples:,} images of train the validation split"
                  if validation != "validation" else "")
        logging.warning("Dataset %r has no labelled test split (its splits: %s): %s (%s images) "
                        "is the test split%s.", builder.name, ", ".join(sorted(splits)), taken,
                        f"{splits[names['test']].num_examples:,}", carved)
    return {split: names[split] for split in ("train", "validation", "test") if split in names}


def _train_slice(start: int, end: int | None) -> str:
    """TFDS's name of train's examples ``start`` to ``end``: ``train[6000:]``, ``train``."""
    if not start and end is None:
        return "train"
    return f"train[{start or ''}:{'' if end is None else end}]"


def _labelled(builder, split: str, label_key: str) -> bool:
    """Whether ``split``'s examples carry labels: TFDS marks an unlabelled image -1
    (``imagenet2012``'s test split); its first example tells."""
    for example in builder.as_dataset(split=f"{split}[:1]").take(1):
        return int(example[label_key]) >= 0
    return True


def prepare_offline(builder, manual_dir: str) -> None:
    """Prepares ``builder``'s dataset from the files in ``manual_dir``, without network."""
    import tensorflow_datasets as tfds

    name = builder.info.full_name
    manual_dir = os.path.abspath(os.path.expanduser(manual_dir))
    if not os.path.isdir(manual_dir):
        raise UsageError(f"--manual_dir={manual_dir!r} is not a directory; it must hold the "
                         f"archives of {name!r}.")
    expected = sorted({info.filename for info in (builder.url_infos or {}).values()
                       if info.filename})
    missing = [filename for filename in expected
               if not os.path.exists(os.path.join(manual_dir, filename))]
    if missing:
        which = "" if missing == expected else f"{', '.join(missing)} of "
        raise UsageError(f"--manual_dir={manual_dir!r} lacks {which}the archives that "
                         f"preparing {name!r} offline needs: {', '.join(expected)}.")
    downloads = os.path.join(str(builder.data_dir_root), "downloads")
    config = tfds.download.DownloadConfig(
        manual_dir=manual_dir, extract_dir=os.path.join(downloads, "extracted", *name.split("/")))
    try:
        builder.download_and_prepare(download_dir=downloads, download_config=config)
    except Exception as error:  # TFDS raises many kinds; the user needs one sentence
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"Could not prepare {name!r} from --manual_dir={manual_dir!r}: "
                         f"{reason}") from error


@contextlib.contextmanager
def _without_tfds_warnings():
    """absl's warnings held back: TFDS warns that a dataset's folder holds no
    ``dataset_info.json`` (even where there is no folder) before the refusal that says
    the dataset is not prepared, which names the remedy."""
    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


def _builder(name: str, data_dir: str | None):
    """TFDS's builder of ``name`` (``mnist``, ``mnist:3.0.1``, ``name/config``); a name
    TFDS cannot parse, or whose config or version it lacks, is a :class:`UsageError`."""
    import tensorflow_datasets as tfds

    folder = (f"; an image folder is --dataset=folder:{name}"
              if name.startswith(("/", ".", "~")) or os.path.isdir(name) else "")
    try:
        with _scratch_temp_dir():
            return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise _unknown_dataset(name, folder) from None
    # TFDS's for a name, config or version; TypeError for a keyword (mnist/foo=1) it lacks
    except (ValueError, AssertionError, TypeError) as error:
        if isinstance(error, TypeError) and "unexpected keyword argument" not in str(error):
            raise  # TFDS's own fault, with its traceback
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if reason.startswith("Parsing builder name string") or folder:
            raise _unknown_dataset(name, folder) from None
        reason = re.sub(r'^Failed to construct dataset .*?builder_kwargs ".*?": ', "", reason)
        reason = re.sub(r"\s*Here are .*$", "", reason)  # a list cut off at the line's end
        raise UsageError(f"TFDS cannot open dataset {name!r}: {reason.rstrip('.')}; name a "
                         "config and version it has (or none: the default).") from None


@contextlib.contextmanager
def _scratch_temp_dir():
    """Points :mod:`tempfile` at a folder removed on exit: TFDS's builder of a dataset
    that is not prepared makes a folder for its info files from TFDS's bucket
    (``DatasetInfo.initialize_from_bucket``), and leaves it, empty without internet, in
    the temp dir at each run."""
    before = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="convnet_recipes_tfds_") as scratch:
        tempfile.tempdir = scratch
        try:
            yield
        finally:
            tempfile.tempdir = before


def check_name(name: str) -> None:
    """Refuses, before any data is read, a dataset ``name`` (``mnist``, ``mnist:3.0.1``,
    ``name/config``) that TFDS does not register, naming those it may mean."""
    import tensorflow_datasets as tfds

    try:
        tfds.builder_cls(name.split(":")[0].split("/")[0])
    except tfds.core.registered.DatasetNotFoundError:
        raise _unknown_dataset(name, "") from None


def _unknown_dataset(name: str, folder: str) -> UsageError:
    """The refusal of dataset ``name``, with the image datasets it probably means (ours,
    or TFDS's: :func:`layers.checks.close_names`, so ``CIFAR-10`` gives ``cifar10``)."""
    import tensorflow_datasets as tfds

    known = [source for source in NOT_TFDS if source != FOLDER_PREFIX]
    known += sorted(tfds.list_builders(with_community_datasets=False))
    candidates = close_names(name.split(":")[0].split("/")[0], known, limit=10, cutoff=0.75)
    close = [each for each in candidates if each in NOT_TFDS or _holds_images(each)][:3]
    hint = f" (did you mean {', '.join(repr(each) for each in close)}?)" if close else ""
    return UsageError(f"Unknown dataset {name!r}{hint}: {DATASET_NAMES}{folder}.")


def _holds_images(name: str) -> bool:
    """Whether TFDS's dataset ``name`` is of images, as its module (``image_classification``)
    or its tags (``content.data-type.image``) say: not ``flores``'s text, nor audio."""
    import tensorflow_datasets as tfds

    builder = tfds.builder_cls(name)
    tags = getattr(builder.get_metadata(), "tags", None) or ()
    return ".image" in builder.__module__ or "content.data-type.image" in tags


def _supervised_keys(info) -> tuple[str, str]:
    keys = info.supervised_keys
    if not keys or len(keys) != 2:
        raise UsageError(
            f"Dataset {info.name!r} is not an image-classification dataset "
            "(it has no (image, label) supervised keys).")
    return keys
