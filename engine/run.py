"""One training run, end to end: data -> model -> fit -> evaluate -> save -> export -> report."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time

import keras
import tensorflow as tf

import recipes
from engine import distribute, loop, training
from engine import transfer as transfer_learning
from engine.data import DataSpec, Preprocessing, prepare
from engine.evaluate import evaluate, evaluate_tta
from engine.export import export_saved_model
from engine.report import plot_curves, read_history, write_json

MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"
REPORT_FILE = "report.json"
EVALUATION_FILE = "evaluation.json"
CURVES_FILE = "curves.png"
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a training run needs, resolved from the recipe and the flags."""

    recipe: str
    data: DataSpec
    model_dir: str
    export_dir: str
    seed: int
    training: recipes.TrainingConfig
    precision: str = "float32"
    jit_compile: bool = False
    distribute: str = "none"
    deterministic: bool = False
    init_from: str | None = None
    transfer: str = "finetune"
    finetune_multiplier: float = transfer_learning.DEFAULT_FINETUNE_MULTIPLIER

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"Unknown precision {self.precision!r}; accepted: {', '.join(PRECISIONS)}.")
        if self.transfer not in transfer_learning.MODES:
            raise ValueError(
                f"Unknown transfer mode {self.transfer!r}; accepted: {', '.join(transfer_learning.MODES)}.")


