"""LeNet-5 as published, trained as published: test error per pass against the paper's 0.95%.

    python bench/reproduce_lenet5.py --data_dir=../shared/tfds

LeCun et al. 1998, Section III-C and Fig. 5: LeNet-5 trained on the 60,000 MNIST
training images (no distortions) for 20 passes reaches 0.95% test error; Fig. 5
plots the training error (measured on the fly, as training proceeds) and the test
error after each pass. This trains the ``lenet5`` recipe exactly as a run would
(its builder, its configuration: one update per image, the paper's rates per pass,
the -0.1/1.175 input scaling, all 60,000 images with ``--validation_fraction=0``)
and measures the test error after every pass.

One departure, in speed only: ``--steps_per_execution`` updates (1,000 by default)
run per call of the XLA-compiled step (``engine.loop.fit(steps_per_execution=...,
jit_compile=True)``) on one thread (a batch-1 step is too small to share: TensorFlow's
intra-op pool is set to 1 thread; the input pipeline keeps its own threads), so the
1.2 million batch-1 updates take about 20 minutes rather than the 90 a run of
``train.py`` takes; the updates, their order and the schedule are the same (the step
schedule changes the rate between passes, never inside one).

``--criterion`` chooses the output loss among Section II-C's: the recipe's
cross-entropy on the negated RBF penalties (the MAP criterion in the limit of no
rubbish class), ``map`` (the MAP criterion ``y_D + log(exp(-j) + sum_i exp(-y_i))``
with the rubbish class's penalty ``j``, ``--rubbish_penalty``, for which the paper
gives no value) or ``mse`` (the MLE criterion, the labelled class's penalty ``y_D``
alone). Before training, the diagonal curvature the paper's optimizer would use
(Appendix C, Gauss-Newton second derivatives on ``--curvature_patterns`` training
images) is printed per weight tensor beside the squared gradient ``sdlm`` averages,
and the damping mu (:mod:`bench.curvature`); after each pass, the paper's estimate at
the weights then is recorded beside the ``h_kk`` the optimizer holds. ``--curvature=gauss_newton`` trains
with that estimate in place of the recipe's running squared gradient, as Appendix C
does: re-estimated on ``--curvature_patterns`` training images before each pass and
held for the pass (``--curvature_every=N`` also re-estimates it every N updates).
``--curvature=connection_squared_gradient`` keeps ``sdlm``'s running squared gradient
but sums each weight's over the connections that share it, ``sum (x_j delta_i)^2``,
where ``sdlm`` squares the sum (:class:`bench.curvature.ConnectionSquaredGradient`).

Writes ``lenet5.json`` (per pass: training error, test error, seconds) and
``lenet5.png`` (Fig. 5's axes) into ``--output_dir`` (``lenet5_map.*``,
``lenet5_mse.*`` for the other criteria, ``_gauss_newton`` or
``_connection_squared_gradient`` added for those curvatures, then the settings that differ
from the published runs', as ``_seed3`` or ``_digits_2passes``: :func:`file_stem`). Skips,
saying why, where the
prepared dataset is missing. The last line printed is the result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import re
import sys
import time

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import recipes  # noqa: E402
from bench import curvature  # noqa: E402
from bench.common import FIGURES, SHARED_TFDS, emit, machine, prepared_or_skip, run  # noqa: E402
from engine import loop, schedules, training  # noqa: E402
from engine.data import DataSpec, prepare  # noqa: E402
from engine.evaluate import accuracy, predict  # noqa: E402
from engine.optimizers import SDLM_CURVATURE_PATTERNS, SDLM_DAMPING  # noqa: E402
from engine.rundir import check_writable  # noqa: E402
from engine.session import session  # noqa: E402
from layers.errors import UsageError  # noqa: E402

PAPER_TEST_ERROR = 0.95  # percent, Section III-C ("LeNet-5 ... 0.95% on the test set")
EVALUATION_BATCH = 1000
CRITERIA = ("cross_entropy", "map", "mse")
# --curvature's choices, each with what the figure's title adds for it.
CURVATURE_TITLES = {"squared_gradient": "", "gauss_newton": ", Gauss-Newton curvature",
                    "connection_squared_gradient": ", per-connection squared gradient"}

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mnist", "Dataset, as train.py's --dataset.")
flags.DEFINE_string("data_dir", str(SHARED_TFDS),
                    "TFDS data dir holding the prepared dataset.")
flags.DEFINE_integer("epochs", None, "Passes over the training set; default: the recipe's (20).",
                     lower_bound=1)
flags.DEFINE_float("validation_fraction", None,
                   "Share of the training split held out; default: the recipe's (0: all 60,000 "
                   "images train, as in the paper).", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_integer("steps_per_execution", 1000, "Updates per call of the compiled step.",
                     lower_bound=1)
flags.DEFINE_boolean("jit_compile", True, "Compile the training step with XLA.")
flags.DEFINE_enum("criterion", "cross_entropy", CRITERIA,
                  "Output loss (Section II-C): the recipe's cross-entropy, 'map' with a rubbish "
                  "class, 'mse' (the labelled class's penalty).")
flags.DEFINE_float("rubbish_penalty", 10.0, "j of the MAP criterion's rubbish class, exp(-j).")
flags.register_validator("rubbish_penalty", math.isfinite,
                         message="must be a finite number (j of exp(-j), such as 10)")
flags.DEFINE_integer("curvature_patterns", SDLM_CURVATURE_PATTERNS,
                     "Training images the curvature comparison (and the gauss_newton "
                     "curvature) averages over (0: no comparison).", lower_bound=0)
flags.DEFINE_enum("curvature", "squared_gradient", list(CURVATURE_TITLES),
                  "sdlm's h_kk: the recipe's running squared gradient, the paper's "
                  "Gauss-Newton diagonal, re-estimated before each pass (Appendix C), or the "
                  "running squared gradient summed over each weight's connections.")
flags.DEFINE_integer("curvature_every", 0,
                     "With --curvature=gauss_newton, also re-estimate it after every this many "
                     "updates within a pass (0: once per pass, as Appendix C).", lower_bound=0)
flags.DEFINE_integer("seed", 42, "Initialization and shuffling seed.")
flags.DEFINE_string("output_dir", str(FIGURES), "Where the JSON and the PNG go.")


class TestError(keras.callbacks.Callback):
    """After every pass: the on-the-fly training error (the pass's running accuracy, as
    Fig. 5 measures it), the test error and the pass's wall seconds, printed as a JSON
    line; with ``curvature``, also what it returns then (:func:`curvatures_after_pass`).
    ``classifier`` is the recipe's model (class probabilities), whose weights the
    trained model shares."""

    def __init__(self, classifier, test_batches, curvature=None):
        super().__init__()
        self.classifier, self.test_batches, self.passes = classifier, test_batches, []
        self.curvature = curvature

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        test_accuracy = accuracy(*predict(self.classifier, self.test_batches))
        self.passes.append({"pass": epoch + 1, "learning_rate": logs["learning_rate"],
                            "training_error": 100 * (1 - logs["accuracy"]),
                            "test_error": 100 * (1 - test_accuracy),
                            "seconds": round(seconds, 1)})
        if self.curvature:
            self.passes[-1]["curvature"] = self.curvature()
        emit(self.passes[-1])


def penalty_criterion(criterion: str, rubbish_penalty: float):
    """Section II-C's loss on the RBF penalties ``y`` of an image labelled ``D``: ``mse``
    is ``y_D``, ``map`` is ``y_D + log(exp(-j) + sum_i exp(-y_i))``."""

    def loss(labels, penalties):
        labels = ops.reshape(ops.cast(labels, "int32"), (-1, 1))
        labelled = ops.take_along_axis(penalties, labels, axis=1)[:, 0]
        if criterion == "mse":
            return labelled
        rubbish = ops.full_like(penalties[:, :1], -rubbish_penalty)
        return labelled + ops.logsumexp(ops.concatenate([-penalties, rubbish], axis=1), axis=1)

    loss.__name__ = criterion
    return loss


def nearest_code(labels, penalties):
    """The RBF's decision is right: the labelled class has the lowest penalty."""
    return keras.metrics.sparse_categorical_accuracy(labels, -penalties)


