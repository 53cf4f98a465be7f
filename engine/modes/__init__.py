"""One module per ``--mode``, each with ``run(args)``: it composes the run's phases
(:mod:`engine.session`, :mod:`engine.data`, :mod:`engine.build`,
:mod:`engine.training`, :mod:`engine.evaluate`, :mod:`engine.report`, ...) and
copies none of another mode's code.

The modes are :data:`engine.choices.MODES`; adding one is a module here and its
name there. A mode's module is imported only when it runs.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types

from engine.choices import MODES
from engine.cli import check_mode_flags

NAMING_FLAGS = ("recipe", "dataset")  # name the default --model_dir, runs/<recipe>-<dataset>
READING_MODES = ("evaluate", "export", "visualize")  # read a finished run and write into it


def run(mode: str, args: types.SimpleNamespace):
    """Carries ``--mode=mode`` out with the command line's ``args``
    (:func:`engine.cli.arguments`)."""
    if mode not in MODES:
        raise KeyError(f"No mode {mode!r}; modes are {', '.join(MODES)}.")
    check_mode_flags(mode, args)
    module = importlib.import_module(f"{__name__}.{mode}")
    if mode not in READING_MODES:
        return module.run(args)
    from engine import runlock
    from engine.spec import run_directory

    # No training run replaces what the mode reads meanwhile: the run, or an ensemble's
    # members and (where given) its output folder.
    if mode == "evaluate" and (args.ensemble or "ensemble" in args.given):
        read = [*(args.ensemble or ()), *([args.model_dir] if "model_dir" in args.given else [])]
    else:
        read = [run_directory(args.model_dir, args.recipe, args.dataset)]
    with contextlib.ExitStack() as held:
        for model_dir in dict.fromkeys(os.path.expanduser(path) for path in read):
            held.enter_context(runlock.reading(model_dir, mode))
        return module.run(args)


def saved_run(args: types.SimpleNamespace, model_dir: str | None = None,
              reads_images: bool = False):
    """The finished run in ``model_dir`` (default ``--model_dir``, else
    ``runs/<recipe>-<dataset>``), which a ``--recipe`` or ``--dataset`` given on the
    command line must match, unless, for a mode that ``reads_images``, ``--dataset``
    names where an image folder run's images moved (:func:`engine.rundir.load_run`)."""
    from engine import rundir
    from engine.spec import run_directory

    from engine.data.sources import check_tfds_flags

    model_dir = model_dir or run_directory(args.model_dir, args.recipe, args.dataset)
    saved = rundir.load_run(model_dir, reads_images, **{flag: getattr(args, flag) for flag in NAMING_FLAGS
                                          if flag in args.given})
    check_tfds_flags(saved.record["dataset"], getattr(args, "given", ()))
    return saved
