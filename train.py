"""Train, evaluate, inspect and export any registered recipe.

    python train.py                                   # LeNet-5 on the embedded digits
    python train.py --recipe=lenet5_modern --dataset=mnist --data_dir=../shared/tfds --epochs=1
    python train.py --mode=predict --export_dir=runs/lenet5_modern-digits/export digit.png

Defaults come from the recipe's paper configuration; flags override them.
Run `python train.py --helpfull` for every flag; README documents each mode.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from engine import cli, interrupts, modes, quiet  # noqa: E402  (cli defines the flags)

FLAGS = flags.FLAGS
USAGE_EXIT = 2  # a mistake in the command: nothing was done
FAILURE_EXIT = 1  # the run failed
INTERRUPTED_EXIT = 130  # Ctrl-C: 128 + SIGINT
TERMINATED_EXIT = 143  # SIGTERM (kill, a scheduler's stop): 128 + SIGTERM
BROKEN_PIPE_EXIT = 141  # the reader of the output closed it: 128 + SIGPIPE
RUN_FOLDER_MODES = ("train", "tune")  # the modes that write the run folder (--model_dir)


def parse(argv: list[str]) -> list[str]:
    """absl's parsing, with a bad flag ending like every usage error: one line, exit 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        sys.exit(USAGE_EXIT)


