"""Is training input-bound? The input pipeline's throughput next to the training step's.

    python bench/input_pipeline.py --recipe=resnet20 --dataset=cifar10 --data_dir=../shared/tfds
    python bench/input_pipeline.py --recipe=lenet5 --dataset=mnist --data_dir=../shared/tfds

Builds the run's training pipeline (the recipe's batch size, augmentation and
normalization), fills its cache with one pass, then times ``--pipeline_batches``
batches of it alone (images/s). Then it times ``--train_steps`` steps of the
recipe's compiled model (its optimizer, weight decay, loss) in ``engine.loop.fit`` on one
batch already in memory, after ``--warmup_steps`` untimed ones: the images/s the
training step consumes. Prints one JSON object per line; the last one holds
``ratio`` = pipeline images/s / training images/s (>= 3: never input-bound).
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
import time

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import recipes  # noqa: E402
from bench.common import recipe_and_training, run  # noqa: E402
from engine import loop, training  # noqa: E402
from engine.data import DataSpec, prepare  # noqa: E402

TARGET_RATIO = 3.0
MIN_PIPELINE_BATCHES = 500

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "lenet5_modern", "Registered recipe name.")
flags.DEFINE_string("dataset", "digits", "Dataset, as train.py's --dataset.")
flags.DEFINE_string("data_dir", None, "TFDS data dir holding prepared datasets.")
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("pipeline_batches", None,
                     "Batches timed from the pipeline; default: one epoch, at least 500.",
                     lower_bound=1)
flags.DEFINE_integer("train_steps", 300, "Training steps timed.", lower_bound=1)
flags.DEFINE_integer("warmup_steps", 20, "Training steps before the timing starts.",
                     lower_bound=1)


class StepTimer(keras.callbacks.Callback):
    """Wall time from the start of training step ``first`` to the end of training."""

    def __init__(self, first: int):
        super().__init__()
        self.first = first
        self.started = self.seconds = None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.first:
            self.started = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.started


def pipeline_throughput(dataset, batches: int) -> dict:
    """Images per second drawn from ``dataset`` (repeated), after one filling pass."""
    for _ in dataset:  # fills the cache, as the first epoch does
        pass
    images = 0
    started = time.perf_counter()
    for batch_images, _ in dataset.repeat().take(batches):
        images += int(batch_images.shape[0])
    seconds = time.perf_counter() - started
    return {"measurement": "pipeline", "batches": batches, "images": images,
            "seconds": round(seconds, 3), "images_per_second": round(images / seconds, 1)}


def training_throughput(model, batch, steps: int, warmup: int) -> dict:
    """Images per second consumed by the training path (``engine.loop.fit``, as
    train.py runs it) on one batch held in memory."""
    timer = StepTimer(warmup)
    fixed = tf.data.Dataset.from_tensors(batch).repeat(warmup + steps)
    loop.fit(model, fixed, epochs=1, callbacks=[timer], verbose=0)
    images = steps * int(batch[0].shape[0])
    return {"measurement": "training", "steps": steps, "images": images,
            "seconds": round(timer.seconds, 3),
            "images_per_second": round(images / timer.seconds, 1)}


def main(argv):
    del argv
    recipe, config = recipe_and_training(FLAGS.recipe, FLAGS.batch_size)
    spec = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, batch_size=config.batch_size,
                    augmentation=config.augmentation, normalization=config.normalization)
    started = time.perf_counter()
    data = prepare(spec, recipe.input_shape, classes=recipe.classes)
    header = {"recipe": FLAGS.recipe, "dataset": FLAGS.dataset, "batch_size": config.batch_size,
              "augmentation": config.augmentation, "input_shape": list(data.input_shape),
              "prepare_seconds": round(time.perf_counter() - started, 3),
              "cpu_count": os.cpu_count(), "gpus": len(tf.config.list_physical_devices("GPU")),
              "platform": platform.platform()}
    print(json.dumps(header), flush=True)

    epoch = -(-data.source.sizes["train"] // config.batch_size)
    pipeline = pipeline_throughput(data.pipelines.train,
                                   FLAGS.pipeline_batches or max(epoch, MIN_PIPELINE_BATCHES))
    print(json.dumps(pipeline), flush=True)

    model = recipes.build(FLAGS.recipe, classes=data.source.num_classes,
                          input_shape=data.input_shape)
    training.compile_model(model, config)
    step = training_throughput(model, next(iter(data.pipelines.train)), FLAGS.train_steps,
                               FLAGS.warmup_steps)
    print(json.dumps(step), flush=True)

    ratio = pipeline["images_per_second"] / step["images_per_second"]
    print(json.dumps({"recipe": FLAGS.recipe, "dataset": FLAGS.dataset,
                      "pipeline_images_per_second": pipeline["images_per_second"],
                      "training_images_per_second": step["images_per_second"],
                      "ratio": round(ratio, 2), "target": TARGET_RATIO,
                      "input_bound": ratio < 1.0, "meets_target": ratio >= TARGET_RATIO}))


if __name__ == "__main__":
    run(main)