def trained_model(model: keras.Model, config) -> keras.Model:
    """The model the run trains, compiled: the recipe's own for its cross-entropy,
    otherwise its RBF penalties (same weights) under ``--criterion``."""
    training.compile_model(model, config)
    if FLAGS.curvature == "gauss_newton":  # the recipe's optimizer, its h_kk held
        model.optimizer = curvature.HeldCurvatureSDLM.from_config(model.optimizer.get_config())
    if FLAGS.curvature == "connection_squared_gradient":
        model.optimizer = curvature.ConnectionSquaredGradientSDLM.from_config(
            model.optimizer.get_config())
    if FLAGS.criterion == "cross_entropy":
        network, loss, metrics = model, model.loss, ["accuracy"]
    else:
        network = keras.Model(model.input, model.get_layer("rbf").output, name="lenet5_penalties")
        loss = penalty_criterion(FLAGS.criterion, FLAGS.rubbish_penalty)
        metrics = [keras.metrics.MeanMetricWrapper(nearest_code, name="accuracy")]
    if FLAGS.curvature == "connection_squared_gradient":
        network = curvature.ConnectionSquaredGradient(network)
    elif network is model:
        return model
    network.compile(optimizer=model.optimizer, loss=loss, metrics=metrics)
    return network


def compare_curvatures(network: keras.Model, loss, patterns) -> list[dict]:
    """Prints and returns, per weight tensor, the paper's Gauss-Newton curvature and the
    squared gradient of ``loss`` on ``patterns`` (images, labels), with mu."""
    rows = curvature.compare(network, loss, *patterns)
    for row in rows:
        emit({"curvature_at_initialization": row, "damping": SDLM_DAMPING})
    return rows


