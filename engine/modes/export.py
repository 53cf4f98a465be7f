"""``--mode=export``: a new version of a finished run's classifier, from its files
alone (``run.json``, ``preprocessing.json``, ``model.keras``), without retraining:
the same export a training run ends with (:func:`engine.serving.export.export`)."""

from __future__ import annotations

import os

from engine import rundir
from engine.data import make_augmentation
from engine.serving import layout
from engine.serving.contract import TFLITE_FILE
from engine.serving.export import export
from engine.modes import saved_run
from engine.spec import absolute, check_outside_images, training_config


def run(args) -> None:
    saved = saved_run(args)
    base_path = absolute(args.export_dir) or os.path.join(saved.directory, rundir.EXPORT_DIR)
    check_outside_images("export_dir", base_path, saved.record["dataset"])
    layout.check_base_path(base_path)
    version = export_run(saved, base_path, args.export_format)
    tflite = f" (SavedModel and {TFLITE_FILE})" if "tflite" in args.export_format else ""
    print(f"{saved.record['recipe']} on {saved.record['dataset']}: exported to {version}{tflite}")


def export_run(saved: rundir.SavedRun, base_path: str, formats=("saved_model",)) -> str:
    """Exports the run ``saved`` as a new version of ``base_path`` in ``formats``, with
    the evaluation view and normalization it trained with; returns the version's path."""
    preprocessing = saved.preprocessing()
    augmentation = make_augmentation(training_config(saved.record).augmentation,
                                     preprocessing.input_shape)
    return export(saved.load_model(), augmentation, preprocessing, saved.class_names,
                  base_path, formats)
