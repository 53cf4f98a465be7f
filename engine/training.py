"""Compile and train a recipe's model with its paper's training configuration:
the optimizer (:mod:`engine.optimizers`), the weight decay, the loss, the
learning-rate schedule (:mod:`engine.schedules`) and the callbacks that keep a run's
records (backup and resume, best checkpoint, history, logs).

Compiling imports no TensorFlow (only :func:`train` does, through :mod:`engine.loop`):
``bench/throughput.py --backend=jax`` compiles recipes with :func:`compile_model`."""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import math
import os
import sys
import time
import zipfile

import keras
import numpy as np

from engine import choices, private_api, transfer
from engine.rundir import (BACKUP_DIR, CHECKPOINT_DIR, HISTORY_FILE, LOG_DIR, METADATA_FILE,
                           PRETRAINED_LAYERS, RUN_FILE, read_column, read_json, staging,
                           write_json, write_text)
from engine.schedules import learning_rate_callbacks
from engine.losses import classification_loss
from engine.optimizers import averaged_weights, averaging_optimizer, make_optimizer
from layers.errors import RunFailure, UsageError
from recipes import TrainingConfig

BEST_WEIGHTS = os.path.join(CHECKPOINT_DIR, "best.weights.h5")
# ModelCheckpoint writes a better epoch here (its 1-based number in the name); the file
# becomes BEST_WEIGHTS once the epoch is backed up (CommitBest).
BEST_WEIGHTS_PARTIAL = os.path.join(CHECKPOINT_DIR, "best.epoch-{epoch}.partial.weights.h5")
LEGACY_BEST_PARTIAL = "best.partial.weights.h5"  # before epochs were named (2026-12-06)
RANDOM_STATES_FILE = "random_states_{epochs}.npz"  # in the backup, after that many epochs
WEIGHTS_FILE = "epoch-{epochs}.weights.h5"  # likewise: the weights and the optimizer's state
LEGACY_WEIGHTS_FILE = "latest.weights.h5"  # Keras's, where backups before epoch files kept them
EPOCH_SECONDS = "epoch_seconds"  # the history column of each epoch's wall time
VALIDATION_SECONDS = "validation_seconds"  # the part of it its validation took
CROSS_ENTROPY = "cross_entropy"  # compile_model's plain cross-entropy metric


class EpochTimer(keras.callbacks.Callback):
    """Adds each epoch's wall time to its logs as ``epoch_seconds``, and the part of it
    spent on the validation split as ``validation_seconds``, so the history (and the
    report of a resumed run) holds the time of every epoch that ran. Put it before the
    callbacks that record the logs."""

    def __init__(self):
        super().__init__()
        self.started, self.validation, self.validating = None, 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.validation = time.perf_counter(), 0.0

    def on_test_begin(self, logs=None):
        self.validating = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validation += time.perf_counter() - self.validating

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[EPOCH_SECONDS] = time.perf_counter() - self.started
            logs[VALIDATION_SECONDS] = self.validation


class HistoryLogger(keras.callbacks.CSVLogger):
    """Keras's ``CSVLogger`` (the ``history.csv`` of every epoch), without the ``val_``
    twin of every column, ``NA`` throughout, that it adds when the first epoch's logs
    hold no validation values (meant for ``validation_freq > 1``) in a run that has no
    ``validation`` split."""

    def __init__(self, filename: str, validation: bool, append: bool):
        super().__init__(filename, append=append)
        self.validation = validation

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and not self.validation:
            self.keys = sorted(logs or {})
        super().on_epoch_end(epoch, logs)


