"""The image folder's file check, remembered: a folder whose files have not changed is
not decoded again by the next run, resume or evaluation that opens it.

Each check is remembered under a digest of the files as the file system describes them
(path, size, modification and change times, device and inode), of the check's rules and
of the TensorFlow that decoded them, in ``$XDG_CACHE_HOME/convnet-recipes/folder-checks``
(``~/.cache`` where it is unset or not absolute), one small JSON file per folder state;
deleting the folder only costs the next check. As git does for its index, a check is not
remembered while a file changed in the :data:`SETTLING_SECONDS` before its description
was read: a file rewritten again within the file system's time stamp granularity could
otherwise keep its description with other contents. The files that failed are checked
again at every opening (a read error may have passed), so only successes are trusted.
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

SETTLING_SECONDS = 3.0  # more than FAT's 2-second time stamps
CACHE_FOLDER = ("convnet-recipes", "folder-checks")


def remembered(paths: list[str], check: Callable[[list[str]], list[str]],
               rules: str) -> list[str]:
    """``check(paths)``, the paths among ``paths`` that failed it, from the record of an
    earlier check of the same files under the same ``rules`` (a description of what
    ``check`` accepts) where there is one; the files that failed then are checked again."""
    started = time.time()
    try:
        described = [os.stat(path) for path in paths]
    except OSError:  # gone, or an unreadable folder: the check itself says so
        return check(paths)
    record = cache_folder() / f"{files_digest(paths, described, rules)}.json"
    try:
        failed = json.loads(record.read_text())["failed"]
        if not isinstance(failed, list) or not set(failed) <= set(paths):
            raise ValueError(f"{record} is no record of these files")
        return check(failed) if failed else []
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not checked yet, or an unreadable record: check every file
    failed = check(paths)
    if all(settled(status, started) for status in described):
        write_record(record, failed)
    else:
        logging.debug("The folder check is not remembered: a file changed in the last %g s.",
                      SETTLING_SECONDS)
    return failed


def settled(status: os.stat_result, started: float) -> bool:
    """Whether a file described at ``started`` last changed over :data:`SETTLING_SECONDS`
    before: its change time (which no program sets back) and its modification time, but
    for a modification time set into the future (``touch -d``), which no write gives."""
    latest = started - SETTLING_SECONDS
    return status.st_ctime <= latest and (status.st_mtime <= latest
                                          or status.st_mtime > started + SETTLING_SECONDS)


def files_digest(paths: list[str], described: list[os.stat_result], rules: str) -> str:
    """SHA-256 of ``paths`` with their descriptions, ``rules`` and TensorFlow's version."""
    digest = hashlib.sha256(f"{tf.__version__}\0{rules}\n".encode())
    for path, status in zip(paths, described):
        digest.update(b"%s\0%d %d %d %d %d\n" % (
            os.fsencode(path), status.st_size, status.st_mtime_ns, status.st_ctime_ns,
            status.st_dev, status.st_ino))
    return digest.hexdigest()


def cache_folder() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG specification: ignore a relative one
        base = os.path.join(os.path.expanduser("~"), ".cache")
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
