"""One training run, end to end: data -> model -> fit -> evaluate -> save -> export -> report."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time

import keras
import tensorflow as tf

import recipes
from engine import training
from engine.data import DataSpec, prepare
from engine.export import export_saved_model
from engine.report import write_json

MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"
REPORT_FILE = "report.json"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a training run needs, resolved from the recipe and the flags."""

    recipe: str
    data: DataSpec
    model_dir: str
    export_dir: str
    seed: int
    training: recipes.TrainingConfig


def train_and_evaluate(spec: RunSpec) -> dict:
    """Trains ``spec.recipe`` on ``spec.data.dataset``, evaluates once on the test split,
    saves the model and its SavedModel export, and returns the report it wrote."""
    keras.utils.set_random_seed(spec.seed)
    recipe = recipes.get(spec.recipe)
    data = prepare(spec.data, recipe.input_shape)
    os.makedirs(spec.model_dir, exist_ok=True)
    data.preprocessing.save(os.path.join(spec.model_dir, PREPROCESSING_FILE))
    source, pipelines = data.source, data.pipelines
    model = recipes.build(spec.recipe, classes=source.num_classes)

    started = time.perf_counter()
    history = training.fit(model, pipelines.train, pipelines.validation, spec.training,
                           spec.model_dir)
    train_seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(pipelines.test, verbose=0)

    model_path = os.path.join(spec.model_dir, MODEL_FILE)
    model.save(model_path)
    export_dir = export_saved_model(model, spec.export_dir)
    val_accuracy = history.history.get("val_accuracy", [])
    report = {
        "recipe": spec.recipe,
        "dataset": spec.data.dataset,
        "epochs": spec.training.epochs,
        "batch_size": spec.training.batch_size,
        "optimizer": spec.training.optimizer,
        "learning_rate": spec.training.learning_rate,
        "seed": spec.seed,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "test_examples": source.sizes["test"],
        "train_examples": source.sizes["train"],
        "validation_examples": source.sizes["validation"],
        "best_val_accuracy": max(val_accuracy) if val_accuracy else None,
        "trainable_params": trainable_params(model),
        "train_seconds": round(train_seconds, 3),
        "model_path": os.path.abspath(model_path),
        "export_dir": export_dir,
        "preprocessing": data.preprocessing.to_json(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
    }
    write_json(os.path.join(spec.model_dir, REPORT_FILE), report)
    return report


def trainable_params(model: keras.Model) -> int:
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))
