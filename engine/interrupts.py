"""Ctrl-C that Python would drop, and SIGTERM handled as a Ctrl-C.

A ``KeyboardInterrupt`` raised inside a finalizer (an object's ``__del__``, a weakref
callback the garbage collector runs) goes to ``sys.unraisablehook``, which prints
"Exception ignored in ..." and carries on: the Ctrl-C is lost. keras-tuner collects
garbage before every trial (``keras.backend.clear_session`` runs TensorFlow's
finalizers), so a Ctrl-C between a search's trials often lands there, and the search
used to run on to its end. Within :func:`kept`, such an interrupt is recorded instead
(and not printed), and :func:`raise_if_dropped` raises it again where the program can
stop cleanly.

SIGTERM (``kill``, a scheduler stopping or preempting a job) kills a Python process
at once by default, in the middle of whatever it writes. ``train.py`` makes it raise
:class:`Terminated`, a ``KeyboardInterrupt``, so it stops a run where a Ctrl-C would
(the training loop holds it until the step under way is done) and ends with its own
sentence and exit code.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

_dropped: type[KeyboardInterrupt] | None = None


class Terminated(KeyboardInterrupt):
    """A SIGTERM, raised where a Ctrl-C's ``KeyboardInterrupt`` would be."""


def raise_terminated(number, frame) -> None:
    """SIGTERM's handler: raises :class:`Terminated`, as Python's own SIGINT handler
    raises ``KeyboardInterrupt``."""
    raise Terminated


def stop_on_sigterm() -> None:
    """Makes SIGTERM raise :class:`Terminated` where it would kill the process (its
    default action); a handler the process was given is left alone."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, raise_terminated)


@contextlib.contextmanager
def kept():
    """Records, within the block, every ``KeyboardInterrupt`` a finalizer drops."""
    global _dropped
    previous = sys.unraisablehook

    def hook(unraisable):
        global _dropped
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type,
                                                          KeyboardInterrupt):
            _dropped = unraisable.exc_type
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        _dropped = None


def raise_if_dropped() -> None:
    """Raises the ``KeyboardInterrupt`` (or :class:`Terminated`) a finalizer dropped
    since the last call, if any."""
    global _dropped
    if _dropped:
        dropped, _dropped = _dropped, None
        raise dropped


class Interruptions:
    """SIGINT's (and SIGTERM's) Python handler while a model trains
    (:func:`engine.loop.fit`): the first signal is held until :meth:`raise_if_pending`,
    a second one raises at once unless it arrives inside :meth:`held` (which holds every
    signal until the block is done)."""

    def __init__(self, steps_per_call: int = 1):
        self.pending: type[KeyboardInterrupt] | None = None
        self.holding = False
        self.under_way = ("this step" if steps_per_call == 1
                          else f"this call of {steps_per_call} steps")

    def receive(self, number, frame) -> None:
        interruption = Terminated if number == signal.SIGTERM else KeyboardInterrupt
        if self.pending and not self.holding:
            raise interruption
        if not self.pending:
            name = "SIGTERM" if interruption is Terminated else "Ctrl-C"
            print(f"\n{name}: training stops when {self.under_way} is done ({name} again: at "
                  "once).",
                  file=sys.stderr, flush=True)
        self.pending = interruption

    def raise_if_pending(self) -> bool:
        """Raises the held signal as ``KeyboardInterrupt`` (SIGTERM: as
        :class:`Terminated`); False if there is none."""
        if self.pending:
            raise self.pending
        return False

    @contextlib.contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False


# Each signal the loop holds, with the Python handler it must find in place to take over:
# Python's own for SIGINT, train.py's (stop_on_sigterm) for SIGTERM.
_HELD_SIGNALS = ((signal.SIGINT, signal.default_int_handler),
                 (signal.SIGTERM, raise_terminated))


@contextlib.contextmanager
def held_while_training(steps_per_call: int = 1):
    """:class:`Interruptions` as the handler of SIGINT and SIGTERM for the block (main
    thread only, and only for a signal whose Python handler raises an interrupt; elsewhere
    it never holds anything), for a loop running ``steps_per_call`` steps per call."""
    interruptions = Interruptions(steps_per_call)
    if threading.current_thread() is not threading.main_thread():
        yield interruptions
        return
    previous = {number: signal.signal(number, interruptions.receive)
                for number, handler in _HELD_SIGNALS if signal.getsignal(number) is handler}
    try:
        yield interruptions
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
