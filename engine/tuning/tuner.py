"""keras-tuner's three searches (random search, Bayesian optimization, Hyperband) on a
recipe's :class:`~engine.tuning.hypermodel.RecipeHyperModel`, with what a long
search needs from them:

* every trial gets its own folder (``search/trial_<id>/execution<k>``: backup,
  history, TensorBoard logs) and, when it ends, one printed line and an
  ``outcome.json`` (who ran it, how long it took, why it failed);
* no new trial starts once ``--max_failed_trials`` trials have failed (decided by
  the oracle, so a distributed search's workers all stop);
* keras-tuner's own count of consecutive failures never stops a search halfway
  through ending a trial;
* within :func:`running`, its state files are written atomically, a failed trial
  prints one line (no traceback), and a Ctrl-C between trials stops the search.
"""

from __future__ import annotations

import contextlib
import glob
import io
import math
import os
import time

import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from engine import interrupts, private_api, rundir
from engine.choices import SEEDS
from engine.report import counted, read_history
from engine.training import EPOCH_SECONDS
from engine.tuning import spec as search_spec
from engine.tuning import state
from engine.tuning.hypermodel import RecipeHyperModel
from engine.tuning.spec import SearchSpec

OUTCOME_FILE = "outcome.json"
HYPERBAND_FACTOR = 3  # keras-tuner's default: each round keeps a third of the trials
DONE = (TrialStatus.COMPLETED, TrialStatus.FAILED)


class StopAfterFailures:
    """Oracle mixin: reports the search STOPPED to whoever asks for a trial once
    ``max_failed_trials`` trials have failed."""

    max_failed_trials: int | None = None

    def populate_space(self, trial_id):
        if self.max_failed_trials and len(failed(self)) >= self.max_failed_trials:
            return {"status": TrialStatus.STOPPED}
        return super().populate_space(trial_id)


class PaperFirst(private_api.KerasTunerFirstValues):
    """Oracle mixin: the first values a search draws are every range's default (the
    paper's, or the value a flag fixed), so its first trial is the paper's
    configuration and its best scores at least that on validation; the random draws
    after it are keras-tuner's, which never repeat a point tried, this one included."""

    def first_values(self) -> dict:
        defaults = keras_tuner.HyperParameters()
        for hp in self.hyperparameters.space:
            defaults.merge([hp])
            if defaults.is_active(hp):  # an entry whose condition fails has no value
                defaults.values[hp.name] = hp.default
        return defaults.values