def curvatures_after_pass(network: keras.Model, loss, optimizer, patterns):
    """A function giving, per weight tensor, the paper's Gauss-Newton curvature of
    ``loss`` on ``patterns`` (images, labels) at the current weights beside the ``h_kk``
    ``optimizer`` holds (``sdlm``'s running squared gradient, the per-connection one, or
    the paper's estimate held since the pass began), each the mean over the tensor's
    entries."""

    def rows():
        paper = curvature.gauss_newton_diagonal(network, loss, *patterns)
        return [{"weights": variable.path, "gauss_newton": float(paper[variable.path].mean()),
                 "optimizer": float(ops.mean(optimizer.curvature(variable)))}
                for variable in network.trainable_variables]

    return rows


def plot(passes: list[dict], path: str, title: str) -> None:
    """Fig. 5's axes: error rate (%) against training-set passes, training and test."""
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    numbers = [entry["pass"] for entry in passes]
    axes.plot(numbers, [entry["training_error"] for entry in passes], "o-", ms=3,
              label="training error (on the fly)")
    axes.plot(numbers, [entry["test_error"] for entry in passes], "s-", ms=3, label="test error")
    axes.axhline(PAPER_TEST_ERROR, color="gray", ls="--",
                 label=f"paper: {PAPER_TEST_ERROR}% test error after 20 passes")
    axes.set(xlabel="training set iterations (passes over the training images)",
             ylabel="error rate (%)", title=title, xticks=numbers,
             ylim=(0, max(5.0, 1.05 * max(entry["test_error"] for entry in passes))))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.savefig(path, dpi=80)


def file_stem(other_epochs: bool) -> str:
    """The name of the run's JSON and PNG: the criterion and the curvature, then each
    setting given another value than the published runs' (the curvature's estimate, no
    patterns drawn, ``j``, the seed, the dataset, the number of passes where ``other_epochs``, a held-out
    fraction), so that a variant of README's commands does not overwrite README's
    figures."""
    parts = ["lenet5"]
    if FLAGS.criterion != "cross_entropy":
        parts.append(FLAGS.criterion)
    if FLAGS.curvature != "squared_gradient":
        parts.append(FLAGS.curvature)
    if (FLAGS.curvature == "gauss_newton"  # what it trains with, not only what it compares
            and FLAGS.curvature_every != FLAGS["curvature_every"].default):
        parts.append(f"every{FLAGS.curvature_every}")
    # Drawing the patterns takes a pass's shuffle: without any (0) every run trains on
    # another order.
    if FLAGS.curvature_patterns != FLAGS["curvature_patterns"].default and (
            FLAGS.curvature == "gauss_newton" or not FLAGS.curvature_patterns):
        parts.append(f"patterns{FLAGS.curvature_patterns}")
    if FLAGS.criterion == "map" and FLAGS.rubbish_penalty != FLAGS["rubbish_penalty"].default:
        parts.append(f"j{FLAGS.rubbish_penalty:g}")
    if FLAGS.seed != FLAGS["seed"].default:
        parts.append(f"seed{FLAGS.seed}")
    if FLAGS.dataset != FLAGS["dataset"].default:
        parts.append(re.sub(r"[^A-Za-z0-9]+", "-", FLAGS.dataset).strip("-"))
    if other_epochs:
        parts.append(f"{FLAGS.epochs}passes")
    if FLAGS.validation_fraction:
        parts.append(f"validation{FLAGS.validation_fraction:g}")
    return "_".join(parts)


