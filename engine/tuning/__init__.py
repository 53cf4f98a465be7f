"""``--mode=tune``: keras-tuner searches of a recipe's search space (:mod:`recipes.space`).

:mod:`~engine.tuning.spec` (what a search is, validated once),
:mod:`~engine.tuning.space` (the space as keras-tuner hyperparameters, a trial's
values as its configuration), :mod:`~engine.tuning.hypermodel` (a recipe as a
keras-tuner HyperModel on the run phases), :mod:`~engine.tuning.tuner` (the three
searches, trial records), :mod:`~engine.tuning.state` (state files a kill cannot
damage), :mod:`~engine.tuning.hparams` (TensorBoard's HParams view).
:mod:`engine.modes.tune` composes them.
"""
