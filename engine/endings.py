"""How a command that did not end as planned says so: its exit code, what stopped it,
what went wrong in a sentence (out of memory, a file that could not be written), and
what a run left to resume."""

from __future__ import annotations

import errno
import os
import re
import sys

from engine import interrupts

USAGE_EXIT = 2  # a mistake in the command: nothing was done
FAILURE_EXIT = 1  # the run failed
INTERRUPTED_EXIT = 130  # Ctrl-C: 128 + SIGINT
TERMINATED_EXIT = 143  # SIGTERM (kill, a scheduler's stop): 128 + SIGTERM
BROKEN_PIPE_EXIT = 141  # the reader of the output closed it: 128 + SIGPIPE
RUN_FOLDER_MODES = ("train", "tune")  # the modes that write the run folder (--model_dir)


def output_closed() -> None:
    """Points stdout at /dev/null once its reader has left (``| head``), so that what is
    left in its buffer does not fail again at exit ("Exception ignored ... BrokenPipeError")."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# What to do where a file could not be written or read: the disk, not the run, failed.
STORAGE_REMEDIES = {
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "raise the limit on the size of a file (ulimit -f)",
    errno.EROFS: "choose folders on a writable file system",
    errno.EACCES: "fix its permissions",
    errno.EPERM: "fix its permissions",
}


def storage_problem(error: BaseException) -> str | None:
    """The file ``error`` met, what went wrong and the remedy, where it is a storage error
    (:data:`STORAGE_REMEDIES`; None for another). Python's and h5py's errors carry the
    error number (h5py names the file inside its message); TensorFlow's say it after the
    file's name (``<path>; No space left on device``: a full disk while a SavedModel is
    written is its ResourceExhaustedError, a file-size limit its OutOfRangeError)."""
    text = str(error)
    number = getattr(error, "errno", None)
    if number not in STORAGE_REMEDIES:
        number = next((known for known in STORAGE_REMEDIES
                       if f"; {os.strerror(known)}" in text), None)
        if number is None or isinstance(error, OSError):
            return None
    named = (re.search(r"name = '([^']+)'", text)
             or re.search(rf"(\S+); {re.escape(os.strerror(number))}", text))
    path = getattr(error, "filename", None) or (named.group(1) if named else None)
    verb = "cannot access" if number in (errno.EACCES, errno.EPERM) else "could not write"
    return (f"{verb} {path if path else 'a file'} ({os.strerror(number)}); "
            f"{STORAGE_REMEDIES[number]}.")


def files_so_far(mode: str, run_dir: str) -> str:
    """Where a failed run's files are, for its last line (empty for a mode that writes
    no run folder, or before the folder was made)."""
    return (f" Files written so far are in {run_dir}."
            if mode in RUN_FOLDER_MODES and os.path.isdir(run_dir) else "")


def out_of_memory(error: Exception, flags_read) -> str:
    """What ran out of memory and the remedy: the size flags the mode reads
    (``flags_read(name)``), else more memory."""
    smaller = " or ".join(f"--{name}" for name in ("batch_size", "image_size", "test_scale")
                          if flags_read(name))
    remedy = (f"a smaller {smaller} needs less" if smaller
              else "free memory or run it on a machine with more")
    return f"out of memory ({allocation(error)}); {remedy}."


def allocation(error: Exception) -> str:
    """The allocation that ran out of memory, in TensorFlow's words where it gives them
    (``OOM when allocating tensor with shape[...] and type float``)."""
    found = re.search(r"OOM when allocating tensor with shape\[[^\]]*\](?: and type \w+)?",
                      str(error))
    return found.group(0) if found else type(error).__name__


def interruption_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that ``error`` was raised while handling, if any: a C
    extension interrupted while it is imported fails with ``ImportError: initialization
    failed`` (seen with matplotlib's backend, imported lazily to draw the curves)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def how_stopped(interruption: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the run, in words, and the exit code that says so."""
    if isinstance(interruption, interrupts.Terminated):
        return "stopped by SIGTERM", TERMINATED_EXIT
    return "interrupted", INTERRUPTED_EXIT


def interrupted_state(mode: str, run_dir: str, overwrite: bool = False) -> str:
    """What an interrupted run of ``mode`` in ``run_dir`` left to resume from; with
    ``overwrite``, once the command replaced the run there (:func:`engine.rundir.
    replaced_here`), the command to resume it is the same one without ``--overwrite``,
    which would start afresh again; before, nothing of it was done."""
    from engine import rundir  # (it imports Keras, which the flags' parsing does not wait for)

    if overwrite and rundir.put_back_here(run_dir):
        return (f" The run that --overwrite was replacing is back in {run_dir}; the same "
                "command starts afresh.")
    if mode == "train" and os.path.isfile(os.path.join(run_dir, rundir.REPORT_FILE)):
        return f" The run had finished: its report is in {run_dir}."
    if overwrite and not rundir.replaced_here(run_dir):
        return " Nothing was replaced yet: the same command starts afresh."
    again = "the same command without --overwrite" if overwrite else "the same command again"
    if mode == "tune" and os.path.isdir(os.path.join(run_dir, rundir.SEARCH_DIR)):
        return f" The search's state is in {run_dir}; run {again} to resume it."
    if mode == "train" and backed_up(os.path.join(run_dir, rundir.BACKUP_DIR)):
        return f" The last completed epoch is backed up in {run_dir}; run {again} to resume."
    if mode in RUN_FOLDER_MODES:
        return " No epoch was backed up yet: the same command starts afresh."
    return ""


def backed_up(backup_dir: str) -> bool:
    """Whether the backup in ``backup_dir`` names an epoch (a run stopped while writing
    its first one has none to resume from)."""
    from engine.training import backed_up_epochs

    return backed_up_epochs(backup_dir) > 0
