"""Test-split evaluation of a trained model: plain, and with test-time augmentation.

Used by the final evaluation of a training run and by ``--mode=evaluate``. The loss
is the mean cross-entropy of the predicted probabilities (no regularization terms).
With ``DataSpec.num_shards > 1`` each worker evaluates its own shard of the test split.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from engine.data import Prepared

EPSILON = 1e-7  # probabilities are clipped as Keras's cross-entropy clips them


def evaluate(model: keras.Model, prepared: Prepared, tta: str = "none") -> dict:
    """``test_accuracy`` and ``test_loss`` on ``prepared``'s test split; with ``tta``
    (``flip`` or ``10crop``) also ``tta_accuracy`` and ``tta_loss`` from the softmax
    averaged over the views."""
    probabilities, labels = predict(model, prepared.pipelines.test)
    return {"test_accuracy": accuracy(probabilities, labels),
            "test_loss": cross_entropy(probabilities, labels),
            **evaluate_tta(model, prepared, tta)}


def evaluate_tta(model: keras.Model, prepared: Prepared, tta: str) -> dict:
    """``tta``, ``tta_accuracy`` and ``tta_loss`` on the test split (empty for ``none``)."""
    if tta == "none":
        return {}
    probabilities, labels = predict(model, prepared.tta_pipeline(tta))
    return {"tta": tta, "tta_accuracy": accuracy(probabilities, labels),
            "tta_loss": cross_entropy(probabilities, labels)}


def predict(model: keras.Model, batches) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels over ``batches`` of ``(images, labels)``; images of
    shape ``[batch, views, H, W, C]`` get the mean probability of their views."""
    # The model called directly, not model.predict: under a multi-worker strategy each
    # worker evaluates the whole split on its own copy of the (synchronized) weights.
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    outputs, labels = [], []
    for images, batch_labels in batches:
        images = np.asarray(images)
        views = images.shape[1] if images.ndim == 5 else 1
        flat = images.reshape(-1, *images.shape[-3:])
        probabilities = as_probabilities(model, keras.tree.map_structure(np.asarray, forward(flat)))
        outputs.append(probabilities.reshape(len(images), views, -1).mean(axis=1))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(outputs), np.concatenate(labels)


def as_probabilities(model: keras.Model, outputs) -> np.ndarray:
    """The main head's outputs as probabilities: softmax applied unless the model's
    final layer already is one (recipes built with ``classifier_activation=None``)."""
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    outputs = np.asarray(outputs, np.float64)
    if ends_in_softmax(model):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def ends_in_softmax(model: keras.Model) -> bool:
    """Whether ``model``'s final layer is a softmax (else it returns logits)."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(np.mean(-np.log(np.clip(picked, EPSILON, 1 - EPSILON))))
