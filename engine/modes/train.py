"""``--mode=train``: one training run, phase by phase.

hold the run folder (:mod:`engine.runlock`) -> set up -> open the data -> build
(the architecture checked against the input before any statistics are computed) ->
fit the preprocessing (a resumed run reads its own) -> ``run.json`` ->
compile -> fit -> evaluate once on test -> save -> export -> report -> the backup,
kept until here so that an interruption after the last epoch resumes after it, removed
(and the record of the export, which such a resume keeps instead of exporting again).
"""

from __future__ import annotations

import contextlib
import os

from absl import logging

import recipes
from engine import (distribute, endings, interrupts, rundir, runlock, schedules, training,
                    transfer)
from engine.build import build, check_fits_before_reading, unsettled_batch_norm
from engine.cli import run_spec
from engine.data import named_data_errors, open_source, prepare, resolve_input_shape
from engine.data.preprocessing import Preprocessing
from engine.evaluate import check_evaluation, evaluate, format_accuracy
from engine.publish import publish
from engine.report import counted, plot_curves, read_history, training_report
from engine.serving import layout
from engine.session import session
from engine.spec import RunSpec, check_paths, run_record
from layers.errors import RunFailure, UsageError


def run(args) -> None:
    spec = run_spec(args)
    training.check_flags_read(spec.training, args.given)
    cautions = schedules.check_drops_reached(spec.training, args.given, spec.recipe)
    transfer.check_flags(spec.init_from, spec.transfer, args.given)
    report = train(spec, overwrite=args.overwrite,
                   validation_fraction_given="validation_fraction" in args.given,
                   cautions=cautions)
    if report is not None:  # a multi-worker run's other workers leave the report to the chief
        print(summary_line(report, spec.model_dir))


def train(spec: RunSpec, overwrite: bool = False,
          validation_fraction_given: bool = False, cautions=()) -> dict | None:
    """Trains ``spec.recipe`` on ``spec.data.dataset``, evaluates once on the test split,
    saves the model and its SavedModel export, and returns the report it wrote.

    Under multi-worker training every worker trains, evaluates, checkpoints and
    exports (reading distributed variables is a collective step), each in its own
    folder (``distribute.worker_dir``); only the chief writes into ``model_dir``,
    the report included, and gets the report; the others get None.
    ``validation_fraction_given``: ``--validation_fraction`` was set, which is refused
    for a dataset that ships its own validation split. ``cautions``: warnings about the
    configuration (:func:`engine.schedules.check_drops_reached`'s), given once every check
    has passed, as training begins.
    """
    check_paths(spec, overwrite)
    chief = distribute.is_chief()
    # The chief holds the run folder; the other workers write into folders of their own.
    # A Ctrl-C that a finalizer drops (JAX's garbage-collection callback, where JAX is
    # installed) is kept and raised at the next phase, not lost with the run going on.
    with (runlock.held(spec.model_dir, "train") if chief else contextlib.nullcontext(),
          interrupts.kept()):
        replacing = []  # the folder whose run this process set aside, once it has
        try:
            return train_held(spec, chief, overwrite, validation_fraction_given, replacing,
                              cautions)
        except RunFailure as failure:  # diverged, or its data failed: the run it replaced stays
            if replacing:
                rundir.put_back(replacing[0])
                told = failure.advice(overwrite=True) if isinstance(failure, training.Diverged) \
                    else str(failure)
                raise RunFailure(f"{told} The run that --overwrite was replacing is back in "
                                 f"{replacing[0]}.") from failure
            backup = os.path.join(distribute.worker_dir(spec.model_dir), rundir.BACKUP_DIR)
            if isinstance(failure, training.Diverged) and endings.backed_up(backup):
                raise RunFailure(failure.advice(overwrite=True)) from failure
            raise
        except BaseException:  # a full disk, Ctrl-C: where nothing of it resumes, put back
            if replacing and not rundir.replacement_started(replacing[0]):
                rundir.put_back(replacing[0])
            raise