def main(argv):
    del argv
    started = time.perf_counter()
    recipe = recipes.get("lenet5")
    config = recipe.training
    if FLAGS.epochs:
        config = dataclasses.replace(config, epochs=FLAGS.epochs)
    if FLAGS.validation_fraction is not None:
        config = dataclasses.replace(config, validation_fraction=FLAGS.validation_fraction)
    spec = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                    batch_size=config.batch_size, seed=FLAGS.seed,
                    augmentation=config.augmentation, normalization=config.normalization,
                    validation_fraction=config.validation_fraction,
                    deterministic=True)  # one update per image: --seed fixes their order
    if FLAGS.curvature == "gauss_newton" and not FLAGS.curvature_patterns:
        raise UsageError("--curvature=gauss_newton estimates the curvature on "
                         "--curvature_patterns training images: give it a positive number.")
    if FLAGS.curvature_every and FLAGS.curvature != "gauss_newton":
        raise UsageError("--curvature_every re-estimates the Gauss-Newton curvature: add "
                         "--curvature=gauss_newton, or drop --curvature_every.")
    if FLAGS["rubbish_penalty"].present and FLAGS.criterion != "map":
        raise UsageError(f"--rubbish_penalty is j of the MAP criterion's rubbish class, not "
                         f"used by --criterion={FLAGS.criterion}: add --criterion=map, or "
                         "drop --rubbish_penalty.")
    check_writable("output_dir", FLAGS.output_dir)  # before any work
    if not prepared_or_skip(FLAGS.dataset, FLAGS.data_dir):
        return
    header = machine()
    emit({**header, "recipe": "lenet5", "dataset": FLAGS.dataset, "epochs": config.epochs,
          "batch_size": config.batch_size, "steps_per_execution": FLAGS.steps_per_execution,
          "jit_compile": FLAGS.jit_compile, "criterion": FLAGS.criterion,
          "curvature": FLAGS.curvature, "training": dataclasses.asdict(config)})
    tf.config.threading.set_intra_op_parallelism_threads(1)
    with session(seed=FLAGS.seed):
        data = prepare(spec, recipe.input_shape, classes=recipe.classes)
        model = recipes.build("lenet5", classes=data.source.num_classes,
                              input_shape=data.input_shape)
        network = trained_model(model, config)
        # The first --curvature_patterns training images, drawn once: another pass over
        # the shuffled training set would move the order of the passes that train.
        patterns = (next(iter(data.pipelines.train.unbatch().batch(FLAGS.curvature_patterns)))
                    if FLAGS.curvature_patterns else None)
        compared = patterns is not None
        chain = getattr(network, "network", network)  # ConnectionSquaredGradient's own
        curvatures = compare_curvatures(chain, network.loss, patterns) if compared else []
        test_error = TestError(model, data.pipelines.test.unbatch().batch(EVALUATION_BATCH),
                               curvatures_after_pass(chain, network.loss, network.optimizer,
                                                     patterns) if compared else None)
        paper_curvature = ([curvature.PaperCurvature(network, data.pipelines.train,
                                           FLAGS.curvature_patterns, FLAGS.curvature_every)]
                           if FLAGS.curvature == "gauss_newton" else [])
        loop.fit(network, data.pipelines.train, epochs=config.epochs, verbose=0,
                 callbacks=[*paper_curvature, training.StopOnDivergence(),
                            *schedules.learning_rate_callbacks(config), test_error],
                 jit_compile=FLAGS.jit_compile, steps_per_execution=FLAGS.steps_per_execution)
    passes = test_error.passes
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    stem = file_stem(config.epochs != recipe.training.epochs)
    figure = os.path.join(FLAGS.output_dir, f"{stem}.png")
    images = data.source.sizes["train"]
    plot(passes, figure, f"LeNet-5 on {FLAGS.dataset} ({images:,} training images, batch 1)\n"
                         f"{FLAGS.criterion.replace('_', '-')}{CURVATURE_TITLES[FLAGS.curvature]}")
    result = {"experiment": "lenet5", "criterion": FLAGS.criterion, "curvature": FLAGS.curvature,
              "seed": FLAGS.seed,
              **({"rubbish_penalty": FLAGS.rubbish_penalty} if FLAGS.criterion == "map" else {}),
              **({"curvature_every": FLAGS.curvature_every}
                 if FLAGS.curvature == "gauss_newton" else {}),
              "dataset": FLAGS.dataset, "train_images": images,
              "test_images": data.source.sizes["test"], "epochs": config.epochs,
              "final_test_error": passes[-1]["test_error"],
              "paper_test_error": PAPER_TEST_ERROR,
              "seconds": round(time.perf_counter() - started, 1), "figure": figure}
    path = os.path.join(FLAGS.output_dir, f"{stem}.json")
    with open(path, "w") as file:  # the figure beside it, wherever the folder goes
        json.dump({**header, **result, "figure": os.path.basename(figure), "passes": passes,
                   "damping": SDLM_DAMPING,
                   "curvature_at_initialization": curvatures}, file, indent=1)
    emit({**result, "json": path})


if __name__ == "__main__":
    run(main)
