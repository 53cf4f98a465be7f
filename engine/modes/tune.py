"""``--mode=tune``: a keras-tuner search of the recipe's search space, phase by phase.

check the flags and the paths -> claim the run folder (a finished search is extended by a
larger ``--max_trials``) -> set up (without entering
the strategy's scope: keras-tuner clears the session before every trial, and each
trial enters it) -> open the data -> the tuner (reloading a killed search; it builds
the default network once, so a recipe that does not fit the data fails here) ->
prepare the data once for every trial -> ``run.json`` -> search (validation split
only) -> the best trial's model, evaluated once on test -> save -> export -> report.

In a distributed search the chief holds the oracle and, once the workers have run
every trial, does everything after the search; a worker only runs trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import math
import os

import keras_tuner
from absl import logging

import recipes
from engine import distribute, interrupts, private_api, rundir, runlock
from engine.build import check_fits_before_reading, main_head
from engine.data import DataFailure, named_data_errors, open_source, prepare, resolve_input_shape
from engine.evaluate import check_evaluation, evaluate, format_accuracy
from engine.publish import publish
from engine.report import counted, plot_curves, read_history, training_report
from engine.session import session
from engine.serving import layout
from engine.spec import check_paths, run_record, transfer_record
from engine.training import progress_display
from engine.tuning import hparams, state
from engine.tuning.hypermodel import RecipeHyperModel
from engine.tuning.space import configuration, describe
from engine.tuning.spec import SearchSpec, is_search_chief, resolve, tuner_id
from engine.tuning.tuner import (failed, finished, make_tuner, running, settings,
                                 short_hyperband, trial_table)
from layers.errors import RunFailure, UsageError


# What a resumed search shares with the one it resumes (run.json's entries and its
# "search"'s); the budget, --max_trials and --max_failed_trials, may change.
RESUMED_KEYS = ("recipe", "dataset", "input_shape", "training", "seed", "precision",
                "init_from", "transfer", "finetune_multiplier", "tuner", "objective",
                "executions_per_trial", "search_space", "steps_per_execution")


def run(args) -> None:
    search = resolve(args)
    report = tune(search, overwrite=args.overwrite,
                  validation_fraction_given="validation_fraction" in args.given)
    if report is not None:  # a distributed search's workers leave the report to the chief
        print(summary_line(report, search.run.model_dir))


def tune(search: SearchSpec, overwrite: bool = False, verbose: int | None = None,
         validation_fraction_given: bool = False) -> dict | None:
    """Runs (or resumes) ``search``; the chief saves, exports and reports the best
    trial's model as a training run does and returns the report, a worker None.
    ``verbose`` is Keras's display of each epoch: a progress bar on a terminal, one
    line per epoch otherwise. ``validation_fraction_given``: ``--validation_fraction``
    was set, which is refused for a dataset that ships its own validation split."""
    verbose = progress_display() if verbose is None else verbose
    check_paths(search.run, overwrite)
    chief = is_search_chief()
    # The chief holds the folder; the workers of a distributed search share it.
    with runlock.held(search.run.model_dir, "tune") if chief else contextlib.nullcontext():
        replacing = []  # the folder whose run --overwrite set aside, once it has
        try:
            return tune_held(search, chief, overwrite, verbose, validation_fraction_given,
                             replacing)
        except SearchStopped as stopped:  # resumable: the run set aside waits for its report
            if not replacing:
                raise
            raise RunFailure(f"{stopped} The run it replaces waits in "
                             f"{os.path.join(replacing[0], rundir.REPLACED_DIR)} until the "
                             "search has its report.") from stopped
        except RunFailure as failure:  # every trial failed, or the data: the run stays
            if not replacing:
                raise
            rundir.put_back(replacing[0])
            raise RunFailure(f"{failure} The run that --overwrite was replacing is back in "
                             f"{replacing[0]}.") from failure
        except BaseException:  # a full disk, Ctrl-C: where nothing of it resumes, put back
            if replacing and not rundir.replacement_started(replacing[0]):
                rundir.put_back(replacing[0])
            raise


def tune_held(search: SearchSpec, chief: bool, overwrite: bool, verbose: int,
              validation_fraction_given: bool, replacing: list) -> dict | None:
    """:func:`tune`, its folder held; ``replacing`` gets the folder once the run that
    ``--overwrite`` replaces is set aside there (:func:`engine.rundir.set_aside`), until
    the search's report."""
    run = search.run
    recipe = recipes.get(run.recipe)
    replace = chief and claim(search, overwrite)
    if not overwrite:  # every process of a distributed search, as the chief's oracle
        search = as_saved(search)
    if chief:
        layout.check_base_path(run.export_dir)
        if not overwrite:
            check_same_search(search)
    with session(run.distribute, run.seed, run.deterministic, run.precision,
                 scope=False) as strategy, running():
        distribute.check_batch(strategy, min(search.batch_sizes), run.distribute)
        input_shape = resolve_input_shape(recipe.input_shape, run.data.image_size)
        check_fits_before_reading(run.recipe, input_shape, run.data.dataset, run.seed)
        source = open_source(run.data, input_shape, recipe.classes_at(input_shape),
                             validation_fraction_given)
        if chief and not overwrite:
            check_same_data(search, source.class_names, source.sizes, source.split_digest)
        hypermodel = RecipeHyperModel(search, source.num_classes, input_shape, strategy,
                                      source.sizes["train"], verbose)
        # The paper's network against the input, before any statistics are computed (as
        # a training run checks it) and before keras-tuner makes its folder; the best
        # trial's network is evaluated densely under --tta=dense.
        check_evaluation(recipes.build(run.recipe, source.num_classes, input_shape),
                         run.data.tta, run.data.test_scale)
        # The oracle saves its state when the first trial starts, a worker its own after
        # its first trial.
        resumed = not overwrite and os.path.isfile(os.path.join(
            search.project_dir, rundir.ORACLE_FILE if chief else f"{tuner_id()}.json"))
        for path in state.recover(search.project_dir):
            print(f"Recovered {path} from its last good copy.", flush=True)
        if chief and resumed:
            check_budget(search)
        # A label out of range or a folder's file changed during the search ends it in one
        # sentence, from a trial (keras-tuner's FatalError) or not.
        with named_data_errors(source), data_failures_told():
            data = prepare(run.data, input_shape, source=source, batch_sizes=search.batch_sizes)
            if replace:  # --overwrite, every check passed: a mistake would have lost nothing
                if rundir.set_aside(run.model_dir):
                    replacing.append(run.model_dir)
                rundir.mark_replaced(run.model_dir)
            tuner = make_tuner(search, hypermodel, overwrite)
            if chief:
                record = run_record(run, source.class_names, input_shape, source.sizes,
                                    source.split_digest)
                rundir.write_json(os.path.join(run.model_dir, rundir.RUN_FILE),
                                  {**record, "search": search_record(search)})
                data.preprocessing.save(os.path.join(run.model_dir, rundir.PREPROCESSING_FILE))
                hparams.write_experiment(search.project_dir, search.space, search.fixed_values)
            print(announcement(search, tuner, resumed), flush=True)
            for caution in (*search.cautions, short_hyperband(search)):
                if caution:
                    logging.warning(caution)
            tuner.search(data, validation_data=data.pipelines.validation,
                         epochs=run.training.epochs, verbose=0)
            interrupts.raise_if_dropped()
            if not chief:
                print(f"{tuner_id()} has no trial left to run; the chief writes the report.")
                return None
            best = best_trial(tuner, search, overwrite)
            trained, model, training = best_model(tuner, best, search)
            with strategy.scope():
                evaluation = evaluate(model, data, run.data.tta)
    best_run = dataclasses.replace(run, training=training)
    # An extended search's evaluation and figures were of the model saved before.
    rundir.remove_run(run.model_dir, rundir.MODEL_RESULTS)
    model_path, export_dir = publish(model, best_run, data, run.model_dir)
    own = checkpoint_history(tuner, best.trial_id, search.executions_per_trial)
    history = lineage_history(tuner, best.trial_id, own, search.executions_per_trial)
    continued = len(history.get("epoch", [])) - len(own.get("epoch", []))  # earlier trials
    curves = os.path.join(run.model_dir, rundir.CURVES_FILE)
    plot_curves(history, curves, title=f"{run.recipe}, trial {best.trial_id}")
    report = {**training_report(best_run, data, model, trained.optimizer, evaluation, history,
                                strategy, model_path=model_path, export_dir=export_dir,
                                curves=curves),
              **checkpoint_epoch(history, tuner.oracle.objective, first_row=continued),
              **search_results(search, tuner, best)}
    rundir.write_json(os.path.join(run.model_dir, rundir.REPORT_FILE), report)
    rundir.tidy_finished(run.model_dir)
    return report


