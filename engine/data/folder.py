"""Image folders: ``folder:PATH`` with one sub-folder per class.

Two layouts: ``PATH/train/<class>/*`` with optional ``PATH/validation/<class>/*``
and ``PATH/test/<class>/*``, or a flat ``PATH/<class>/*``. Splits a folder lacks
are carved from train per class with a fixed seed (test first, then validation).
Exactly the formats an export's ``serve_bytes`` takes are accepted, told by their
first bytes (:data:`SIGNATURES`): JPEG, PNG, BMP, GIF (its first frame); not WebP,
which ``tf.io.decode_image`` also reads, so that every image a run trained on can be
served. Every file is checked and decoded once when the folder is loaded (the result
remembered until a file changes: :mod:`engine.data.file_checks`); those that fail are
skipped and reported, not fatal. Labels follow the sorted class folder
names, which become the lines of the export's ``labels.txt`` (:func:`name_problem`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import pathlib
import stat
import time

import numpy as np
import tensorflow as tf
from absl import logging

from engine import quiet
from engine.data import file_checks
from engine.data.source import (FOLDER_PREFIX, SPLIT_SEED, TEST_FRACTION, VALIDATION_FRACTION,
                                Source, shipped_validation_refusal)
from engine.serving.contract import (BMP_DECODED_COMPRESSIONS, COMPRESSED_BMP, MAX_IMAGE_PIXELS,
                                     OS2_BMP, OS2_BMP_HEADER, TOO_LARGE)
from layers.errors import UsageError

SPLITS = ("train", "validation", "test")
# Folder names that mean a split, in whatever case: a flat folder of only these is a
# misnamed split layout, not classes.
SPLIT_SPELLINGS = {**{split: split for split in SPLITS}, "val": "validation",
                   "valid": "validation"}
REPORTED_FILES = 5  # files named in a warning or a failure
# The first bytes of each accepted format: the folder source and serve_bytes check the
# same table (here, beside decode_bytes: engine.serving imports engine.data, not back).
SIGNATURES = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG", "GIF": b"GIF8", "BMP": b"BM"}
# The ops that read and decode a folder's files during a run: their errors name them, so
# that a file changed after the folder was checked is told from other errors.
DECODE_SCOPE = "folder_image"
# What undecodable() accepts, for the remembered checks (engine.data.file_checks): raise
# the version when it or decode_bytes() changes what passes.
CHECK_RULES = f"undecodable 3 {sorted(SIGNATURES.items())} {MAX_IMAGE_PIXELS}"


def image_folder(path: str, validation_fraction: float = VALIDATION_FRACTION,
                 validation_fraction_given: bool = False) -> Source:
    """The image folder at ``path`` as a :class:`Source` of RGB uint8 images; without a
    validation folder, ``validation_fraction`` of each class's training images is held
    out (0: none, the validation split is empty). With one, a fraction set on the command
    line (``validation_fraction_given``) is refused before any image is read."""
    root = pathlib.Path(path).expanduser()
    layout, split_root = read_layout(root, path)
    check_folders_distinct(layout, split_root, root, path)
    if validation_fraction_given and "validation" in layout:
        raise shipped_validation_refusal(FOLDER_PREFIX + path, validation_fraction)
    class_names = checked_class_names(layout, split_root, path)
    checked_at = time.time()
    layout, skipped = without_undecodable(layout, split_root, path)
    given = set(layout)
    layout = carve_missing_splits(layout, validation_fraction)
    check_splits_hold_images(layout, given, split_root, path, validation_fraction)

    labels = {name: index for index, name in enumerate(class_names)}
    examples = {split: [(str(file), labels[name]) for name in sorted(classes)
                        for file in classes[name]] for split, classes in layout.items()}
    # Training images in one fixed random order, not class by class: the statistics of a
    # large split read its first images.
    order = np.random.default_rng(SPLIT_SEED).permutation(len(examples["train"]))
    mixed = {**examples, "train": [examples["train"][index] for index in order]}
    files = {split: _file_tensors(items) for split, items in mixed.items()}
    datasets = {split: _decoded(tf.data.Dataset.from_tensor_slices(files[split]))
                if items else None for split, items in mixed.items()}
    if datasets["validation"] is None:  # validation_fraction=0
        datasets["validation"] = datasets["train"].take(0)
    return Source(name=FOLDER_PREFIX + path, num_classes=len(class_names),
                  image_shape=(None, None, 3), class_names=class_names,
                  sizes={split: len(items) for split, items in examples.items()},
                  skipped=tuple(sorted(skipped)), split_digest=split_digest(root, examples),
                  reshuffled_train=functools.partial(_reshuffled, *files["train"]),
                  changed_files=functools.partial(
                      changed_since, [paths for paths, _ in files.values()], checked_at),
                  **datasets)


def read_layout(root: pathlib.Path, path: str) -> tuple[dict, dict]:
    """``({split: {class: files}}, {split: its folder})`` for the splits the folder has
    (a flat folder is all train); warns of folders and files it does not read."""
    if not root.is_dir():
        raise UsageError(f"Image folder {path!r} is not a directory; expected "
                         "PATH/train/<class>/* or PATH/<class>/*.")
    unread = []
    if (root / "train").is_dir():
        layout = {split: class_files(root / split, unread) for split in SPLITS
                  if (root / split).is_dir()}
        others = sorted(entry.name for entry in root.iterdir() if entry.is_dir()
                        and entry.name not in SPLITS and not entry.name.startswith("."))
        if others:
            logging.warning("Image folder %s: %s beside train not read: the splits are the "
                            "folders train, validation and test (a missing one is held out of "
                            "train); rename a split folder such as 'val' to one of those.",
                            path, ", ".join(others))
    else:
        layout = {"train": class_files(root, unread)}
        named = sorted(layout["train"], key=str.lower)
        splits = {name: SPLIT_SPELLINGS.get(name.lower()) for name in named}
        if named and all(splits.values()):  # test/<class>/* alone, Train/ and Test/: no classes
            misnamed = [name for name in named if name != splits[name]]
            for split in SPLITS:
                spellings = [name for name in named if splits[name] == split]
                if len(spellings) > 1:
                    raise UsageError(
                        f"Image folder {path!r} has {' and '.join(map(repr, spellings))}, "
                        f"which all name the {split} split; keep one, named {split!r}, beside "
                        "'train'.")
            if misnamed:
                raise UsageError(
                    f"Image folder {path!r} has {' and '.join(map(repr, named))}, which would "
                    "be read as classes; the split folders are train, validation and test: "
                    "rename " + ", ".join(f"{name!r} to {splits[name]!r}" for name in misnamed)
                    + ".")
            raise UsageError(f"Image folder {path!r} has {' and '.join(map(repr, named))} but "
                             "no 'train' split; put the training images in "
                             "PATH/train/<class>/* beside them.")
    split_root = {split: root / split if (root / "train").is_dir() else root for split in layout}
    loose = [str(file) for split in layout for file in sorted(split_root[split].iterdir())
             if file.is_file() and not file.name.startswith(".")]
    if (root / "train").is_dir():  # PATH's own images, beside the splits (not its README)
        loose[:0] = [str(file) for file in sorted(root.iterdir()) if file.is_file()
                     and not file.name.startswith(".") and starts_as_image(file)]
    if loose:
        logging.warning("Image folder %s: %d file%s outside any class folder not read (%s); "
                        "a class's images go in its folder, <split>/<class>/*.", path, len(loose),
                        "" if len(loose) == 1 else "s", first_files(loose))
    if unread:
        logging.warning("Image folder %s: %d entr%s of class folders not read, not being files "
                        "(%s); a class's images are the files directly in its folder: "
                        "sub-folders are not searched, and a link must reach a file.", path,
                        len(unread), "y" if len(unread) == 1 else "ies",
                        first_files([str(entry) for entry in unread]))
    return layout, split_root


def check_folders_distinct(layout: dict, split_root: dict, root: pathlib.Path, path: str) -> None:
    """Refuses two class folders that are one folder, reached through a link (``test``
    linked to ``train``, ``cat2`` to ``cat``): its images would be read twice, as two
    classes or in two splits, and a test split of training images overstates accuracy."""
    seen = {}
    for split, classes in layout.items():
        for name in classes:
            folder = split_root[split] / name
            real = os.path.realpath(folder)
            if real in seen:
                first, second = (str(each.relative_to(root)) for each in (seen[real], folder))
                raise UsageError(f"Image folder {path!r}: {first} and {second} are one folder "
                                 f"({real}), reached through a link, so its images would be "
                                 "read twice; give each class of each split its own folder.")
            seen[real] = folder


def starts_as_image(path: pathlib.Path) -> bool:
    """Whether the file at ``path`` starts as a JPEG, PNG, GIF or BMP file does."""
    try:
        with open(path, "rb") as file:
            head = file.read(max(map(len, SIGNATURES.values())))
    except OSError:
        return False
    return head.startswith(tuple(SIGNATURES.values()))


def first_files(paths: list[str]) -> str:
    """The first :data:`REPORTED_FILES` of ``paths``, comma-separated, ``...`` after
    them where there are more."""
    return ", ".join(paths[:REPORTED_FILES]) + (", ..." if len(paths) > REPORTED_FILES else "")


def checked_class_names(layout: dict, split_root: dict, path: str) -> tuple[str, ...]:
    """The sorted class names of train, refused where there are fewer than two, where a
    name cannot be a line of ``labels.txt``, or where another split has a class train
    lacks."""
    class_names = tuple(sorted(layout["train"]))
    if not class_names:
        raise UsageError(f"Image folder {path!r} holds no class folders; expected "
                         "PATH/train/<class>/* or PATH/<class>/*.")
    for name in class_names:
        problem = name_problem(name)
        if problem:
            raise UsageError(f"Class folder {str(split_root['train'] / name)!r} {problem}; rename "
                             "it: class names become the lines of the export's labels.txt "
                             "(UTF-8, one name a line).")
    if len(class_names) < 2:
        raise UsageError(f"Image folder {path!r} holds one class ({class_names[0]!r}); a "
                         "classifier needs at least two class folders.")
    for split, classes in layout.items():
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise UsageError(f"{split_root[split]} has classes {unknown} that train lacks; "
                             f"train has {list(class_names)}.")
    return class_names


def without_undecodable(layout: dict, split_root: dict, path: str) -> tuple[dict, set[str]]:
    """``layout`` without the files that do not decode, and those files' paths (warned
    about); a class folder left with no image is refused."""
    paths = [str(file) for classes in layout.values() for files in classes.values()
             for file in files]
    skipped = set(file_checks.remembered(paths, undecodable, CHECK_RULES))
    if skipped:
        names = sorted(skipped)
        logging.warning("Skipped %d of the files in %s, not decodable as JPEG, PNG, GIF or "
                        "BMP (8, 24 or 32 bits, uncompressed, not OS/2's) images of at most %s "
                        "pixels: %s",
                        len(names), path, f"{MAX_IMAGE_PIXELS:,}", first_files(names))
    layout = {split: {name: [file for file in files if str(file) not in skipped]
                      for name, files in classes.items()} for split, classes in layout.items()}
    for split, classes in layout.items():
        for name, files in classes.items():
            if not files:
                raise UsageError(f"Class folder {str(split_root[split] / name)!r} holds no "
                                 "decodable images; add images or remove the folder.")
    return layout, skipped


def check_splits_hold_images(layout: dict, given: set[str], split_root: dict, path: str,
                             validation_fraction: float) -> None:
    """Refuses a split with no image: an empty folder the user gave (``given``), or one
    carved from too few training images (validation may be empty when
    ``validation_fraction`` is 0)."""
    for split in ("train", "test", "validation"):  # test is carved first, so named first
        if any(layout[split].values()) or (split, validation_fraction) == ("validation", 0):
            continue
        if split in given:  # an empty PATH/test or PATH/validation
            raise UsageError(f"{split_root[split]} holds no images; add "
                             f"{split_root[split]}/<class>/* or remove the folder (then part "
                             "of train is held out for it).")
        remedy = (", or pass --validation_fraction=0 to train without validation"
                  if split == "validation" else "")
        raise UsageError(f"Image folder {path!r} has too few images per class to hold out a "
                         f"{split} split; add images or provide PATH/{split}/<class>/*"
                         f"{remedy}.")


def split_digest(root: pathlib.Path, examples: dict) -> str:
    """SHA-256 of each split's files (path under ``root``, size in bytes, label): the
    same split gives the same digest; one whose files were swapped for others (the same
    count) does not."""
    digest = hashlib.sha256()
    for split in SPLITS:
        for path, label in examples[split]:
            relative = os.fsencode(os.path.relpath(path, root))
            digest.update(b"%s\t%s\t%d\t%d\n" % (split.encode(), relative,
                                                  os.path.getsize(path), label))
    return digest.hexdigest()


def class_files(directory: pathlib.Path, unread: list[str]) -> dict[str, list[pathlib.Path]]:
    """``{class folder name: its files, sorted}``; hidden entries are ignored, and the
    class folders' other entries (sub-folders, links to nothing) are added to ``unread``."""
    classes = {}
    for folder in sorted(directory.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            classes[folder.name] = files = []
            for entry in sorted(folder.iterdir()):
                if entry.name.startswith("."):
                    continue
                (files if entry.is_file() else unread).append(entry)
    return classes


def carve_missing_splits(layout: dict, validation_fraction: float = VALIDATION_FRACTION) -> dict:
    """Adds the test and validation splits ``layout`` lacks, taken from train class by
    class with a fixed seed: ``ceil(20%)`` for test, then ``ceil(validation_fraction)``
    (10% by default) of the rest for validation, always leaving at least one training
    image per class."""
    layout = {split: {name: list(files) for name, files in classes.items()}
              for split, classes in layout.items()}
    rng = np.random.default_rng(SPLIT_SEED)
    for split, fraction in (("test", TEST_FRACTION), ("validation", validation_fraction)):
        if split in layout:
            continue
        layout[split] = {}
        for name in sorted(layout["train"]):
            files = layout["train"][name]
            count = min(len(files) - 1, math.ceil(fraction * len(files)))
            held_out = set(rng.permutation(len(files))[:count].tolist())
            layout[split][name] = [file for index, file in enumerate(files) if index in held_out]
            layout["train"][name] = [file for index, file in enumerate(files)
                                     if index not in held_out]
    return layout


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a class, or None. The class names are the lines of an
    export's ``labels.txt``, UTF-8 text that TensorFlow's lookup table splits at
    ``\\n`` (and strips a ``\\r`` before it): a line break would shift every later
    class's name, and a name that is not UTF-8 (a folder named in another encoding,
    which Python hands over surrogate-escaped) cannot be written there, nor be a
    TensorFlow string. The one definition the folder source and ``write_labels`` share."""
    if "\n" in name or "\r" in name:
        return "holds a line break"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return None


def changed_since(paths: list[tf.Tensor], checked_at: float) -> list[str]:
    """The files among ``paths`` (tensors of file names) that are gone, no longer a file,
    or changed since the check that began at ``checked_at`` (or within the file system's
    time stamp granularity before it: :func:`engine.data.file_checks.settled`), the gone
    first, then the latest changed first."""
    changed = []
    for path in (os.fsdecode(name) for names in paths for name in names.numpy()):
        try:
            status = os.stat(path)
        except OSError:
            changed.append((math.inf, path))
            continue
        if not stat.S_ISREG(status.st_mode) or not file_checks.settled(status, checked_at):
            changed.append((status.st_ctime, path))
    return [path for _, path in sorted(changed, reverse=True)]


def known_formats(contents: tf.Tensor) -> tf.Tensor:
    """Whether each item of ``contents`` (encoded files) starts as a JPEG, PNG, GIF or
    BMP file does (:data:`SIGNATURES`); bool, ``contents``' shape."""
    known = tf.zeros_like(contents, tf.bool)
    for magic in SIGNATURES.values():
        known = tf.logical_or(known, tf.equal(tf.strings.substr(contents, 0, len(magic)), magic))
    return known


