"""The lectures' "activation statistics" experiment: what initialization does to a deep net.

CS231n, "Training neural networks I", Weight initialization: a 10-layer network
of 500 units per layer, tanh or ReLU, fed 1000 unit-Gaussian 500-d inputs; the
per-layer mean and std of the activations at initialization show that

* N(0, 0.01) weights shrink the activations layer after layer (tanh: std 0.21,
  0.048, 0.011, ... 0.000000 at layer 10: "all activations become zero");
* N(0, 1) weights saturate tanh at -1 and +1 (std 0.98 in every layer);
* Xavier weights (Glorot and Bengio 2010) keep tanh reasonable (std 0.63 ... 0.23)
  but halve the variance of every ReLU layer;
* He weights (He et al. 2015, "note additional /2") keep ReLU's std steady (about 0.83).

The network is the ``mlp`` recipe with ``hidden_units=(500,) * 10``, no dropout
and the activation and initializer under study (its biases start at zero, so it
computes the lecture's bias-free ``tanh(X W)``).  "Xavier" is Glorot's normal
``N(0, 2 / (fan_in + fan_out))``; the lecture's code writes ``randn / sqrt(fan_in)``,
the same distribution for these 500x500 layers.  "He" is ``N(0, 2 / fan_in)``.
Both are untruncated, as in the lecture's ``np.random.randn``.
"""

from __future__ import annotations

import inspect
import os

import keras
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import recipes
from engine.choices import ACTIVATIONS, INITIALIZATIONS, check
from layers.errors import UsageError

DEPTH = 10
WIDTH = 500
EXAMPLES = 1000

# Weight initializations of the experiment (engine.choices.INITIALIZATIONS), as Keras
# initializer configs: each Dense layer deserializes its own instance, so every layer
# draws different weights.
INITIALIZER_CONFIGS = {
    "normal_0.01": {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.01}},
    "normal_1": {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 1.0}},
    "xavier": {"class_name": "VarianceScaling",
               "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "untruncated_normal"}},
    "he": {"class_name": "VarianceScaling",
           "config": {"scale": 2.0, "mode": "fan_in", "distribution": "untruncated_normal"}},
}
# What the recipe's builder must accept to make the experiment's network.
BUILDER_ARGUMENTS = ("hidden_units", "activation", "dropout", "kernel_initializer")


def hidden_activations(init: str, activation: str, recipe: str = "mlp", seed: int = 0, *,
                       depth: int = DEPTH, width: int = WIDTH, examples: int = EXAMPLES):
    """Unit-Gaussian inputs ``(examples, width)`` and each hidden layer's activations.

    Builds ``recipe`` as ``depth`` ``activation`` layers of ``width`` units
    initialized with ``INITIALIZER_CONFIGS[init]`` and runs it once, at
    initialization; ``seed`` fixes both the weights and the inputs.
    """
    check("initialization", init, INITIALIZATIONS)
    check("activation", activation, ACTIVATIONS)
    accepted = inspect.signature(recipes.get(recipe).builder).parameters
    missing = [argument for argument in BUILDER_ARGUMENTS if argument not in accepted]
    if missing:
        raise UsageError(f"Recipe {recipe!r} cannot build the experiment's {depth}x{width} "
                         f"network: its builder takes no {', '.join(missing)}; use --recipe=mlp.")
    keras.utils.set_random_seed(seed)
    model = recipes.build(recipe, input_shape=(width,), classifier_activation=None,
                          hidden_units=(width,) * depth, activation=activation, dropout=0.0,
                          kernel_initializer=INITIALIZER_CONFIGS[init])
    hidden = [model.get_layer(f"hidden{index}").output for index in range(1, depth + 1)]
    probe = keras.Model(model.input, hidden)
    inputs = np.random.default_rng(seed).standard_normal((examples, width)).astype("float32")
    return inputs, [keras.ops.convert_to_numpy(layer) for layer in probe(inputs)]


def layer_statistics(activations) -> list[tuple[float, float]]:
    """``(mean, std)`` of each array, over all its entries."""
    return [(float(np.mean(layer)), float(np.std(layer))) for layer in activations]


def format_statistics(inputs, activations) -> str:
    """The lecture's printout: the input's mean and std, then each hidden layer's."""
    (mean, std), *hidden = layer_statistics([inputs, *activations])
    lines = [f"input layer had mean {mean:f} and std {std:f}"]
    lines += [f"hidden layer {index} had mean {mean:f} and std {std:f}"
              for index, (mean, std) in enumerate(hidden, start=1)]
    return "\n".join(lines)


def plot_statistics(activations, activation: str, path: str, title: str) -> None:
    """Writes the lecture's figures as one PNG: the layer means and stds, then one
    30-bin histogram per layer.

    tanh histograms span its range, [-1, 1], as in the lecture; ReLU ones span
    [0, 3 std of layer 1], so that a collapse piles up at 0, and the share of each
    layer beyond (:func:`histogram`) tells an explosion.
    """
    statistics = layer_statistics(activations)
    layers = range(1, len(activations) + 1)
    low, high = (-1.0, 1.0) if activation == "tanh" else (0.0, 3.0 * statistics[0][1])
    figure = Figure(figsize=(2.0 * len(activations), 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, len(activations))
    half = len(activations) // 2
    for axes, column, name, style in ((figure.add_subplot(grid[0, :half]), 0, "mean", "ob-"),
                                      (figure.add_subplot(grid[0, half:]), 1, "std", "or-")):
        axes.plot(layers, [values[column] for values in statistics], style)
        axes.set(title=f"layer {name}", xlabel="hidden layer", xticks=list(layers))
    axes.set_ylim(bottom=0.0)  # the std plot: a collapse must look like one
    for index, layer in enumerate(activations):
        axes = figure.add_subplot(grid[1, index])
        beyond = histogram(axes, layer, low, high)
        axes.set_title(f"layer {index + 1}\nstd {statistics[index][1]:.2g}{beyond}", fontsize=9)
        axes.set_yticks([])
    figure.suptitle(title)
    figure.savefig(path, dpi=80)


def histogram(axes, layer: np.ndarray, low: float, high: float, **style) -> str:
    """Draws the values of ``layer`` in [``low``, ``high``] on ``axes`` in 30 bins, and
    returns what a title says of those above ``high`` ("\\n5.1% > 2.9"; nothing where
    there are none). Clipped into the last bin, they read as a pile-up there: with He's
    ReLU layers, 4 to 6% of each layer lie beyond 3 std of layer 1, eight times the
    values of the last bin's own width."""
    values = layer.ravel()
    axes.hist(values, bins=30, range=(low, high), **style)
    above = float(np.mean(values > high))
    return f"\n{above:.1%} > {high:.2g}" if above else ""


def run_experiment(init: str, activation: str, model_dir: str, recipe: str = "mlp",
                   seed: int = 0) -> tuple[str, str]:
    """Runs the experiment and writes ``activations_{init}_{activation}.txt`` and ``.png``
    into ``model_dir``; returns the text and the PNG's path."""
    inputs, activations = hidden_activations(init, activation, recipe, seed)
    title = (f"{recipe}: {DEPTH} {activation} layers of {WIDTH} units, init {init}, "
             f"{EXAMPLES} unit-Gaussian inputs")
    text = f"{title}\n{format_statistics(inputs, activations)}"
    os.makedirs(model_dir, exist_ok=True)
    stem = os.path.join(model_dir, f"activations_{init}_{activation}")
    with open(f"{stem}.txt", "w") as file:
        file.write(text + "\n")
    plot_statistics(activations, activation, f"{stem}.png", title)
    return text, f"{stem}.png"
