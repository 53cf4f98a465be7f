"""The lectures' initialization experiment, its four settings in one figure.

    python bench/reproduce_initialization.py

CS231n, "Training neural networks I": a 10-layer net of 500 units fed 1,000
unit-Gaussian inputs, looked at once, at initialization (``--mode=activations``,
:mod:`engine.initialization`). The four settings the lecture walks through, one row
of the figure each, one histogram per hidden layer:

* N(0, 0.01) weights, tanh: the activations shrink layer after layer to zero;
* N(0, 1) weights, tanh: every unit saturates at -1 or +1;
* Xavier weights, tanh: the distribution stays spread over the layers;
* He weights, ReLU: the same for ReLU (Xavier would halve its variance every layer).

Writes ``initialization.json`` (each setting's per-layer mean and std) and
``initialization.png`` into ``--output_dir``; the last line printed is the result.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bench.common import FIGURES, emit, machine, run, variant_stem  # noqa: E402
from engine.initialization import (DEPTH, EXAMPLES, WIDTH, hidden_activations,  # noqa: E402
                                   histogram, layer_statistics)
from engine.rundir import check_writable  # noqa: E402

# (initialization, activation): the lecture's four settings, in its order.
SETTINGS = (("normal_0.01", "tanh"), ("normal_1", "tanh"), ("xavier", "tanh"), ("he", "relu"))
LABELS = {"normal_0.01": "N(0, 0.01)", "normal_1": "N(0, 1)", "xavier": "Xavier", "he": "He"}

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", str(FIGURES), "Where the JSON and the PNG go.")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the inputs.")


def plot(results: list[dict], path: str) -> None:
    """One row per setting, one 30-bin histogram per hidden layer (tanh over [-1, 1],
    ReLU over [0, 3 std of layer 1] with the share above, as ``--mode=activations`` draws
    them)."""
    figure = Figure(figsize=(1.5 * DEPTH, 1.6 * len(results) + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(results), DEPTH, squeeze=False)
    for row, result in zip(grid, results):
        stds = [std for _, std in result["layers"]]
        low, high = (-1.0, 1.0) if result["activation"] == "tanh" else (0.0, 3.0 * stds[0])
        for index, (axes, layer) in enumerate(zip(row, result["activations"])):
            beyond = histogram(axes, layer, low, high, color="tab:blue"
                               if result["activation"] == "tanh" else "tab:orange")
            axes.set_yticks([])
            axes.tick_params(labelsize=7)
            axes.set_title(f"layer {index + 1}: std {stds[index]:.2g}{beyond}", fontsize=8)
        row[0].set_ylabel(f"{LABELS[result['init']]}\n{result['activation']}", fontsize=10)
    figure.suptitle(f"Activations at initialization: {DEPTH} layers of {WIDTH} units, "
                    f"{EXAMPLES} unit-Gaussian inputs (CS231n, Training neural networks I)")
    figure.savefig(path, dpi=72)


def significant(value: float) -> float:
    """``value`` to 4 significant digits: N(0, 0.01)'s last tanh layer has a std of 3e-7."""
    return float(f"{value:.4g}")


def main(argv):
    del argv
    check_writable("output_dir", FLAGS.output_dir)  # before any work
    header = machine()
    emit(header)
    results = []
    for init, activation in SETTINGS:
        _, activations = hidden_activations(init, activation, seed=FLAGS.seed)
        statistics = layer_statistics(activations)
        results.append({"init": init, "activation": activation, "layers": statistics,
                        "activations": activations})
        emit({"init": init, "activation": activation,
              "std": [significant(std) for _, std in statistics]})
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    stem = variant_stem("initialization", ("seed",))
    figure = os.path.join(FLAGS.output_dir, f"{stem}.png")
    plot(results, figure)
    record = {**header, "experiment": "initialization", "depth": DEPTH, "width": WIDTH,
              "examples": EXAMPLES, "seed": FLAGS.seed,
              "settings": [{"init": result["init"], "activation": result["activation"],
                            "mean": [mean for mean, _ in result["layers"]],
                            "std": [std for _, std in result["layers"]]}
                           for result in results]}
    path = os.path.join(FLAGS.output_dir, f"{stem}.json")
    with open(path, "w") as file:
        json.dump(record, file, indent=1)
    emit({"experiment": "initialization", "json": path, "figure": figure,
          "last_layer_std": {f"{result['init']}_{result['activation']}":
                             significant(result["layers"][-1][1]) for result in results}})


if __name__ == "__main__":
    run(main)