@contextlib.contextmanager
def data_failures_told():
    """Ends a search that a fault of its data stopped in a trial (keras-tuner's
    ``FatalError``, caused by a :class:`~engine.data.DataFailure`:
    :meth:`RecipeHyperModel.trial_errors`) with the fault's sentence, not a traceback."""
    try:
        yield
    except keras_tuner.errors.FatalError as error:
        if isinstance(error.__cause__, DataFailure):
            raise error.__cause__ from None
        raise


def claim(search: SearchSpec, overwrite: bool) -> bool:
    """:func:`engine.rundir.claim` for a search: a finished search that ``--max_trials``
    raises above the budget it finished with is extended (its trials kept, its report,
    model and a new export version written once the new trials have run); one that it
    does not raise is kept unless ``overwrite``."""
    model_dir = search.run.model_dir
    if os.path.isdir(model_dir):
        # A put-back interrupted half-way is finished before the report is read: extended,
        # a search put back without its search/ would start afresh, then forget the rest.
        rundir.settle_replaced(model_dir)
    path = os.path.join(model_dir, rundir.REPORT_FILE)
    if overwrite or not os.path.isfile(path):
        return rundir.claim(model_dir, overwrite, search=True)
    report = rundir.read_json(path)
    if not isinstance(report.get("max_trials"), int):  # a training run's report
        return rundir.claim(model_dir, overwrite, search=True)
    rundir.tidy_finished(model_dir)  # what an interruption after its report left
    # A search resumed with a smaller --max_trials finished the trial it had started.
    trials = len(report.get("trials", ()))
    budget = max(report["max_trials"], trials)
    if trials < report["max_trials"]:
        # Extended, it ran no trial, then published the same model again.
        raise UsageError(f"{model_dir} holds a finished search whose tuner proposed no other "
                         f"point after {counted(trials, 'trial')} of --max_trials={budget} "
                         "(keras-tuner ends a random search after 20 draws in a row of points "
                         "it has tried), so a larger --max_trials would add none; widen its "
                         "space with --overwrite (fixing fewer entries), or choose another "
                         "--model_dir.")
    if search.max_trials <= budget:
        raise UsageError(f"{model_dir} holds a finished search of --max_trials={budget}; pass "
                         "a larger --max_trials to extend it, --overwrite to replace it, or "
                         "another --model_dir.")
    rundir.check_writable("model_dir", model_dir)
    return False


