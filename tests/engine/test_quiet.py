"""engine/quiet.py: h5py's reports of the objects it could not close after a failed
write (over a hundred lines of tracebacks on a full disk) are dropped, nothing else."""

import sys
import types

from engine import quiet


def raised_in(filename: str, function: str, kind=RuntimeError) -> BaseException:
    """An exception whose traceback ends in ``function`` of ``filename``, as Cython
    reports h5py's ``ObjectID.__dealloc__``."""
    namespace = {}
    exec(compile(f"def {function}():\n    raise {kind.__name__}('file write failed')\n",
                 filename, "exec"), namespace)
    try:
        namespace[function]()
    except kind as error:
        return error


def test_only_h5pys_failed_closes_are_dropped(monkeypatch, capsys):
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)
    quiet.drop_failed_close_noise()
    h5py_close = raised_in("h5py/_objects.pyx", "__dealloc__")
    sys.excepthook(RuntimeError, h5py_close, h5py_close.__traceback__)
    sys.unraisablehook(types.SimpleNamespace(
        exc_type=RuntimeError, exc_value=h5py_close, exc_traceback=h5py_close.__traceback__,
        err_msg=None, object="h5py._objects.ObjectID.__dealloc__"))
    assert capsys.readouterr().err == ""
    for other in (raised_in("h5py/_objects.pyx", "__dealloc__", ValueError),
                  raised_in("engine/training.py", "__dealloc__")):
        sys.excepthook(type(other), other, other.__traceback__)
        assert "file write failed" in capsys.readouterr().err


def test_the_retracing_of_keras_grouped_convolutions_is_not_shown():
    # ResNeXt's training printed "5 out of the last 5 calls to <function
    # conv.<locals>._conv_xla ...> triggered tf.function retracing" several times.
    import logging

    def record(function):
        return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1,
                                 f"5 out of the last 5 calls to <function {function} at "
                                 "0x7f> triggered tf.function retracing.", None, None)

    shown = quiet._PER_MODEL_RETRACING.filter
    assert not shown(record("conv.<locals>._conv_xla"))
    assert shown(record("train_step"))


def test_warnings_read_as_a_command_line_tools_with_their_traceback():
    import logging

    formatter = quiet.PlainWarnings("train.py")
    record = logging.LogRecord("absl", logging.WARNING, "training.py", 538,
                               "%s's warm-up lasts %g epochs", ("resnet110", 2.5), None)
    assert formatter.format(record) == "train.py: warning: resnet110's warm-up lasts 2.5 epochs"
    try:
        raise OSError("disk gone")
    except OSError:
        failed = logging.LogRecord("absl", logging.ERROR, "x.py", 1, "Could not save", (),
                                   sys.exc_info())
    lines = formatter.format(failed).splitlines()
    assert lines[0] == "train.py: error: Could not save"
    assert lines[1] == "Traceback (most recent call last):" and lines[-1] == "OSError: disk gone"


def test_a_crash_while_the_decoders_lines_are_captured_still_reaches_the_terminal():
    # Predict on an image too large for the memory ended at exit 134 with nothing at all
    # on the terminal: the abort's report had gone into the capture.
    import os
    import pathlib
    import subprocess

    crash = ("from engine import quiet, command\n"
             "import os, sys\n"
             "with quiet.stderr_without(quiet.DECODER_CHATTER):\n"
             "    os.abort()\n")
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True,
                            cwd=pathlib.Path(quiet.__file__).parents[1], timeout=300,
                            env={**os.environ, "PYTHONFAULTHANDLER": ""})
    assert result.returncode != 0
    assert "Fatal Python error: Aborted" in result.stderr and "line 4" in result.stderr


def test_the_capture_leaves_the_fault_handler_as_it_found_it(capfd):
    import faulthandler
    import os

    for enabled in (True, False):  # pytest enables it; python without -X faulthandler not
        faulthandler.enable() if enabled else faulthandler.disable()
        with quiet.stderr_without(quiet.DECODER_CHATTER):
            os.write(2, b"Corrupt JPEG data: 368 extraneous bytes before marker 0xd9\n")
        assert faulthandler.is_enabled() == enabled
    faulthandler.enable()
    assert "Corrupt JPEG" not in capfd.readouterr().err
