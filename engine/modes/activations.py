"""``--mode=activations``: the lectures' weight-initialization experiment.

Runs on the ``mlp`` recipe unless ``--recipe`` names another one whose builder can
make the experiment's network; writes its statistics and histograms into
``--model_dir`` (default ``runs/<recipe>-activations``).
"""

from __future__ import annotations

import os

from engine.initialization import run_experiment
from engine.rundir import check_writable

EXPERIMENT_RECIPE = "mlp"


def run(args) -> None:
    recipe = args.recipe if "recipe" in args.given else EXPERIMENT_RECIPE
    # ~ expanded as training expands it (it made a folder named ~ in the current one)
    model_dir = os.path.expanduser(args.model_dir or os.path.join("runs", f"{recipe}-activations"))
    check_writable("model_dir", model_dir)
    text, png = run_experiment(args.init, args.activation, model_dir, recipe, args.seed)
    print(f"{text}\nhistograms: {png}")
