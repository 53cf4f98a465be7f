"""The report phase: what a run leaves for a person, ``report.json`` and ``curves.png``.

``report.json`` is output only: later modes read ``run.json``
(:mod:`engine.rundir`). Its keys are documented in README ("What a run writes").
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import platform

import keras
import tensorflow as tf

from engine.figure_text import drawable
from engine.spec import software_versions, transfer_record
from engine.training import EPOCH_SECONDS, VALIDATION_SECONDS

def counted(count: int, noun: str) -> str:
    """``count`` ``noun``\ s as a line says it: ``1 epoch``, ``2 epochs``, ``1,437 steps``,
    ``3 passes``."""
    plural = "es" if noun.endswith("s") else "s"
    return f"{count:,} {noun}{'' if count == 1 else plural}"


def read_history(path: str) -> dict[str, list[float]]:
    """The per-epoch columns of the history file (all epochs, resumed runs included);
    a column without values (``NA``) is an empty list."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows if row.get(key) not in (None, "", "NA")]
            for key in (rows[0].keys() if rows else ())}


def training_report(spec, data, model: keras.Model, optimizer, evaluation: dict,
                    history: dict, strategy, *, model_path: str, export_dir: str | None,
                    curves: str, accuracy: str = "accuracy") -> dict:
    """The ``report.json`` of a training run of ``spec`` (:class:`engine.spec.RunSpec`) on
    ``data`` (:class:`engine.data.Prepared`): its configuration, ``evaluation`` (from
    :func:`engine.evaluate.evaluate`), the ``history`` of every epoch that ran and the
    paths it wrote."""
    val_accuracy = history.get(f"val_{accuracy}", [])
    best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__) if val_accuracy \
        else None
    epochs_run = len(history.get("epoch", []))
    train_seconds = sum(history.get(EPOCH_SECONDS, []))
    # The training steps' throughput: the epochs' validation left out.
    stepping = train_seconds - sum(history.get(VALIDATION_SECONDS, []))
    sizes = data.source.sizes
    return {
        "recipe": spec.recipe,
        "dataset": spec.data.dataset,
        "data_dir": spec.data.data_dir,
        "epochs": spec.training.epochs,
        "epochs_run": epochs_run,
        "batch_size": spec.training.batch_size,
        "optimizer": spec.training.optimizer,
        "learning_rate": spec.training.learning_rate,
        "final_learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
        "training": dataclasses.asdict(spec.training),
        "seed": spec.seed,
        "deterministic": spec.deterministic,
        "precision": spec.precision,
        "jit_compile": spec.jit_compile,
        "steps_per_execution": spec.steps_per_execution,
        **transfer_record(spec),
        **evaluation,
        "augmentation": spec.training.augmentation,
        "skipped_files": len(data.source.skipped),
        "test_examples": sizes["test"],
        "train_examples": sizes["train"],
        "validation_examples": sizes["validation"],
        "best_val_accuracy": val_accuracy[best] if val_accuracy else None,
        # CSVLogger's own epoch number: a Hyperband trial continued from another's
        # checkpoint logs from its initial epoch on.
        "best_epoch": int(history["epoch"][best]) + 1 if val_accuracy else None,
        "trainable_params": trainable_params(model),
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(sizes["train"] * epochs_run / stepping, 1)
        if stepping > 0 else None,
        "hardware": {"distribute": spec.distribute, **hardware(strategy)},
        "model_path": os.path.abspath(model_path),
        "export_dir": export_dir,
        "curves": os.path.abspath(curves),
        "preprocessing": data.preprocessing.to_json(),
        "versions": software_versions(),
    }


def trainable_params(model: keras.Model) -> int:
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


def hardware(strategy: tf.distribute.Strategy) -> dict:
    """The devices the run used."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "gpus": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }


def plot_curves(history: dict[str, list[float]], path: str, title: str = "",
                accuracy: str = "accuracy") -> None:
    """Training and validation loss and accuracy (logged as ``accuracy``) per epoch, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [int(epoch) + 1 for epoch in history.get("epoch", [])]
    figure = Figure(figsize=(10, 4), layout="tight")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    for axis, metric in zip(axes, ("loss", accuracy)):
        for prefix, label in (("", "training"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                axis.plot(epochs[:len(values)], values, marker=".", label=label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(drawable(title))
    figure.savefig(path, dpi=100)
