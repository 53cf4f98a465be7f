"""The save and export phases: what a finished run leaves behind to be served.

Training and tuning both end here, so the best model of a search is saved and
exported exactly as a training run's model is.
"""

from __future__ import annotations

import os

import keras

from engine import rundir
from engine.data import Prepared
from engine.serving.export import export
from engine.spec import RunSpec


def publish(model: keras.Model, spec: RunSpec, data: Prepared, run_dir: str,
            chief: bool = True) -> tuple[str, str]:
    """Saves ``model`` as ``run_dir/model.keras`` and exports it as a new version of
    the model base path ``spec.export_dir`` (a multi-worker run's other workers, which
    must take part in saving, export into their own ``run_dir/export``) in
    ``spec.export_formats``; returns the model's path and the version's."""
    model_path = rundir.save_model(model, run_dir)
    version = export(model, data.augmentation, data.preprocessing, data.source.class_names,
                     spec.export_dir if chief else os.path.join(run_dir, rundir.EXPORT_DIR),
                     spec.export_formats)
    return model_path, version
