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