def undecodable(paths: list[str]) -> list[str]:
    """The files among ``paths`` that are not a JPEG, PNG, GIF or BMP image TensorFlow
    decodes, of at most :data:`MAX_IMAGE_PIXELS` pixels (one parallel pass)."""
    if not paths:
        return []
    indices = tf.data.Dataset.from_tensor_slices((encoded(paths), tf.range(len(paths))))

    def check(path, index):
        contents = tf.io.read_file(path)
        # The decoded shape is an output, so the decoding cannot be optimized away.
        return index, known_formats(contents), tf.shape(decode_bytes(contents))

    checked = indices.map(check, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    with quiet.stderr_without(quiet.DECODER_CHATTER):  # the skipped files' warning names them
        good = {index for index, known, _ in checked.ignore_errors().as_numpy_iterator()
                if known}
    return [path for index, path in enumerate(paths) if index not in good]


def encoded(paths: list[str]) -> list[bytes]:
    """``paths`` as the file system's bytes, for TensorFlow: a file name that is not
    UTF-8 (Python hands it over surrogate-escaped) is no TensorFlow string as ``str``."""
    return [os.fsencode(path) for path in paths]


def decode(path) -> tf.Tensor:
    """The RGB uint8 image in the file ``path`` (the first frame of a GIF); its ops are
    named under :data:`DECODE_SCOPE`."""
    with tf.name_scope(DECODE_SCOPE):
        return decode_bytes(tf.io.read_file(path))


def decode_bytes(contents) -> tf.Tensor:
    """The RGB uint8 ``HxWx3`` image encoded in ``contents`` (JPEG, PNG, GIF: its first
    frame, BMP). Three channels for every format: GIF and BMP cannot be decoded to one.
    An image whose header declares more than :data:`MAX_IMAGE_PIXELS` pixels is refused
    before it is decoded (:data:`TOO_LARGE`), as are the BMPs TensorFlow's decoder
    misreads (:data:`COMPRESSED_BMP`, :data:`OS2_BMP`)."""
    pixels = declared_pixels(contents)
    with tf.control_dependencies([
            tf.debugging.Assert(pixels <= MAX_IMAGE_PIXELS, [TOO_LARGE, pixels]),
            tf.debugging.Assert(tf.logical_not(is_compressed_bmp(contents)),
                                [COMPRESSED_BMP]),
            tf.debugging.Assert(tf.logical_not(is_os2_bmp(contents)), [OS2_BMP])]):
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    return tf.cond(is_palette_bmp(contents), lambda: bmp_palette_colours(contents, image),
                   lambda: image)


# BMP's header (BITMAPFILEHEADER, then a BITMAPINFOHEADER or a later one, little-endian):
# where its fields are, in bytes from the start of the file.
BMP_INFO_SIZE, BMP_BITS, BMP_COMPRESSION, BMP_COLOURS_USED = (14, 4), (28, 2), (30, 4), (46, 4)
BMP_WIDTH, BMP_HEIGHT = (18, 4), (22, 4)  # signed: a negative height is stored top-down
OS2_BMP_WIDTH, OS2_BMP_HEIGHT = (18, 2), (20, 2)  # after OS2_BMP_HEADER's size: 2-byte
BMP_INFO_HEADER_MIN = 40  # BITMAPINFOHEADER; the 12-byte OS/2 header has 3-byte entries
BMP_PALETTE_ENTRIES = 256  # an 8-bit image's palette: at most 256 4-byte BGR0 entries
# PNG's IHDR chunk and GIF's logical screen (big- and little-endian): width, height.
PNG_WIDTH, PNG_HEIGHT = (16, 4), (20, 4)
GIF_WIDTH, GIF_HEIGHT = (6, 2), (8, 2)
HEADER_BYTES = 54  # every field above lies in a file's first 54 bytes


def _header_field(contents, field, big_endian: bool = False) -> tf.Tensor:
    """The unsigned ``field`` (offset, size) of an image file's header (0 past the end
    of ``contents``), int64; only the header is copied, not the whole file."""
    header = tf.io.decode_raw(tf.strings.substr(tf.strings.join(
        [tf.strings.substr(contents, 0, HEADER_BYTES), b"\0" * HEADER_BYTES]), 0,
        HEADER_BYTES), tf.uint8)
    offset, size = field
    digits = tf.cast(header[offset:offset + size], tf.int64)
    if big_endian:
        digits = tf.reverse(digits, [0])
    return tf.reduce_sum(digits * 256 ** tf.range(size, dtype=tf.int64))


def _signed_32(value: tf.Tensor) -> tf.Tensor:
    return tf.where(value >= 2**31, value - 2**32, value)


def declared_pixels(contents) -> tf.Tensor:
    """Width times height as the header of the image file ``contents`` declares them
    (JPEG's frame header, PNG's IHDR, GIF's logical screen, which its frames lie within,
    BMP's info header), int64; 0 for another format."""
    def starts(name):
        return tf.equal(tf.strings.substr(contents, 0, len(SIGNATURES[name])), SIGNATURES[name])

    def jpeg():
        height, width = tf.unstack(tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64))
        return height * width

    def bmp():  # an OS/2 header's are refused as such (is_os2_bmp), not as too large
        return tf.where(
            is_os2_bmp(contents),
            _header_field(contents, OS2_BMP_WIDTH) * _header_field(contents, OS2_BMP_HEIGHT),
            tf.abs(_signed_32(_header_field(contents, BMP_WIDTH)))
            * tf.abs(_signed_32(_header_field(contents, BMP_HEIGHT))))

    return tf.case([
        (starts("JPEG"), jpeg),
        (starts("PNG"), lambda: tf.minimum(  # 2**32 squared would wrap below the limit
            _header_field(contents, PNG_WIDTH, big_endian=True), 2**31)
         * tf.minimum(_header_field(contents, PNG_HEIGHT, big_endian=True), 2**31)),
        (starts("GIF"), lambda: _header_field(contents, GIF_WIDTH)
         * _header_field(contents, GIF_HEIGHT)),
        (starts("BMP"), bmp)], default=lambda: tf.constant(0, tf.int64), exclusive=True)


