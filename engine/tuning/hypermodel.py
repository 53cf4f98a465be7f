"""A recipe as a keras-tuner ``HyperModel``: ``build(hp)`` builds and compiles one
trial's network, ``fit(hp, model, ...)`` trains it through the project's training
loop (:func:`engine.loop.fit`, with :func:`engine.training.run_callbacks`) and
returns its validation metrics.

It handles keras-tuner's pitfalls, as measured with keras-tuner 1.4.8 and Keras 3:

* keras-tuner calls ``keras.backend.clear_session()`` before every build, which
  resets the dtype policy: ``build`` sets ``--precision`` again.
* keras-tuner enters the strategy's scope around ``build`` only, not ``fit``:
  both enter it.
* Hyperband continues a trial by loading its last checkpoint into the model that
  ``build`` returns; Keras restores the optimizer's state from it only into an
  optimizer that exists: ``build`` compiles the model and builds its optimizer.
* Hyperband passes its own ``epochs`` and ``initial_epoch``: ``fit`` trains for
  those, while the learning-rate schedule keeps the search's full horizon (the
  training configuration's ``epochs``).
* keras-tuner checkpoints a trial's best epoch with a callback made anew for each
  run of the trial: a trial resumed after an interruption scores, and checkpoints
  over, the epochs it recorded before it as well (:func:`best_recorded`).

A trial whose loss diverges (:class:`engine.training.StopOnDivergence`), that runs
out of memory or whose network does not build is a failed trial
(``keras_tuner.errors.FailedTrialError``); a fault of the data
(:class:`engine.data.DataFailure`: an image folder's file changed during the search)
stops the search with its sentence; any other error is a bug and stops the search with
its traceback.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os

import keras
import keras_tuner
import tensorflow as tf
from absl import logging

from engine import interrupts, loop, private_api
from engine.build import Built, build, unsettled_batch_norm
from engine.choices import SEEDS
from engine.data import DataFailure, named_data_errors
from engine.report import read_history
from engine.rundir import BACKUP_DIR, HISTORY_FILE, LOG_DIR, METADATA_FILE, remove_backup
from engine.training import (CROSS_ENTROPY, Diverged, accuracy_key, compile_model,
                             one_target_per_head, run_callbacks)
from engine.tuning import hparams, space
from engine.tuning.spec import SearchSpec
from layers.errors import RunFailure, UsageError

REPORTED = ("loss", "accuracy", "val_loss", "val_accuracy")  # what a trial returns


class RecipeHyperModel(keras_tuner.HyperModel):
    """Trials of ``search`` on data of ``classes`` classes at ``input_shape`` with
    ``train_examples`` training images, built and trained under ``strategy``;
    ``verbose`` is Keras's progress display in a trial."""

    def __init__(self, search: SearchSpec, classes: int, input_shape, strategy,
                 train_examples: int, verbose: int = 1):
        super().__init__(name=search.run.recipe)
        self.search = search
        self.classes = classes
        self.input_shape = tuple(input_shape)
        self.strategy = strategy
        self.train_examples = train_examples
        self.verbose = verbose
        self.trial_id = self.trial_dir = self.failure = None
        self.execution = 0
        self.pretrained_layers = ()  # those of the network built last
        self.batch_norm_told = False

    def start_trial(self, trial_id: str, trial_dir: str) -> None:
        """The tuner starts trial ``trial_id``, whose files go to ``trial_dir``."""
        self.trial_id, self.trial_dir, self.failure, self.execution = trial_id, trial_dir, None, 0

    def end_trial(self) -> str | None:
        """The tuner ended the trial; returns why it failed (None if it did not)."""
        failure, self.trial_id, self.trial_dir = self.failure, None, None
        return failure

    @staticmethod
    def remove_backups(trial_dir: str) -> None:
        """The backups of the trial's executions, kept until the oracle recorded its end:
        an ended trial is not run again (a trial stopped before that resumes from them)."""
        for run_dir in glob.glob(os.path.join(glob.escape(trial_dir), "execution*")):
            remove_backup(run_dir)

    def values(self, hp) -> dict:
        """The trial's value of every entry of the search space."""
        return space.hyperparameters(hp, self.search.space, self.search.fixed_values)

    def configuration(self, hp):
        """The trial's builder arguments and training configuration."""
        return space.configuration(self.search.space, self.search.run.training, self.values(hp))

    def execution_seed(self) -> int:
        """The seed of the trial's execution under way: ``--seed`` plus its number, as a run
        of that seed takes it, wrapped into the seeds ``--seed`` takes (Keras's and NumPy's,
        below 2**32)."""
        return (self.search.run.seed + self.execution) % SEEDS

    def build(self, hp) -> keras.Model:
        interrupts.raise_if_dropped()  # keras-tuner has just collected garbage
        run = self.search.run
        keras.config.set_dtype_policy(run.precision)
        keras.utils.set_random_seed(self.execution_seed())
        with self.strategy.scope(), self.trial_errors():
            variant, training = self.configuration(hp)
            # Outside a trial keras-tuner rebuilds a trial's network for its checkpoint.
            built = build(run.recipe, self.classes, self.input_shape, training, run.init_from,
                          run.transfer, variant=variant, announce=self.trial_id is not None)
            compile_model(built.trained, training, built.slow_layers, run.finetune_multiplier,
                          cross_entropy=True)
            built.trained.optimizer.build(built.trained.trainable_variables)
        self.pretrained_layers = built.pretrained_layers
        return built.trained

    def fit(self, hp, model, data, validation_data=None, callbacks=(), epochs=1,
            initial_epoch=0, **kwargs):
        """Trains ``model`` on the training split of ``data`` (the search's
        :class:`engine.data.Prepared`) from ``initial_epoch`` to ``epochs`` (keras-tuner's
        arguments; its ``verbose`` gives way to this model's) and returns the loss and
        accuracy of the epoch with the best objective. Each execution's training
        pipeline starts from its own seed, as its weights do, so that a trial sees the
        data a training run of that seed sees, whichever trials ran before it."""
        interrupts.raise_if_dropped()
        run = self.search.run
        _, training = self.configuration(hp)
        run_dir = os.path.join(self.trial_dir, f"execution{self.execution}")
        x = data.training_pipeline(self.execution_seed())
        self.execution += 1
        accuracy = accuracy_key(model)
        self.tell_unsettled_batch_norm(model, training.batch_size, epochs)
        # An interrupted execution, as run_callbacks reads it: a backup naming an epoch.
        resuming = os.path.isfile(os.path.join(run_dir, BACKUP_DIR, METADATA_FILE))
        # Each execution's backup is kept until the trial ends: a trial interrupted in a
        # later execution runs no finished one again.
        trial_callbacks = run_callbacks(training, run_dir, accuracy, [
            hparams.session_callback(os.path.join(run_dir, LOG_DIR), self.values(hp),
                                     self.trial_id), *callbacks], keep_backup=True)
        trial_callbacks.insert(0, MainHeadLogs(model))
        private_api.keras_tuner_atomic_checkpoint(callbacks)
        if resuming:  # its checkpoint holds the best of the epochs recorded so far
            recorded = best_recorded(os.path.join(run_dir, HISTORY_FILE), self.search.objective)
            if recorded is not None:
                private_api.keras_tuner_keep_best_epoch(callbacks, recorded)
        train = one_target_per_head(model, rebatched(x, training.batch_size,
                                                     run.data.batch_size, self.train_examples))
        with self.strategy.scope(), self.trial_errors(), named_data_errors(data.source):
            history = loop.fit(model, train,
                               validation_data=one_target_per_head(model, validation_data),
                               epochs=epochs, initial_epoch=initial_epoch,
                               callbacks=trial_callbacks, verbose=self.verbose,
                               jit_compile=run.jit_compile,
                               steps_per_execution=run.steps_per_execution).history
            if resuming:  # the epochs before the interruption count as well
                history = read_history(os.path.join(run_dir, HISTORY_FILE))
            return best_epoch(history, self.search.objective)

    def tell_unsettled_batch_norm(self, model: keras.Model, batch_size: int,
                                  epochs: int) -> None:
        """Warns, once, of the first trial whose ``epochs`` (Hyperband's first rounds train
        fewer than ``--epochs``) leave its batch normalizations with statistics far from
        settled (:func:`unsettled_batch_norm`; the default configuration may have none, or
        a larger batch, where a later trial's differs): the trials' validation accuracy, the
        search's objective, would rank them by chance."""
        if self.batch_norm_told:
            return
        built = Built(model, model, pretrained_layers=self.pretrained_layers)
        caution = unsettled_batch_norm(built, self.search.run.recipe, epochs,
                                       -(-self.train_examples // batch_size), trial=True)
        if caution:
            self.batch_norm_told = True
            logging.warning(caution)

    @contextlib.contextmanager
    def trial_errors(self):
        """Within a trial, turns what makes a trial fail into ``FailedTrialError`` (and
        records why) and any other error into keras-tuner's ``FatalError`` (a
        :class:`~engine.data.DataFailure` as its cause, which ends the search with its
        sentence: :func:`engine.modes.tune.tune`); outside
        one (keras-tuner exploring the space, the best model rebuilt) lets errors
        through, so a recipe that does not fit the data is one sentence."""
        if self.trial_id is None:
            yield
            return
        try:
            yield
        except keras_tuner.errors.FailedTrialError as failure:
            self.failure = str(failure)
            raise
        except DataFailure as failure:  # every trial after it would meet it again
            raise keras_tuner.errors.FatalError(str(failure)) from failure
        except (RunFailure, UsageError) as failure:  # diverged; a network that does not build
            self.failure = failure.in_trial() if isinstance(failure, Diverged) else str(failure)
            raise keras_tuner.errors.FailedTrialError(self.failure) from failure
        except (tf.errors.ResourceExhaustedError, MemoryError) as error:
            self.failure = (f"The trial ran out of memory ({type(error).__name__}); a smaller "
                            "batch_size or width_multiplier needs less.")
            raise keras_tuner.errors.FailedTrialError(self.failure) from error
        except Exception as error:
            raise keras_tuner.errors.FatalError(
                f"Trial {self.trial_id} stopped the search with an internal error "
                f"({type(error).__name__}: {error}).") from error


class MainHeadLogs(keras.callbacks.Callback):
    """A trial's epoch logs as the objective and keras-tuner's checkpoint read them
    (rewritten before any callback records them): ``loss`` and ``val_loss`` become the
    main head's plain cross-entropy (:data:`engine.training.CROSS_ENTROPY`), so that
    trials of another weight decay or label smoothing, which change the training loss,
    compare; ``accuracy`` and ``val_accuracy`` the main head's, which auxiliary heads
    make Keras call ``predictions_accuracy``."""

    def __init__(self, model: keras.Model):
        super().__init__()
        self.accuracy, self.cross_entropy = (accuracy_key(model),
                                             accuracy_key(model, CROSS_ENTROPY))

    def on_epoch_end(self, epoch, logs=None):
        for prefix in ("", "val_"):
            if logs is not None and prefix + self.cross_entropy in logs:
                logs[prefix + "loss"] = logs.pop(prefix + self.cross_entropy)
            if logs is not None and prefix + self.accuracy in logs:
                logs[prefix + "accuracy"] = logs[prefix + self.accuracy]


def rebatched(batches: tf.data.Dataset, batch_size: int, prepared: int,
              examples: int) -> tf.data.Dataset:
    """``batches`` of ``examples`` images (``prepared`` per batch) in batches of
    ``batch_size``: the data is prepared once for the whole search, each trial takes
    its own batch size. The batch count stays known (for the progress bar)."""
    if batch_size == prepared:
        return batches
    return batches.rebatch(batch_size).apply(tf.data.experimental.assert_cardinality(
        math.ceil(examples / batch_size))).prefetch(tf.data.AUTOTUNE)


def best_recorded(path: str, objective: str) -> float | None:
    """The best finite ``objective`` of the epochs the history file at ``path`` records
    (None if none)."""
    scores = [score for score in read_history(path).get(objective, []) if math.isfinite(score)]
    pick = max if objective.endswith("accuracy") else min
    return pick(scores) if scores else None


def best_epoch(history: dict, objective: str) -> dict:
    """The loss and accuracy (training and validation) of the epoch of ``history`` whose
    ``objective`` is best: keras-tuner scores the trial with them, and its checkpoint
    holds that epoch's weights."""
    scores = history.get(objective, [])
    finite = [epoch for epoch, score in enumerate(scores) if math.isfinite(score)]
    if not finite:
        raise keras_tuner.errors.FailedTrialError(
            f"The trial's {objective} was never a finite number ({scores}).")
    pick = max if objective.endswith("accuracy") else min
    epoch = pick(finite, key=scores.__getitem__)
    return {name: float(history[name][epoch]) for name in REPORTED if name in history}
