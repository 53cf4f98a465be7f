"""TensorFlow's chatter kept off a user's terminal: at the start, and one warning after;
the project's own warnings written as a command line tool writes them.

TensorFlow writes lines such as ``E0000 ... failed call to cuInit`` and
``I0000 ... cudart_stub.cc ... Could not find cuda drivers`` straight to file
descriptor 2 from C++ while it loads and finds its devices, before any Python
logging setting applies (``TF_CPP_MIN_LOG_LEVEL`` does not silence them). On a CPU
machine they are expected, not problems. :func:`import_tensorflow` loads
TensorFlow and looks for GPUs with descriptor 2 captured, then writes back every
captured line that is not such chatter, so real errors still show.

TensorFlow also warns that a function "triggered tf.function retracing" when it counts
too many traces of the functions made from one piece of Python code: the functions a
piece of code makes anew for each model it is given (a search's trials, an ensemble's
runs, one after another) read to it as one function traced again and again ("creating
@tf.function repeatedly in a loop"). :func:`made_per_model` marks such code; the
warning about any other function still shows.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import re
import sys
import tempfile

# Start-up lines that say nothing is wrong: no CUDA driver on a CPU machine, the CPU
# instruction sets the wheel was built for, oneDNN's banner, the duplicate-registration
# notices of CUDA plugins.
CHATTER = re.compile(
    r"absl::InitializeLog\(\)|cudart_stub\.cc|cuda_platform\.cc|failed call to cuInit|"
    r"cpu_feature_guard\.cc|rebuild TensorFlow with the appropriate compiler flags|"
    r"oneDNN custom operations are on|Unable to register cu(DNN|BLAS|FFT) factory|"
    r"computation_placer\.cc")


# What the image decoders' C code writes while it reads a file that is damaged (libjpeg's
# own error and warning lines, TensorFlow's decoder logs): the run names such a file in a
# sentence of its own (a folder's check skips it, --mode=predict gives its line).
DECODER_CHATTER = re.compile(
    r"(jpeg_mem|gif_io|png_io)\.cc:|^(Corrupt JPEG data|Premature end of JPEG|Bogus |"
    r"Improper call to JPEG library|Unsupported marker type|Invalid JPEG file structure|"
    r"Not a JPEG file|Input file read error|libpng (warning|error))")


@contextlib.contextmanager
def stderr_without(chatter: re.Pattern):
    """Runs its block with file descriptor 2 (where C++ code writes) captured, then
    writes back every captured line that ``chatter`` does not match. A fatal error in
    the block (an abort, such as C++'s ``std::bad_alloc``, or a segmentation fault) ends
    the process before that: Python's traceback of it goes to the terminal
    (:mod:`faulthandler`), not into the capture, so the crash is not silent."""
    sys.stderr.flush()
    saved = os.dup(2)
    told_before = faulthandler.is_enabled()  # python -X faulthandler: to descriptor 2
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        faulthandler.enable(file=saved)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            faulthandler.enable(file=2) if told_before else faulthandler.disable()
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not chatter.search(line):
                    print(line, file=sys.stderr)


def import_tensorflow() -> None:
    """Imports TensorFlow and initializes its devices without its start-up chatter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Python-side INFO and WARNING
    with stderr_without(CHATTER):
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


class _PerModelRetracing(logging.Filter):
    """Drops the retracing warning where it names a function made by code in ``sources``
    (qualified names)."""

    def __init__(self):
        super().__init__()
        self.sources: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message
                    and any(f"{source}.<locals>." in message for source in self.sources))


_PER_MODEL_RETRACING = _PerModelRetracing()
logging.getLogger("tensorflow").addFilter(_PER_MODEL_RETRACING)  # TensorFlow's own logger
# Keras's TensorFlow backend makes a function (``conv.<locals>._conv_xla``) anew for each
# grouped convolution it traces: ResNeXt's blocks read as one function retraced.
_PER_MODEL_RETRACING.sources.add("conv")


def made_per_model(function):
    """Marks ``function`` as making its ``tf.function`` objects anew for each model (each
    traced once per input shape): TensorFlow's retracing warning about them is dropped."""
    _PER_MODEL_RETRACING.sources.add(function.__qualname__)
    return function


def drop_failed_close_noise() -> None:
    """Keeps h5py's reports of the HDF5 objects it could not close after a write failed
    (a full disk: a RuntimeError traceback from ``h5py._objects.ObjectID.__dealloc__``
    per object, over a hundred lines, printed through ``sys.excepthook`` and
    ``sys.unraisablehook``) off the terminal: the one sentence that names the file says
    it. Any other exception still shows."""
    unraisable_shown, exception_shown = sys.unraisablehook, sys.excepthook

    def from_h5py_dealloc(error, trace) -> bool:
        while trace is not None and trace.tb_next is not None:
            trace = trace.tb_next
        return (isinstance(error, RuntimeError) and trace is not None
                and "h5py" in trace.tb_frame.f_code.co_filename
                and trace.tb_frame.f_code.co_name.endswith("__dealloc__"))

    def unraisable_hook(unraisable):
        if not from_h5py_dealloc(unraisable.exc_value, unraisable.exc_traceback):
            unraisable_shown(unraisable)

    def exception_hook(kind, error, trace):
        if not from_h5py_dealloc(error, trace):
            exception_shown(kind, error, trace)

    sys.unraisablehook, sys.excepthook = unraisable_hook, exception_hook


class PlainWarnings(logging.Formatter):
    """absl's log lines as a command line tool writes them (``train.py: warning: ...``),
    without absl's date, thread id and source line, which mean nothing to a user."""

    def __init__(self, program: str):
        super().__init__()
        self.program = program

    def format(self, record: logging.LogRecord) -> str:
        line = f"{self.program}: {record.levelname.lower()}: {record.getMessage()}"
        return f"{line}\n{self.formatException(record.exc_info)}" if record.exc_info else line


def plain_warnings(program: str) -> None:
    """Writes absl's log lines as :class:`PlainWarnings` from here on."""
    from absl import logging as absl_logging

    absl_logging.get_absl_handler().setFormatter(PlainWarnings(program))
