"""The command's name as the user started it, for its messages: ``train.py`` (``python
train.py``), ``python -m train``, or the console script a non-editable install has
instead of ``train.py``, ``convnet-recipes``. :func:`launched` records it; until then
(the Python API, tests) the command is ``python train.py``."""

from __future__ import annotations

import os
import sys

_started = {"program": "train.py", "invocation": "python train.py"}


def launched() -> None:
    """Records how this process's command was started, from ``sys.argv[0]`` and the
    ``__main__`` module: a script (``python PATH/train.py``: ``python train.py``), a
    module (``python -m train``) or a console script (``convnet-recipes``, under whatever
    name it has)."""
    path = sys.argv[0]
    program = os.path.basename(path)
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name == "train":
        invocation = "python -m train"
    elif program.endswith(".py"):  # its name, as argparse's usage gives it
        invocation = f"python {program}"
    else:
        invocation = program
    _started.update(program=program, invocation=invocation)


def program() -> str:
    """The name that prefixes the command's messages (``train.py: error: ...``)."""
    return _started["program"]


def invocation() -> str:
    """What to type to run the command: ``python train.py``, ``python -m train`` or
    ``convnet-recipes``."""
    return _started["invocation"]


HELP_FLAGS = {"--help", "--helpshort", "--helpfull", "--helpxml"}  # absl's


def parse_flags(argv: list[str], mistake=str) -> list[str]:
    """absl's parsing of ``argv`` (``app.run``'s ``flags_parser``), with a bad flag ending
    like every usage error: one line, ``mistake(error)`` after the program's name, exit 2
    (absl's are two lines and exit 1); ``-h`` is ``--help``, and a help flag's text ends
    in exit 0 (absl's in 1)."""
    from absl import flags

    from engine.endings import BROKEN_PIPE_EXIT, FAILURE_EXIT, USAGE_EXIT, output_closed

    argv = [argv[0], *("--help" if argument == "-h" else argument for argument in argv[1:])]
    try:
        return flags.FLAGS(argv)
    except (flags.Error, ValueError) as error:  # ValueError: absl's for --noflag=value
        print(f"{program()}: error: {mistake(error)}", file=sys.stderr)
        sys.exit(USAGE_EXIT)
    except SystemExit:
        if HELP_FLAGS & {argument.split("=", 1)[0] for argument in argv[1:]}:
            try:  # the help's last lines, while the exit could not say it failed
                sys.stdout.flush()
            except BrokenPipeError:
                output_closed()
                sys.exit(BROKEN_PIPE_EXIT)
            sys.exit(0)
        raise
    except BrokenPipeError:  # the help's reader left (`--help | head`), as a shell tool stops
        output_closed()
        sys.exit(BROKEN_PIPE_EXIT)
    except OSError as error:  # the help to a full disk (`> /dev/full`)
        if not HELP_FLAGS & {argument.split("=", 1)[0] for argument in argv[1:]}:
            raise
        output_closed()
        print(f"{program()}: error: the help could not be written ({error.strerror}).",
              file=sys.stderr)
        sys.exit(FAILURE_EXIT)

