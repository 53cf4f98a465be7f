"""The private Keras, TensorFlow and keras-tuner API the engine cannot do without, in one place.

Neither has a public way to do these things; each function below wraps one
private name, and ``tests/engine/test_private_api.py`` fails loudly when an
upgrade changes it.

* ``BackupAndRestore`` tells ``fit`` which epoch to resume from by setting
  ``model._initial_epoch`` in ``on_train_begin`` (Keras's own trainers read it
  and never reset it).
* An optimizer's ``update_step`` receives backend variables, which match the
  model's variables only through the optimizer's ``_var_key``, and an optimizer
  variable made per model variable (a slot) is found only by the private
  ``_get_variable_index``.
* TensorFlow can turn op determinism on (``tf.config.experimental.enable_op_determinism``)
  but has no public way to turn it off again, which a process that runs a
  deterministic run and then another needs.
* A ``train_step`` written anew (one that needs more from the backward pass than
  the weights' gradients) reports its loss in the logs only through the tracker
  Keras's own ``train_step`` updates, ``model._loss_tracker``.
* Keras applies an optimizer's decoupled weight decay (AdamW's) in the private
  ``_apply_weight_decay``, before ``update_step`` and at the full learning rate, reading
  the optimizer's ``weight_decay`` as it runs; a rate that differs per variable
  (fine-tuning's slower pretrained layers) reaches it only through that method.
* keras-tuner saves its state (``oracle.json``, each ``trial.json``, ``tuner0.json``)
  through one function, ``keras_tuner.src.utils.save_json``, which truncates the file
  and then writes it: a process killed in between leaves a file that no later run
  can read. It has no public way to write them otherwise.
* keras-tuner prints the traceback of every failed trial while its module flag
  ``keras_tuner.src.config.DEBUG`` is on, as it is by default, with no public way to
  turn it off; the trial's message keeps the traceback.
* keras-tuner checkpoints a trial's best epoch with its ``SaveBestEpoch`` callback
  (``keras_tuner.src.engine.tuner_utils``), made anew for each run of the trial with
  no best value: a trial resumed after an interruption would overwrite the checkpoint
  of a better epoch before it. Its best value, ``best_value``, has no public setter.
* The same callback writes the checkpoint in place (``model.save_weights`` into the
  file, in its private ``_save_model``): a process killed during the write leaves a
  truncated checkpoint that the best model's reload or a Hyperband continuation cannot
  read. Its file path, ``filepath``, has no public setter either.
* keras-tuner's oracles draw each trial's values in the private ``_random_values`` and
  keep the values of the trials so far in ``_tried_so_far``: a search whose first trial
  is given (the paper's configuration) replaces the first draw there.
"""

from __future__ import annotations

import contextlib
import os

import keras


def restored_epoch(model: keras.Model) -> int | None:
    """The epoch ``BackupAndRestore`` restored ``model`` to, or None if it restored none."""
    return getattr(model, "_initial_epoch", None)


def set_restored_epoch(model: keras.Model, epochs: int) -> None:
    """Tells ``fit`` to resume after ``epochs``, as ``BackupAndRestore`` tells it."""
    model._initial_epoch = epochs


def forget_restored_epoch(model: keras.Model) -> None:
    """Clears what an earlier ``BackupAndRestore`` left on ``model`` (before a new fit)."""
    model._initial_epoch = None


def variable_key(optimizer: keras.optimizers.Optimizer, variable) -> str:
    """The key ``optimizer`` files ``variable`` (or the backend variable ``update_step``
    receives for it) under."""
    return optimizer._var_key(variable)


def variable_index(optimizer: keras.optimizers.Optimizer, variable) -> int:
    """The position of ``variable`` (or the backend variable ``update_step`` receives for
    it) among the variables ``optimizer`` was built for: that of its slot variables."""
    return optimizer._get_variable_index(variable)


def track_loss(model: keras.Model, loss) -> None:
    """Adds one batch's ``loss`` to the mean that ``model``'s logs report as ``loss``, as
    Keras's own ``train_step`` does."""
    model._loss_tracker.update_state(loss)


