"""engine.interrupts: a Ctrl-C that a finalizer would drop is kept and raised again; SIGTERM
raises Terminated where it would kill the process."""

import gc
import signal
import sys

import pytest

from engine import interrupts


class InterruptedWhenCollected:
    """Garbage (a reference cycle, freed by the collector only) whose finalizer gets the
    KeyboardInterrupt, as TensorFlow's do when Ctrl-C arrives in ``gc.collect()``."""

    interruption = KeyboardInterrupt

    def __init__(self):
        self.cycle = self

    def __del__(self):
        raise self.interruption


class TerminatedWhenCollected(InterruptedWhenCollected):
    interruption = interrupts.Terminated


def test_a_ctrl_c_a_finalizer_drops_is_raised_again_once(capsys):
    with interrupts.kept():
        InterruptedWhenCollected()
        gc.collect()  # Python reports the interrupt to sys.unraisablehook and goes on
        with pytest.raises(KeyboardInterrupt):
            interrupts.raise_if_dropped()
        interrupts.raise_if_dropped()  # raised once
    assert "KeyboardInterrupt" not in capsys.readouterr().err


def test_a_sigterm_a_finalizer_drops_is_raised_again_as_a_sigterm():
    with interrupts.kept():
        TerminatedWhenCollected()
        gc.collect()
        with pytest.raises(interrupts.Terminated):
            interrupts.raise_if_dropped()


@pytest.fixture
def default_sigterm():
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_raises_terminated_instead_of_killing_the_process(default_sigterm):
    interrupts.stop_on_sigterm()
    with pytest.raises(interrupts.Terminated):
        signal.raise_signal(signal.SIGTERM)
    assert issubclass(interrupts.Terminated, KeyboardInterrupt)  # stops what a Ctrl-C stops


def test_a_sigterm_handler_the_process_was_given_is_kept(default_sigterm):
    received = []
    signal.signal(signal.SIGTERM, lambda number, frame: received.append(number))
    interrupts.stop_on_sigterm()
    signal.raise_signal(signal.SIGTERM)
    assert received == [signal.SIGTERM]


def test_other_unraisable_errors_and_the_hook_are_left_alone():
    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with interrupts.kept():
            sys.unraisablehook(type("Unraisable", (), {"exc_type": ValueError})())
            interrupts.raise_if_dropped()
        assert sys.unraisablehook == seen.append
    finally:
        sys.unraisablehook = previous
    assert [entry.exc_type for entry in seen] == [ValueError]


def test_nothing_is_kept_outside_the_block():
    with interrupts.kept():
        InterruptedWhenCollected()
        gc.collect()
    interrupts.raise_if_dropped()  # the block ended: what it kept went with it


@pytest.mark.parametrize("signal_name, code", [("KeyboardInterrupt", 130),
                                               ("interrupts.Terminated", 143)])
def test_an_interruption_a_library_turns_into_its_own_error_still_stops_the_run(
        signal_name, code):
    # A Ctrl-C during matplotlib's lazy import became "ImportError: initialization failed"
    # and train.py said "internal error" (exit 1) instead of "interrupted" (130).
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    driver = (
        "import sys, train\n"
        "from absl import app\n"
        "from engine import interrupts, modes\n"
        "def run(mode, args):\n"
        "    try:\n"
        f"        raise {signal_name}\n"
        "    except KeyboardInterrupt:\n"
        "        raise ImportError('initialization failed')\n"
        "modes.run = run\n"
        "sys.argv = ['train.py', '--mode=summary']\n"
        "app.run(train.main, flags_parser=train.parse)\n")
    result = subprocess.run([sys.executable, "-c", driver], cwd=root, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == code, result.stderr[-3000:]
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "train.py: interrupted." if code == 130 else "train.py: stopped by SIGTERM.")
