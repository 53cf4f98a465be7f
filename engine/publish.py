"""The save and export phases: what a finished run leaves behind to be served.

Training and tuning both end here, so the best model of a search is saved and
exported exactly as a training run's model is.
"""

from __future__ import annotations

import hashlib
import os

import keras

from engine import rundir
from engine.data import Prepared
from engine.serving.export import export
from engine.serving.layout import SAVED_MODEL_FILE
from engine.spec import RunSpec
from layers.errors import UsageError


def publish(model: keras.Model, spec: RunSpec, data: Prepared, run_dir: str,
            chief: bool = True) -> tuple[str, str]:
    """Saves ``model`` as ``run_dir/model.keras`` and exports it as a new version of
    the model base path ``spec.export_dir`` (a multi-worker run's other workers, which
    must take part in saving, export into their own ``run_dir/export``) in
    ``spec.export_formats``; returns the model's path and the version's.

    A run interrupted after its export and before its report (and
    :func:`engine.rundir.tidy_finished`) ends again here with the same weights: the
    version it exported then is kept, not exported a second time under the next number."""
    model_path = rundir.save_model(model, run_dir)
    base_path = os.path.abspath(spec.export_dir if chief
                                else os.path.join(run_dir, rundir.EXPORT_DIR))
    record = {"base_path": base_path, "formats": sorted(spec.export_formats),
              "weights_sha256": weights_digest(model)}
    marker = os.path.join(run_dir, rundir.PUBLISHED_FILE)
    version = exported_before(marker, record)
    if version is None:
        version = export(model, data.augmentation, data.preprocessing,
                         data.source.class_names, base_path, spec.export_formats)
        rundir.write_json(marker, {**record, "version": version})
    return model_path, version


def exported_before(marker: str, record: dict) -> str | None:
    """The version that the export recorded in ``marker`` wrote, if it exported the
    weights, to the base path and in the formats, that ``record`` names, and the
    version is still there; else None."""
    try:
        previous = rundir.read_json(marker)
    except (OSError, UsageError):  # none, or not a JSON object
        return None
    version = previous.get("version")
    if (any(previous.get(key) != value for key, value in record.items())
            or not isinstance(version, str)
            or not os.path.isfile(os.path.join(version, SAVED_MODEL_FILE))):
        return None
    return version


def weights_digest(model: keras.Model) -> str:
    """A SHA-256 of every weight of ``model`` (its non-trainable statistics included),
    in order."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(keras.ops.convert_to_numpy(weight.value).tobytes())
    return digest.hexdigest()
