"""One writer per run folder: a training run or a search holds its ``--model_dir``.

Two runs in one folder would mix their records: the second resumes from the first's
live backup, appends its epochs to the first's history, and fails when the first
removes the backup it writes into, and the first's report counts both runs' epochs.
:func:`held` takes an exclusive ``flock`` on ``<model_dir>/.lock`` for the run's whole
length (a second run is refused in one sentence naming the first), and the modes that
read the finished run a shared one (:func:`reading`). The kernel drops the lock when its
holder dies, so a killed run leaves nothing to clean up by hand.
"""

from __future__ import annotations

import contextlib
import os
import socket

from absl import logging

from engine import command
from engine.rundir import check_writable
from layers.errors import UsageError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def held(model_dir: str, mode: str):
    """Holds ``model_dir`` (made if missing) for a run of ``--mode=mode``; a folder
    another run holds is a :class:`UsageError` naming it. On the way out the lock file
    is removed, and so are the folders this made if the run left them empty; a folder
    in which the run wrote nothing gets its times back (a command refused before
    writing anything leaves no trace; a concurrent writer's change within the same
    instant may lose its time stamp, never its files)."""
    check_writable("model_dir", model_dir)
    made = missing_folders(model_dir)
    above = os.path.dirname(made[-1]) if made else model_dir  # the folder it changes
    times = os.stat(above)
    path = os.path.join(model_dir, LOCK_FILE)
    descriptor, locked = None, None
    try:
        os.makedirs(model_dir, exist_ok=True)
        descriptor = acquire(path, model_dir, f"--mode={mode}, process {os.getpid()} on "
                                              f"{socket.gethostname()}")
        locked = os.stat(above).st_mtime_ns
        yield
    finally:
        untouched = locked is not None and os.stat(above).st_mtime_ns == locked
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)  # still locked: a run opening it meanwhile retries
            os.close(descriptor)
        for folder in made:  # the deepest first
            with contextlib.suppress(OSError):  # not empty: the run wrote into it
                os.rmdir(folder)
        if untouched and not (made and os.path.lexists(made[-1])):
            os.utime(above, ns=(times.st_atime_ns, times.st_mtime_ns))


def acquire(path: str, model_dir: str, holder: str, shared: bool = False) -> int:
    """An open descriptor of the lock file ``path``, locked (``shared``: beside other
    readers), with ``holder`` written in where it can be (a reader's only into an empty
    file; a lock file another user left, or a full disk, keeps its text). A lock file,
    or its folder, removed by another run between this one's open and lock is made
    anew. Where the file system has no locks (some network ones) the run goes on
    unlocked, as it did before locks, and a writer's says so."""
    import fcntl

    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a refused run removed the folder it had made
            os.makedirs(model_dir, exist_ok=True)
            continue
        except PermissionError:  # left by a killed run of another user: a lock reads
            descriptor = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
                        | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(descriptor, 200).decode(errors="replace").strip()
            os.close(descriptor)
            raise UsageError(f"{model_dir} is in use by another run "
                             f"({other or command.program()}); wait for it to end, or choose "
                             "another --model_dir.") from None
        except OSError as error:  # ENOLCK, EOPNOTSUPP: a file system without locks
            if not shared:
                logging.warning("%s cannot be locked (%s): nothing keeps another run from "
                                "starting in that folder meanwhile.", model_dir,
                                error.strerror or error)
            return descriptor
        try:
            current = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            with contextlib.suppress(OSError):
                if not shared or os.fstat(descriptor).st_size == 0:
                    os.ftruncate(descriptor, 0)
                    os.write(descriptor, f"{command.program()} {holder}\n".encode())
            return descriptor
        os.close(descriptor)


@contextlib.contextmanager
def reading(model_dir: str, mode: str):
    """Shares the finished run in ``model_dir`` with the other modes that read it
    (evaluate, export, visualize) while no training run or search holds it, and keeps
    one from starting there meanwhile: retrained with ``--overwrite``, it would remove
    the files they read, and take the figures and evaluation they write for its own. A
    folder that cannot hold a lock file (a run another user shares read-only) is read
    unlocked; a missing one is for the mode to name."""
    import fcntl

    path = os.path.join(model_dir, LOCK_FILE)
    descriptor, locked = None, None
    if os.path.isdir(model_dir):
        times = os.stat(model_dir)
        with contextlib.suppress(OSError):
            descriptor = acquire(path, model_dir, f"--mode={mode}, process {os.getpid()} on "
                                                  f"{socket.gethostname()}", shared=True)
            locked = os.stat(model_dir).st_mtime_ns
    try:
        yield
    finally:
        if descriptor is not None:
            untouched = os.stat(model_dir).st_mtime_ns == locked
            try:  # the last reader out removes the file
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)
            except OSError:
                untouched = False
            os.close(descriptor)
            if untouched:
                os.utime(model_dir, ns=(times.st_atime_ns, times.st_mtime_ns))


def missing_folders(path: str) -> list[str]:
    """The folders :func:`os.makedirs` would make for ``path``, the deepest first."""
    made, path = [], os.path.abspath(path)
    while not os.path.lexists(path) and path != os.path.dirname(path):
        made.append(path)
        path = os.path.dirname(path)
    return made

