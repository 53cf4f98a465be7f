"""The learning-rate schedules of the training configurations, and their checks.

``constant``, ``step`` (a paper's drops at given epochs, or its per-stage rates),
``exponential``, ``cosine`` (annealed at every step, Loshchilov and Hutter 2017) and
``plateau`` (Keras's ``ReduceLROnPlateau``, its count kept across a resume), after an
optional warm-up (a linear ramp, or a constant rate held for a number of iterations,
as He et al. 2016 warm ResNet-110 up). :func:`learning_rate_callbacks` carries a
configuration's schedule out; :func:`scheduled_learning_rate` says the rate of an epoch.
"""

from __future__ import annotations

import math

import keras

from engine.rundir import read_column
from layers.errors import UsageError
from recipes import TrainingConfig


def scheduled_learning_rate(config: TrainingConfig, epoch: int) -> float:
    """The learning rate at the start of (0-based) ``epoch``: the warm-up (a linear ramp,
    here by whole epochs, which :class:`Warmup` refines to steps; or
    ``config.warmup_learning_rate`` held constant), then the schedule."""
    if epoch < config.warmup_epochs:
        if config.warmup_learning_rate is not None:
            return config.warmup_learning_rate
        return config.learning_rate * (epoch + 1) / math.ceil(config.warmup_epochs)
    return rate_after_warmup(config, epoch)


def rate_after_warmup(config: TrainingConfig, epoch: float) -> float:
    """The schedule's learning rate of (0-based) ``epoch``, the warm-up left aside; a
    fraction of an epoch counts for the cosine only (:class:`CosineAnnealing`)."""
    base = config.learning_rate
    if config.schedule == "step":
        stage = sum(epoch >= boundary for boundary in config.decay_epochs)
        return config.step_rates[stage] if config.step_rates else base * config.decay_factor ** stage
    if config.schedule == "exponential":
        return base * config.decay_factor ** math.floor(epoch / config.decay_every)
    if config.schedule == "cosine":
        span = config.epochs - config.warmup_epochs  # under one epoch after a long warm-up
        progress = (epoch - config.warmup_epochs) / span if span > 0 else 1.0
        return 0.5 * base * (1 + math.cos(math.pi * progress))
    if config.schedule in ("constant", "plateau"):  # a plateau's drops are its callback's
        return base
    raise ValueError(f"No learning rate is defined for schedule {config.schedule!r}.")


class StepSchedule(keras.callbacks.Callback):
    """Base of the schedules that act inside an epoch: calls :meth:`at_step` before
    each training call with the step counted from the run's start, the epoch's steps
    plus the batch (what the loop reports, so a resumed run, or a Hyperband trial
    continued at a later epoch, sees the same steps, and no variable is read back from
    the device), and the steps per epoch; nothing where those are unknown. A loop
    running several steps per call (``steps_per_execution``) calls it with each call's
    first step."""

    def __init__(self, config: TrainingConfig):
        super().__init__()
        self.config = config

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = self.params.get("steps")
        if steps:
            self.at_step(self.epoch * steps + batch, steps)

    def at_step(self, step: int, steps_per_epoch: int) -> None:
        raise NotImplementedError

    def warmup_steps(self, steps_per_epoch: int) -> int:
        """The iterations of the warm-up with ``steps_per_epoch`` batches per epoch."""
        return max(1, round(self.config.warmup_epochs * steps_per_epoch))


class Warmup(StepSchedule):
    """The warm-up, step by step, for its ``round(config.warmup_epochs * steps per
    epoch)`` iterations: a linear ramp from zero (``learning_rate * (step + 1) /
    steps``, so a warm-up of one epoch or less ramps too), or
    ``config.warmup_learning_rate`` held. The schedule's rate takes over at the
    iteration the warm-up spans (or the first call past it), not at an epoch boundary:
    He et al. 2016, section 4.2, train ResNet-110 at 0.01 "until the training error is
    below 80% (about 400 iterations), and then go back to 0.1". Where the number of
    steps per epoch is unknown, the epoch-level rates (:func:`scheduled_learning_rate`)
    stay.
    """

    def at_step(self, step, steps_per_epoch):
        if self.epoch >= self.config.warmup_epochs:
            return
        steps = self.warmup_steps(steps_per_epoch)
        if step >= steps:
            self.model.optimizer.learning_rate = rate_after_warmup(self.config, self.epoch)
        elif self.config.warmup_learning_rate is None:
            self.model.optimizer.learning_rate = self.config.learning_rate * (step + 1) / steps


