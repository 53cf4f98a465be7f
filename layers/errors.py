"""The project's error type for a caller's mistake.

Everything in the project (layers, recipes, the engine, ``train.py``) raises
:class:`UsageError` for a mistake of its caller: a bad argument, flag, file or
dataset. It is a ``ValueError``, as Keras raises for bad layer arguments, and its
message is one sentence that names what was wrong, the value received and what is
accepted. ``train.py`` prints that sentence alone; any other exception is a bug and
keeps its traceback.
"""


class UsageError(ValueError):
    """A caller's mistake, told in one sentence."""


class RunFailure(RuntimeError):
    """A run that cannot go on (its loss diverged, its data is corrupt), told in one
    sentence that says what to change; ``train.py`` exits 1 with it, no traceback."""
