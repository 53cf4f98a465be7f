"""Train, evaluate, inspect and export any registered recipe.

    python train.py                                   # LeNet-5 on the embedded digits
    python train.py --recipe=lenet5_modern --dataset=mnist --data_dir=../shared/tfds --epochs=1
    python train.py --mode=predict --export_dir=runs/lenet5_modern-digits/export digit.png

Defaults come from the recipe's paper configuration; flags override them.
Run `python train.py --helpfull` for every flag; README documents each mode.
"""

from __future__ import annotations

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
    except Exception as error:  # a bug, not a user's mistake: keep its traceback
        interruption = interruption_behind(error)
        if interruption is not None:  # a Ctrl-C that a library turned into its own error
            stop(interruption, args.mode, run_dir)
        traceback.print_exc()
        print(f"train.py: --mode={args.mode} failed with an internal error "
              f"({type(error).__name__}); the traceback above says where."
              f"{files_so_far(args.mode, run_dir)}", file=sys.stderr)
        sys.exit(FAILURE_EXIT)


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


if __name__ == "__main__":
    interrupts.stop_on_sigterm()
    app.run(main, flags_parser=parse)
