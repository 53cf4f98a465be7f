"""Test-split evaluation of a trained model: plain, with test-time augmentation, with
Monte Carlo dropout, and of an ensemble.

Used by the final evaluation of a training run and by ``--mode=evaluate``. Every
variant produces class probabilities and labels that the same functions score
(:func:`scores`): the accuracy with its 95% interval, and the loss, the mean
cross-entropy of the predicted probabilities (no regularization terms). With
``DataSpec.num_shards > 1`` each worker evaluates its own shard of the test split.

The accuracy interval is the normal approximation of the lectures' test-set slide
(the central limit theorem): the accuracy ``p`` measured on ``n`` independent test
images is within ``z sqrt(p (1 - p) / n)`` of the true one with probability 95%
(``z = 1.96``), so four times the test set halves the interval. Where the model
makes (almost) no mistakes, ``n (1 - p) < 5`` or so, the approximation is too
optimistic; the interval is clipped to [0, 1].
"""

from __future__ import annotations

import math
import statistics

import keras
import numpy as np
import tensorflow as tf

from engine import quiet
from engine.build import all_layers
from engine.calibration import calibration
from engine.data import Prepared
from engine.data.tta import dense_scale
from layers import fully_connected_head, fully_convolutional, with_dropout_at_test_time
from layers.errors import RunFailure, UsageError

# Probabilities are clipped as Keras clips them in a cross-entropy of probabilities (its
# training loss comes from the logits, uncapped): a wrong image counts at most -ln 1e-7.
EPSILON = 1e-7
CONFIDENCE = 0.95


def evaluate(model: keras.Model, prepared: Prepared, tta: str = "none", *,
             with_calibration: bool = False) -> dict:
    """``test_accuracy``, ``test_accuracy_interval`` and ``test_loss`` on ``prepared``'s
    test split; with ``tta`` (``flip``, ``10crop``, ``dense``) also ``tta_accuracy``,
    ``tta_accuracy_interval`` and ``tta_loss`` from the softmax averaged over the views;
    ``with_calibration`` adds ``calibration`` (:func:`engine.calibration.calibration`)."""
    probabilities, labels = predict(model, prepared.pipelines.test)
    result = {**scores(probabilities, labels, "test_"), **evaluate_tta(model, prepared, tta)}
    if with_calibration:
        result["calibration"] = calibration(probabilities, labels)
    return result


def evaluate_tta(model: keras.Model, prepared: Prepared, tta: str) -> dict:
    """``tta``, ``tta_accuracy``, its interval and ``tta_loss`` on the test split (empty
    for ``none``); ``dense`` adds ``test_scale``, the Q it evaluated at."""
    if tta == "none":
        return {}
    probabilities, labels = predict_test_split(model, prepared, tta)
    return {"tta": tta, **tta_scale(prepared, tta), **scores(probabilities, labels, "tta_")}


def tta_scale(prepared: Prepared, tta: str) -> dict:
    """``{"test_scale": Q}``, the shorter side dense evaluation (``tta="dense"``) runs
    ``prepared``'s test images at; empty for the other ``tta``."""
    if tta != "dense":
        return {}
    return {"test_scale": dense_scale(prepared.augmentation, prepared.spec.test_scale)}


def predict_test_split(model: keras.Model, prepared: Prepared,
                       tta: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels of the test split, with test-time augmentation
    ``tta``; ``dense`` runs the network with its fully connected layers converted to
    convolutions (:func:`layers.fully_convolutional`) on the whole images at scale Q."""
    if tta == "none":
        return predict(model, prepared.pipelines.test)
    if tta == "dense":
        model = fully_convolutional(model)
    return predict(model, prepared.tta_pipeline(tta))


def evaluate_mc_dropout(model: keras.Model, prepared: Prepared, passes: int,
                        seed: int = 0) -> dict:
    """Monte Carlo dropout: the softmax averaged over ``passes`` stochastic passes with
    the dropout layers on (batch normalization stays in inference mode), the masks drawn
    from ``seed``; ``passes``, the scores of :func:`scores` and ``calibration``."""
    keras.utils.set_random_seed(seed)
    probabilities, labels = predict(monte_carlo_dropout(model), prepared.pipelines.test,
                                    passes=passes)
    return {"passes": passes, **scores(probabilities, labels, "test_"),
            "calibration": calibration(probabilities, labels)}


def evaluate_ensemble(member_probabilities, labels: np.ndarray) -> dict:
    """Each member's scores (``members``) and those of the ensemble, whose
    probabilities are the members' averaged (Krizhevsky et al. 2012 average the
    predictions of 7 CNNs), with the ensemble's ``calibration``."""
    mean = np.mean(member_probabilities, axis=0)
    return {"members": [scores(probabilities, labels, "test_")
                        for probabilities in member_probabilities],
            **scores(mean, labels, "test_"), "calibration": calibration(mean, labels)}