def main(argv):
    if len(argv) > 1 and FLAGS.mode != "predict":
        print(f"train.py: error: unexpected arguments {' '.join(argv[1:])!r}; only "
              "--mode=predict takes arguments (the image files), every other option is a "
              "--flag (see --helpfull).", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    if not FLAGS["verbosity"].present:  # --verbosity brings TensorFlow's chatter back
        logging.set_verbosity(logging.WARNING)
        try:
            quiet.import_tensorflow()
        except KeyboardInterrupt as interruption:
            stopped, code = how_stopped(interruption)
            print(f"\ntrain.py: {stopped} while TensorFlow loaded; nothing was done.",
                  file=sys.stderr)
            leave(code)
    import tensorflow as tf

    from engine.spec import run_directory  # (after TensorFlow: it imports Keras)
    from layers.errors import RunFailure, UsageError

    args = cli.arguments(FLAGS, argv)
    run_dir = run_directory(args.model_dir, args.recipe, args.dataset)
    try:
        modes.run(args.mode, args)
    except UsageError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except RunFailure as failure:
        print(f"\ntrain.py: failed: {failure}", file=sys.stderr)
        sys.exit(FAILURE_EXIT)
    except KeyboardInterrupt as interruption:
        stop(interruption, args.mode, run_dir)
    except (tf.errors.ResourceExhaustedError, MemoryError) as error:
        smaller = " or ".join(f"--{name}" for name in ("batch_size", "image_size")
                              if cli.reads(args.mode, name))
        remedy = (f"a smaller {smaller} needs less" if smaller
                  else "free memory or run it on a machine with more")
        print(f"\ntrain.py: failed: out of memory ({allocation(error)}); {remedy}."
              f"{files_so_far(args.mode, run_dir)}", file=sys.stderr)
        sys.exit(FAILURE_EXIT)
    except BrokenPipeError:  # the output's reader left (`| head`): stop, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        leave(BROKEN_PIPE_EXIT)
    except OSError as error:
        if error.errno not in STORAGE_REMEDIES:
            internal_error(error, args.mode, run_dir)
        print(f"\ntrain.py: failed: {storage_problem(error)}"
              f"{interrupted_state(args.mode, run_dir) or ' Then run the same command again.'}",
              file=sys.stderr)
        sys.exit(FAILURE_EXIT)
    except Exception as error:  # a bug, not a user's mistake: keep its traceback
        internal_error(error, args.mode, run_dir)


def internal_error(error: Exception, mode: str, run_dir: str) -> None:
    """Ends a run that failed on a bug: its traceback, then one line naming the run folder
    (a Ctrl-C that a library turned into its own error stops the run as a Ctrl-C)."""
    interruption = interruption_behind(error)
    if interruption is not None:
        stop(interruption, mode, run_dir)
    traceback.print_exception(error)
    print(f"train.py: --mode={mode} failed with an internal error "
          f"({type(error).__name__}); the traceback above says where."
          f"{files_so_far(mode, run_dir)}", file=sys.stderr)
    sys.exit(FAILURE_EXIT)


# What to do where a file could not be written or read: the disk, not the run, failed.
STORAGE_REMEDIES = {
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "raise the limit on the size of a file (ulimit -f)",
    errno.EROFS: "choose folders on a writable file system",
    errno.EACCES: "fix its permissions",
    errno.EPERM: "fix its permissions",
}


def storage_problem(error: OSError) -> str:
    """The file ``error`` (a storage error) met, what went wrong and the remedy. HDF5's
    errors (h5py) name the file inside their message."""
    named = re.search(r"name = '([^']+)'", str(error))
    path = error.filename or (named.group(1) if named else None)
    verb = "cannot access" if error.errno in (errno.EACCES, errno.EPERM) else "could not write"
    return (f"{verb} {path if path else 'a file'} ({os.strerror(error.errno)}); "
            f"{STORAGE_REMEDIES[error.errno]}.")


def files_so_far(mode: str, run_dir: str) -> str:
    """Where a failed run's files are, for its last line (empty for a mode that writes
    no run folder, or before the folder was made)."""
    return (f" Files written so far are in {run_dir}."
            if mode in RUN_FOLDER_MODES and os.path.isdir(run_dir) else "")


def allocation(error: Exception) -> str:
    """The allocation that ran out of memory, in TensorFlow's words where it gives them
    (``OOM when allocating tensor with shape[...] and type float``)."""
    found = re.search(r"OOM when allocating tensor with shape\[[^\]]*\](?: and type \w+)?",
                      str(error))
    return found.group(0) if found else type(error).__name__


def stop(interruption: KeyboardInterrupt, mode: str, run_dir: str) -> None:
    """Says what stopped the run and what there is to resume, and exits with its code."""
    stopped, code = how_stopped(interruption)
    print(f"\ntrain.py: {stopped}.{interrupted_state(mode, run_dir)}", file=sys.stderr)
    leave(code)


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


def leave(code: int) -> None:
    """Exits with ``code`` after a Ctrl-C or a SIGTERM. Everything is on disk: this skips the
    interpreter's shutdown, which a Ctrl-C can catch with TensorFlow's and the input
    pipeline's threads still running (a SIGABRT at exit was seen once in about 35
    interrupted runs on a loaded machine)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def interrupted_state(mode: str, run_dir: str) -> str:
    """What an interrupted run of ``mode`` in ``run_dir`` left to resume from."""
    from engine import rundir

    if mode == "tune" and os.path.isdir(os.path.join(run_dir, rundir.SEARCH_DIR)):
        return f" The search's state is in {run_dir}; run the same command again to resume it."
    if mode == "train" and os.path.isdir(os.path.join(run_dir, rundir.BACKUP_DIR)):
        return (f" The last completed epoch is backed up in {run_dir}; run the same command "
                "again to resume.")
    if mode in RUN_FOLDER_MODES:
        return " No epoch was backed up yet: the same command starts afresh."
    return ""


def open_standard_streams() -> None:
    """Makes a closed stdin, stdout or stderr (``>&-``) /dev/null: the progress bar and
    TensorFlow's start-up write to them, and a closed one ended the run in a traceback
    (stdout) or without a word (stderr)."""
    for descriptor, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
            setattr(sys, name, open(descriptor, mode, closefd=False))


if __name__ == "__main__":
    open_standard_streams()
    interrupts.stop_on_sigterm()
    app.run(main, flags_parser=parse)
