"""Fixtures of the engine tests: short training runs on the embedded digits, the
command line's arguments for a mode, TensorFlow's warnings."""

from __future__ import annotations

import logging
import types

import pytest


def arguments(**given) -> types.SimpleNamespace:
    """The namespace :func:`engine.cli.arguments` gives for a command line that sets
    ``given`` (flag name -> value) and leaves every other flag at its default."""
    from absl import flags

    from engine import cli

    values = {name: flags.FLAGS[name].default for name in cli._NAMES}
    unknown = set(given) - set(values)
    assert not unknown, f"no such flags: {unknown}"
    return types.SimpleNamespace(**{**values, **given}, given=frozenset(given))


@pytest.fixture(scope="session")
def mode_args():
    """``mode_args(**given)``: the arguments of a command line setting ``given``."""
    return arguments


@pytest.fixture(scope="session")
def train_digits():
    """``train_digits(model_dir, recipe="lenet5_modern", epochs=2, **flags)`` trains a
    run on the embedded digits (deterministic input order) and returns its directory."""
    from engine import modes

    def train(model_dir, recipe="lenet5_modern", epochs=2, **flags):
        modes.run("train", arguments(recipe=recipe, epochs=epochs, model_dir=str(model_dir),
                                     deterministic=True, **flags))
        return model_dir

    return train


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)`` makes :func:`engine.rundir.check_writable`'s probe of
    ``folder`` fail as in a folder this user cannot write into (the tests run as root,
    whom permission bits do not stop)."""
    import tempfile

    make_folder, refused = tempfile.mkdtemp, set()

    def mkdtemp(*args, dir=None, **kwargs):
        if dir in refused:
            raise PermissionError(13, "Permission denied", dir)
        return make_folder(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    return lambda folder: refused.add(str(folder))


@pytest.fixture
def tensorflow_warnings(monkeypatch):
    """The messages TensorFlow's logger lets through, counted by a fresh retracing
    detector (each stops warning for good after two warnings in a process)."""
    import tensorflow as tf
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    monkeypatch.setattr(polymorphic_function, "_frequent_tracing_detector_manager",
                        polymorphic_function._FrequentTracingDetectorManager())
    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Keep()
    tf.get_logger().addHandler(handler)
    yield messages
    tf.get_logger().removeHandler(handler)
