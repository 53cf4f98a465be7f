"""``model.tflite``: the classifier for the TFLite interpreter, built from TFLite's
builtin ops only.

Its one signature, ``serving_default``, takes ``images``: ``uint8`` ``[1, H, W, C]``
(``H, W, C`` the network's input; the batch can be resized) and returns
``probabilities``, ``logits`` and ``class_ids``, like the SavedModel's signatures;
the class names are the SavedModel's ``assets/labels.txt`` beside it. The run's
normalization is inside; its geometry (pad or resize, crop to ``H x W``) is not:
the antialiased resize of the SavedModel has no TFLite builtin (``ScaleAndTranslate``),
and the pip interpreter has no Flex delegate to run it (TF 2.20 onwards). The caller
brings images to ``H x W`` as the run's evaluation view does.
"""

from __future__ import annotations

import tempfile

import keras
import tensorflow as tf

from engine.data import Preprocessing
from engine.serving.contract import SERVING_DEFAULT
from engine.serving.signatures import Classifier


def convert(model: keras.Model, preprocessing: Preprocessing) -> bytes:
    """The TFLite flatbuffer of ``model`` with ``preprocessing``'s normalization in front.

    Converted from a SavedModel of that one signature (Keras's own TFLite path), which
    holds the weights as constants: converted from a ``tf.function`` they would stay
    variables the interpreter never initializes.
    """
    classifier = Classifier(model)

    def classify(images):
        return classifier(preprocessing(tf.cast(images, tf.float32)))

    archive = keras.export.ExportArchive()
    archive.track(classifier.heads)
    archive.add_endpoint(SERVING_DEFAULT, classify, [
        tf.TensorSpec([None, *preprocessing.input_shape], tf.uint8, name="images")])
    with tempfile.TemporaryDirectory() as directory:
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, [SERVING_DEFAULT])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def interpreter(path: str):
    """A TFLite interpreter of the model at ``path``, allocated: LiteRT's
    (``ai-edge-litert``) where it is installed, else TensorFlow's ``tf.lite``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    runner = Interpreter(model_path=path)
    runner.allocate_tensors()
    return runner


def classify(path: str, images) -> dict:
    """The outputs of the TFLite model at ``path`` on ``images`` (uint8 ``[N, H, W, C]``)."""
    runner = interpreter(path)
    signature = runner.get_signature_runner(SERVING_DEFAULT)
    return signature(images=images)
