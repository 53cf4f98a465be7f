"""A recipe's search space (:mod:`recipes.space`, plain data) as keras-tuner
hyperparameters, and a trial's values as the builder arguments and training
configuration it runs with."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Mapping

from recipes import TrainingConfig
from recipes.space import Boolean, Choice, Float, Int, SearchSpace

DIGITS = 12  # a Float on a step grid is rounded to this many decimals (0.3, not 0.300...04)


def hyperparameters(hp, space: SearchSpace,
                    fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Declares every entry of ``space`` on keras-tuner's ``hp`` (those named in
    ``fixed`` as ``hp.Fixed`` at their value; those with a condition in its
    conditional scope, :meth:`SearchSpace.conditional`) and returns the values ``hp``
    holds for the active ones: the defaults while keras-tuner explores the space, a
    trial's values in a trial. An entry whose condition fails is left out: the builder
    or the configuration keeps its own value, or takes the space's ``inactive`` one
    (:func:`configuration`)."""
    values, fixed = {}, fixed or {}
    for name, entry in space.entries.items():
        scope = (hp.conditional_scope(space.conditions[name][0],
                                      list(space.conditions[name][1]))
                 if space.conditional(name, fixed) else contextlib.nullcontext())
        with scope:
            value = declare(hp, name, entry, fixed)
        if value is not None:
            values[name] = value
    return values


def declare(hp, name: str, entry, fixed: Mapping[str, Any]):
    """Declares ``entry`` as keras-tuner hyperparameter ``name``; its value (None while
    it is inactive)."""
    if name in fixed:
        return hp.Fixed(name, fixed[name])
    if isinstance(entry, Choice):
        return hp.Choice(name, list(entry.values), default=entry.default)
    if isinstance(entry, Int):
        return hp.Int(name, entry.min_value, entry.max_value, step=entry.step,
                      default=entry.default)
    if isinstance(entry, Float):
        value = hp.Float(name, entry.min_value, entry.max_value, step=entry.step,
                         sampling="log" if entry.log else "linear", default=entry.default)
        return value if entry.step is None or value is None else round(value, DIGITS)
    if isinstance(entry, Boolean):
        return hp.Boolean(name, default=entry.default)
    raise TypeError(f"No keras-tuner hyperparameter for {entry!r}.")


def configuration(space: SearchSpace, training: TrainingConfig,
                  values: Mapping[str, Any]) -> tuple[dict[str, Any], TrainingConfig]:
    """The builder arguments and the training configuration of a trial with ``values``:
    ``training`` with the trial's training entries, a learning rate scaling a paper's
    per-stage rates (``step_rates``) with it; an entry whose condition failed takes the
    space's ``inactive`` value where it has one."""
    values = {**{name: value for name, value in space.inactive.items() if name not in values},
              **values}
    variant = {name: values[name] for name in space.architecture if name in values}
    changes = {name: values[name] for name in space.training if name in values}
    rate = changes.pop("learning_rate", training.learning_rate)
    return variant, dataclasses.replace(training, **changes).with_learning_rate(rate)


def describe(space: SearchSpace, fixed: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """The space as ``run.json`` records it: each entry's kind and range (or the value
    the command line fixed it at)."""
    described, fixed = {}, fixed or {}
    for name, entry in space.entries.items():
        if name in fixed:
            described[name] = {"kind": "fixed", "value": fixed[name]}
        else:
            described[name] = {"kind": type(entry).__name__.lower(),
                               **dataclasses.asdict(entry)}
        if space.conditional(name, fixed):
            parent, parent_values = space.conditions[name]
            described[name]["active_when"] = {parent: list(parent_values)}
        if name in space.inactive:
            described[name]["inactive_value"] = space.inactive[name]
    return described
