"""``--mode=predict --export_dir=DIR FILE...``: classify image files with an exported
SavedModel alone (:class:`engine.serving.predictor.SavedClassifier`).

Each argument is an image file, a folder (its images, recursively: the files with
an image extension, hidden ones skipped) or a glob pattern. For each file: its ``--top_k`` classes with
their probabilities, as a text line or (``--output=json``) one JSON object. A file
that is missing or not an image gets one line naming it and the reason, the others
still print, and the run fails (exit 1) at the end if any did.
"""

from __future__ import annotations

import base64
import fnmatch
import glob
import json
import os
import re
import stat
import sys

from engine import command, quiet
from engine.serving.contract import (BMP_DECODED_COMPRESSIONS, COMPRESSED_BMP, MAX_IMAGE_PIXELS,
                                     OS2_BMP, OS2_BMP_HEADER, TOO_LARGE)
from engine.serving.predictor import SavedClassifier
from layers.errors import RunFailure, UsageError

# A folder's files predict reads: the JPEG, PNG, GIF and BMP names (".jfif", what browsers on
# Windows save a JPEG as, and ".jpe" included).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp")
BATCH_SIZE = 32  # files per call to the SavedModel, unless --batch_size
GLOB_CHARACTERS = "*?["
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def run(args) -> None:
    if not args.export_dir:
        raise UsageError("--mode=predict needs --export_dir: the model base path (or one "
                         "version folder) of an export.")
    if not args.files:
        raise UsageError("--mode=predict needs image files, folders or glob patterns as "
                         f"arguments, e.g. {command.invocation()} --mode=predict "
                         "--export_dir=DIR digit.png.")
    classifier = SavedClassifier(os.path.expanduser(args.export_dir))  # as every mode takes it
    files = expand(args.files)
    failures = 0
    for path, result in classify_files(classifier, files, args.batch_size or BATCH_SIZE):
        if isinstance(result, str):
            failures += 1
            print_failure(path, result, args.output)
        else:
            print_prediction(path, classifier.top_k(result, args.top_k), args.output)
    if failures:
        raise RunFailure(f"{failures} of {len(files)} files could not be classified.")


def expand(arguments) -> list[tuple[str, str | None]]:
    """``(path, None)`` for every file the arguments name, in order; ``(argument, reason)``
    for an argument that names none."""
    files = []
    for argument in arguments:
        if os.path.isdir(argument):
            images = folder_images(argument)
            reason = f"holds no images ({', '.join(IMAGE_EXTENSIONS)})"
            files += [(path, None) for path in images] or [(argument, reason)]
        elif os.path.exists(argument):
            files.append((argument, None))
        elif any(character in argument for character in GLOB_CHARACTERS):
            matches = glob_paths(argument)
            # Each file once: "**" matches the folders on the way as well as their files,
            # and a linked folder names files that another name reached.
            named = {}
            for match in matches:
                for path in folder_images(match) if os.path.isdir(match) else [match]:
                    named.setdefault(os.path.realpath(path), path)
            found = list(named.values())
            # Only folders without images matched: the pattern names no image either.
            reason = (f"matches only folders that hold no images ({', '.join(IMAGE_EXTENSIONS)})"
                      if matches else "matches no file")
            files += [(path, None) for path in found] or [(argument, reason)]
        else:
            files.append((argument, NO_SUCH_FILE))
    return files