def train_held(spec: RunSpec, chief: bool, overwrite: bool, validation_fraction_given: bool,
               replacing: list, cautions=()) -> dict | None:
    """:func:`train`, its run folder held; ``replacing`` gets the folder (this worker's)
    once the run that ``--overwrite`` replaces is set aside there
    (:func:`engine.rundir.set_aside`)."""
    recipe = recipes.get(spec.recipe)
    run_dir = distribute.worker_dir(spec.model_dir)
    replace = chief and rundir.claim(spec.model_dir, overwrite)
    if not chief and not overwrite and os.path.isfile(
            os.path.join(spec.model_dir, rundir.REPORT_FILE)):
        # The chief refuses it before it joins the cluster, where this worker would wait
        # for it in TensorFlow's C++ code, deaf to Ctrl-C and SIGTERM.
        rundir.refuse_finished(spec.model_dir)
    if chief:
        layout.check_base_path(spec.export_dir)
    with session(spec.distribute, spec.seed, spec.deterministic, spec.precision) as strategy:
        distribute.check_batch(strategy, spec.training.batch_size, spec.distribute)
        input_shape = resolve_input_shape(recipe.input_shape, spec.data.image_size)
        check_fits_before_reading(spec.recipe, input_shape, spec.data.dataset, spec.seed)
        source = open_source(spec.data, input_shape, recipe.classes_at(input_shape),
                             validation_fraction_given)
        record = run_record(spec, source.class_names, input_shape, source.sizes,
                            source.split_digest)
        replace = rundir.check_resumable(run_dir, record, overwrite) or replace
        schedules.check_validation(spec.training, source.sizes["validation"])
        # The architecture is checked against the input before any statistics are computed.
        restored = None if replace or not spec.init_from \
            else training.restored_pretrained_layers(run_dir, spec.init_from)
        built = build(spec.recipe, source.num_classes, input_shape, spec.training,
                      spec.init_from, spec.transfer, restored=restored)
        if spec.init_from:
            record[rundir.PRETRAINED_LAYERS] = list(built.pretrained_layers)
        check_evaluation(built.model, spec.data.tta, spec.data.test_scale)
        with named_data_errors(source):
            data = prepare(spec.data, input_shape, source=source, training=True,
                           preprocessing=None if replace else resumed_statistics(run_dir))
            if replace:  # --overwrite, every check passed: a mistake would have lost nothing
                if rundir.set_aside(run_dir):  # until this run's report, or its failure
                    replacing.append(run_dir)
            os.makedirs(run_dir, exist_ok=True)
            rundir.write_json(os.path.join(run_dir, rundir.RUN_FILE), record)
            data.preprocessing.save(os.path.join(run_dir, rundir.PREPROCESSING_FILE))
            training.compile_model(built.trained, spec.training, built.slow_layers,
                                   spec.finetune_multiplier)
            accuracy = training.accuracy_key(built.trained)
            validation = data.pipelines.validation
            for caution in (*cautions, unsettled_batch_norm(
                    built, spec.recipe, spec.training.epochs, epoch_steps(spec, data))):
                if caution:
                    logging.warning(caution)
            print(plan_line(spec, data), flush=True)
            training.train(built.trained,
                           training.one_target_per_head(built.trained, data.pipelines.train),
                           None if validation is None
                           else training.one_target_per_head(built.trained, validation),
                           spec.training,
                           training.run_callbacks(spec.training, run_dir, accuracy,
                                                  extra=[training.TimeToEnd()],
                                                  validation=validation is not None,
                                                  keep_backup=True),
                           jit_compile=spec.jit_compile,
                           steps_per_execution=spec.steps_per_execution)
            interrupts.raise_if_dropped()
            evaluation = evaluate(built.model, data, spec.data.tta)
            interrupts.raise_if_dropped()
    model_path, export_dir = publish(built.model, spec, data, run_dir, chief)
    interrupts.raise_if_dropped()
    if not chief:
        rundir.tidy_finished(run_dir)
        return None
    history = read_history(os.path.join(run_dir, rundir.HISTORY_FILE))
    curves = os.path.join(spec.model_dir, rundir.CURVES_FILE)
    plot_curves(history, curves, title=spec.recipe, accuracy=accuracy)
    report = training_report(spec, data, built.model, built.trained.optimizer, evaluation,
                             history, strategy, model_path=model_path, export_dir=export_dir,
                             curves=curves, accuracy=accuracy)
    rundir.write_json(os.path.join(spec.model_dir, rundir.REPORT_FILE), report)
    rundir.tidy_finished(run_dir)
    return report


def resumed_statistics(run_dir: str) -> Preprocessing | None:
    """The preprocessing an interrupted run in ``run_dir`` trained its backed-up epochs
    with, which it resumes with (fitting it again would read the training split once
    more, up to 100,000 images, and could differ in its last bits); None where there is
    no such run, or its file does not read (the statistics are then fitted again)."""
    path = os.path.join(run_dir, rundir.PREPROCESSING_FILE)
    if training.restorable(os.path.join(run_dir, rundir.BACKUP_DIR))[1] is None \
            or not os.path.isfile(path):
        return None
    try:
        return Preprocessing.load(path)
    except UsageError:
        return None


def epoch_steps(spec: RunSpec, data) -> int:
    """The training steps of one of the run's epochs."""
    return -(-data.source.sizes["train"] // spec.training.batch_size)


def plan_line(spec: RunSpec, data) -> str:
    """The line a run prints before it trains: how much training lies ahead."""
    epochs = spec.training.epochs
    return (f"{spec.recipe}: {counted(epochs, 'epoch')} of "
            f"{counted(epoch_steps(spec, data), 'step')} (batch {spec.training.batch_size}, "
            f"{data.source.sizes['train']:,} training images)"
            + ("; the time to the end follows the first epoch." if epochs > 1 else "."))


def summary_line(report: dict, model_dir: str) -> str:
    """The line a finished run prints."""
    accuracy = format_accuracy(report["test_accuracy"], report["test_accuracy_interval"])
    tta = (f", {report['tta']} TTA accuracy "
           f"{format_accuracy(report['tta_accuracy'], report['tta_accuracy_interval'])}"
           if report.get("tta", "none") != "none" else "")
    return (f"{report['recipe']} on {report['dataset']}: test accuracy {accuracy}{tta}, "
            f"test loss {report['test_loss']:.4f}, {counted(report['epochs_run'], 'epoch')} in "
            f"{report['train_seconds']:.1f} s; run in {model_dir}")
