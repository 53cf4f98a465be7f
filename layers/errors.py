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


class InputTooSmall(UsageError):
    """A layer's window that does not fit its input: ``problem`` (the layer and the
    arithmetic), then ``remedy`` in the caller's words (a builder's ``input_shape``, the
    command line's ``--image_size``: :meth:`with_remedy`)."""

    def __init__(self, problem: str, remedy: str = "use a larger input_shape"):
        self.problem, self.remedy = problem, remedy
        super().__init__(f"{problem}; {remedy}.")

    def with_remedy(self, remedy: str) -> "InputTooSmall":
        return InputTooSmall(self.problem, remedy)