class Backup(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore``, restoring when training begins (first, before the
    other callbacks start) and saving each epoch's state last, through :meth:`saver`:
    the epoch's records (its ``history.csv`` row, the best checkpoint) are written
    before the backup says the epoch is done. A kill between the two then leaves a
    record the backup lacks, which resuming drops (:func:`keep_history_rows`), never a
    backed-up epoch without its row. The backup also keeps the random states of the
    model's layers (:func:`random_states`: dropout's masks), so that a resumed
    ``--deterministic`` run draws what the uninterrupted one draws.

    Each epoch's files are whole at every moment, where Keras overwrites one
    ``latest.weights.h5`` in place: the weights (with the optimizer's state) after N
    epochs are written to a temporary name and renamed to ``epoch-N.weights.h5``,
    then the metadata naming N (``training_metadata.json``, Keras's) the same way;
    the previous epoch's files stay until the next epoch is named. A resume restores
    ``restore``, :func:`restorable`'s epochs and weights, whose epochs the caller also
    trims the history to."""

    def __init__(self, backup_dir: str, restore: tuple[int, str | None] = (0, None),
                 **options):
        super().__init__(backup_dir, **options)
        self.restore, self.restore_weights = restore

    def on_train_begin(self, logs=None):
        if not self.restore:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its state loads too
        try:
            self.model.load_weights(self.restore_weights)
            if os.path.exists(self._seed_path(self.restore)):
                with np.load(self._seed_path(self.restore)) as saved:
                    for index, variable in enumerate(random_states(self.model)):
                        variable.assign(saved[f"arr_{index}"])
        # h5py's and Keras's errors for a damaged file or other layers; zipfile's, np.load's
        except (OSError, RuntimeError, ValueError, KeyError, zipfile.BadZipFile) as error:
            reason = (str(error).strip().splitlines() or [""])[0][:200]
            raise UsageError(
                f"The backup of epoch {self.restore} in {self.backup_dir} does not load into "
                f"this run's network ({type(error).__name__}: {reason}): it is damaged, or the "
                "recipe's layers changed since the run started; resume with the version that "
                "started it, pass --overwrite to start afresh, or choose another "
                "--model_dir.") from None
        private_api.set_restored_epoch(self.model, self.restore)

    def on_epoch_end(self, epoch, logs=None):
        pass  # the saver, the last callback, saves

    def saver(self) -> keras.callbacks.Callback:
        return keras.callbacks.LambdaCallback(on_epoch_end=self._save)

    def _save(self, epoch, logs):
        # The epoch's files first, each renamed into place; the metadata, written last,
        # is what says the epoch is backed up.
        epochs = epoch + 1
        os.makedirs(self.backup_dir, exist_ok=True)
        with staging(self._seed_path(epochs) + ".partial", self._seed_path(epochs)) as partial:
            with open(partial, "wb") as file:
                np.savez(file, *(keras.ops.convert_to_numpy(variable)
                                 for variable in random_states(self.model)))
            os.replace(partial, self._seed_path(epochs))
        weights = weights_path(self.backup_dir, epochs)
        with staging(os.path.join(self.backup_dir, ".partial-" + os.path.basename(weights)),
                     weights) as partial:
            self.model.save_weights(partial, overwrite=True)
            os.replace(partial, weights)
        write_json(os.path.join(self.backup_dir, METADATA_FILE), {"epoch": epochs, "batch": 0})
        for old in (self._seed_path(epochs - 2), weights_path(self.backup_dir, epochs - 2)):
            if os.path.exists(old):  # the backup keeps two epochs
                os.remove(old)

    def _seed_path(self, epochs: int) -> str:
        return os.path.join(self.backup_dir, RANDOM_STATES_FILE.format(epochs=epochs))


def weights_path(backup_dir: str, epochs: int) -> str:
    """Where :class:`Backup` keeps the weights and optimizer state after ``epochs``."""
    return os.path.join(backup_dir, WEIGHTS_FILE.format(epochs=epochs))


def restorable(backup_dir: str) -> tuple[int, str | None]:
    """How many epochs a resume restores from the backup in ``backup_dir``, and the
    weights file it restores them from: the epochs its metadata names, or fewer where
    that epoch's weights do not read (a disk fault: a kill leaves whole files) and an
    earlier epoch's do; where the metadata does not read, the last epoch whose weights
    do. A backup written before epochs had files of their own holds the named epoch in
    Keras's ``latest.weights.h5``. ``(0, None)`` for none."""
    import h5py

    if not os.path.exists(os.path.join(backup_dir, METADATA_FILE)):
        return 0, None  # none, or killed before the first epoch was named
    unreadable = [name for name in sorted(os.listdir(backup_dir))
                  if not os.access(os.path.join(backup_dir, name), os.R_OK)]
    if unreadable:  # not a fault to fall back from: the run would start afresh
        raise UsageError(f"The backup in {backup_dir} cannot be read ({unreadable[0]}: "
                         "permission denied); fix its permissions to resume the run, pass "
                         "--overwrite to start afresh, or choose another --model_dir.")
    prefix, suffix = WEIGHTS_FILE.split("{epochs}")
    found = sorted((int(middle) for middle in (name.removeprefix(prefix).removesuffix(suffix)
                                               for name in os.listdir(backup_dir)
                                               if name.startswith(prefix) and name.endswith(suffix))
                    if middle.isdigit()), reverse=True)
    named = backed_up_epochs(backup_dir)  # 0 where the metadata does not read
    candidates = [(epochs, weights_path(backup_dir, epochs)) for epochs in found
                  if not named or epochs <= named]
    if named and not found:
        candidates.append((named, os.path.join(backup_dir, LEGACY_WEIGHTS_FILE)))
    for epochs, path in candidates:
        try:
            with h5py.File(path, "r"):
                return epochs, path
        except OSError:  # missing, truncated, or not HDF5
            continue
    return 0, None


def random_states(model: keras.Model) -> list:
    """The state variables of ``model``'s random-number generators (dropout's, stochastic
    depth's), which advance every step: Keras's saved weights leave them out."""
    weights = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


class PolyakWindow(keras.callbacks.Callback):
    """Polyak averaging (``--ema``; GoogLeNet's final model, Szegedy et al. 2015,
    section 6) over about the last epoch: the optimizer's moving average at momentum
    ``1 - 1 / steps``, ``steps`` the batches of an epoch. Keras's default momentum, 0.99,
    averages the last hundred or so steps: next to none of GoogLeNet's 40,000 an epoch,
    and, in a run of fewer steps, mostly its first ones (the average starts at the first
    step's weights: after 63 steps of 0.99 they still weigh 0.53, and three epochs of
    LeNet-5 on the digits scored 0.68 averaged, 0.95 with the last weights; 0.94 averaged
    over the last epoch)."""

    def on_train_begin(self, logs=None):
        steps = self.params.get("steps")
        if steps:
            averaging_optimizer(self.model).ema_momentum = 1 - 1 / steps


class StopOnDivergence(keras.callbacks.Callback):
    """Ends training with :class:`layers.RunFailure` at the first batch whose loss is NaN
    or infinite, naming the epoch and step: a diverged run is a failure, not a result
    (Keras's ``TerminateOnNaN`` would end it quietly and let it be saved and exported).
    The backup and the best checkpoint keep the last good epoch. Where a call runs several
    steps (``--steps_per_execution``) the loss is seen once per call, so the sentence names
    the call's steps."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.first_step = batch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            optimizer = self.model.optimizer
            rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a loss scaler's
            faster = (optimizer.slow_multiplier if isinstance(
                optimizer, transfer.LayerwiseLearningRate) and optimizer.slow_variables
                and optimizer.slow_multiplier > 1 else None)
            raise Diverged(loss, self.epoch + 1, batch + 1, rate,
                           first_step=self.first_step + 1 if self.first_step < batch else None,
                           pretrained_multiplier=faster)


class Diverged(RunFailure):
    """A training loss that became NaN or infinite at ``epoch`` and ``step`` (from 1; or
    in one call's steps from ``first_step`` to ``step``), with the learning rate of that
    step, after the schedule and warm-up; ``pretrained_multiplier``: a fine-tuning's
    ``--finetune_multiplier`` where it is above 1 (the pretrained layers trained faster)."""

    def __init__(self, loss: float, epoch: int, step: int, rate: float,
                 first_step: int | None = None, pretrained_multiplier: float | None = None):
        steps = f"in steps {first_step} to {step}" if first_step else f"step {step}"
        self.where = f"The training loss became {loss} at epoch {epoch}, {steps}"
        self.those = "those steps" if first_step else "that step"
        self.rate = rate
        self.pretrained_multiplier = pretrained_multiplier
        super().__init__(self.advice())

    def advice(self, overwrite: bool = False) -> str:
        """The sentence for the run; ``overwrite`` where its folder holds what a run at
        a lower rate must replace (backed-up epochs, which resume only at the rate they
        trained at, or the finished run that ``--overwrite`` was replacing)."""
        again = "run again with --overwrite" if overwrite else "run again"
        rate = f"the rate at {self.those}, after the schedule and warm-up, was {self.rate:g}"
        if self.pretrained_multiplier:
            multiplier = self.pretrained_multiplier
            return (f"{self.where}: the run diverged; lower --finetune_multiplier={multiplier:g} "
                    f"or --learning_rate ({rate}, the pretrained layers' "
                    f"{multiplier * self.rate:g}) and {again}.")
        return f"{self.where}: the run diverged; lower --learning_rate ({rate}) and {again}."

    def in_trial(self) -> str:
        """The sentence for a search's trial, whose rate the search chose."""
        return f"{self.where}: the trial diverged at a learning rate of {self.rate:g}."


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """Keras's ``ModelCheckpoint`` of the best epoch's weights, saved with the averaged
    weights in place under ``--ema`` (:func:`engine.optimizers.averaged_weights`): the
    weights the epoch's validation scored, as the run's model holds them at its end."""

    def on_epoch_end(self, epoch, logs=None):
        with averaged_weights(self.model):
            try:
                super().on_epoch_end(epoch, logs)
            except BaseException:  # a full disk: what was written of the file goes with it
                with contextlib.suppress(OSError):
                    os.remove(self.filepath.format(epoch=epoch + 1))
                raise


class CommitBest(keras.callbacks.Callback):
    """Makes an epoch's best checkpoint ``path`` once the epoch is backed up: the
    ``ModelCheckpoint`` before it writes each better epoch to ``partial`` (the epoch's
    number in the name), and this callback, after the backup's saver, renames it, so
    ``path`` is always a whole file of an epoch the history and the backup record. A
    run killed between the two leaves the file under its partial name: a resume whose
    backup holds that epoch (of the ``backed_up`` epochs it restores) completes the
    rename; one that trains the epoch again removes it (it kept the best weights of an
    epoch the records had dropped)."""

    def __init__(self, partial: str, path: str, backed_up: int = 0):
        super().__init__()
        self.partial, self.path, self.backed_up = partial, path, backed_up

    def on_train_begin(self, logs=None):
        legacy = os.path.join(os.path.dirname(self.partial), LEGACY_BEST_PARTIAL)
        if os.path.exists(legacy):  # an earlier version's, of no known epoch
            os.remove(legacy)
        for epoch, file in self.left():  # in order: each better than the one before
            if epoch <= self.backed_up:
                os.replace(file, self.path)
            else:
                os.remove(file)

    def on_epoch_end(self, epoch, logs=None):
        file = self.partial.format(epoch=epoch + 1)
        if os.path.exists(file):
            os.replace(file, self.path)

    def left(self) -> list[tuple[int, str]]:
        """The epochs' partial files a killed run left, by epoch."""
        prefix, suffix = self.partial.split("{epoch}")
        found = []
        for file in glob.glob(glob.escape(prefix) + "*" + glob.escape(suffix)):
            middle = file[len(prefix):len(file) - len(suffix)]
            if middle.isdigit():
                found.append((int(middle), file))
        return sorted(found)


class TimeToEnd(keras.callbacks.Callback):
    """After each of the first two epochs a process runs, prints how long it took and
    about how long the remaining epochs will take (as the next epoch begins, below the
    progress bar). The first epoch also traces the steps and fills the input pipeline's
    cache, so its estimate is an upper bound (a ResNet-20's first epoch took 24 s, the
    next ones 4 to 10 s); the second's is the one to plan with."""

    TOLD_EPOCHS = 2

    def on_train_begin(self, logs=None):
        self.told, self.line = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        if self.line:
            print(self.line, flush=True)
            self.line = None
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        remaining = self.params["epochs"] - epoch - 1
        if self.told == self.TOLD_EPOCHS or remaining < 1:
            return
        self.told += 1
        seconds = time.perf_counter() - self.started
        bound, traced = ("at most ", ", its steps traced first") if self.told == 1 else ("", "")
        self.line = (f"Epoch {epoch + 1} took {duration(seconds)}{traced}; {bound}about "
                     f"{duration(seconds * remaining)} to the end ({remaining} more "
                     f"epoch{'s' if remaining > 1 else ''}).")


def duration(seconds: float) -> str:
    """``seconds`` for a person: ``42 s``, ``12 min``, ``7.7 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def apply_weight_decay(model: keras.Model, weight_decay: float, scope: str = "kernels") -> None:
    """Adds ``weight_decay / 2 * ||w||^2`` to the loss for every variable of ``model``
    in ``scope`` (:func:`decayed`).

    Its gradient ``weight_decay * w`` joins the loss gradient before the momentum,
    which is Krizhevsky et al.'s update rule (AlexNet, section 5):
    ``v <- 0.9 v - wd * lr * w - lr * grad``, ``w <- w + v``.
    """
    choices.check("weight decay scope", scope, choices.WEIGHT_DECAY_SCOPES)
    if weight_decay <= 0:
        return
    regularizer = keras.regularizers.L2(weight_decay / 2)
    for variable in model.trainable_weights:
        if decayed(variable, scope):
            variable.regularizer = regularizer


def decayed(variable, scope: str) -> bool:
    """Whether weight decay of ``scope`` applies to ``variable``: with ``kernels``, a
    convolution's or a dense layer's kernel, not a bias nor a normalization's scale and
    offset (the common reading of the papers); with ``all``, every trainable variable."""
    return scope == "all" or variable.name.endswith("kernel")


# The training flags that only some optimizers or schedules read: the configuration
# field that chooses, and the choices that read the flag.
READ_ONLY_BY = {
    "momentum": ("optimizer", ("momentum", "nesterov", "rmsprop")),
    "decay_factor": ("schedule", ("step", "plateau", "exponential")),
    "decay_epochs": ("schedule", ("step",)),
    "decay_every": ("schedule", ("exponential",)),
}


def check_flags_read(config: TrainingConfig, given, searched: dict | None = None) -> None:
    """Refuses, before any work, a flag in ``given`` (the flags set on the command line)
    that ``config``'s optimizer or schedule does not read: ``--momentum`` to Adam,
    ``--decay_every`` to the step schedule, ``--weight_decay_scope`` without weight decay
    would be silently ignored, and Nesterov's momentum at 0 (plain SGD under its name).
    ``searched`` maps a field a search chooses (``optimizer``) to the values it tries;
    the flag is refused only where none of them reads it."""
    searched = searched or {}
    momenta = tuple(searched.get("momentum", (config.momentum,)))
    if config.optimizer == "nesterov" and "optimizer" not in searched and 0 in momenta:
        # Keras's SGD takes it, and trains plain SGD under Nesterov's name.
        if "momentum" in searched:
            raise UsageError("--optimizer=nesterov at momentum 0 is plain SGD, and this search "
                             f"tries momentum {' and '.join(f'{m:g}' for m in momenta)}; fix "
                             "--momentum=0.9 too (or leave --optimizer out: the search tries "
                             "Nesterov's where the momentum is not 0).")
        raise UsageError("--optimizer=nesterov at momentum 0 is plain SGD; pass a --momentum "
                         "above 0 (0.9 is usual), or --optimizer=sgd.")
    decays = tuple(searched.get("weight_decay", (config.weight_decay,)))
    if "weight_decay_scope" in given and not any(decays):
        raise UsageError("--weight_decay_scope says what weight decay applies to, and this "
                         f"{'search' if searched else 'run'} has none "
                         "(--weight_decay=0); leave it out or set --weight_decay.")
    for flag, (field, readers) in READ_ONLY_BY.items():
        chosen = tuple(searched.get(field, (getattr(config, field),)))
        if flag not in given or any(value in readers for value in chosen):
            continue
        plural = "s" if len(readers) > 1 else ""
        if field in searched:
            raise UsageError(
                f"--{flag} applies to the {', '.join(readers)} {field}{plural}, and this "
                f"search tries {' and '.join(chosen)}; leave it out or fix one of those with "
                f"--{field}.")
        raise UsageError(
            f"--{flag} applies to the {', '.join(readers)} {field}{plural}, not "
            f"--{field}={chosen[0]}; leave it out or choose "
            f"{'one of those' if plural else 'that'} --{field}.")


def compile_model(model: keras.Model, config: TrainingConfig, slow_layers=(),
                  slow_multiplier: float = choices.DEFAULT_FINETUNE_MULTIPLIER,
                  cross_entropy: bool = False) -> None:
    """Weight decay, optimizer, loss and accuracy for ``model``; ``slow_layers``
    (pretrained, when fine-tuning) learn at ``slow_multiplier`` times the learning
    rate. ``cross_entropy`` adds the main head's plain cross-entropy as a metric
    (:data:`CROSS_ENTROPY`): the loss holds the weight-decay term and the label
    smoothing, which differ from one configuration to another. (``config.dropout`` is
    the model's: :func:`engine.build.build` sets it.)"""
    apply_weight_decay(model, config.weight_decay if config.optimizer != "adamw" else 0.0,
                       config.weight_decay_scope)
    optimizer = make_optimizer(config)
    if slow_layers:
        optimizer = transfer.slow_down(optimizer, slow_layers, slow_multiplier)
    if config.optimizer == "adamw":  # AdamW decays every variable; those of the scope, as L2
        optimizer.exclude_from_weight_decay(var_list=[
            variable for variable in model.trainable_variables
            if not decayed(variable, config.weight_decay_scope)])
    loss = classification_loss(config.label_smoothing)
    metrics = ["accuracy"] + ([keras.metrics.SparseCategoricalCrossentropy(name=CROSS_ENTROPY)]
                              if cross_entropy else [])
    heads = len(model.outputs)
    if heads == 1:
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        return
    # Auxiliary classifiers (GoogLeNet section 5): their losses join the main one with
    # config.auxiliary_loss_weight; accuracy is the main head's.
    model.compile(optimizer=optimizer, loss=[loss] * heads,
                  loss_weights=[1.0] + [config.auxiliary_loss_weight] * (heads - 1),
                  metrics=[metrics] + [[] for _ in range(heads - 1)])


def accuracy_key(model: keras.Model, metric: str = "accuracy") -> str:
    """The name of the main head's ``metric`` in the logs (``predictions_accuracy`` where
    auxiliary heads make Keras prefix the metric with the output's name)."""
    return metric if len(model.outputs) == 1 else f"{model.output_names[0]}_{metric}"


def one_target_per_head(model: keras.Model, dataset):
    """``dataset``'s labels repeated for each output of ``model``."""
    heads = len(model.outputs)
    if heads == 1:
        return dataset
    return dataset.map(lambda images, labels: (images, (labels,) * heads))


def run_callbacks(config: TrainingConfig, run_dir: str, accuracy: str = "accuracy",
                  extra: list[keras.callbacks.Callback] = (), validation: bool = True,
                  keep_backup: bool = False) -> list[keras.callbacks.Callback]:
    """Backup every epoch (the previous one kept too, so a backup broken by a kill falls
    back to it), a divergence stop, the schedule, the best checkpoint (written to a
    temporary name, renamed once its epoch is backed up: :class:`CommitBest`),
    TensorBoard logs and the CSV history, all under
    ``run_dir``; ``accuracy`` names the logged accuracy that the plateau schedule and
    the best checkpoint watch. Without a ``validation`` split there is no best
    checkpoint (this says so, once). The backup is deleted when training ends unless
    ``keep_backup`` (a run that evaluates, saves and exports afterwards keeps it until
    its report is written, :func:`engine.rundir.remove_backup`, so that an interruption there resumes
    after the last epoch instead of training again).

    When ``run_dir`` holds the backup of an interrupted run, the history keeps the
    rows of the epochs the backup holds and drops any later one (a run killed after
    writing a row but before backing its epoch up reruns that epoch), so resuming
    appends to a history that agrees with the backup, and the best checkpoint stays
    until an epoch beats it.

    Under multi-worker training every worker runs the same callbacks (saving reads
    distributed variables, a collective step), each into its own ``run_dir``.
    """
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    history = os.path.join(run_dir, HISTORY_FILE)
    # A finished run's backup is gone, and one whose first write failed names no epoch:
    # either starts afresh.
    resuming = os.path.isfile(os.path.join(backup_dir, METADATA_FILE))
    restore = restorable(backup_dir) if resuming else (0, None)
    if resuming:
        keep_history_rows(history, restore[0])
    if validation:
        partial = os.path.join(run_dir, BEST_WEIGHTS_PARTIAL)
        best_so_far = max(read_column(history, f"val_{accuracy}"), default=None) \
            if resuming else None
        best = [BestCheckpoint(partial, monitor=f"val_{accuracy}", mode="max",
                               save_best_only=True, save_weights_only=True,
                               initial_value_threshold=best_so_far)]
        commit = [CommitBest(partial, os.path.join(run_dir, BEST_WEIGHTS), restore[0])]
    else:
        best, commit = [], []
        print("No validation split (validation_fraction=0): training on the whole training "
              "split, without per-epoch validation or a best checkpoint.", flush=True)
    backup = Backup(backup_dir, restore, delete_checkpoint=not keep_backup)
    return [
        backup,
        StopOnDivergence(),
        *([PolyakWindow()] if config.ema else []),
        *learning_rate_callbacks(config, accuracy, history if resuming else None),
        keras.callbacks.TensorBoard(os.path.join(run_dir, LOG_DIR), write_graph=False),
        EpochTimer(),  # before the best checkpoint: its writes are no part of the epoch's time
        *best,
        HistoryLogger(history, validation, append=resuming),
        *extra,
        backup.saver(),
        *commit,
    ]


def restored_pretrained_layers(run_dir: str, init_from: str) -> tuple[str, ...] | None:
    """The layers an interrupted run in ``run_dir`` started from ``init_from``'s weights
    (``run.json``'s ``pretrained_layers``), where its backup restores an epoch of them: a
    resume then needs neither the source nor a copy from it, and freezes or slows down
    those layers as the run did. None where there is no such run to resume."""
    record_file = os.path.join(run_dir, RUN_FILE)
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    if not (os.path.isfile(record_file) and os.path.isdir(backup_dir)):
        return None
    record = read_json(record_file)
    layers = record.get(PRETRAINED_LAYERS)
    if record.get("init_from") != init_from or layers is None \
            or restorable(backup_dir)[1] is None:
        return None
    return tuple(layers)


def backed_up_epochs(backup_dir: str) -> int:
    """How many epochs the ``BackupAndRestore`` state in ``backup_dir`` holds (0 if none)."""
    try:
        with open(os.path.join(backup_dir, METADATA_FILE)) as file:
            return int(json.load(file)["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def keep_history_rows(path: str, epochs: int) -> None:
    """Rewrites the CSV history at ``path`` with the rows of its first ``epochs`` epochs
    (whole at every moment; a continued Hyperband trial's start at its initial epoch); one
    that lacks some of them is a usage error: the resumed schedule (a plateau's count) and
    best checkpoint (the score to beat) read them."""
    rows = []
    if os.path.exists(path):
        with open(path, newline="") as file:
            rows = list(csv.reader(file))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) < epochs]
    numbers = [int(row[0]) for row in kept[1:]]
    # A Hyperband trial continued from another's checkpoint records from its first epoch.
    if epochs and numbers != list(range(numbers[0] if numbers else 0, epochs)):
        raise UsageError(
            f"{path} records {len(numbers)} of the {epochs} epochs the backup beside it "
            "resumes from (the plateau schedule and the best checkpoint resume from those "
            "records); put the file back, or pass --overwrite to start afresh.")
    if len(kept) != len(rows):
        text = io.StringIO()
        csv.writer(text).writerows(kept)
        write_text(path, text.getvalue())


def train(model: keras.Model, train_data, validation_data, config: TrainingConfig,
          callbacks: list[keras.callbacks.Callback], jit_compile: bool = False,
          steps_per_execution: int = 1, verbose="auto") -> keras.callbacks.History:
    """Trains the compiled ``model`` for ``config.epochs`` (see :mod:`engine.loop`, which
    runs ``steps_per_execution`` steps per call); ``verbose="auto"`` is
    :func:`progress_display`'s."""
    from engine import loop  # TensorFlow's side

    return loop.fit(model, train_data, validation_data=validation_data, epochs=config.epochs,
                    callbacks=callbacks,
                    verbose=progress_display() if verbose == "auto" else verbose,
                    jit_compile=jit_compile, steps_per_execution=steps_per_execution)


def progress_display() -> int:
    """Keras's ``verbose`` for each epoch: a progress bar on a terminal, one line per epoch
    where the output goes to a file or a pipe (the bar's colours, backspaces and carriage
    returns filled a log with 37 KB for one MNIST epoch)."""
    return 1 if sys.stdout.isatty() else 2
