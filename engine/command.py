"""The command's name as the user runs it, for its messages: ``train.py`` (``python
train.py``, ``python -m train``) or ``convnet-recipes``, the console script a
non-editable install has instead of ``train.py``."""

from __future__ import annotations

import os
import sys

INSTALLED = "convnet-recipes"  # setup.cfg's console script


def program() -> str:
    """The name that prefixes the command's messages (``train.py: error: ...``)."""
    return INSTALLED if os.path.basename(sys.argv[0]) == INSTALLED else "train.py"


def invocation() -> str:
    """What to type to run the command: ``python train.py`` or ``convnet-recipes``."""
    return INSTALLED if program() == INSTALLED else "python train.py"
