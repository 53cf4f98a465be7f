"""Time to accuracy: train a recipe with its own defaults until the validation accuracy
reaches a target, then score the test split once.

    python bench/time_to_accuracy.py --recipe=lenet5_modern --dataset=mnist \\
        --data_dir=../shared/tfds --target=0.99

The recipe's training configuration as it is (batch size, optimizer, schedule,
augmentation, normalization, validation split; ``--epochs`` only caps the epochs: the
schedule keeps the recipe's length),
through the phases a run goes through (``engine.data.prepare``, the recipe's model,
``engine.training.compile_model``, ``engine.loop.fit`` with the schedule's callbacks,
``engine.evaluate.evaluate``), without writing a run folder or an export. After each
epoch the validation accuracy is compared with ``--target``; the first epoch that
reaches it ends training, and the test split is scored once. Seconds are counted from
the start of the process (imports and data loading included). One JSON line per
epoch; the last line is the result: ``test_accuracy``, ``epochs``, ``seconds``,
``reached`` (whether the validation accuracy reached the target) and
``meets_target`` (whether the test accuracy did too).
"""

from __future__ import annotations

import os
import pathlib
import sys
import time


def process_seconds() -> float:
    """Seconds since this process started (Linux ``/proc``; elsewhere, since this module
    was loaded)."""
    try:
        with open("/proc/self/stat") as file:
            start_ticks = int(file.read().rsplit(")", 1)[1].split()[19])  # field 22
        with open("/proc/uptime") as file:
            uptime = float(file.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _LOADED


_LOADED = time.perf_counter()

from absl import flags  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import dataclasses  # noqa: E402

import keras  # noqa: E402

import recipes  # noqa: E402
from bench.common import SHARED_TFDS, emit, machine, prepared_or_skip, run  # noqa: E402
from engine import loop, schedules, training  # noqa: E402
from engine.data import DataSpec, prepare  # noqa: E402
from engine.evaluate import evaluate  # noqa: E402
from engine.session import session  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "lenet5_modern", "Registered recipe name.")
flags.DEFINE_string("dataset", "mnist", "Dataset, as train.py's --dataset.")
flags.DEFINE_string("data_dir", str(SHARED_TFDS),
                    "TFDS data dir holding the prepared dataset.")
flags.DEFINE_float("target", 0.99, "Validation accuracy that ends training.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("epochs", None, "At most this many epochs (the schedule keeps the "
                     "recipe's length); default and most: the recipe's.",
                     lower_bound=1)
flags.DEFINE_integer("seed", 42, "Initialization and shuffling seed.")
flags.DEFINE_integer("steps_per_execution", 1,
                     "Training steps per call of the compiled step, as train.py's flag.",
                     lower_bound=1)


class StopAtTarget(keras.callbacks.Callback):
    """Ends training after the first epoch whose validation accuracy reaches ``target``;
    prints every epoch as a JSON line with the seconds since the process started."""

    def __init__(self, target: float, accuracy: str):
        super().__init__()
        self.target, self.accuracy = target, accuracy
        self.epochs, self.reached = 0, False

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        value = logs[f"val_{self.accuracy}"]
        self.reached = value >= self.target
        emit({"epoch": self.epochs, "val_accuracy": round(value, 4),
              "accuracy": round(logs[self.accuracy], 4),
              "learning_rate": logs["learning_rate"], "seconds": round(process_seconds(), 1)})
        if self.reached:
            self.model.stop_training = True


def main(argv):
    del argv
    recipe = recipes.get(FLAGS.recipe)
    config = recipe.training
    # A cap, not a shorter configuration: the schedule keeps the recipe's length.
    epochs = min(FLAGS.epochs or config.epochs, config.epochs)
    if config.validation_fraction == 0:
        config = dataclasses.replace(config, validation_fraction=0.1)  # something to watch
    if not prepared_or_skip(FLAGS.dataset, FLAGS.data_dir):
        return
    emit({**machine(), "recipe": FLAGS.recipe, "dataset": FLAGS.dataset, "target": FLAGS.target,
          "training": dataclasses.asdict(config)})
    spec = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                    batch_size=config.batch_size, seed=FLAGS.seed,
                    augmentation=config.augmentation, normalization=config.normalization,
                    validation_fraction=config.validation_fraction)
    with session(seed=FLAGS.seed):
        data = prepare(spec, recipe.input_shape, classes=recipe.classes)
        model = recipes.build(FLAGS.recipe, classes=data.source.num_classes,
                              input_shape=data.input_shape)
        training.compile_model(model, config)
        stop = StopAtTarget(FLAGS.target, training.accuracy_key(model))
        loop.fit(model, data.pipelines.train, validation_data=data.pipelines.validation,
                 epochs=epochs, verbose=0, steps_per_execution=FLAGS.steps_per_execution,
                 callbacks=[training.StopOnDivergence(),
                            *schedules.learning_rate_callbacks(config), stop])
        scores = evaluate(model, data)
    seconds = process_seconds()
    emit({"recipe": FLAGS.recipe, "dataset": FLAGS.dataset, "target": FLAGS.target,
          "reached": stop.reached, "epochs": stop.epochs,
          "test_accuracy": round(scores["test_accuracy"], 4),
          "meets_target": scores["test_accuracy"] >= FLAGS.target,
          "seconds": round(seconds, 1), "batch_size": config.batch_size,
          "steps_per_execution": FLAGS.steps_per_execution,
          "train_images": data.source.sizes["train"]})


if __name__ == "__main__":
    run(main)
