"""Ctrl-C that Python would drop.

A ``KeyboardInterrupt`` raised inside a finalizer (an object's ``__del__``, a weakref
callback the garbage collector runs) goes to ``sys.unraisablehook``, which prints
"Exception ignored in ..." and carries on: the Ctrl-C is lost. keras-tuner collects
garbage before every trial (``keras.backend.clear_session`` runs TensorFlow's
finalizers), so a Ctrl-C between a search's trials often lands there, and the search
used to run on to its end. Within :func:`kept`, such an interrupt is recorded instead
(and not printed), and :func:`raise_if_dropped` raises it again where the program can
stop cleanly.
"""

from __future__ import annotations

import contextlib
import sys

_dropped = False


@contextlib.contextmanager
def kept():
    """Records, within the block, every ``KeyboardInterrupt`` a finalizer drops."""
    global _dropped
    previous = sys.unraisablehook

    def hook(unraisable):
        global _dropped
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type,
                                                          KeyboardInterrupt):
            _dropped = True
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        _dropped = False


def raise_if_dropped() -> None:
    """Raises ``KeyboardInterrupt`` if a finalizer dropped one since the last call."""
    global _dropped
    if _dropped:
        _dropped = False
        raise KeyboardInterrupt
