"""One module per ``--mode``, each with ``run(args)``: it composes the run's phases
(:mod:`engine.session`, :mod:`engine.data`, :mod:`engine.build`,
:mod:`engine.training`, :mod:`engine.evaluate`, :mod:`engine.report`, ...) and
copies none of another mode's code.

The modes are :data:`engine.choices.MODES`; adding one is a module here and its
name there. A mode's module is imported only when it runs.
"""

from __future__ import annotations

import importlib
import types

from engine.choices import MODES
from engine.cli import check_mode_flags


def run(mode: str, args: types.SimpleNamespace):
    """Carries ``--mode=mode`` out with the command line's ``args``
    (:func:`engine.cli.arguments`)."""
    if mode not in MODES:
        raise KeyError(f"No mode {mode!r}; modes are {', '.join(MODES)}.")
    check_mode_flags(mode, args)
    return importlib.import_module(f"{__name__}.{mode}").run(args)