def glob_paths(pattern: str) -> list[str]:
    """The paths ``pattern`` matches, sorted, as ``glob.glob(pattern, recursive=True)``
    finds them (``*`` skipping hidden names unless the pattern's part starts with ``.``;
    ``**`` any number of folders, hidden ones skipped), but with ``**`` entering each real
    folder once: Python's follows a link back up the tree for ever."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split(os.sep)
    start, parts = (os.sep, parts[1:]) if pattern.startswith(os.sep) else ("", parts)
    found, seen = [], set()

    def visit(path: str, rest: list[str]) -> None:
        key = (os.path.realpath(path or os.curdir), len(rest))
        if key in seen:  # this folder (or file) was reached by another name already
            return
        seen.add(key)
        if not rest:
            if path:  # "**"'s zero folders from the current one: no path of its own
                found.append(path)
            return
        part, rest = rest[0], rest[1:]
        if part in ("", os.curdir):  # a doubled or trailing separator
            visit(path, rest)
        elif part == "**":  # any files at the end, and zero or more folders
            visit(path, rest)
            for name in _children(path, folders=bool(rest), hidden=False):
                child = os.path.join(path, name)
                if os.path.isdir(child):
                    visit(child, [part, *rest])
                else:
                    found.append(child)
        elif any(character in part for character in GLOB_CHARACTERS):
            for name in _children(path, folders=bool(rest), hidden=part.startswith(".")):
                if fnmatch.fnmatchcase(name, part):
                    visit(os.path.join(path, name), rest)
        elif os.path.lexists(os.path.join(path, part)):
            visit(os.path.join(path, part), rest)

    visit(start, parts)
    return sorted(found)


def _children(folder: str, folders: bool, hidden: bool) -> list[str]:
    """The names in ``folder`` (only those of folders, linked ones included, with
    ``folders``; ``.`` names only with ``hidden``), sorted; none where it cannot be read."""
    try:
        with os.scandir(folder or os.curdir) as entries:
            return sorted(entry.name for entry in entries
                          if (hidden or not entry.name.startswith("."))
                          and (not folders or entry.is_dir()))
    except OSError:
        return []


def folder_images(folder: str) -> list[str]:
    """The files under ``folder`` with an image extension, sorted; hidden entries (``.``
    names: macOS's ``._photo.jpg`` metadata, ``.thumbnails/``) are skipped, as the
    ``folder:`` source and a glob's ``*`` skip them. Linked folders are followed, as the
    ``folder:`` source follows them, each real folder once."""
    images, walked = [], set()
    for root, folders, names in os.walk(folder, followlinks=True):
        if os.path.realpath(root) in walked:  # a link back up the tree, or a second link
            folders[:] = []
            continue
        walked.add(os.path.realpath(root))
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        images += [os.path.join(root, name) for name in names
                   if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(images)


def classify_files(classifier: SavedClassifier, files, batch_size: int):
    """``(path, probabilities)`` for each file that is an image, ``(path, reason)`` for the
    others, in order; the files are read and classified ``batch_size`` at a time."""
    for start in range(0, len(files), batch_size):
        batch = [(path, reason if reason else read(path)) for path, reason in
                 files[start:start + batch_size]]
        results = iter(classify_all(classifier, [contents for _, contents in batch
                                                 if isinstance(contents, bytes)]))
        for path, contents in batch:
            yield path, next(results) if isinstance(contents, bytes) else contents


NO_SUCH_FILE = "no such file"


def read(path: str) -> bytes | str:
    """The contents of the file ``path``, or why it cannot be read (a file that vanished
    or a dangling link: :data:`NO_SUCH_FILE`, as for a missing argument; a named pipe or
    a device, which reading would wait on or never finish: not a regular file)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "not a regular file"
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        return NO_SUCH_FILE
    except OSError as error:
        reason = error.strerror or str(error)
        return reason[:1].lower() + reason[1:]


def classify_all(classifier: SavedClassifier, contents: list[bytes]) -> list:
    """The probabilities of each encoded image, or the reason it cannot be classified:
    the whole batch at once, one by one if one of them fails to decode."""
    import tensorflow as tf

    if not contents:
        return []
    try:
        with quiet.stderr_without(quiet.DECODER_CHATTER):  # each bad file gets its own line
            return list(classifier.classify(contents))
    except tf.errors.InvalidArgumentError as error:
        if len(contents) == 1:
            too_large = re.search(re.escape(TOO_LARGE) + r"\D*(\d+)", str(error))
            if too_large:
                return [f"an image of {int(too_large.group(1)):,} pixels, more than the "
                        f"{MAX_IMAGE_PIXELS:,} decoded at most; scale it down first"]
            return [undecodable(contents[0])]
        return [result for item in contents for result in classify_all(classifier, [item])]


# The BMP bit depths TensorFlow's decoder reads, and the other ones BMP has (TensorFlow's
# error for those names no format).
DECODED_BMP_BITS, UNDECODED_BMP_BITS = (8, 24, 32), (1, 2, 4, 16)


def undecodable(contents: bytes) -> str:
    """Why an image that failed to decode cannot be classified: a BMP of a bit depth or a
    compression that TensorFlow's decoder does not read (1, 2, 4 or 16 bits; RLE; OS/2's
    header) is named as one."""
    if contents[:2] == b"BM" and len(contents) >= 30:
        if int.from_bytes(contents[14:18], "little") == OS2_BMP_HEADER:
            return f"{OS2_BMP}; save it as PNG"
        bits = int.from_bytes(contents[28:30], "little")
        if bits in UNDECODED_BMP_BITS:
            return (f"a {bits}-bit BMP, which TensorFlow's decoder does not read (it reads "
                    f"{', '.join(map(str, DECODED_BMP_BITS[:-1]))} and "
                    f"{DECODED_BMP_BITS[-1]} bits); save it as PNG")
        if (len(contents) >= 34 and int.from_bytes(contents[14:18], "little") >= 40
                and int.from_bytes(contents[30:34], "little") not in BMP_DECODED_COMPRESSIONS):
            return f"{COMPRESSED_BMP}; save it as PNG"
    return "not a decodable image (JPEG, PNG, GIF or BMP)"


def shown(path: str) -> str:
    """``path`` as a text line shows it: a file name that is not valid in the file
    system's encoding (Python hands it over surrogate-escaped, which a UTF-8 terminal's
    strict encoder refuses) with its stray bytes written ``\\xe9``, and its control
    characters (a newline would split the line) written ``\\x0a``."""
    text = os.fsencode(path).decode(sys.getfilesystemencoding(), "backslashreplace")
    return CONTROL_CHARACTERS.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def file_fields(path: str) -> dict:
    """``path`` as ``--output=json`` names it: ``file``, the name as text; for a name that
    is not UTF-8, ``file`` shows its stray bytes as :func:`shown` does and ``file_bytes``
    holds the name's bytes in base64, so that the JSON stays UTF-8 and the file can be
    found again (``os.fsdecode(base64.b64decode(...))``)."""
    raw = os.fsencode(path)
    try:
        return {"file": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"file": shown(path), "file_bytes": base64.b64encode(raw).decode("ascii")}


def print_prediction(path: str, top: list[tuple[int, str, float]], output: str) -> None:
    if output == "json":
        print(json.dumps({**file_fields(path), "predictions": [
            {"class_id": class_id, "class_name": name, "probability": probability}
            for class_id, name, probability in top]}), flush=True)
    else:
        print(f"{shown(path)}: " + ", ".join(f"{name} {probability:.4f}" for _, name, probability
                                             in top), flush=True)


def print_failure(path: str, reason: str, output: str) -> None:
    if output == "json":
        print(json.dumps({**file_fields(path), "error": reason}), flush=True)
    else:
        print(f"{shown(path)}: error: {reason}", file=sys.stderr, flush=True)
