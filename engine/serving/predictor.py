"""A classifier exported by :mod:`engine.serving`, read back with TensorFlow alone (no
recipe code, no run directory): what ``--mode=predict`` uses."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from engine import command
from engine.serving import layout
from engine.serving.contract import INPUTS, LABELS_FILE, PROBABILITIES, SERVE_BYTES
from layers.errors import UsageError

# What tf.saved_model.load raises on a damaged SavedModel: a saved_model.pb that does not
# parse (OSError), missing or truncated variables (FileNotFoundError, IndexError), ...
LOAD_ERRORS = (OSError, LookupError, ValueError, tf.errors.OpError)


class SavedClassifier:
    """The SavedModel in ``path``: a version folder, or a model base path (its highest
    version). :meth:`classify` runs its ``serve_bytes`` signature. A folder that is not
    such an export (no ``labels.txt``, no ``serve_bytes``: another program's SavedModel)
    or a damaged one is a usage error naming it."""

    def __init__(self, path: str):
        self.directory = layout.saved_model_dir(path)
        labels = os.path.join(self.directory, "assets", LABELS_FILE)
        again = f"export the run again ({command.invocation()} --mode=export --model_dir=RUN)"
        if not os.path.isfile(labels):
            raise UsageError(f"{self.directory} is no classifier export: it lacks "
                             f"assets/{LABELS_FILE}; pass a version that --mode=export wrote, "
                             f"or {again}.")
        try:
            self.saved_model = tf.saved_model.load(self.directory)  # owns the variables
        except LOAD_ERRORS as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise UsageError(f"{self.directory} is damaged ({reason}); {again}.") from None
        if SERVE_BYTES not in self.saved_model.signatures:
            raise UsageError(f"{self.directory} is no classifier export: it has no "
                             f"{SERVE_BYTES} signature (it has "
                             f"{', '.join(sorted(self.saved_model.signatures)) or 'none'}); "
                             f"pass a version that --mode=export wrote, or {again}.")
        self.serve_bytes = self.saved_model.signatures[SERVE_BYTES]
        try:
            with open(labels, encoding="utf-8") as file:  # "\r\n" read as "\n", as the table
                # Split at "\n" alone, as the SavedModel's lookup table does: str.splitlines
                # would also split a name at \f, \v, \x1c-\x1e, \x85, \u2028 or \u2029 and
                # shift every later class's name. write_labels ends every name with "\n";
                # a file edited by hand may not end the last one.
                names = file.read().split("\n")
        except UnicodeDecodeError:
            raise UsageError(f"{labels} is not UTF-8 text; save it as UTF-8, or {again}.") \
                from None
        self.class_names = tuple(names[:-1] if names[-1] == "" else names)
        classes = self.serve_bytes.structured_outputs[PROBABILITIES].shape[-1]
        if len(self.class_names) != classes:
            raise UsageError(f"{labels} names {len(self.class_names)} classes, but the model "
                             f"has {classes}; give it one name a line, in class-id order, or "
                             f"{again}.")

    def classify(self, contents: list[bytes]) -> np.ndarray:
        """The class probabilities ``[len(contents), classes]`` of encoded images; raises
        ``tf.errors.InvalidArgumentError`` if one of them is not a decodable image."""
        outputs = self.serve_bytes(**{INPUTS[SERVE_BYTES]: tf.constant(contents, tf.string)})
        return outputs[PROBABILITIES].numpy()

    def top_k(self, probabilities: np.ndarray, k: int) -> list[tuple[int, str, float]]:
        """The ``k`` most probable ``(class id, class name, probability)`` of one image,
        most probable first."""
        ids = np.argsort(-probabilities, kind="stable")[:k]
        return [(int(i), self.class_names[i], float(probabilities[i])) for i in ids]
