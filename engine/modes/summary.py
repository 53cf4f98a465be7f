"""``--mode=summary``: the recipe's per-layer table, the way the lectures draw VGG-16."""

from __future__ import annotations

import recipes
from recipes.summary import format_summary


def run(args) -> None:
    print(format_summary(recipes.build(args.recipe)))
