"""``--mode=summary``: what the recipe is and where it comes from (its description,
paper and table), then its per-layer table, the way the lectures draw VGG-16, at its
paper's input or at ``--image_size`` (the network a run at that size builds). The network
is built without drawing its weights: their shapes are all a summary needs, and VGG-16's
at ``--image_size=4096`` are 34 billion (a fc6 of 8.4M x 4096)."""

from __future__ import annotations

import re

import keras

import recipes
from recipes.summary import format_summary


def run(args) -> None:
    recipe = recipes.get(args.recipe)
    native = recipe.input_shape
    side = args.image_size
    input_shape = (side, side, *native[2:]) if side else None
    # The year where the citation has none of its own ("NIPS 2012" has; VGG's "ICLR 2015"
    # beside its arXiv year, 2014, read as two dates).
    dated = recipe.paper if re.search(r"\b(19|20)\d\d\b", recipe.paper) \
        else f"{recipe.paper} ({recipe.year})"
    with keras.StatelessScope(initialize_variables=False):  # variables of shapes, no values
        model = recipes.build(args.recipe, input_shape=input_shape)  # one that does not fit
    print(f"{recipe.name}: {recipe.description}\n{dated}: {recipe.table}.\n")  # prints no more
    print(format_summary(model))
