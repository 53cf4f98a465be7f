"""``--mode=summary``: what the recipe is and where it comes from (its description,
paper and table), then its per-layer table, the way the lectures draw VGG-16, at its
paper's input or at ``--image_size`` (the network a run at that size builds)."""

from __future__ import annotations

import recipes
from recipes.summary import format_summary


def run(args) -> None:
    recipe = recipes.get(args.recipe)
    native = recipe.input_shape
    side = args.image_size
    input_shape = (side, side, *native[2:]) if side else None
    print(f"{recipe.name}: {recipe.description}\n{recipe.paper} ({recipe.year}): "
          f"{recipe.table}.\n")
    print(format_summary(recipes.build(args.recipe, input_shape=input_shape)))
