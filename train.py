"""Train, evaluate, inspect and export any registered recipe.

    python train.py                                   # LeNet-5 on the embedded digits
    python train.py --recipe=lenet5_modern --dataset=mnist --data_dir=~/tfds --epochs=1
    python train.py --mode=predict --export_dir=runs/lenet5_modern-digits/export digit.png

Defaults come from the recipe's paper configuration; flags override them.
--mode below says what each mode does; a flag of one mode only begins with it
(--mode=predict: ...).
"""

from __future__ import annotations

import os
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PACKAGES = ("engine", "layers", "recipes")  # installed beside this file


def shadowed() -> tuple[str, str] | None:
    """The package of :data:`PACKAGES` that a file or folder of the current folder hides,
    and that file (``python -m train`` puts the current folder first on the import path:
    a user's ``layers.py`` ended the command in a traceback), or None."""
    import importlib.util

    here = os.path.dirname(os.path.realpath(__file__))
    for name in PACKAGES:
        found = importlib.util.find_spec(name)
        if found is None:
            continue
        if found.origin is None:  # a folder without __init__.py, before an editable finder
            return name, os.path.join(list(found.submodule_search_locations)[0], "")
        if os.path.dirname(os.path.realpath(found.origin)) != os.path.join(here, name):
            return name, found.origin
    return None


if shadowed():
    print(f"{os.path.basename(sys.argv[0])}: error: {shadowed()[1]} hides convnet-recipes' "
          f"{shadowed()[0]!r} package (python -m puts the current folder first on the import "
          "path); rename it, or run the installed convnet-recipes command.", file=sys.stderr)
    sys.exit(2)  # engine.endings.USAGE_EXIT, which cannot be imported here

from absl import app, flags, logging  # noqa: E402

from engine import cli, command, interrupts, modes, quiet  # noqa: E402  (cli defines the flags)
from engine.endings import (BROKEN_PIPE_EXIT, FAILURE_EXIT, USAGE_EXIT,  # noqa: E402
                            files_so_far, how_stopped, interrupted_state, interruption_behind,
                            out_of_memory, output_closed, storage_problem)

FLAGS = flags.FLAGS


def parse(argv: list[str]) -> list[str]:
    """absl's parsing, a bad flag in the user's words (:func:`engine.command.parse_flags`)."""
    return command.parse_flags(argv, cli.flag_mistake)


def main(argv):
    if len(argv) > 1 and FLAGS.mode != "predict":
        print(f"{command.program()}: error: unexpected arguments {' '.join(argv[1:])!r}; only "
              "--mode=predict takes arguments (the image files), every other option is a "
              "--flag (see --helpfull).", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    if not FLAGS["verbosity"].present:  # --verbosity brings TensorFlow's chatter back
        logging.set_verbosity(logging.WARNING)
        quiet.plain_warnings(command.program())
        try:
            quiet.import_tensorflow()
        except KeyboardInterrupt as interruption:
            stopped, code = how_stopped(interruption)
            print(f"\n{command.program()}: {stopped} while TensorFlow loaded; nothing was done.",
                  file=sys.stderr)
            leave(code)
    import tensorflow as tf

    from engine.spec import run_directory  # (after TensorFlow: it imports Keras)
    from layers.errors import InputTooSmall, RunFailure, UsageError

    quiet.drop_failed_close_noise()
    args = cli.arguments(FLAGS, argv)
    run_dir = run_directory(args.model_dir, args.recipe, args.dataset)
    try:
        modes.run(args.mode, args)
    except UsageError as error:
        if isinstance(error, InputTooSmall) and cli.reads(args.mode, "image_size"):
            error = error.with_remedy("pass a larger --image_size, or leave it out for the "
                                      "recipe's input size")
        print(f"{command.program()}: error: {error}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except RunFailure as failure:
        print(f"\n{command.program()}: failed: {failure}", file=sys.stderr)
        sys.exit(FAILURE_EXIT)
    except KeyboardInterrupt as interruption:
        stop(interruption, args.mode, run_dir)
    except BrokenPipeError:  # the output's reader left (`| head`): stop, as a shell tool does
        output_closed()
        leave(BROKEN_PIPE_EXIT)
    except Exception as error:
        problem = storage_problem(error)
        if problem is not None:
            resume = (interrupted_state(args.mode, run_dir, args.overwrite)
                      or " Then run the same command again.")
            print(f"\n{command.program()}: failed: {problem}{resume}", file=sys.stderr)
            leave(FAILURE_EXIT)  # the files a failed HDF5 write left open crash the shutdown
        if isinstance(error, (tf.errors.ResourceExhaustedError, MemoryError)):
            problem = out_of_memory(error, lambda flag: cli.reads(args.mode, flag) and (
                flag != "test_scale" or args.tta == "dense"))  # Q sizes dense evaluation
            print(f"\n{command.program()}: failed: {problem}{files_so_far(args.mode, run_dir)}",
                  file=sys.stderr)
            sys.exit(FAILURE_EXIT)
        internal_error(error, args.mode, run_dir)  # a bug, not a user's mistake


def internal_error(error: Exception, mode: str, run_dir: str) -> None:
    """Ends a run that failed on a bug: its traceback, then one line naming the run folder
    (a Ctrl-C that a library turned into its own error stops the run as a Ctrl-C)."""
    interruption = interruption_behind(error)
    if interruption is not None:
        stop(interruption, mode, run_dir)
    traceback.print_exception(error)
    print(f"{command.program()}: --mode={mode} failed with an internal error "
          f"({type(error).__name__}); the traceback above says where."
          f"{files_so_far(mode, run_dir)}", file=sys.stderr)
    sys.exit(FAILURE_EXIT)


def stop(interruption: KeyboardInterrupt, mode: str, run_dir: str) -> None:
    """Says what stopped the run and what there is to resume, and exits with its code."""
    stopped, code = how_stopped(interruption)
    overwrite = FLAGS["overwrite"].value  # its rerun would start afresh
    print(f"\n{command.program()}: {stopped}.{interrupted_state(mode, run_dir, overwrite)}",
          file=sys.stderr)
    leave(code)


def leave(code: int) -> None:
    """Exits with ``code`` after a Ctrl-C, a SIGTERM or a write the disk refused. Everything
    is on disk: this skips the interpreter's shutdown, which a Ctrl-C can catch with
    TensorFlow's and the input pipeline's threads still running (a SIGABRT at exit was
    seen once in about 35 interrupted runs on a loaded machine), and which h5py's files
    left open by a failed write crash (a segmentation fault, every time on a full disk)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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


def run() -> None:
    """The command: ``python train.py``, ``python -m train`` or, where the package is
    installed, ``convnet-recipes``."""
    command.launched()
    launcher = sys.modules["__main__"]
    # absl's --help prints the __main__ module's docstring: this one, as it was started
    # (a console script has none; a user's own script keeps its own).
    if launcher is sys.modules[__name__] or launcher.__doc__ is None:
        launcher.__doc__ = __doc__.replace("python train.py", command.invocation())
    open_standard_streams()
    interrupts.stop_on_sigterm()
    # --help lists the key flags of the program absl sees (sys.argv[0], whichever way it
    # started): the project's, which engine.cli defines; --helpfull absl's as well.
    for flag in FLAGS.get_key_flags_for_module(cli):
        FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(main, flags_parser=parse)


if __name__ == "__main__":
    run()
