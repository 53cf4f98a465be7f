"""TensorBoard's HParams view of a search: ``tensorboard --logdir <model_dir>`` shows
every trial's hyperparameters beside its scores.

The search writes the experiment (each hyperparameter's domain, the metrics to show)
once into the project folder; each execution of a trial writes its session (the
trial's values, grouped by trial) into the folder where Keras's ``TensorBoard``
callback writes its ``train`` and ``validation`` scalars, which the metrics name.
"""

from __future__ import annotations

from typing import Any, Mapping

import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from recipes.space import Boolean, Choice, Float, Int, SearchSpace

# (tag Keras's TensorBoard callback writes, its folder, the name the view shows)
METRICS = (("epoch_accuracy", "validation", "val_accuracy"),
           ("epoch_loss", "validation", "val_loss"),
           ("epoch_accuracy", "train", "accuracy"),
           ("epoch_loss", "train", "loss"))


def write_experiment(logdir: str, space: SearchSpace,
                     fixed: Mapping[str, Any] | None = None) -> None:
    """Writes the experiment summary of a search of ``space`` into ``logdir``."""
    fixed = fixed or {}
    hparams = [hparams_api.HParam(name, hparams_api.Discrete([fixed[name]]) if name in fixed
                                  else domain(entry))
               for name, entry in space.entries.items()]
    metrics = [hparams_api.Metric(tag, group=group, display_name=name)
               for tag, group, name in METRICS]
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hparams_api.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()


def domain(entry):
    """The TensorBoard domain of a range of :mod:`recipes.space`."""
    if isinstance(entry, Choice):
        return hparams_api.Discrete(list(entry.values))
    if isinstance(entry, Boolean):
        return hparams_api.Discrete([False, True])
    if isinstance(entry, Int):
        return hparams_api.IntInterval(entry.min_value, entry.max_value)
    if isinstance(entry, Float):
        return hparams_api.RealInterval(float(entry.min_value), float(entry.max_value))
    raise TypeError(f"No TensorBoard domain for {entry!r}.")


def session_callback(logdir: str, values: Mapping[str, Any],
                     trial_id: str) -> hparams_api.KerasCallback:
    """The Keras callback that records one execution of trial ``trial_id`` with
    ``values`` in ``logdir`` (TensorBoard groups a trial's executions)."""
    return hparams_api.KerasCallback(logdir, dict(values), trial_id=f"trial_{trial_id}")