def best_model(tuner, best, search: SearchSpec):
    """The best trial's trained network (its best epoch's checkpoint), the network to
    save and serve (its main head), and its training configuration."""
    trained = tuner.get_best_models(1)[0]
    _, training = configuration(search.space, search.run.training,
                                tuner.hypermodel.values(best.hyperparameters.copy()))
    if training.ema:  # the averaged weights, as a training run saves them
        trained.optimizer.finalize_variable_values(trained.trainable_weights)
    return trained, main_head(trained), training


def checkpoint_history(tuner, trial_id: str, executions: int) -> dict:
    """The history of the trial's execution whose epoch its checkpoint holds: keras-tuner
    keeps one checkpoint per trial, saved whenever an epoch's objective beats that of
    every earlier epoch of the trial's executions (its ``SaveBestEpoch``, shared by
    them), so the model saved is the first execution's to reach the best value."""
    objective = tuner.oracle.objective
    best, best_value = {}, None
    for execution in range(executions):
        history = read_history(os.path.join(tuner.get_trial_dir(trial_id),
                                            f"execution{execution}", rundir.HISTORY_FILE))
        for value in history.get(objective.name, []):
            if math.isfinite(value) and (best_value is None
                                         or objective.better_than(value, best_value)):
                best, best_value = history, value
    return best