def is_palette_bmp(contents) -> tf.Tensor:
    """Whether ``contents`` is an 8-bit BMP with a BITMAPINFOHEADER (or a later header):
    its pixels are indices into the colour table after the header, which TensorFlow's
    decoder returns as they are, as grey levels."""
    return tf.logical_and(
        tf.logical_and(tf.equal(tf.strings.substr(contents, 0, 2), SIGNATURES["BMP"]),
                       tf.equal(_header_field(contents, BMP_BITS), 8)),
        _header_field(contents, BMP_INFO_SIZE) >= BMP_INFO_HEADER_MIN)


def is_compressed_bmp(contents) -> tf.Tensor:
    """Whether ``contents`` is a BMP with a BITMAPINFOHEADER (or a later header) whose
    compression TensorFlow's decoder does not read (not in :data:`BMP_DECODED_COMPRESSIONS`)."""
    compression = _header_field(contents, BMP_COMPRESSION)
    decoded = tf.reduce_any(tf.equal(compression, BMP_DECODED_COMPRESSIONS))
    return tf.logical_and(
        tf.logical_and(tf.equal(tf.strings.substr(contents, 0, 2), SIGNATURES["BMP"]),
                       _header_field(contents, BMP_INFO_SIZE) >= BMP_INFO_HEADER_MIN),
        tf.logical_not(decoded))