class RandomOracle(StopAfterFailures, PaperFirst, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(StopAfterFailures, PaperFirst,
                     keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(StopAfterFailures, PaperFirst, keras_tuner.oracles.HyperbandOracle):
    pass


class TrialRecords:
    """Tuner mixin: starts each trial in its folder, and when it ends records its
    ``outcome.json`` and prints its line. A trial's seconds are its wall time; a
    trial resumed after an interruption adds the epochs its backup kept."""

    def on_trial_begin(self, trial):
        interrupts.raise_if_dropped()
        super().on_trial_begin(trial)
        trial_dir = self.get_trial_dir(trial.trial_id)
        self.trial_started = time.perf_counter() - seconds_before_resume(trial_dir)
        self.hypermodel.start_trial(trial.trial_id, trial_dir)

    def on_trial_end(self, trial):
        # Rounded once: the printed line and report.json's table show the same seconds
        # (4.2501 s was printed 4.3 and recorded 4.25, which reads 4.2).
        seconds = round(time.perf_counter() - self.trial_started, 3)
        failure = self.hypermodel.end_trial() or last_line(trial.message)
        rundir.write_json(os.path.join(self.get_trial_dir(trial.trial_id), OUTCOME_FILE),
                          {"tuner_id": self.tuner_id, "seconds": seconds,
                           "message": None if trial.status == TrialStatus.COMPLETED
                           else failure})
        super().on_trial_end(trial)  # the oracle scores or fails it, the state is saved
        # Only now: a trial killed before its end was saved resumed without its backups
        # and trained afresh, its recorded score no longer that of its checkpoint.
        self.hypermodel.remove_backups(self.get_trial_dir(trial.trial_id))
        ended = self.oracle.get_trial(trial.trial_id)
        print(trial_line(ended.trial_id, ended.status, ended.score, seconds,
                         self.hypermodel.values(ended.hyperparameters.copy()),
                         self.oracle.objective.name,
                         None if ended.status == TrialStatus.COMPLETED else failure,
                         continued(ended.hyperparameters.values)),
              flush=True)


class Search(TrialRecords, keras_tuner.Tuner):
    """Random search and Bayesian optimization: keras-tuner's Tuner on their oracle."""


class HyperbandSearch(TrialRecords, keras_tuner.Hyperband):
    """keras-tuner's Hyperband (its epochs, its trials continued from their checkpoint)."""

    def __init__(self, oracle, hypermodel, **kwargs):
        # keras_tuner.Hyperband.__init__ only makes a HyperbandOracle from its
        # arguments; this one comes made (with the failure limit).
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


@contextlib.contextmanager
def running():
    """What a search runs within: keras-tuner's state written atomically
    (:func:`engine.tuning.state.atomic_state`), no traceback printed for a failed trial
    (its line says why), and a Ctrl-C that keras-tuner's garbage collection between
    trials would drop kept (:mod:`engine.interrupts`) and raised before the next trial
    builds, trains or starts."""
    with state.atomic_state(), private_api.keras_tuner_quiet_failures(), interrupts.kept():
        yield


def oracle_seed(seed: int) -> int:
    """The oracle's seed for ``--seed``: keras-tuner seeds its n-th draw with ``seed + n``,
    so ``--seed=43`` would replay 42's draws one value later; ``seed`` goes through NumPy's
    ``SeedSequence`` first, so that nearby seeds draw unrelated points. Never 0, which
    keras-tuner reads as none, drawing one at random (``seed or randint``)."""
    return int(np.random.SeedSequence(seed).generate_state(1)[0]) % (SEEDS - 1) + 1



def make_tuner(search: SearchSpec, hypermodel: RecipeHyperModel, overwrite: bool = False):
    """The tuner of ``search`` for ``hypermodel``, its project in ``search.project_dir``:
    reloaded from there (a resumed search) unless ``overwrite``, which only the chief
    of a distributed search honours (it alone may delete the shared project)."""
    objective = keras_tuner.Objective(search.objective,
                                      "max" if search.objective.endswith("accuracy") else "min")
    common = dict(objective=objective, seed=oracle_seed(search.run.seed),
                  max_retries_per_trial=0,
                  max_consecutive_failed_trials=search.max_trials + 1)
    if search.tuner == "hyperband":
        oracle = HyperbandOracle(max_epochs=search.run.training.epochs, factor=HYPERBAND_FACTOR,
                                 **common)
        oracle.max_trials = search.max_trials
    elif search.tuner == "bayesian":
        oracle = BayesianOracle(max_trials=search.max_trials,
                                num_initial_points=initial_points(search), **common)
    else:
        oracle = RandomOracle(max_trials=search.max_trials, **common)
    oracle.max_failed_trials = search.max_failed_trials
    tuner_class = HyperbandSearch if search.tuner == "hyperband" else Search
    # keras-tuner prints "Reloading Tuner from <file>" where the search says itself that
    # it resumes, and how far it had come.
    with contextlib.redirect_stdout(io.StringIO()):
        tuner = tuner_class(oracle=oracle, hypermodel=hypermodel, directory=search.run.model_dir,
                            project_name=rundir.SEARCH_DIR,
                            overwrite=overwrite and search_spec.is_search_chief(),
                            executions_per_trial=search.executions_per_trial,
                            distribution_strategy=hypermodel.strategy)
    if search.tuner == "hyperband":
        # keras-tuner's one iteration of Hyperband's brackets holds as many trials as
        # --epochs allows (one at --epochs=1): --max_trials bounds the search instead.
        # Set after a resumed search reloads its state, where a smaller --max_trials
        # set it.
        tuner.oracle.hyperband_iterations = search.max_trials
    if search.tuner == "bayesian":  # a resumed search's state holds its own --max_trials'
        tuner.oracle.num_initial_points = initial_points(search)
    return tuner


def trials_to_full_length(epochs: int, factor: int = HYPERBAND_FACTOR) -> int:
    """How many trials keras-tuner's Hyperband runs up to its first trained for all
    ``epochs``: the rounds of its first bracket but the last, whose first round trains
    the most trials for the fewest epochs, then the last round's first trial, which
    continues the best to ``epochs`` (its oracle's bracket count and round sizes, with
    one epoch the fewest)."""
    brackets, remaining = 0, epochs
    while remaining >= 1:
        remaining, brackets = remaining / factor, brackets + 1
    top = brackets - 1
    last_round_size = math.ceil(1 + math.log(epochs, factor)) / (top + 1)
    return 1 + sum(math.ceil(last_round_size * factor ** (top - round_))
                   for round_ in range(top))


def short_hyperband(search: SearchSpec) -> str | None:
    """A warning where ``search``, a Hyperband search, stops before any trial trains
    for all ``--epochs`` (its best would be a short trial's, stopped early in its
    schedule); None otherwise."""
    epochs = search.run.training.epochs
    needed = trials_to_full_length(epochs)
    if search.tuner != "hyperband" or search.max_trials >= needed:
        return None
    return (f"Hyperband trains its first trials for fewer epochs: with "
            f"--max_trials={search.max_trials} no trial trains for all {epochs} epochs (it "
            f"takes {needed} trials to reach one that does), so the best is a shortened run; "
            f"raise --max_trials to at least {needed}.")


def initial_points(search: SearchSpec) -> int:
    """The random trials a Bayesian search starts with: three per dimension, at most a
    third of ``--max_trials``, at least two."""
    dimensions = len(search.space.entries) - len(search.fixed)
    return max(2, min(3 * dimensions, search.max_trials // 3))


def seconds_before_resume(trial_dir: str) -> float:
    """The epoch seconds the executions of an interrupted trial recorded before it
    resumed (nothing for a trial that starts afresh)."""
    return sum(sum(read_history(path).get(EPOCH_SECONDS, ()))
               for path in glob.glob(os.path.join(glob.escape(trial_dir), "execution*",
                                                  rundir.HISTORY_FILE)))


def failed(oracle) -> list:
    return [trial for trial in oracle.trials.values() if trial.status == TrialStatus.FAILED]


def finished(oracle) -> list:
    return [trial for trial in oracle.trials.values() if trial.status in DONE]


def trial_table(tuner) -> list[dict]:
    """One row per trial of ``tuner``'s oracle (the chief's in a distributed search):
    ``id``, ``hyperparameters``, ``score``, ``status``, ``seconds``, the ``tuner_id``
    that ran it, Hyperband's ``epochs`` and, for a failed trial, its ``message``."""
    rows = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda trial: int(trial.trial_id)):
        outcome_path = os.path.join(tuner.get_trial_dir(trial.trial_id), OUTCOME_FILE)
        outcome = rundir.read_json(outcome_path) if os.path.isfile(outcome_path) else {}
        values = trial.hyperparameters.values
        rows.append({
            "id": trial.trial_id,
            "hyperparameters": tuner.hypermodel.values(trial.hyperparameters.copy()),
            "score": trial.score,
            "status": trial.status,
            "seconds": outcome.get("seconds"),
            "tuner_id": outcome.get("tuner_id"),
            **({"epochs": values["tuner/epochs"]} if "tuner/epochs" in values else {}),
            **continued(values),
            **({"message": outcome.get("message")} if trial.status != TrialStatus.COMPLETED
               else {}),
        })
    return rows


def continued(values: dict) -> dict:
    """For a Hyperband trial that continues another from its checkpoint (keras-tuner's
    ``tuner/trial_id`` and ``tuner/initial_epoch`` among a trial's ``values``), the
    trial it ``continues`` and the ``initial_epoch`` it starts at; else nothing."""
    if not values.get("tuner/trial_id"):
        return {}
    return {"continues": values["tuner/trial_id"], "initial_epoch": values["tuner/initial_epoch"]}


def trial_line(trial_id, status, score, seconds, values, objective, message=None,
               continues: dict | None = None) -> str:
    """The line a finished trial prints; ``continues`` is :func:`continued`'s."""
    scored = f": {objective} {score:.4f}" if score is not None else ""
    after = (f", continuing trial {continues['continues']} after "
             f"{counted(continues['initial_epoch'], 'epoch')}" if continues else "")
    return (f"Trial {trial_id} {status}{scored} in {seconds:.1f} s{after}; {settings(values)}"
            + (f". {message}" if message else ""))


def settings(values: dict) -> str:
    """``name=value, ...``, numbers to 4 significant digits."""
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in values.items())


def last_line(message: str | None) -> str | None:
    """The exception's own words at the end of keras-tuner's traceback text."""
    if not message or not message.strip():
        return None
    return message.strip().splitlines()[-1].partition(": ")[2] or None
