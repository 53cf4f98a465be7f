"""SavedModel export of a trained Keras model."""

from __future__ import annotations

import os
import shutil

import keras


def export_saved_model(model: keras.Model, export_dir: str) -> str:
    """Writes ``model`` as a SavedModel (Keras 3 ``model.export``) to ``export_dir``.

    The export goes to a sibling temporary directory first and is renamed into
    place, so an interrupted export never leaves a half-written SavedModel.
    """
    export_dir = os.path.abspath(export_dir)
    staging = export_dir + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    model.export(staging, format="tf_saved_model", verbose=False)
    shutil.rmtree(export_dir, ignore_errors=True)
    os.replace(staging, export_dir)
    return export_dir
