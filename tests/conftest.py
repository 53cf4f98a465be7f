"""Shared fixtures: the round trip every custom layer and model must survive, train.py's
command line run in this process, the prepared TFDS data, each test's models freed."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import pathlib
import struct
import subprocess

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Keras (TensorFlow with it) and the project's modules, imported once for every test.
import keras

import engine.data
import engine.modes  # noqa: F401
import recipes  # noqa: F401

# Everything imported so far lives as long as the process: the garbage collector need
# not walk it again after every test (a full collection over TensorFlow's and Keras's
# objects costs about 0.4 s; after the freeze, only what the tests made is walked).
gc.freeze()

SHARED_TFDS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "tfds"
SHARED_DATASETS = ("mnist", "cifar10")  # the prepared datasets the tests read


def assert_round_trips(model: keras.Model, inputs, directory: pathlib.Path, atol: float = 1e-6):
    """Saves ``model`` as .keras (reloaded with safe_mode=True) and as a SavedModel.

    Both reloaded versions must give the same outputs as ``model`` on ``inputs``.
    """
    import tensorflow as tf

    expected = keras.ops.convert_to_numpy(model(inputs, training=False))
    keras_path = directory / "model.keras"
    model.save(keras_path)
    reloaded = keras.saving.load_model(keras_path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(inputs, training=False)), expected, atol=atol)
    export_dir = directory / "export"
    model.export(str(export_dir), verbose=False)
    exported = tf.saved_model.load(str(export_dir))  # keep a reference: it owns the variables
    served = exported.serve(tf.constant(inputs))
    np.testing.assert_allclose(np.asarray(served), expected, atol=atol)


@pytest.fixture
def round_trip(tmp_path):
    """``round_trip(model, inputs)`` asserts the .keras and SavedModel round trips."""
    return lambda model, inputs, atol=1e-6: assert_round_trips(model, inputs, tmp_path, atol)


@pytest.fixture
def shared_tfds():
    """The prepared TFDS data dir in ../shared/tfds; skips where it, or one of the datasets
    the tests read from it (mnist, cifar10), is missing."""
    missing = [name for name in SHARED_DATASETS if not (SHARED_TFDS / name).is_dir()]
    if missing:
        pytest.skip(f"prepared TFDS data ({', '.join(missing)}) not found in {SHARED_TFDS} "
                    "(see shared/README.md)")
    return SHARED_TFDS


@pytest.fixture
def rle8_bmp() -> bytes:
    """A 4x4 grey BMP compressed as RLE8 (rows of 80, 70, 60 and 50, PIL's reading) and
    padded to the uncompressed size, which TensorFlow's decoder reads as noise."""
    palette = b"".join(bytes((level, level, level, 0)) for level in range(256))
    rows = b"".join(bytes([4, 50 + 10 * row, 0, 0]) for row in range(4))  # bottom row first
    pixels = (rows[:-2] + b"\0\1").ljust(16, b"\0")  # end of bitmap, then padding
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, 4, 4, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return header + info + palette + pixels


@pytest.fixture
def os2_bmp() -> bytes:
    """A 4x4 24-bit BMP of one colour, (200, 30, 10), with OS/2's 12-byte header and its
    2-byte width and height (PIL reads it), which TensorFlow's decoder does not read."""
    pixels = bytes((10, 30, 200)) * 16  # BGR rows of 12 bytes, a multiple of 4
    offset = 14 + 12
    header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return header + struct.pack("<IHHHH", 12, 4, 4, 1, 24) + pixels


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory):
    """The suite's (and its commands') remembered folder checks in a folder of its own,
    not the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(autouse=True)
def free_models():
    """Each test's models and Keras state are freed when it ends, so the suite's memory
    stays that of its largest test, not the sum of them."""
    yield
    keras.backend.clear_session(free_memory=False)  # Keras's global state, no collection
    gc.collect()


def run_train_here(*arguments: str, env: dict | None = None,
                   cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    """``python train.py ARGUMENTS`` run in this process: train.py's own parsing
    (:func:`train.parse`) and ``main``, its exit code and what it printed, as
    ``subprocess.run(..., capture_output=True, text=True)`` returns them.

    The command line's code paths without a new interpreter's TensorFlow import (about
    10 s); the tests that need a real process (signals, start-up output, imports) start
    one. ``env`` is set for the call only; the flags are reset before and after.
    """
    from absl import flags

    import train

    stdout, stderr = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.update(env or {})
    flags.FLAGS.unparse_flags()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            train.main(train.parse(["train.py", *arguments]))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        flags.FLAGS.unparse_flags()
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["train.py", *arguments], code, stdout.getvalue(),
                                       stderr.getvalue())


@pytest.fixture(scope="session")
def train_here():
    """``train_here(*arguments, env=None, cwd=None)``: see :func:`run_train_here`."""
    return run_train_here
