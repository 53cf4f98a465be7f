"""``model.tflite``: the classifier for the TFLite interpreter, built from TFLite's
builtin ops only.

Its one signature, ``serving_default``, takes ``images``: ``uint8`` ``[1, H, W, C]``
(``H, W, C`` the network's input; the batch can be resized) and returns
``probabilities``, ``logits`` and ``class_ids``, like the SavedModel's signatures;
the class names are the SavedModel's ``assets/labels.txt`` beside it. The run's
normalization is inside; its geometry (pad or resize, crop to ``H x W``) is not:
the antialiased resize of the SavedModel has no TFLite builtin (``ScaleAndTranslate``),
and the pip interpreter has no Flex delegate to run it (TF 2.20 onwards). The caller
brings images to ``H x W`` as the run's evaluation view does. A mixed-precision model
is converted computing in float32 (:func:`float32_copy`).
"""

from __future__ import annotations

import tempfile

import keras
import tensorflow as tf

from engine.choices import PRECISIONS
from engine.data import Preprocessing
from engine.serving.contract import INPUTS, SERVING_DEFAULT
from engine.serving.signatures import Classifier

MIXED = tuple(precision for precision in PRECISIONS if precision != "float32")
IMAGES = INPUTS[SERVING_DEFAULT]  # uint8 images at the network's input size


def convert(model: keras.Model, preprocessing: Preprocessing) -> bytes:
    """The TFLite flatbuffer of ``model`` with ``preprocessing``'s normalization in front.

    Converted from a SavedModel of that one signature (Keras's own TFLite path), which
    holds the weights as constants: converted from a ``tf.function`` they would stay
    variables the interpreter never initializes.
    """
    classifier = Classifier(float32_copy(model))

    def classify(images):
        return classifier(preprocessing(tf.cast(images, tf.float32)))

    archive = keras.export.ExportArchive()
    archive.track(classifier.heads)
    archive.add_endpoint(SERVING_DEFAULT, classify, [
        tf.TensorSpec([None, *preprocessing.input_shape], tf.uint8, name=IMAGES)])
    with tempfile.TemporaryDirectory() as directory:
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, [SERVING_DEFAULT])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def float32_copy(model: keras.Model) -> keras.Model:
    """``model`` computing in float32 throughout: TFLite's builtin kernels take no float16
    or bfloat16. A mixed-precision model keeps its variables in float32, so the copy has
    exactly its weights; a float32 model is returned as it is."""
    config = keras.saving.serialize_keras_object(model)
    float32 = _float32_policies(config)
    if float32 == config:
        return model
    float32.pop("compile_config", None)
    copy = keras.saving.deserialize_keras_object(float32, safe_mode=True)
    copy.set_weights(model.get_weights())
    return copy


def _float32_policies(config):
    """``config`` (a serialized Keras object) with every mixed dtype policy made float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and config["config"]["name"] in MIXED:
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


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
    return signature(**{IMAGES: images})