def lineage_history(tuner, trial_id: str, history: dict, executions: int) -> dict:
    """``history``, trial ``trial_id``'s (:func:`checkpoint_history`), after the epochs its
    weights trained through in the trials it continued: a Hyperband trial continues from
    another's checkpoint (the epoch :func:`checkpoint_row` finds, not always its last) and
    logs only its own epochs, and its report counted only those (``epochs_run``,
    ``train_seconds``, the curves) for a model that trained them all. Where an earlier
    history is gone or does not line up, ``history`` alone. The epochs are numbered from
    0 as the weights trained them (a parent's epochs after its checkpoint left out)."""
    values = tuner.oracle.get_trial(trial_id).hyperparameters.values
    parent, start = values.get("tuner/trial_id"), values.get("tuner/initial_epoch") or 0
    if not parent or not history:
        return history
    own = checkpoint_history(tuner, parent, executions)
    best = checkpoint_row(own, tuner.oracle.objective)
    if best is None or set(own) != set(history) or own["epoch"][best] >= start or any(
            len(column) != len(own["epoch"]) for column in own.values()):
        return history
    earlier = lineage_history(tuner, parent, {key: column[:best + 1]
                                              for key, column in own.items()}, executions)
    lineage = {key: earlier[key] + column for key, column in history.items()}
    lineage["epoch"] = [float(epoch) for epoch in range(len(lineage["epoch"]))]  # as trained
    return lineage


def checkpoint_row(history: dict, objective, first_row: int = 0) -> int | None:
    """The row of ``history`` (from ``first_row``: the trial's own) whose weights the
    checkpoint holds: the first with the best ``objective`` (keras-tuner's); None where
    no epoch scored."""
    scores = history.get(objective.name, [])
    finite = [epoch for epoch in range(first_row, len(scores)) if math.isfinite(scores[epoch])]
    if not finite:
        return None
    best = finite[0]
    for epoch in finite[1:]:
        if objective.better_than(scores[epoch], scores[best]):
            best = epoch
    return best


def checkpoint_epoch(history: dict, objective, first_row: int = 0) -> dict:
    """``best_epoch`` and ``best_val_accuracy`` of the epoch of ``history`` whose weights
    the checkpoint holds (:func:`checkpoint_row`), which for ``val_loss`` need not be the
    one with the best validation accuracy."""
    best = checkpoint_row(history, objective, first_row)
    if best is None:
        return {}
    accuracy = history.get("val_accuracy", [])
    return {"best_epoch": int(history["epoch"][best]) + 1,
            "best_val_accuracy": accuracy[best] if best < len(accuracy) else None}


def search_results(search: SearchSpec, tuner, best) -> dict:
    """What ``report.json`` adds to a training run's report: the search's settings, its
    best trial and the trial table."""
    table = trial_table(tuner)
    return {
        **search.record(),
        "best_trial": best.trial_id,
        "best_score": best.score,
        "best_hyperparameters": next(row["hyperparameters"] for row in table
                                     if row["id"] == best.trial_id),
        "trials": table,
        "failed_trials": sum(row["status"] == "FAILED" for row in table),
        "search_seconds": round(sum(row["seconds"] or 0.0 for row in table), 3),
        "search_dir": search.project_dir,
    }


def search_record(search: SearchSpec) -> dict:
    """``run.json``'s ``search``: the settings and the space (what the command fixed)."""
    return {**search.record(), "search_space": describe(search.space, search.fixed_values)}