def train_and_evaluate(spec: RunSpec) -> dict | None:
    """Trains ``spec.recipe`` on ``spec.data.dataset``, evaluates once on the test split,
    saves the model and its SavedModel export, and returns the report it wrote.

    Under multi-worker training every worker trains, evaluates, checkpoints and
    exports (reading distributed variables is a collective step), each in its own
    folder (``distribute.worker_dir``); only the chief writes into ``model_dir``,
    the report included, and gets the report; the others get None.
    """
    strategy = distribute.make_strategy(spec.distribute)
    keras.utils.set_random_seed(spec.seed)
    if spec.deterministic:
        tf.config.experimental.enable_op_determinism()
    recipe = recipes.get(spec.recipe)
    data = prepare(spec.data, recipe.input_shape, classes=recipe.classes)

    keras.config.set_dtype_policy(spec.precision)
    with strategy.scope():
        auxiliary = {"aux_heads": True} if spec.training.auxiliary_loss_weight else {}
        trained = recipes.build(spec.recipe, classes=data.source.num_classes,
                                input_shape=data.input_shape, **auxiliary)
        # The network that is saved and served: the main head only.
        model = (keras.Model(trained.input, trained.outputs[0], name=trained.name)
                 if auxiliary else trained)
        slow_layers = initialize_from(model, spec) if spec.init_from else ()
        # Only now, with the data and the model known to be sound, the run gets a folder.
        run_dir = distribute.worker_dir(spec.model_dir)
        os.makedirs(run_dir, exist_ok=True)
        data.preprocessing.save(os.path.join(run_dir, PREPROCESSING_FILE))
        training.compile_model(trained, spec.training, slow_layers, spec.finetune_multiplier)
        accuracy = training.accuracy_key(trained)
        callbacks = training.run_callbacks(spec.training, run_dir, accuracy)
        started = time.perf_counter()
        training.train(trained, training.one_target_per_head(trained, data.pipelines.train),
                       training.one_target_per_head(trained, data.pipelines.validation),
                       spec.training, callbacks, jit_compile=spec.jit_compile)
        train_seconds = time.perf_counter() - started
        if trained is not model:
            training.compile_model(model, spec.training)
        test = loop.evaluate(model, data.pipelines.test, jit_compile=spec.jit_compile)
        tta = evaluate_tta(model, data, spec.data.tta)
    model_path = os.path.join(run_dir, MODEL_FILE)
    model.save(model_path)
    if not distribute.is_chief():
        export_saved_model(model, os.path.join(run_dir, "export"))  # collective, like saving
        return None

    export_dir = export_saved_model(model, spec.export_dir)
    history = read_history(os.path.join(run_dir, training.HISTORY_FILE))
    plot_curves(history, os.path.join(spec.model_dir, CURVES_FILE), title=spec.recipe,
                accuracy=accuracy)
    val_accuracy = history.get(f"val_{accuracy}", [])
    best_epoch = max(range(len(val_accuracy)), key=val_accuracy.__getitem__) if val_accuracy else None
    epochs_run = len(history.get("epoch", []))
    report = {
        "recipe": spec.recipe,
        "dataset": spec.data.dataset,
        "data_dir": spec.data.data_dir,
        "epochs": spec.training.epochs,
        "batch_size": spec.training.batch_size,
        "optimizer": spec.training.optimizer,
        "learning_rate": spec.training.learning_rate,
        "final_learning_rate": float(keras.ops.convert_to_numpy(trained.optimizer.learning_rate)),
        "training": dataclasses.asdict(spec.training),
        "seed": spec.seed,
        "precision": spec.precision,
        "jit_compile": spec.jit_compile,
        "init_from": spec.init_from,
        "transfer": spec.transfer if spec.init_from else None,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        **tta,
        "augmentation": spec.data.augmentation,
        "skipped_files": len(data.source.skipped),
        "test_examples": data.source.sizes["test"],
        "train_examples": data.source.sizes["train"],
        "validation_examples": data.source.sizes["validation"],
        "best_val_accuracy": val_accuracy[best_epoch] if val_accuracy else None,
        "best_epoch": best_epoch + 1 if val_accuracy else None,
        "trainable_params": trainable_params(model),
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round(data.source.sizes["train"] * epochs_run / train_seconds, 1)
        if train_seconds > 0 else None,
        "hardware": {"distribute": spec.distribute, **hardware(strategy)},
        "model_path": os.path.abspath(model_path),
        "export_dir": export_dir,
        "curves": os.path.abspath(os.path.join(spec.model_dir, CURVES_FILE)),
        "preprocessing": data.preprocessing.to_json(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
    }
    write_json(os.path.join(spec.model_dir, REPORT_FILE), report)
    return report


def evaluate_saved_run(model_dir: str, data_dir: str | None = None, tta: str = "none",
                       batch_size: int | None = None) -> dict:
    """``--mode=evaluate``: the run in ``model_dir`` on its dataset's test split, with the
    preprocessing it trained with; writes and returns ``evaluation.json``."""
    report_path = os.path.join(model_dir, REPORT_FILE)
    if not os.path.isfile(report_path):
        raise ValueError(f"No finished run in {model_dir!r} (no {REPORT_FILE}); pass the "
                         "--model_dir of a completed training run.")
    with open(report_path) as file:
        report = json.load(file)
    preprocessing = Preprocessing.load(os.path.join(model_dir, PREPROCESSING_FILE))
    spec = DataSpec(dataset=report["dataset"], data_dir=data_dir or report.get("data_dir"),
                    batch_size=batch_size or report["batch_size"],
                    augmentation=report.get("augmentation", "none"),
                    normalization=preprocessing.normalization, tta=tta)
    data = prepare(spec, preprocessing.input_shape, preprocessing=preprocessing)
    import engine.losses  # noqa: F401  (registers the loss a run may have compiled with)

    model = keras.saving.load_model(os.path.join(model_dir, MODEL_FILE), safe_mode=True)
    evaluation = {"recipe": report["recipe"], "dataset": report["dataset"],
                  "test_examples": data.source.sizes["test"],
                  **evaluate(model, data, tta)}
    write_json(os.path.join(model_dir, EVALUATION_FILE), evaluation)
    return evaluation


def initialize_from(model: keras.Model, spec: RunSpec) -> list:
    """Copies the pretrained weights of ``spec.init_from`` into ``model`` (all but the
    head); returns the layers to slow down (fine-tuning) — none when they are frozen."""
    pretrained = transfer_learning.load_pretrained(spec.init_from)
    copied = transfer_learning.copy_pretrained_weights(pretrained, model)
    print(f"Initialized {len(copied)} layers from {spec.init_from} ({spec.transfer}).", flush=True)
    if spec.transfer == "feature_extractor":
        transfer_learning.freeze_all_but_head(model)
        return []
    return copied


def trainable_params(model: keras.Model) -> int:
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


def hardware(strategy: tf.distribute.Strategy) -> dict:
    """The devices the run used, for the report."""
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "gpus": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in gpus],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
    }