def set_op_determinism(enabled: bool) -> None:
    """Turns TensorFlow's op determinism on or off."""
    from tensorflow.python.framework import config

    (config.enable_op_determinism if enabled else config.disable_op_determinism)()


def op_determinism() -> bool:
    """Whether TensorFlow's op determinism is on."""
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


class ScaledWeightDecay:
    """Optimizer mixin: decoupled weight decay (AdamW's) decays each variable at
    ``self.weight_decay_scale(variable)`` times the optimizer's ``weight_decay``, as
    ``update_step`` can scale each variable's learning rate."""

    def weight_decay_scale(self, variable) -> float:
        return 1.0

    def _apply_weight_decay(self, variables):
        full = self.weight_decay
        if full is None:
            return super()._apply_weight_decay(variables)
        groups = {}
        for variable in variables:
            groups.setdefault(self.weight_decay_scale(variable), []).append(variable)
        try:
            for scale, group in groups.items():
                self.weight_decay = full * scale
                super()._apply_weight_decay(group)
        finally:
            self.weight_decay = full


@contextlib.contextmanager
def keras_tuner_state_writer(save_json):
    """Within the block, keras-tuner saves every state file with ``save_json(path, state)``
    (which returns the JSON text written, as keras-tuner's own does)."""
    from keras_tuner.src import utils

    original = utils.save_json
    utils.save_json = save_json
    try:
        yield
    finally:
        utils.save_json = original


@contextlib.contextmanager
def keras_tuner_quiet_failures():
    """Within the block, keras-tuner prints no traceback when a trial fails."""
    from keras_tuner.src import config

    original = config.DEBUG
    config.DEBUG = False
    try:
        yield
    finally:
        config.DEBUG = original


def keras_tuner_keep_best_epoch(callbacks, value: float) -> None:
    """Makes keras-tuner's ``SaveBestEpoch`` among ``callbacks`` (those it passes a
    trial's ``fit``) checkpoint only an epoch better than ``value``, as if it had seen
    an epoch of that value; a better value it has seen stays."""
    from keras_tuner.src.engine import tuner_utils

    for callback in callbacks:
        if isinstance(callback, tuner_utils.SaveBestEpoch) and callback.objective.better_than(
                value, callback.best_value):
            callback.best_value = value


PARTIAL_CHECKPOINT = ".partial.weights.h5"


def keras_tuner_atomic_checkpoint(callbacks) -> None:
    """Makes keras-tuner's ``SaveBestEpoch`` among ``callbacks`` write its checkpoint
    under a partial name, then rename it into place: the checkpoint is always a whole
    file, a killed write's partial file left beside it (and replaced by the next)."""
    from keras_tuner.src.engine import tuner_utils

    for callback in callbacks:
        if isinstance(callback, tuner_utils.SaveBestEpoch) and not hasattr(
                callback, "final_filepath"):
            callback.final_filepath = callback.filepath
            stem = callback.filepath.removesuffix(".weights.h5")
            callback.filepath = f"{stem}{PARTIAL_CHECKPOINT}"  # Keras reads the suffix
            save = callback._save_model

            def save_then_rename(callback=callback, save=save):
                from engine.rundir import staging

                with staging(callback.filepath, callback.final_filepath):  # a full disk
                    save()
                    if os.path.exists(callback.filepath):  # not a worker's temporary copy
                        os.replace(callback.filepath, callback.final_filepath)

            callback._save_model = save_then_rename


class KerasTunerFirstValues:
    """keras-tuner oracle mixin: the values of a search's first trial are
    ``self.first_values()`` (a dict of hyperparameter values), later trials' keras-tuner's
    random draws, which never repeat the values of a trial so far, the first's included."""

    def first_values(self) -> dict:
        raise NotImplementedError

    def _random_values(self):
        if self._tried_so_far:  # the values of every trial so far, kept in the state
            return super()._random_values()
        return self.first_values()
