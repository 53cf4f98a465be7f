"""What a search is, validated once before any work: the run it starts every trial
from, the recipe's search space, the algorithm, its budget and its objective.

``--mode=tune``'s flags resolve to a :class:`SearchSpec` (:func:`resolve`). A
distributed search (one chief oracle, several workers) is keras-tuner's: each
process learns its role from ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (:func:`is_search_chief`).
"""

from __future__ import annotations

import dataclasses
import os
import types
from typing import Any

import recipes
from engine import cli, rundir, schedules, training, transfer
from engine.spec import RunSpec
from layers.errors import UsageError
from recipes.space import Choice, SearchSpace

SEARCH_VALIDATION_FRACTION = 0.1  # for recipes that keep no validation split
CLUSTER_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
MULTI_WORKER_REFUSAL = (
    "--distribute=multi_worker cannot run inside a search's trials; to search on several "
    "machines run one chief and workers with KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and "
    "KERASTUNER_ORACLE_PORT set (README: Distributed search), each trial on "
    "--distribute=none or mirrored.")


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """A search of ``space`` around ``run`` (the recipe's configuration with the flags'
    overrides; every trial starts from it). ``fixed`` names the entries the search holds:
    the training entries that the command line set, and those that the optimizer it
    holds does not read (``momentum`` with ``--optimizer=adam``), at ``run``'s values; with
    ``--init_from`` the architecture entries, at ``held_architecture``'s
    (:func:`source_architecture`). ``run.training.epochs`` is every trial's length
    (Hyperband's longest)."""

    run: RunSpec
    space: SearchSpace
    fixed: tuple[str, ...] = ()
    held_architecture: tuple[tuple[str, Any], ...] = ()
    # Of ``fixed``, the entries held by a rule rather than a flag (a momentum the held
    # optimizer does not read, the architecture under --init_from): :meth:`as_saved`.
    automatic: tuple[str, ...] = ()
    tuner: str = "random"
    max_trials: int = 10
    executions_per_trial: int = 1
    objective: str = "val_accuracy"
    max_failed_trials: int = 3
    # Warnings about the configuration (check_drops_reached's), given as the search begins.
    cautions: tuple[str, ...] = ()

    @property
    def project_dir(self) -> str:
        """keras-tuner's project: its state files and one folder per trial."""
        return os.path.join(self.run.model_dir, rundir.SEARCH_DIR)

    @property
    def fixed_values(self) -> dict:
        return {**{name: getattr(self.run.training, name) for name in self.fixed
                   if name in self.space.training}, **dict(self.held_architecture)}

    @property
    def batch_sizes(self) -> tuple[int, int]:
        """The smallest and the largest batch size of the trials."""
        entry = self.space.training.get("batch_size")
        if entry is None or "batch_size" in self.fixed:
            return self.run.training.batch_size, self.run.training.batch_size
        if isinstance(entry, Choice):
            return min(entry.values), max(entry.values)
        return entry.min_value, entry.max_value

    def as_saved(self, saved_space: dict) -> "SearchSpec":
        """This search as one started before its rules held :attr:`automatic` entries: those
        that ``saved_space`` (``run.json``'s record of the space) shows varied still vary,
        so that the search resumes as it started."""
        varied = {name for name in self.automatic
                  if saved_space.get(name, {}).get("kind", "fixed") != "fixed"}
        return dataclasses.replace(
            self, fixed=tuple(name for name in self.fixed if name not in varied),
            held_architecture=tuple(pair for pair in self.held_architecture
                                    if pair[0] not in varied),
            automatic=tuple(name for name in self.automatic if name not in varied))

    def record(self) -> dict:
        """The search's settings, as ``run.json`` and ``report.json`` record them."""
        return {"tuner": self.tuner, "max_trials": self.max_trials,
                "executions_per_trial": self.executions_per_trial,
                "objective": self.objective, "max_failed_trials": self.max_failed_trials,
                "fixed": list(self.fixed)}


