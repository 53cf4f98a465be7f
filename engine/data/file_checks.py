"""The image folder's file check, remembered: a folder whose files have not changed is
not decoded again by the next run, resume or evaluation that opens it.

Each check is remembered under a digest of the files as the file system describes them
(path, size, modification and change times, inode) and of the TensorFlow that decoded
them, in ``$XDG_CACHE_HOME/convnet-recipes/folder-checks`` (``~/.cache`` without it), one
small JSON file per folder state; deleting the folder only costs the next check. As git
does for its index, a check is not remembered while a file was modified in the last
:data:`SETTLING_SECONDS`: a file rewritten again within the file system's timestamp
granularity could otherwise keep its description with other contents.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import time
from collections.abc import Callable

import tensorflow as tf
from absl import logging

SETTLING_SECONDS = 2.0
CACHE_FOLDER = ("convnet-recipes", "folder-checks")


def remembered(paths: list[str], check: Callable[[list[str]], list[str]]) -> list[str]:
    """``check(paths)``, the paths among ``paths`` that failed it, from the record of an
    earlier check of the same files where there is one."""
    digest = files_digest(paths)
    record = cache_folder() / f"{digest}.json" if digest else None
    if record is not None:
        try:
            return json.loads(record.read_text())["failed"]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not checked yet, or an unreadable record: check again
    failed = check(paths)
    if record is not None and settled(paths):
        write_record(record, failed)
    return failed


def files_digest(paths: list[str]) -> str | None:
    """SHA-256 of ``paths``' descriptions and the TensorFlow version; None where a file
    cannot be described (gone, unreadable folder): the check itself then says so."""
    digest = hashlib.sha256(tf.__version__.encode())
    for path in paths:
        try:
            status = os.stat(path)
        except OSError:
            return None
        digest.update(b"%s\0%d %d %d %d\n" % (os.fsencode(path), status.st_size,
                                              status.st_mtime_ns, status.st_ctime_ns,
                                              status.st_ino))
    return digest.hexdigest()


def settled(paths: list[str]) -> bool:
    """Whether every file of ``paths`` was last modified over :data:`SETTLING_SECONDS` ago."""
    latest = time.time() - SETTLING_SECONDS
    try:
        return all(os.stat(path).st_mtime <= latest for path in paths)
    except OSError:
        return False


def cache_folder() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base, *CACHE_FOLDER)


def write_record(record: pathlib.Path, failed: list[str]) -> None:
    """Writes ``failed`` to ``record`` whole (a temporary file renamed), or not at all: a
    cache that cannot be written (read-only home, full disk) only costs a check."""
    temporary = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps({"failed": failed}))
        os.replace(temporary, record)
    except OSError as error:
        logging.debug("The folder check is not remembered (%s).", error)
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