def check_evaluation(model: keras.Model, tta: str = "none", test_scale: int | None = None,
                     mc_dropout: int = 0) -> None:
    """Raises :class:`UsageError`, before any data is read, where ``tta`` or
    ``mc_dropout`` passes cannot evaluate ``model``."""
    if tta == "dense":
        fully_connected_head(model)
        native = max(model.inputs[0].shape[1:3])
        if test_scale is not None and test_scale < native:
            raise UsageError(f"--test_scale={test_scale} is smaller than the network's input "
                             f"({native} pixels); dense evaluation needs Q >= {native}.")
    if mc_dropout:
        monte_carlo_dropout(model)


def monte_carlo_dropout(model: keras.Model) -> keras.Model:
    """``model`` with its ``Dropout`` layers applied at test time too
    (:func:`layers.with_dropout_at_test_time`); a model without one of rate above 0 is
    a usage error."""
    if not any(type(layer) is keras.layers.Dropout and layer.rate > 0
               for layer in all_layers(model)):
        raise UsageError(f"--mc_dropout needs Dropout layers, and {model.name!r} has none with "
                         f"a rate above 0; evaluate it without --mc_dropout.")
    return with_dropout_at_test_time(model)


@quiet.made_per_model  # an ensemble's runs, one model after another
def predict(model: keras.Model, batches, passes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels over ``batches`` of ``(images, labels)``; images of
    shape ``[batch, views, H, W, C]`` get the mean probability of their views, and each
    batch the mean of ``passes`` forward passes (for a stochastic model)."""
    # The model called directly, not model.predict: under a multi-worker strategy each
    # worker evaluates the whole split on its own copy of the (synchronized) weights.
    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    outputs, labels = [], []
    for images, batch_labels in batches:
        images = np.asarray(images)
        views = images.shape[1] if images.ndim == 5 else 1
        flat = images.reshape(-1, *images.shape[-3:])
        probabilities = np.mean([
            as_probabilities(model, keras.tree.map_structure(np.asarray, forward(flat)))
            for _ in range(passes)], axis=0)
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


class NonFiniteOutputs(RunFailure):
    """A network whose outputs are NaN or infinite on ``broken`` of ``total`` test
    images, told as the end of its training run; :meth:`of_saved_run` tells it of a
    saved run that an evaluation reads."""

    def __init__(self, broken: int, total: int):
        self.broken, self.total = broken, total
        super().__init__(
            f"The network's outputs are not finite numbers (NaN or infinite) on {broken} of "
            f"the {total} test images, so it has no accuracy (nothing is saved or "
            "exported); train it anew with --overwrite, at a lower --learning_rate or for "
            "more epochs.")

    def of_saved_run(self, directory: str) -> RunFailure:
        return RunFailure(
            f"The network saved in {directory} gives outputs that are not finite numbers (NaN "
            f"or infinite) on {self.broken} of the {self.total} test images, so it has no "
            "accuracy; train that run anew with --overwrite, at a lower --learning_rate.")


def check_finite(probabilities: np.ndarray) -> None:
    """Raises :class:`NonFiniteOutputs` where a row of ``probabilities`` is not finite:
    argmax would read each NaN row as class 0."""
    broken = int(np.count_nonzero(~np.isfinite(probabilities).all(axis=-1)))
    if broken:
        raise NonFiniteOutputs(broken, len(probabilities))


def scores(probabilities: np.ndarray, labels: np.ndarray, prefix: str = "") -> dict:
    """``<prefix>accuracy``, ``<prefix>accuracy_interval`` and ``<prefix>loss``; a
    network whose outputs are not finite fails the run (:func:`check_finite`), which
    would otherwise be saved and exported."""
    check_finite(probabilities)
    value = accuracy(probabilities, labels)
    return {f"{prefix}accuracy": value,
            f"{prefix}accuracy_interval": accuracy_interval(value, len(labels)),
            f"{prefix}loss": cross_entropy(probabilities, labels)}


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(np.mean(-np.log(np.clip(picked, EPSILON, 1 - EPSILON))))


def accuracy_interval(value: float, n: int, confidence: float = CONFIDENCE) -> dict:
    """The ``confidence`` interval of an accuracy ``value`` measured on ``n`` images, by
    the normal approximation: ``value +- z sqrt(value (1 - value) / n)``, clipped to
    [0, 1] (``half_width`` is the unclipped +-)."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    half_width = z * math.sqrt(value * (1 - value) / n) if n else math.inf
    return {"method": "normal approximation", "confidence": confidence, "n": n,
            "half_width": half_width, "low": max(0.0, value - half_width),
            "high": min(1.0, value + half_width)}


def format_accuracy(value: float, interval: dict) -> str:
    """``0.9852 ± 0.0024 (95%, n=10000)``."""
    return (f"{value:.4f} ± {interval['half_width']:.4f} "
            f"({interval['confidence']:.0%}, n={interval['n']})")
