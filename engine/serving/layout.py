"""TF Serving's model layout: a base path holding one numbered folder per version.

``<base>/<version>/saved_model.pb``: TF Serving watches the base path and serves the
highest version. :func:`write_version` writes a new version into a hidden staging
folder beside the others (which TF Serving ignores: only numeric names are versions)
and renames it into place, so a reader never sees half a version, and it never
replaces a version that exists.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable

from engine.rundir import DIRECTORY_MODE, EXPORT_DIR, check_writable
from layers.errors import UsageError

SAVED_MODEL_FILE = "saved_model.pb"
STAGING_PREFIX = ".partial-"


def numbered(base_path: str) -> list[str]:
    """The names in ``base_path`` that are numbers (ASCII digits, as TF Serving reads a
    version's), files included (none if it does not exist)."""
    if not os.path.isdir(base_path):
        return []
    return [name for name in os.listdir(base_path) if name.isascii() and name.isdigit()]


def versions(base_path: str) -> list[int]:
    """The version numbers in ``base_path`` (its numbered folders), ascending."""
    return sorted(int(name) for name in numbered(base_path)
                  if os.path.isdir(os.path.join(base_path, name)))


def next_version(base_path: str) -> int:
    """The number of the next version of ``base_path``: above every numbered name in
    it, a stray file too, which the new version's folder cannot be renamed onto."""
    return max(map(int, numbered(base_path)), default=0) + 1


def check_base_path(base_path: str, flag: str = "--export_dir") -> None:
    """Makes sure new versions can be written to ``base_path``, before any work: a
    file, an unversioned SavedModel (``saved_model.pb`` directly inside) and a folder
    that cannot be written are usage errors naming it."""
    if os.path.exists(base_path) and not os.path.isdir(base_path):
        raise UsageError(f"{flag}={base_path!r} is a file; pass a folder (TF Serving's model "
                         "base path, which holds one numbered folder per version).")
    if os.path.isfile(os.path.join(base_path, SAVED_MODEL_FILE)):
        name = os.path.basename(os.path.normpath(base_path))
        if name.isdigit():  # a version of a base path
            raise UsageError(f"{flag}={base_path!r} is version {name} of an export; pass its "
                             f"parent, {os.path.dirname(os.path.normpath(base_path))!r}, to add "
                             "a version (exports go to <export_dir>/<version>/).")
        raise UsageError(f"{flag}={base_path!r} holds an unversioned SavedModel; pass another "
                         "folder: exports go to <export_dir>/<version>/ (TF Serving's layout).")
    check_writable(flag.removeprefix("--"), base_path)


def write_version(base_path: str, write: Callable[[str], None]) -> str:
    """Calls ``write(folder)`` on an empty staging folder in ``base_path``, then renames
    it to the next version number; returns the version's path. A version (or file)
    another writer took meanwhile is left alone (the next number is taken); the
    staging folder is removed if ``write`` fails, and those of writers killed on this
    machine before they could remove theirs when the next version is written
    (:func:`remove_abandoned_staging`)."""
    check_base_path(base_path)
    os.makedirs(base_path, exist_ok=True)
    remove_abandoned_staging(base_path)
    staging = tempfile.mkdtemp(prefix=staging_prefix(os.getpid()), dir=base_path)
    os.chmod(staging, DIRECTORY_MODE)  # mkdtemp's folder is private to its owner
    try:
        write(staging)
        while True:
            version = os.path.join(base_path, str(next_version(base_path)))
            try:
                os.rename(staging, version)  # refuses a non-empty folder and a file
                return version
            except OSError:
                if not os.path.lexists(version):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def staging_prefix(pid: int) -> str:
    """The name a staging folder of process ``pid`` on this machine starts with (then
    ``mkdtemp``'s letters, digits and underscores)."""
    return f"{STAGING_PREFIX}{socket.gethostname()}-{pid}-"


def remove_abandoned_staging(base_path: str) -> None:
    """Removes the staging folders in ``base_path`` of writers on this machine whose
    process is gone (killed while writing: a SavedModel can be hundreds of MB). Another
    machine's, and a live writer's, are left alone."""
    for entry in os.scandir(base_path):
        owner = entry.name.removeprefix(STAGING_PREFIX).rsplit("-", 2)
        if (entry.name.startswith(STAGING_PREFIX) and len(owner) == 3
                and owner[0] == socket.gethostname() and owner[1].isdigit()
                and not process_alive(int(owner[1]))):
            shutil.rmtree(entry.path, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def saved_model_dir(path: str) -> str:
    """The SavedModel ``path`` names: ``path`` itself if it holds ``saved_model.pb``,
    else the highest version of the base path ``path``; a usage error naming ``path``
    if it holds neither."""
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return path
    numbered = [version for version in versions(path)
                if os.path.isfile(os.path.join(path, str(version), SAVED_MODEL_FILE))]
    if not numbered:
        exports = os.path.join(path, EXPORT_DIR)  # a run's folder, its exports inside
        hint = (f" ({exports!r}, the exports of the run in it, is one)"
                if os.path.isdir(exports) and exports != path
                and any(os.path.isfile(os.path.join(exports, str(version), SAVED_MODEL_FILE))
                        for version in versions(exports)) else "")
        raise UsageError(f"No SavedModel in {path!r}: pass a model base path holding "
                         f"<version>/saved_model.pb (an --export_dir){hint} or a version "
                         "folder.")
    return os.path.join(path, str(numbered[-1]))