def is_os2_bmp(contents) -> tf.Tensor:
    """Whether ``contents`` is a BMP with OS/2's 12-byte BITMAPCOREHEADER (:data:`OS2_BMP`)."""
    return tf.logical_and(tf.equal(tf.strings.substr(contents, 0, 2), SIGNATURES["BMP"]),
                          tf.equal(_header_field(contents, BMP_INFO_SIZE), OS2_BMP_HEADER))


def bmp_palette_colours(contents, indices: tf.Tensor) -> tf.Tensor:
    """The RGB image of the 8-bit BMP ``contents`` whose colour indices TensorFlow decoded
    as the grey ``HxWx3`` image ``indices``: each pixel its colour table entry (an
    index past the table's used colours black)."""
    start = tf.minimum(14 + _header_field(contents, BMP_INFO_SIZE),
                       tf.cast(tf.strings.length(contents), tf.int64))
    size = 4 * BMP_PALETTE_ENTRIES
    table = tf.io.decode_raw(tf.strings.substr(tf.strings.join(
        [tf.strings.substr(contents, start, size), b"\0" * size]), 0, size), tf.uint8)
    used = _header_field(contents, BMP_COLOURS_USED)
    used = tf.where(tf.logical_or(used == 0, used > BMP_PALETTE_ENTRIES),
                    tf.constant(BMP_PALETTE_ENTRIES, tf.int64), used)
    rgb = tf.reverse(tf.reshape(table, [BMP_PALETTE_ENTRIES, 4])[:, :3], axis=[1])  # BGR0
    rgb = tf.where(tf.range(BMP_PALETTE_ENTRIES, dtype=tf.int64)[:, None] < used, rgb,
                   tf.zeros_like(rgb))
    return tf.gather(rgb, tf.cast(indices[..., 0], tf.int32))


