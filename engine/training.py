"""Compile and fit a recipe's model with its paper's training configuration."""

from __future__ import annotations

import math
import os

import keras

from recipes import TrainingConfig


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """The optimizer named by ``config.optimizer`` at ``config.learning_rate``.

    Weight decay is not the optimizer's decoupled form: see :func:`apply_weight_decay`.
    """
    lr = config.learning_rate
    factories = {
        "sgd": lambda: keras.optimizers.SGD(lr),
        "momentum": lambda: keras.optimizers.SGD(lr, momentum=config.momentum),
        "nesterov": lambda: keras.optimizers.SGD(lr, momentum=config.momentum, nesterov=True),
        "adagrad": lambda: keras.optimizers.Adagrad(lr),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr, momentum=config.momentum),
        "adam": lambda: keras.optimizers.Adam(lr),
        "adamw": lambda: keras.optimizers.AdamW(lr, weight_decay=config.weight_decay),
    }
    optimizer = factories[config.optimizer]()
    if config.ema:
        optimizer.use_ema = True
    return optimizer


def apply_weight_decay(model: keras.Model, weight_decay: float) -> None:
    """Adds ``weight_decay / 2 * ||w||^2`` to the loss for every kernel of ``model``.

    Its gradient ``weight_decay * w`` joins the loss gradient before the momentum,
    which is Krizhevsky et al.'s update rule (AlexNet, section 5):
    ``v <- 0.9 v - wd * lr * w - lr * grad``, ``w <- w + v``. Biases and
    normalization parameters are not decayed (the common reading of the papers).
    """
    if weight_decay <= 0:
        return
    regularizer = keras.regularizers.L2(weight_decay / 2)
    for variable in model.trainable_weights:
        if variable.name.endswith("kernel"):
            variable.regularizer = regularizer


def learning_rate_callbacks(config: TrainingConfig) -> list[keras.callbacks.Callback]:
    """The callbacks that carry ``config.schedule`` out epoch by epoch."""
    base = config.learning_rate
    if config.schedule == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(
            monitor="val_accuracy", mode="max", factor=config.decay_factor, patience=5,
            min_lr=base * 1e-4, verbose=1)]
    if config.schedule == "constant":
        return []
    return [keras.callbacks.LearningRateScheduler(
        lambda epoch: scheduled_learning_rate(config, epoch))]


def scheduled_learning_rate(config: TrainingConfig, epoch: int) -> float:
    """The learning rate of (0-based) ``epoch`` under a step, exponential or cosine schedule."""
    base = config.learning_rate
    if config.schedule == "step":
        return base * config.decay_factor ** sum(epoch >= boundary for boundary in config.decay_epochs)
    if config.schedule == "exponential":
        return base * config.decay_factor ** math.floor(epoch / config.decay_every)
    if config.schedule == "cosine":
        return 0.5 * base * (1 + math.cos(math.pi * epoch / config.epochs))
    return base


def fit(model: keras.Model, train, validation, config: TrainingConfig, model_dir: str):
    """Compiles ``model`` and trains it for ``config.epochs`` with the run's callbacks.

    State is backed up every epoch under ``model_dir/backup``, so running the same
    command again resumes an interrupted run where it stopped.
    """
    apply_weight_decay(model, config.weight_decay if config.optimizer != "adamw" else 0.0)
    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, "checkpoints", "best.weights.h5"),
            monitor="val_accuracy", mode="max", save_best_only=True, save_weights_only=True),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(model_dir, "history.csv"), append=True),
        *learning_rate_callbacks(config),
    ]
    return model.fit(train, validation_data=validation, epochs=config.epochs,
                     callbacks=callbacks, verbose="auto")
