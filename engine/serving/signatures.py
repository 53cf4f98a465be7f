"""The serving signatures: a trained network made a complete classifier.

Three endpoints of one ``keras.export.ExportArchive`` (their names are
:mod:`engine.serving.contract`'s), each returning one flat dict: ``probabilities``
(float32, ``[N, classes]``), ``logits`` (float32, ``[N, classes]``), ``class_ids``
(int32, ``[N]``: the most probable class) and ``class_names`` (string, ``[N]``: its name).

- ``serving_default(images)``: a batch of raw ``uint8`` images ``[N, H, W, C]`` of any
  size (one size per batch), ``C`` the network's channels. The run's evaluation
  geometry (:meth:`Augmentation.store` then :meth:`Augmentation.evaluate`: pad or
  resize, crop) and normalization (:class:`Preprocessing`) run inside, on the whole
  batch: the functions the test pipeline applies, so a served image gets the
  probabilities the run's own evaluation gave it.
- ``serve_bytes(image_bytes)``: a batch of encoded JPEG, PNG, GIF (first frame) or BMP
  images, each decoded to RGB as the ``folder:`` source decodes files, then brought to
  the network's channels and geometry one by one (their sizes differ), normalized
  together.
- ``serve_features(features)``: the network's input ``[N, H, W, C]`` float32, already
  preprocessed, for callers with a pipeline of their own.

The class names are the run's, in a ``labels.txt`` asset read by a lookup table that
the archive tracks, so the SavedModel carries them (and copies them when it is copied).

A signature's declared input shape is not enforced when it is called by name
(``saved.signatures[name](...)``, TF Serving), and the graph takes the declared shape
for the real one; every signature therefore checks its input's shape first
(:func:`check_shape`), so wrong input fails with a message naming it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from engine.data import Augmentation, Preprocessing
from engine.data.folder import decode_bytes, known_formats, name_problem
from engine.evaluate import ends_in_softmax
from engine.serving.contract import (CLASS_IDS, CLASS_NAMES, INPUTS, LOGITS, PROBABILITIES,
                                     SERVE_BYTES, SERVE_FEATURES, SERVING_DEFAULT)

LOGITS_OF = "predictions"  # the recipes' final activation: its input is the logits


def network_input(images: tf.Tensor, augmentation: Augmentation,
                  preprocessing: Preprocessing, arrays: dict | None = None) -> tf.Tensor:
    """Raw images (one image or a batch of one size, any dtype, 0-255) as the network's
    input: the evaluation view of the stored image, normalized (with ``arrays``:
    :meth:`Preprocessing.variables`)."""
    return preprocessing(augmentation.evaluate(augmentation.store(images)), arrays)


def write_labels(class_names, path: str) -> None:
    """``labels.txt``: one class name a line, in label order. The folder source refuses
    such names before any work; this guards the other callers."""
    for name in class_names:
        problem = name_problem(name)
        if problem:
            raise ValueError(f"Class name {name!r} {problem}; labels.txt cannot hold it.")
    with open(path, "w", encoding="utf-8") as file:
        file.write("".join(f"{name}\n" for name in class_names))


def label_table(path: str) -> tf.lookup.StaticHashTable:
    """class id (int64) -> class name, from the ``labels.txt`` at ``path``."""
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            path, key_dtype=tf.int64, key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            value_dtype=tf.string, value_index=tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value="")


class Classifier:
    """``model``'s network input -> ``probabilities``, ``logits`` and ``class_ids``
    (float32, float32, int32): the outputs every exported format shares."""

    def __init__(self, model: keras.Model):
        # The logits are the input of the recipes' final activation, ``predictions``.
        self.heads = keras.Model(model.inputs,
                                 [model.get_layer(LOGITS_OF).input, model.outputs[0]],
                                 name=f"{model.name}_heads")
        self.softmax = ends_in_softmax(model)
        self.classes = model.outputs[0].shape[-1]

    def __call__(self, features: tf.Tensor) -> dict:
        logits, outputs = self.heads(features, training=False)
        logits = tf.cast(logits, tf.float32)
        probabilities = tf.cast(outputs, tf.float32) if self.softmax else tf.nn.softmax(logits)
        return {PROBABILITIES: probabilities, LOGITS: logits,
                CLASS_IDS: tf.argmax(probabilities, axis=-1, output_type=tf.int32)}


def no_outputs(classes: int) -> dict:
    """:class:`Classifier`'s outputs for an empty batch."""
    return {PROBABILITIES: tf.zeros([0, classes]), LOGITS: tf.zeros([0, classes]),
            CLASS_IDS: tf.zeros([0], tf.int32)}


