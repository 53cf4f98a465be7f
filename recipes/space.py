"""A recipe's search space, as plain data: what ``--mode=tune`` may vary around the paper.

A :class:`SearchSpace` has two mappings from a name to a range of values
(:class:`Choice`, :class:`Int`, :class:`Float`, :class:`Boolean`):

* ``architecture``: keyword arguments of the recipe's builder (``width_multiplier``,
  ``blocks``, ``lrn``, ``batch_norm``, ...);
* ``training``: fields of :class:`recipes.TrainingConfig` (``learning_rate``,
  ``batch_size``, ``weight_decay``, ``optimizer``, ``label_smoothing``, ``dropout``, ...).

Each range's ``default`` is the paper's value, so the paper's network and training
are a point of the space. A recipe that gives no ``training`` ranges gets
:func:`training_space` of its paper's configuration (the registry fills it in). The
search engine (``engine.tuning``) turns the ranges into keras-tuner hyperparameters;
this module imports no keras-tuner, and keras only through ``layers``' error type.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Mapping

from layers.errors import UsageError


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``values`` (numbers, strings or booleans of one type); ``default`` is the
    paper's (the first value when not given)."""

    values: tuple
    default: Any = None

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values or len(set(self.values)) != len(self.values):
            raise UsageError(f"A Choice needs distinct values, got {self.values!r}.")
        if self.default is None:
            object.__setattr__(self, "default", self.values[0])
        if self.default not in self.values:
            raise UsageError(f"A Choice's default must be one of its values, got "
                             f"{self.default!r} for {self.values!r}.")


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer from ``min_value`` to ``max_value`` (inclusive) in steps of ``step``."""

    min_value: int
    max_value: int
    step: int = 1
    default: int | None = None

    def __post_init__(self):
        _check_range(self)
        if self.step < 1 or (self.default - self.min_value) % self.step:
            raise UsageError(f"An Int's default must lie on its grid, got {self!r}.")


@dataclasses.dataclass(frozen=True)
class Float:
    """A real number from ``min_value`` to ``max_value``, drawn uniformly on a log scale
    when ``log`` (learning rates, weight decays), on a grid of ``step`` when given."""

    min_value: float
    max_value: float
    log: bool = False
    step: float | None = None
    default: float | None = None

    def __post_init__(self):
        _check_range(self)
        if self.log and self.min_value <= 0:
            raise UsageError(f"A log-scale Float needs min_value > 0, got {self!r}.")
        if self.log and self.step is not None:
            raise UsageError(f"A Float is either log-scale or on a step grid, got {self!r}.")


@dataclasses.dataclass(frozen=True)
class Boolean:
    """On or off (LRN, batch normalization, ...)."""

    default: bool = False


Range = Choice | Int | Float | Boolean


def _holds(entry: Range, value) -> bool:
    """Whether the discrete range ``entry`` can take ``value``."""
    if isinstance(entry, Choice):
        return value in entry.values
    if isinstance(entry, Boolean):
        return isinstance(value, bool)
    return (isinstance(value, int) and entry.min_value <= value <= entry.max_value
            and (value - entry.min_value) % entry.step == 0)


def _check_range(entry):
    if entry.default is None:
        object.__setattr__(entry, "default", entry.min_value)
    if not entry.min_value <= entry.default <= entry.max_value:
        raise UsageError(f"A range's default must lie within it, got {entry!r}.")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """What a search may vary: builder arguments (``architecture``) and training
    configuration fields (``training``), each name mapped to its range. ``training``
    None stands for :func:`training_space` of the recipe's configuration.

    ``conditions`` maps an entry that matters only for some values of an earlier,
    discrete entry to that entry's name and those values (``{"growth": ("blocks",
    (2, 3, 4))}``: one block has nothing to grow into). A trial leaves the entry out
    where the condition fails, so it is not tried again with only that entry changed;
    the builder or the configuration then keeps its own value, or the one ``inactive``
    gives (``{"lrn": False}``: VGG's LRN is only in Table 1's A-LRN column, and
    ``vgg_a_lrn``'s own ``lrn=True`` would put it into B to E).
    """

    architecture: Mapping[str, Range] = dataclasses.field(default_factory=dict)
    training: Mapping[str, Range] | None = None
    conditions: Mapping[str, tuple[str, tuple]] = dataclasses.field(default_factory=dict)
    inactive: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for part in ("architecture", "training"):
            entries = getattr(self, part)
            if entries is None:
                continue
            for name, entry in entries.items():
                if not isinstance(entry, Range):
                    raise UsageError(f"Search space entry {name!r} must be a Choice, Int, "
                                     f"Float or Boolean, got {entry!r}.")
            object.__setattr__(self, part, types.MappingProxyType(dict(entries)))
        shared = set(self.architecture) & set(self.training or ())
        if shared:
            raise UsageError(f"Search space names must be unique; {sorted(shared)} are both "
                             "architecture and training entries.")
        object.__setattr__(self, "conditions", types.MappingProxyType(
            {name: (parent, tuple(values)) for name, (parent, values) in
             self.conditions.items()}))
        object.__setattr__(self, "inactive", types.MappingProxyType(dict(self.inactive)))
        unconditional = set(self.inactive) - set(self.conditions)
        if unconditional:
            raise UsageError(f"Search space entries {sorted(unconditional)} have a value for "
                             "when their condition fails but no condition.")
        self._check_conditions()

    def _check_conditions(self) -> None:
        named = {name for name, (parent, _) in self.conditions.items()} | {
            parent for parent, _ in self.conditions.values()}
        if self.training is None and not named <= set(self.architecture):
            return  # checked once the registry fills the training ranges in
        order = list(self.entries)
        for name, (parent, values) in self.conditions.items():
            entry = self.entries.get(parent)
            if name not in order or entry is None:
                raise UsageError(f"Search space condition {name!r} on {parent!r} names an "
                                 f"entry the space does not have; entries are {order}.")
            if isinstance(entry, Float) or parent in self.conditions:
                raise UsageError(f"Search space entry {name!r} can depend only on a Choice, "
                                 f"Int or Boolean entry that has no condition itself, not on "
                                 f"{parent!r}.")
            if order.index(parent) > order.index(name):
                raise UsageError(f"Search space entry {name!r} depends on {parent!r}, which "
                                 "must come before it.")
            if not values or any(not _holds(entry, value) for value in values):
                raise UsageError(f"Search space condition of {name!r} needs values of "
                                 f"{parent!r} within its range, got {values!r}.")

    def conditional(self, name: str, fixed: Mapping[str, Any]) -> bool:
        """Whether entry ``name`` is searched under its condition, given the values the
        command line ``fixed``: not where it is fixed itself (it holds in every trial),
        nor where its parent is fixed at a value outside the parent's range, which the
        condition does not speak of (a momentum fixed at 0.5 still leaves Nesterov's or
        the classical one to choose)."""
        if name not in self.conditions or name in fixed:
            return False
        parent = self.conditions[name][0]
        return parent not in fixed or _holds(self.entries[parent], fixed[parent])

    def never_active(self, name: str, fixed: Mapping[str, Any]) -> bool:
        """Whether entry ``name`` is left out of every trial: the command line ``fixed``
        its condition's parent at a value the condition does not take."""
        if not self.conditional(name, fixed):
            return False
        parent, values = self.conditions[name]
        return parent in fixed and fixed[parent] not in values

    @property
    def entries(self) -> dict[str, Range]:
        """Every entry, architecture first."""
        return {**self.architecture, **(self.training or {})}


# The optimizers a search tries beside the paper's, by the paper's (engine.choices names).
# SGD without momentum is the momentum optimizer at momentum 0: see training_space.
OPTIMIZER_NEIGHBOURS = {
    "momentum": ("momentum", "nesterov"),
    "nesterov": ("nesterov", "momentum"),
    "adam": ("adam", "adamw"),
    "adamw": ("adamw", "adam"),
    "rmsprop": ("rmsprop", "adam"),
    "adagrad": ("adagrad", "adam"),
    "sdlm": ("sdlm", "rmsprop"),
}
LEARNING_RATE_DECADES = 1  # the learning rate ranges over [paper / 10, paper * 10]
WEIGHT_DECAYS_WITHOUT_PAPER = (0.0, 1e-4, 5e-4)
LABEL_SMOOTHINGS = (0.0, 0.1)
SGD_MOMENTA = (0.0, 0.9)  # a paper's plain SGD (0), and with the usual momentum
DROPOUT_RANGE = (0.0, 0.7, 0.1)  # min, max, step


def training_space(config, *, batch_sizes: tuple[int, ...] | None = None,
                   dropout: bool = False) -> dict[str, Range]:
    """The usual training ranges around ``config`` (a paper's TrainingConfig).

    ``learning_rate``: log-uniform over a decade either side of the paper's;
    ``batch_size``: half, the paper's and double (or ``batch_sizes``);
    ``weight_decay``: log-uniform over a decade either side of the paper's, or
    0, 1e-4 and 5e-4 where the paper uses none; ``optimizer``: the paper's and
    its closest neighbour (momentum/Nesterov, Adam/AdamW, ...); ``label_smoothing``:
    0 or 0.1; with ``dropout``, the rate of the network's Dropout layers from 0 to
    0.7 in steps of 0.1. A paper's plain SGD is searched as the momentum optimizer
    (or Nesterov's) with ``momentum`` 0 (the paper's) or 0.9, the choice between the two
    only at 0.9 (:func:`training_conditions`).
    """
    rate, decay = config.learning_rate, config.weight_decay
    space: dict[str, Range] = {
        "learning_rate": Float(*_decades_around(rate), log=True, default=rate),
        "batch_size": Choice(batch_sizes or _around(config.batch_size), config.batch_size),
        "weight_decay": (Float(*_decades_around(decay), log=True, default=decay) if decay > 0
                         else Choice(WEIGHT_DECAYS_WITHOUT_PAPER, default=0.0)),
    }
    if config.optimizer == "sgd":  # the momentum first: the optimizer depends on it
        space["momentum"] = Choice(SGD_MOMENTA, default=0.0)
        space["optimizer"] = Choice(OPTIMIZER_NEIGHBOURS["momentum"], default="momentum")
    else:
        space["optimizer"] = Choice(OPTIMIZER_NEIGHBOURS[config.optimizer], config.optimizer)
    space["label_smoothing"] = Choice(LABEL_SMOOTHINGS, default=config.label_smoothing)
    if dropout:
        low, high, step = DROPOUT_RANGE
        space["dropout"] = Float(low, high, step=step, default=config.dropout)
    return space


def training_conditions(config) -> dict[str, tuple[str, tuple]]:
    """The conditions of :func:`training_space`'s entries: a paper's plain SGD tries
    Nesterov's momentum beside the classical one only where the momentum is not 0 (at 0
    both are plain SGD: a trial of either would repeat the other's)."""
    if config.optimizer == "sgd":
        return {"optimizer": ("momentum", tuple(m for m in SGD_MOMENTA if m))}
    return {}


def _decades_around(value: float) -> tuple[float, float]:
    """``value`` divided and multiplied by 10 ** LEARNING_RATE_DECADES (6 significant
    digits, so 0.003 / 10 reads 0.0003)."""
    span = 10.0 ** LEARNING_RATE_DECADES
    return float(f"{value / span:.6g}"), float(f"{value * span:.6g}")


def _around(batch_size: int) -> tuple[int, ...]:
    """Half, the paper's and double the paper's batch size (at least 1, no repeats)."""
    return tuple(sorted({max(1, batch_size // 2), batch_size, 2 * batch_size}))


def depth_choices(paper: int, usual: tuple[int, ...]) -> Choice:
    """A Choice of the ``usual`` depths (blocks per stage, columns, ...) and the paper's."""
    return Choice(tuple(sorted(set(usual) | {paper})), default=paper)
