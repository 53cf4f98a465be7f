"""Does the project's training loop cost anything? ``engine.loop.fit`` against ``model.fit``.

    python bench/loop_overhead.py --recipe=lenet5_modern --batch_size=128
    python bench/loop_overhead.py --recipe=resnet20 --batch_size=32 --steps=100

One model, compiled once with the recipe's training configuration
(``engine.training.compile_model``), trains on one in-memory synthetic dataset of
``--steps`` batches: one epoch through ``engine.loop.fit``, one through Keras's
``model.fit``, in alternating order, ``--rounds`` times, after one untimed epoch of
each (tracing). Each round times both whole epochs (their per-epoch set-up
included) and gives the ratio ``model.fit seconds / loop seconds``: above 1 the loop
is faster. The last line holds the median ratio over the rounds (a machine shared
with other work slows either side at random; the median of interleaved rounds is
what it is robust to), ``fastest_ratio``, the ratio of each driver's fastest round, and
``cpu_ratio``, the median ratio of the rounds' process CPU seconds. On the virtual
machine of README "Performance" some rounds are stretched while the process sits idle:
their wall time lands on one of a few values (2.55 s times a power of two, and 141.9 s)
while their CPU time stays that of the others; the CPU-time ratio ignores the stretch.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import recipes  # noqa: E402
from bench.common import emit, machine, median, recipe_and_training, run  # noqa: E402
from engine import loop, training  # noqa: E402

POOL_BATCHES = 8  # distinct batches, repeated to --steps

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "lenet5_modern", "Registered recipe name.")
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("image_size", None, "Input height and width; default: the recipe's.",
                     lower_bound=1)
flags.DEFINE_integer("steps", 300, "Training steps per timed epoch.", lower_bound=1)
flags.DEFINE_integer("rounds", 7, "Timed rounds (one epoch of each driver per round).",
                     lower_bound=1)
flags.DEFINE_integer("steps_per_execution", 1,
                     "Training steps per call of the loop's compiled function (and of "
                     "model.fit's: Keras's steps_per_execution).", lower_bound=1)
flags.DEFINE_boolean("jit_compile", False, "Compile the training step with XLA (both drivers).")


def synthetic_dataset(input_shape, classes: int, batch_size: int, steps: int) -> tf.data.Dataset:
    """``steps`` batches drawn from ``POOL_BATCHES`` distinct random ones held in memory."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(POOL_BATCHES * batch_size, *input_shape)).astype("float32")
    labels = rng.integers(0, classes, POOL_BATCHES * batch_size)
    return (tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).cache()
            .repeat().take(steps))


def timed(function) -> tuple[float, float]:
    """The wall and the process CPU seconds ``function()`` takes."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv):
    del argv
    recipe, config = recipe_and_training(FLAGS.recipe, FLAGS.batch_size)
    input_shape = recipe.input_shape
    if FLAGS.image_size:
        input_shape = (FLAGS.image_size, FLAGS.image_size, *input_shape[2:])
    keras.utils.set_random_seed(0)
    model = recipes.build(FLAGS.recipe, input_shape=input_shape)
    training.compile_model(model, config)
    # model.fit reads these from compile(); the loop takes them as arguments.
    model.jit_compile = FLAGS.jit_compile
    model.steps_per_execution = FLAGS.steps_per_execution
    data = synthetic_dataset(input_shape, recipe.classes, config.batch_size, FLAGS.steps)
    emit({**machine(), "recipe": FLAGS.recipe, "batch_size": config.batch_size,
          "steps": FLAGS.steps, "rounds": FLAGS.rounds,
          "steps_per_execution": FLAGS.steps_per_execution, "jit_compile": FLAGS.jit_compile})

    drivers = {
        "loop": lambda: loop.fit(model, data, epochs=1, verbose=0, jit_compile=FLAGS.jit_compile,
                                 steps_per_execution=FLAGS.steps_per_execution),
        "fit": lambda: model.fit(data, epochs=1, verbose=0),
    }
    for drive in drivers.values():  # tracing
        drive()
    ratios, cpu_ratios, seconds = [], [], {name: [] for name in drivers}
    for round_index in range(FLAGS.rounds):
        order = list(drivers) if round_index % 2 == 0 else list(reversed(drivers))
        times = {name: timed(drivers[name]) for name in order}
        for name, (wall, _) in times.items():
            seconds[name].append(wall)
        ratios.append(times["fit"][0] / times["loop"][0])
        cpu_ratios.append(times["fit"][1] / times["loop"][1])
        emit({"round": round_index, "first": order[0],
              # microseconds: a test recomputes the ratio from them (3 steps take ~10 ms)
              "loop_seconds": round(times["loop"][0], 6), "fit_seconds": round(times["fit"][0], 6),
              "ratio": round(ratios[-1], 4), "cpu_ratio": round(cpu_ratios[-1], 4)})

    images = FLAGS.steps * config.batch_size
    emit({"recipe": FLAGS.recipe, "batch_size": config.batch_size,
          "steps_per_execution": FLAGS.steps_per_execution, "jit_compile": FLAGS.jit_compile,
          "loop_images_per_second": round(images / median(seconds["loop"]), 1),
          "fit_images_per_second": round(images / median(seconds["fit"]), 1),
          "ratio": round(median(ratios), 4), "cpu_ratio": round(median(cpu_ratios), 4),
          "fastest_ratio": round(min(seconds["fit"]) / min(seconds["loop"]), 4),
          "ratios": [round(ratio, 4) for ratio in ratios],
          "rounds": FLAGS.rounds, "load_average": [round(v, 2) for v in os.getloadavg()]})


if __name__ == "__main__":
    run(main)