def classifier_archive(model: keras.Model, augmentation: Augmentation,
                       preprocessing: Preprocessing,
                       labels_path: str) -> keras.export.ExportArchive:
    """The three signatures of ``model`` trained on images that ``augmentation`` (its
    evaluation view) and ``preprocessing`` prepared, named by ``labels_path``."""
    height, width, channels = preprocessing.input_shape
    classifier = Classifier(model)
    table = label_table(labels_path)
    archive = keras.export.ExportArchive()
    archive.track(classifier.heads)
    archive.track(table)
    arrays = preprocessing.variables()  # stored once, not in each signature's graph
    for variable in arrays.values():
        archive.track(variable)

    def classify(features):
        # oneDNN's convolutions (TensorFlow's CPU kernels on AVX-512 machines) fail on an
        # empty batch ("input depth must be evenly divisible by filter depth"): one skips
        # the network.
        outputs = tf.cond(tf.shape(features)[0] > 0, lambda: classifier(features),
                          lambda: no_outputs(classifier.classes))
        return {**outputs, CLASS_NAMES: table.lookup(tf.cast(outputs[CLASS_IDS], tf.int64))}

    def serve_images(images):
        with tf.control_dependencies([check_shape(images, SERVING_DEFAULT,
                                                  ("batch", "height", "width", channels))]):
            return classify(network_input(images, augmentation, preprocessing, arrays))

    def view(contents):
        with tf.name_scope(INPUTS[SERVE_BYTES]):  # decoding errors name the node
            image = decode_bytes(contents)
        return augmentation.evaluate(augmentation.store(image))

    def serve_bytes(image_bytes):
        # The formats check runs after the shape check: on a rank-2 input it fails unnamed.
        with tf.control_dependencies([check_shape(image_bytes, SERVE_BYTES, ("batch",))]):
            formats = check_formats(image_bytes)
        with tf.control_dependencies([formats]):
            views = tf.map_fn(view, image_bytes, fn_output_signature=tf.TensorSpec(
                [height, width, channels], tf.float32))
        return classify(preprocessing(views, arrays))

    def serve_features(features):
        with tf.control_dependencies([check_shape(features, SERVE_FEATURES,
                                                  ("batch", height, width, channels))]):
            return classify(features)

    archive.add_endpoint(SERVING_DEFAULT, serve_images, [tf.TensorSpec(
        [None, None, None, channels], tf.uint8, name=INPUTS[SERVING_DEFAULT])])
    archive.add_endpoint(SERVE_BYTES, serve_bytes, [tf.TensorSpec(
        [None], tf.string, name=INPUTS[SERVE_BYTES])])
    archive.add_endpoint(SERVE_FEATURES, serve_features, [tf.TensorSpec(
        [None, height, width, channels], tf.float32, name=INPUTS[SERVE_FEATURES])])
    return archive


def check_formats(image_bytes: tf.Tensor) -> tf.Operation:
    """An assertion that every item of ``image_bytes`` starts as a JPEG, PNG, GIF or BMP
    file does (the folder source's check); its message names the input and the indices
    of those that do not."""
    known = known_formats(image_bytes)
    return tf.debugging.Assert(
        tf.reduce_all(known),
        [(f"{SERVE_BYTES}: these items of `{INPUTS[SERVE_BYTES]}` are not JPEG, PNG, GIF or "
          "BMP images (their indices):"), tf.where(tf.logical_not(known))[:, 0]])


def check_shape(tensor: tf.Tensor, signature: str, dimensions) -> tf.Operation:
    """An assertion that ``tensor``, the input of ``signature``, has the shape
    ``dimensions`` (per dimension its size, or a name for any size); its message names
    the signature, the input and that shape, and gives the shape it got. A named size
    other than ``batch`` (an image's height or width) must be at least 1.

    The shape is matched as text (``"8,32,32,1"`` against ``"\\d+,32,32,1"``): the
    graph takes the declared rank for the real one, so TensorFlow folds a check of
    the rank (``tf.rank``, ``tf.size`` of the shape) to a constant that passes; the
    text is made of the sizes the tensor has when the signature runs."""
    shape = tf.shape(tensor)
    pattern = ",".join(str(size) if isinstance(size, int) else r"\d+" if size == "batch"
                       else r"[1-9]\d*" for size in dimensions)
    sizes = tf.strings.reduce_join(tf.strings.as_string(shape), separator=",")
    return tf.debugging.Assert(
        tf.strings.regex_full_match(sizes, pattern),
        [(f"{signature}: `{INPUTS[signature]}` must be {tensor.dtype.name} "
          f"[{', '.join(str(size) for size in dimensions)}]; got shape"), shape],
        summarize=-1)