class CosineAnnealing(StepSchedule):
    """Anneals the ``cosine`` schedule at every step, not only at each epoch's start
    (Loshchilov and Hutter 2017, SGDR, section 3: the rate follows the cosine as the
    batches go, ``T_cur`` counting fractions of an epoch), so a short run, even a single
    epoch, ends near zero. During a warm-up, and where the number of steps per epoch is
    unknown, the epoch-level rate stays; the cosine starts at its top where the warm-up
    ends, at the warm-up's rounded step (:meth:`warmup_steps`), which may come a fraction
    of a step before ``warmup_epochs``.
    """

    def at_step(self, step, steps_per_epoch):
        warmup = self.config.warmup_epochs
        if warmup and step < self.warmup_steps(steps_per_epoch):
            return
        self.model.optimizer.learning_rate = rate_after_warmup(
            self.config, max(step / steps_per_epoch, warmup))


class Plateau(keras.callbacks.ReduceLROnPlateau):
    """Keras's ``ReduceLROnPlateau``, whose count of epochs without improvement survives
    a resume: when a run resumes from its backup (``history``, the path of its
    ``history.csv``, holds the epochs the backup holds), the watched values and rates of
    those epochs go through Keras's own epoch-end logic again, silently, and the rate
    the backup restored is put back. A fresh Keras callback would count from zero and
    drop the rate at other epochs than the uninterrupted run."""

    def __init__(self, history: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.history = history

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not self.history:
            return
        values = read_column(self.history, self.monitor)
        rates = read_column(self.history, "learning_rate")
        restored = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        verbose, self.verbose = self.verbose, 0
        for epoch, (value, rate) in enumerate(zip(values, rates)):
            self.model.optimizer.learning_rate = rate
            super().on_epoch_end(epoch, {self.monitor: value})
        self.verbose = verbose
        self.model.optimizer.learning_rate = restored


def learning_rate_callbacks(config: TrainingConfig, accuracy: str = "accuracy",
                            history: str | None = None) -> list[keras.callbacks.Callback]:
    """The callbacks that carry ``config.schedule`` out, epoch by epoch (and, for a
    constant warm-up, at the iteration it ends; for the cosine, at every step).

    The plateau schedule divides the rate by ``1 / decay_factor`` when the accuracy
    named by ``config.plateau_monitor`` has not improved for ``plateau_patience``
    epochs, at most ``plateau_drops`` times (Keras's ``ReduceLROnPlateau`` with
    ``min_lr`` at the last drop's rate); ``history``, the history of a run that resumes,
    gives it the epochs already done (:class:`Plateau`).
    """
    callbacks = []
    if config.schedule != "constant" or config.warmup_epochs > 0:
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: (scheduled_learning_rate(config, epoch)
                               if config.schedule != "plateau" or epoch < config.warmup_epochs
                               else lr)))
    if config.warmup_epochs > 0:
        callbacks.append(Warmup(config))
    if config.schedule == "cosine":
        callbacks.append(CosineAnnealing(config))
    if config.schedule == "plateau":
        monitor = accuracy if config.plateau_monitor == "training" else f"val_{accuracy}"
        callbacks.append(Plateau(
            history, monitor=monitor, mode="max", factor=config.decay_factor,
            patience=config.plateau_patience,
            min_lr=config.learning_rate * config.decay_factor ** config.plateau_drops,
            verbose=1))
    return callbacks


def unreached_drops(config: TrainingConfig) -> tuple[float, ...]:
    """The epochs of ``config``'s rate drops that its run never reaches. Schedules act
    on whole (0-based) epochs (:func:`rate_after_warmup`): a drop at epoch ``E`` acts
    from the first epoch at or past it, so only in a run of more than ``ceil(E)`` epochs."""
    if config.schedule == "step":
        return tuple(drop for drop in config.decay_epochs if math.ceil(drop) >= config.epochs)
    if config.schedule == "exponential" and math.ceil(config.decay_every) >= config.epochs:
        return (config.decay_every,)
    return ()


def drops_in_warmup(config: TrainingConfig) -> tuple[float, ...]:
    """The epochs of ``config``'s rate drops that act inside its linear warm-up (a drop at
    ``E`` acts from 0-based epoch ``ceil(E)``): the ramp climbs to the undropped learning
    rate past them, then falls to the dropped one as it ends."""
    if config.warmup_learning_rate is not None or not config.warmup_epochs:
        return ()
    if config.schedule == "step":
        return tuple(drop for drop in config.decay_epochs
                     if math.ceil(drop) < config.warmup_epochs)
    if config.schedule == "exponential" and math.ceil(config.decay_every) < config.warmup_epochs:
        return (config.decay_every,)
    return ()