def _file_tensors(items: list[tuple[str, int]]) -> tuple[tf.Tensor, tf.Tensor]:
    """``items``, ``(path, label)`` pairs, as a tensor of file names and one of labels,
    held once for every view of the split."""
    paths = tf.constant(encoded([path for path, _ in items]), tf.string)  # typed when empty
    return paths, tf.constant([label for _, label in items], tf.int64)


def _decoded(files: tf.data.Dataset) -> tf.data.Dataset:
    """The decoded images of ``files``, ``(path, label)`` pairs, with their labels."""
    return files.map(lambda path, label: (decode(path), label),
                     num_parallel_calls=tf.data.AUTOTUNE)


def _reshuffled(paths: tf.Tensor, labels: tf.Tensor, seed: int, num_shards: int,
                shard_index: int) -> tf.data.Dataset:
    """The training files ``paths`` shuffled whole on each pass before decoding
    (:attr:`Source.reshuffled_train`; ``keras.utils.image_dataset_from_directory``
    shuffles its file names once, then each pass within a buffer of ``8 * batch_size``
    names): a worker shuffles its own shard, the files ``Dataset.shard`` gives it (a million
    file names took 78 MB of shuffle buffer and 1.3 s to shuffle, measured 2026-12-06)."""
    count = len(range(shard_index, int(paths.shape[0]), num_shards))
    files = tf.data.Dataset.from_tensor_slices((paths, labels)).shard(num_shards, shard_index)
    return _decoded(files.shuffle(max(1, count), seed=seed, reshuffle_each_iteration=True))