def as_saved(search: SearchSpec) -> SearchSpec:
    """``search`` as the one in its folder recorded its space, where there is one: a
    search started before a rule held an entry (:meth:`SearchSpec.as_saved`) resumes
    varying it."""
    path = os.path.join(search.run.model_dir, rundir.RUN_FILE)
    if not os.path.isfile(path) or not os.path.isdir(search.project_dir):
        return search
    saved = rundir.read_json(path).get("search", {}).get("search_space", {})
    return search.as_saved(saved)


def check_same_search(search: SearchSpec) -> None:
    """A folder holding another search is not resumed by this one: every entry of
    :data:`RESUMED_KEYS` must be the saved search's."""
    path = os.path.join(search.run.model_dir, rundir.RUN_FILE)
    if not os.path.isfile(path) or not os.path.isdir(search.project_dir):
        return
    record = rundir.read_json(path)
    saved = {**record, **record.get("search", {})}
    run = search.run
    current = {"recipe": run.recipe, "dataset": run.data.dataset,
               "input_shape": list(resolve_input_shape(recipes.get(run.recipe).input_shape,
                                                       run.data.image_size)),
               "training": dataclasses.asdict(run.training), "seed": run.seed,
               "precision": run.precision, "steps_per_execution": run.steps_per_execution,
               **transfer_record(run),
               **search_record(search)}
    keys = [key for key in RESUMED_KEYS
            if rundir.strict(rundir.resumed_value(saved, key)) != rundir.strict(current[key])]
    if keys:
        changed = [rundir.difference(key, rundir.strict(rundir.resumed_value(saved, key)),
                                     rundir.strict(current[key])) for key in keys]
        # The flags that fix entries shape a space, and so does the project's version.
        version = (" (if that is this one, the recipe's space has changed since: pass "
                   "--overwrite)" if "search_space" in keys else "")
        raise UsageError(
            f"{search.run.model_dir} holds a search of {record.get('recipe')} on "
            f"{record.get('dataset')} with another {', '.join(changed)}; run its own command "
            f"again to resume it{version}, pass --overwrite to start afresh or choose another "
            "--model_dir.")


def check_budget(search: SearchSpec) -> None:
    """A resumed search must leave room for the trials it has started: keras-tuner
    finishes a trial a kill interrupted whatever ``--max_trials`` now says."""
    started = len(rundir.read_json(os.path.join(search.project_dir, rundir.ORACLE_FILE))
                  .get("start_order", ()))
    if started > search.max_trials:
        raise UsageError(f"{search.run.model_dir} holds a search that has started {started} "
                         f"trials, more than --max_trials={search.max_trials}; pass "
                         f"--max_trials={started} or more to resume it, --overwrite to start "
                         "afresh, or another --model_dir.")


def check_same_data(search: SearchSpec, class_names, sizes, digest: str | None = None) -> None:
    """A search is resumed on the classes it started with (a folder's may have changed):
    its trials' checkpoints hold a head of that many; and on the same split (a folder
    whose images changed is split anew, its test split then holding training images)."""
    path = os.path.join(search.run.model_dir, rundir.RUN_FILE)
    if not os.path.isfile(path) or not os.path.isdir(search.project_dir):
        return
    record = rundir.read_json(path)
    saved = record.get("class_names")
    if saved is not None and list(saved) != list(class_names):
        raise UsageError(
            f"{search.run.model_dir} holds a search of {len(saved)} classes and "
            f"{search.run.data.dataset} now has {len(class_names)} (or other names); "
            "pass --overwrite to start afresh or choose another --model_dir.")
    change = rundir.split_change(record, sizes, digest, f"the search in {search.run.model_dir}")
    if change:
        raise UsageError(f"{change}; restore them, pass --overwrite to start afresh, or choose "
                         "another --model_dir.")


