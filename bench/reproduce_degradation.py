"""The degradation problem in miniature: plain-20/56 against ResNet-20/56 on CIFAR-10.

    python bench/reproduce_degradation.py --data_dir=../shared/tfds

He et al. 2016, Section 4.2 and Fig. 6: on CIFAR-10 the deeper *plain* network
(plain-56) has a higher training error than the shallower one (plain-20), an
optimization difficulty, not overfitting; with shortcuts (ResNet-56 against
ResNet-20) the deeper network is not worse. Fig. 6 trains for 64k iterations; this
trains each of the four recipes (their builders, He initialization, batch
normalization, the paper's SGD: momentum 0.9, weight decay 1e-4, batch 128, 4-pixel
padding, crops and flips, the per-pixel mean subtracted) for the same fixed budget of
``--steps`` iterations from the same seed, and records the training error on the fly
(each chunk of ``--chunk_steps`` iterations' running error, as Fig. 6's thin curves)
against iterations.

The budget is the miniature: 600 iterations, about the length of the warm-up the paper
gives ResNet-110 ("0.01 to warm up the training until the training error is below 80%
(about 400 iterations), and then go back to 0.1"), so the rate is that warm-up's,
0.01, held constant. There plain-56 stays 20 to 30 points behind plain-20, while
ResNet-56 and ResNet-20 run close, either ahead by a few points from one run to another
(README's figures; about 25 minutes for the four networks on 2 cores of an Intel Xeon). At the paper's 0.1 (``--learning_rate=0.1``) the deeper ResNet too falls
behind over so short a budget (20 points after 600 iterations): its shortcuts pay
only after thousands of iterations.

Writes ``degradation.json`` (the curves, the training error of each network at the end
of the budget, the mean of its last two chunks, and whether the deeper plain net is the
worse one and the deeper ResNet not) and ``degradation.png`` (Fig. 6's left and middle
panels) into ``--output_dir``. A network whose loss diverges is a result too: its curve
ends there (its final error null, the worse of any pair), the others train on, and once
both files are written the run ends in one sentence naming it, with exit code 1.
Skips, saying why, where the prepared dataset is missing. The last line printed is
the result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import sys
import time

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import recipes  # noqa: E402
from bench.common import (FIGURES, SHARED_TFDS, emit, machine, prepared_or_skip, run,  # noqa: E402
                          variant_stem)
from engine import loop, training  # noqa: E402
from engine.data import DataSpec, prepare  # noqa: E402
from engine.rundir import check_writable  # noqa: E402
from engine.session import session  # noqa: E402
from layers.errors import RunFailure, UsageError  # noqa: E402

FAMILIES = ("plain", "resnet")
WARMUP_LEARNING_RATE = 0.01  # He et al. 2016, Sec. 4.2, ResNet-110's first ~400 iterations

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "cifar10", "Dataset, as train.py's --dataset.")
flags.DEFINE_string("data_dir", str(SHARED_TFDS),
                    "TFDS data dir holding the prepared dataset.")
flags.DEFINE_list("depths", ["20", "56"], "The depths compared (CIFAR ResNets: 6n + 2).")
flags.DEFINE_integer("steps", 600, "Training iterations per network (the fixed budget; 600 "
                     "keep the four networks under 30 minutes on 2 cores).",
                     lower_bound=1)
flags.DEFINE_integer("chunk_steps", 20, "Iterations per point of the curves.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipes' (128).",
                     lower_bound=1)
flags.DEFINE_float("learning_rate", WARMUP_LEARNING_RATE,
                   "Learning rate, constant; default: the paper's warm-up rate for ResNet-110, "
                   "0.01 (its training rate, the recipes', is 0.1); positive.")
flags.register_validator("learning_rate", lambda rate: rate > 0,
                         message="must be positive (a rate of zero trains nothing)")
flags.DEFINE_string("figure_name", None,
                    "File name, without extension, of the JSON and the PNG; default: "
                    "degradation, then each setting given another value than its default "
                    "(degradation_steps300_seed1), so a variant keeps README's figure.")
flags.DEFINE_integer("seed", 42, "Initialization and shuffling seed (the same for all).")
flags.DEFINE_string("output_dir", str(FIGURES), "Where the JSON and the PNG go.")
# The settings that name a variant's files (--figure_name's default).
VARIED = ("dataset", "depths", "steps", "chunk_steps", "batch_size", "learning_rate", "seed")


class TrainingError(keras.callbacks.Callback):
    """The training error (%) of each chunk of ``chunk_steps`` iterations, from the
    epoch's running accuracy (Keras's mean over the batches so far)."""

    def __init__(self, name: str, chunk_steps: int):
        super().__init__()
        self.name, self.chunk_steps, self.points = name, chunk_steps, []
        self.correct_before = 0.0  # running accuracy x iterations at the last point

    def on_train_batch_end(self, batch, logs=None):
        iterations = batch + 1
        if iterations % self.chunk_steps and iterations != self.params["steps"]:
            return
        correct = logs["accuracy"] * iterations
        done_before = self.points[-1][0] if self.points else 0
        error = 100 * (1 - (correct - self.correct_before) / (iterations - done_before))
        self.points.append((iterations, error))
        self.correct_before = correct
        emit({"network": self.name, "iterations": iterations, "training_error": round(error, 2)})


def train(name: str, data, config, steps: int, chunk_steps: int, seed: int) -> dict:
    """Trains recipe ``name`` for ``steps`` iterations (one pass over a stream of
    batches that goes on through the epochs of the training split); its curve and
    seconds; where the loss diverged, the sentence saying where (``diverged``) and the
    curve up to there."""
    keras.utils.set_random_seed(seed)
    model = recipes.build(name, classes=data.source.num_classes, input_shape=data.input_shape)
    training.compile_model(model, config)
    curve = TrainingError(name, chunk_steps)
    started = time.perf_counter()
    diverged = None
    try:
        loop.fit(model, data.pipelines.train.repeat().take(steps), epochs=1, verbose=0,
                 callbacks=[training.StopOnDivergence(), curve])
    except training.Diverged as failure:
        diverged = failure.where
        emit({"network": name, "diverged": diverged})
    seconds = time.perf_counter() - started
    keras.backend.clear_session()
    return {"network": name, "iterations": [point[0] for point in curve.points],
            "training_error": [point[1] for point in curve.points],
            "seconds": round(seconds, 1), "diverged": diverged}


def final_error(curve: dict, points: int = 2) -> float | None:
    """The training error at the end of the budget: the mean of the last ``points``
    chunks (one chunk's running error is noisy); None for a network that diverged."""
    if curve["diverged"]:
        return None
    errors = curve["training_error"][-points:]
    return round(sum(errors) / len(errors), 2)


def deeper_is_worse(final: dict, deep: str, shallow: str) -> bool | None:
    """Whether network ``deep`` ends with the higher training error than ``shallow``; a
    diverged one (None) is the worse, and two diverged ones compare to None."""
    if final[deep] is None or final[shallow] is None:
        return None if final[deep] is final[shallow] else final[deep] is None
    return final[deep] > final[shallow]


def plot(curves: dict, depths: list[int], path: str, title: str) -> None:
    """Fig. 6's left and middle panels: training error against iterations."""
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(1, len(FAMILIES), sharey=True)
    for axes, family in zip(panels, FAMILIES):
        for index, depth in enumerate(depths):  # any number of depths, each its colour
            curve = curves[f"{family}{depth}"]
            label = f"{'plain' if family == 'plain' else 'ResNet'}-{depth}" + (
                " (diverged)" if curve["diverged"] else "")
            axes.plot(curve["iterations"], curve["training_error"], color=f"C{index + 1}",
                      label=label)
        axes.set(xlabel="iterations", title="plain networks" if family == "plain" else "ResNets")
        axes.grid(alpha=0.3)
        axes.legend()
    panels[0].set_ylabel("training error (%)")
    figure.suptitle(title)
    figure.savefig(path, dpi=80)


def main(argv):
    del argv
    for depth in FLAGS.depths:
        if not depth.isdigit() or (int(depth) - 2) % 6:
            raise UsageError(f"--depths takes the CIFAR networks' depths 6n + 2 (20, 32, 44, "
                             f"56, 110); received {depth!r}.")
    depths = sorted({int(depth) for depth in FLAGS.depths})
    if len(depths) < 2:
        raise UsageError(f"--depths compares two depths or more, such as 20,56; received "
                         f"{','.join(FLAGS.depths)!r}.")
    names = [f"{family}{depth}" for family in FAMILIES for depth in depths]
    for name in names:
        recipes.get(name)  # an unknown depth is one sentence, before any work
    config = recipes.get(names[0]).training
    if FLAGS.batch_size:
        config = dataclasses.replace(config, batch_size=FLAGS.batch_size)
    config = dataclasses.replace(config, learning_rate=FLAGS.learning_rate)
    for name in names:  # one input pipeline serves all four networks
        other = recipes.get(name).training
        assert (other.augmentation, other.normalization) == (
            config.augmentation, config.normalization), name
    check_writable("output_dir", FLAGS.output_dir)  # before any work
    if not prepared_or_skip(FLAGS.dataset, FLAGS.data_dir):
        return
    started = time.perf_counter()
    header = machine()
    emit({**header, "experiment": "degradation", "dataset": FLAGS.dataset,
          "networks": names, "steps": FLAGS.steps, "chunk_steps": FLAGS.chunk_steps,
          "batch_size": config.batch_size, "training": dataclasses.asdict(config)})
    spec = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                    batch_size=config.batch_size, seed=FLAGS.seed,
                    augmentation=config.augmentation, normalization=config.normalization,
                    validation_fraction=config.validation_fraction)
    curves = {}
    with session(seed=FLAGS.seed):
        data = prepare(spec, recipes.get(names[0]).input_shape, classes=10)
        for name in names:
            curves[name] = train(name, data, dataclasses.replace(
                recipes.get(name).training, batch_size=config.batch_size,
                learning_rate=config.learning_rate), FLAGS.steps,
                FLAGS.chunk_steps, FLAGS.seed)
    final = {name: final_error(curve) for name, curve in curves.items()}
    shallow, deep = depths[0], depths[-1]
    resnet_deeper_is_worse = deeper_is_worse(final, f"resnet{deep}", f"resnet{shallow}")
    result = {
        "experiment": "degradation", "dataset": FLAGS.dataset,
        "iterations": FLAGS.steps, "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "final_training_error": final,
        "plain_deeper_is_worse": deeper_is_worse(final, f"plain{deep}", f"plain{shallow}"),
        "resnet_deeper_is_not_worse": None if resnet_deeper_is_worse is None
        else not resnet_deeper_is_worse,
        "seconds": round(time.perf_counter() - started, 1),
    }
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    stem = FLAGS.figure_name or variant_stem("degradation", VARIED)
    figure = os.path.join(FLAGS.output_dir, f"{stem}.png")
    plot(curves, depths, figure,
         f"{FLAGS.dataset}: training error over the first {result['iterations']:,} iterations "
         f"(batch {config.batch_size}, rate {config.learning_rate:g}), He et al. 2016 Fig. 6 "
         f"in miniature")
    path = os.path.join(FLAGS.output_dir, f"{stem}.json")
    with open(path, "w") as file:
        json.dump({**header, **result, "curves": curves}, file, indent=1)
    emit({**result, "figure": figure, "json": path})
    diverged = [name for name in names if curves[name]["diverged"]]
    if diverged:
        raise RunFailure(
            f"{', '.join(diverged)} diverged (the first: {curves[diverged[0]]['diverged']}); "
            f"{'their curves end' if len(diverged) > 1 else 'its curve ends'} there in "
            f"{figure} and {path}; lower --learning_rate and run again.")


if __name__ == "__main__":
    run(main)