def check_drops_reached(config: TrainingConfig, given, recipe: str) -> list[str]:
    """Refuses, before any work, a rate drop set on the command line (``--decay_epochs``,
    ``--decay_every``; ``given`` holds the flags set) that falls after the run's last
    epoch: it would be silently ignored. ``recipe``'s own drops past a shortened
    ``--epochs`` (a quick trial of a 160-epoch paper) are a warning instead. So is a
    warm-up longer than the run (``--warmup_epochs``): the rate would never reach
    ``--learning_rate``; or as long as the run where a schedule or the learning rate should
    follow it (a constant warm-up rate, ResNet-110's): they would never begin; or a linear
    warm-up past a drop (:func:`drops_in_warmup`). Returns the warnings, for the caller to
    give once every other check has passed (a run refused for another reason is not told
    of its schedule)."""
    warnings = []
    if config.warmup_epochs > config.epochs:
        length, harm = "longer than", "the rate would never reach the learning rate nor the " \
                                      "schedule begin"
    elif config.warmup_epochs == config.epochs and config.schedule != "constant":
        length, harm = "as long as", f"the {config.schedule} schedule would never begin"
    elif config.warmup_epochs == config.epochs and config.warmup_learning_rate is not None:
        length, harm = "as long as", (f"the rate would stay at the warm-up rate "
                                      f"{config.warmup_learning_rate:g}, never at the learning "
                                      "rate")
    else:
        length = harm = None
    if length:
        if "warmup_epochs" in given:
            raise UsageError(
                f"--warmup_epochs={config.warmup_epochs:g} lasts {length} the run "
                f"(--epochs={config.epochs}): {harm}; raise --epochs or shorten --warmup_epochs.")
        warnings.append(f"{recipe}'s warm-up lasts {config.warmup_epochs:g} epochs, {length} "
                        f"the run (--epochs={config.epochs}): {harm}.")
    hidden = drops_in_warmup(config)
    if hidden:
        drop_flag = "--decay_every" if config.schedule == "exponential" else "--decay_epochs"
        where = " and ".join(f"{drop:.4g}" for drop in hidden)
        harm = (f"the rate would climb to {config.learning_rate:g} past the drop"
                f"{'s' if len(hidden) > 1 else ''} at epoch {where} ({drop_flag}), then fall "
                "as the warm-up ends")
        if given & {"warmup_epochs", "decay_epochs", "decay_every"}:
            raise UsageError(f"--warmup_epochs={config.warmup_epochs:g} ramps up for longer "
                             f"than the schedule's first drop: {harm}; shorten --warmup_epochs "
                             f"or drop later ({drop_flag}).")
        warnings.append(f"{recipe}'s warm-up of {config.warmup_epochs:g} epochs ramps up past "
                        f"its first drop: {harm}.")
    unreached = unreached_drops(config)
    if not unreached:
        return warnings
    epochs = " and ".join(f"{drop:.4g}" for drop in unreached)
    if config.schedule == "exponential":
        if "decay_every" in given:
            raise UsageError(
                f"--decay_every={config.decay_every:g} drops the rate every {epochs} epochs, "
                f"but the run stops after --epochs={config.epochs}, before the first drop; "
                "raise --epochs or shorten --decay_every.")
    elif "decay_epochs" in given:
        raise UsageError(
            f"--decay_epochs={','.join(f'{drop:g}' for drop in config.decay_epochs)} drops "
            f"the rate after {epochs} epochs, but the run stops after --epochs={config.epochs}; "
            f"raise --epochs or leave {'those drops' if len(unreached) > 1 else 'that drop'} out.")
    warnings.append(f"{recipe}'s {config.schedule} schedule drops the rate after {epochs} "
                    f"epochs, past --epochs={config.epochs}: this run does not reach "
                    f"{'those drops' if len(unreached) > 1 else 'that drop'}.")
    return warnings


def check_validation(config: TrainingConfig, validation_examples: int) -> None:
    """Refuses, before any work, a plateau schedule that watches a validation split the
    run does not have (``validation_fraction=0``)."""
    if (validation_examples == 0 and config.schedule == "plateau"
            and config.plateau_monitor == "validation"):
        raise UsageError(
            "The plateau schedule watches the validation accuracy, but the run has no "
            f"validation split (validation_fraction={config.validation_fraction:g}); keep a "
            "validation fraction above 0 or choose another --schedule.")