def announcement(search: SearchSpec, tuner, resumed: bool) -> str:
    """The line a search starts with (saying so when it resumes a killed one)."""
    where = f"; state in {search.project_dir}"
    if resumed and is_search_chief():
        return (f"Resuming the search: {len(finished(tuner.oracle))} of {search.max_trials} "
                f"trials done{where}.")
    if resumed:
        return f"Resuming as {tuner_id()} of the distributed search{where}."
    varied = [name for name in search.space.entries if name not in search.fixed
              and not search.space.never_active(name, search.fixed_values)]
    held = ("; --init_from holds " + settings(dict(search.held_architecture))
            if search.held_architecture else "")
    return (f"Searching {search.run.recipe} on {search.run.data.dataset} ({search.tuner}, "
            f"up to {counted(search.max_trials, 'trial')} of "
            f"{counted(search.run.training.epochs, 'epoch')}, "
            f"objective {search.objective}): "
            f"{', '.join(varied) or 'nothing varies, the flags fix every entry'}{held}{where}.")


class SearchStopped(RunFailure):
    """A search that ``--max_failed_trials`` stopped before its last trial: its trials
    are kept for the same command to resume (without ``--overwrite``, which would start
    afresh), and a run that ``--overwrite`` set aside stays aside until its report."""


def best_trial(tuner, search: SearchSpec, overwrite: bool = False):
    """The oracle's best trial; a search that failures stopped before its last trial
    (:class:`SearchStopped`), or without a completed trial, ends in one sentence. One
    whose last trial was the failure that reached the limit ran every trial."""
    failures, done = failed(tuner.oracle), finished(tuner.oracle)
    reasons = [row["message"] for row in trial_table(tuner) if row["status"] == "FAILED"]
    last = reasons[-1].rstrip(".") if reasons else "no trial ran"
    if len(failures) >= search.max_failed_trials and len(done) < search.max_trials:
        again = "the same command without --overwrite" if overwrite else "the same command"
        raise SearchStopped(
            f"{len(failures)} of {len(done)} trials failed (the last: {last}), "
            f"reaching --max_failed_trials={search.max_failed_trials}, so the search stopped; "
            f"raise --max_failed_trials and run {again} to resume it, or narrow the search "
            "space and start afresh with --overwrite.")
    if len(failures) == len(done):
        raise RunFailure(f"None of the search's {counted(len(done), 'trial')} completed (the last "
                         f"failure: {last}); remove its cause (a lower --learning_rate where "
                         "trials diverged, a smaller --batch_size where they ran out of "
                         "memory) and run again with --overwrite.")
    best = tuner.oracle.get_best_trials(1)[0]
    check_checkpoint(best.trial_id, tuner.get_trial_dir(best.trial_id))
    return best


def check_checkpoint(trial_id: str, trial_dir: str) -> None:
    """Raises :class:`UsageError` where trial ``trial_id`` has no whole checkpoint in
    ``trial_dir`` (a killed write's partial file is none): a worker of a distributed
    search wrote it elsewhere."""
    if not [path for path in glob.glob(os.path.join(trial_dir, "*.weights.h5"))
            if not path.endswith(private_api.PARTIAL_CHECKPOINT)]:
        raise UsageError(
            f"Trial {trial_id}'s checkpoint is not in {trial_dir}: the chief and the workers "
            "of a distributed search must share --model_dir.")


def summary_line(report: dict, model_dir: str) -> str:
    """The line a finished search prints."""
    trials = len(report["trials"])
    # keras-tuner ends a random search after 20 draws in a row of points it has tried.
    ran_out = (f"; the tuner proposed no other point within --max_trials={report['max_trials']}"
               if trials < report.get("max_trials", trials) else "")
    return (f"Best of {trials} trial{'s' if trials != 1 else ''} ({report['failed_trials']} "
            f"failed{ran_out}): trial "
            f"{report['best_trial']}, {report['objective']} {report['best_score']:.4f} with "
            f"{settings(report['best_hyperparameters'])}; test accuracy "
            f"{format_accuracy(report['test_accuracy'], report['test_accuracy_interval'])}, "
            f"test loss {report['test_loss']:.4f}; run in {model_dir}")
