"""The export phase: a new version of the classifier in a TF Serving model base path.

``<base>/<version>/``: the SavedModel with the signatures of
:mod:`engine.serving.signatures` (its ``assets/labels.txt`` the class names) and,
with ``tflite`` among the formats, ``model.tflite`` (:mod:`engine.serving.tflite`).
"""

from __future__ import annotations

import os
import tempfile

import keras

from engine.data import Augmentation, Preprocessing
from engine.serving import layout
from engine.serving.contract import LABELS_FILE, TFLITE_FILE
from engine.serving.signatures import classifier_archive, write_labels


def export(model: keras.Model, augmentation: Augmentation, preprocessing: Preprocessing,
           class_names, base_path: str, formats=("saved_model",)) -> str:
    """Writes ``model`` (trained on images that ``augmentation``'s evaluation view and
    ``preprocessing`` prepared, its classes named ``class_names``) as a new version of
    the model base path ``base_path`` in ``formats``; returns the version's path."""
    base_path = os.path.abspath(base_path)

    def write(directory: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            labels = os.path.join(scratch, LABELS_FILE)
            write_labels(class_names, labels)
            archive = classifier_archive(model, augmentation, preprocessing, labels)
            archive.write_out(directory, verbose=False)
        if "tflite" in formats:
            from engine.serving.tflite import convert

            with open(os.path.join(directory, TFLITE_FILE), "wb") as file:
                file.write(convert(model, preprocessing))

    return layout.write_version(base_path, write)