def resolve(args: types.SimpleNamespace) -> SearchSpec:
    """The :class:`SearchSpec` of the command line's ``args``
    (:func:`engine.cli.arguments`; absl has checked each tune flag's choices and range);
    raises :class:`UsageError` on the first setting that is wrong, before anything is
    read or written."""
    if args.distribute == "multi_worker":
        raise UsageError(MULTI_WORKER_REFUSAL)
    check_cluster()
    run = cli.run_spec(args)
    if not run.training.validation_fraction:
        # A search scores its trials on the validation split: a recipe that trains on
        # the whole training split (lenet5) holds the usual share out for the search.
        if "validation_fraction" in args.given:
            raise UsageError("--mode=tune scores trials on the validation split, and "
                             "--validation_fraction=0 leaves none; leave the flag out (the "
                             f"search holds {SEARCH_VALIDATION_FRACTION:.0%} of train out where "
                             "the dataset ships no validation split).")
        run = cli.run_spec(types.SimpleNamespace(
            **{**vars(args), "validation_fraction": SEARCH_VALIDATION_FRACTION}))
    space = recipes.get(run.recipe).search_space
    fixed = tuple(name for name in space.training if name in args.given)
    # An entry that the held optimizer (or schedule) does not read would only repeat trials.
    unread = tuple(name for name, (field, readers) in training.READ_ONLY_BY.items()
                   if name in space.training and name not in fixed
                   and (field in fixed or field not in space.training)
                   and getattr(run.training, field) not in readers)
    training.check_flags_read(run.training, args.given, searched={
        name: entry.values for name, entry in space.training.items()
        if name not in fixed and isinstance(entry, Choice)})
    cautions = schedules.check_drops_reached(run.training, args.given, run.recipe)
    transfer.check_flags(run.init_from, run.transfer, args.given)
    held = (tuple(source_architecture(run.init_from, space, run.recipe).items())
            if run.init_from else ())
    automatic = unread + tuple(name for name, _ in held)
    return SearchSpec(run=run, space=space, fixed=fixed + automatic, held_architecture=held,
                      automatic=automatic,
                      tuner=args.tuner, max_trials=args.max_trials,
                      executions_per_trial=args.executions_per_trial,
                      objective=args.objective, max_failed_trials=args.max_failed_trials,
                      cautions=tuple(cautions))


def source_architecture(init_from: str, space: SearchSpace, recipe: str) -> dict[str, Any]:
    """The values of ``space``'s architecture entries in the network that ``init_from``
    holds (a run folder, or its ``model.keras``), at which a search that starts every
    trial from its weights holds them (another width or depth would copy no layer): a
    search's best trial's (its ``report.json``'s ``best_hyperparameters``) where it is a
    search of ``recipe``, else the recipe's own, each entry's default, which a training
    run builds (``vgg_shallow``'s net A is another recipe: the deep net keeps its own)."""
    values = {name: entry.default for name, entry in space.architecture.items()}
    folder = init_from if os.path.isdir(init_from) else os.path.dirname(init_from)
    record, report = (os.path.join(folder, name) for name in (rundir.RUN_FILE,
                                                              rundir.REPORT_FILE))
    if not (os.path.isfile(record) and os.path.isfile(report)):
        return values
    if rundir.read_json(record, rundir.PASS_A_RUNS_MODEL).get("recipe") != recipe:
        return values
    best = rundir.read_json(report, rundir.PASS_A_RUNS_MODEL).get("best_hyperparameters") or {}
    values.update({name: best[name] for name in values if name in best})
    return values


def check_cluster() -> None:
    """A distributed search needs all three of keras-tuner's variables, or none."""
    present = [name for name in CLUSTER_VARIABLES if os.environ.get(name)]
    if present and len(present) < len(CLUSTER_VARIABLES):
        missing = [name for name in CLUSTER_VARIABLES if name not in present]
        raise UsageError(f"A distributed search needs {', '.join(CLUSTER_VARIABLES)}; "
                         f"{', '.join(missing)} not set.")


def distributed() -> bool:
    return bool(os.environ.get("KERASTUNER_ORACLE_IP"))


def tuner_id() -> str:
    """This process's name in the search (keras-tuner's default, ``tuner0``, alone)."""
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def is_search_chief() -> bool:
    """True for the process that holds the oracle and writes the results: the only
    process, or the one whose tuner id contains ``chief`` (keras-tuner's rule)."""
    return not distributed() or "chief" in tuner_id()
