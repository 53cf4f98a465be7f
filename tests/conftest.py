"""Shared fixtures: the round trip every custom layer and model must survive."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

SHARED_TFDS = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "tfds"


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
    """The prepared TFDS data dir in ../shared/tfds; skips where it is missing."""
    if not SHARED_TFDS.is_dir():
        pytest.skip(f"prepared TFDS data not found at {SHARED_TFDS} (see shared/README.md)")
    return SHARED_TFDS


@pytest.fixture(autouse=True)
def free_models():
    """Each test's models and Keras state are freed when it ends, so the suite's memory
    stays that of its largest test, not the sum of them."""
    yield
    import gc

    keras.backend.clear_session()
    gc.collect()
