"""The save and export phases: what a finished run leaves behind to be served.

Training and tuning both end here, so the best model of a search is saved and
exported exactly as a training run's model is.
"""

from __future__ import annotations

import os

import keras

from engine import rundir
from engine.data import Prepared
from engine.export import export_saved_model
from engine.spec import RunSpec


def publish(model: keras.Model, spec: RunSpec, data: Prepared, run_dir: str,
            chief: bool = True) -> tuple[str, str]:
    """Saves ``model`` as ``run_dir/model.keras`` and exports it as a SavedModel to
    ``spec.export_dir`` (a multi-worker run's other workers, which must take part in
    saving, export into their own ``run_dir``); returns both paths."""
    model_path = rundir.save_model(model, run_dir)
    export_dir = export_saved_model(model, spec.export_dir if chief
                                    else os.path.join(run_dir, "export"))
    return model_path, export_dir
