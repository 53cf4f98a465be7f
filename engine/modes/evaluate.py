"""``--mode=evaluate``: a finished run on its dataset's test split, with the
preprocessing it trained with (``run.json``, ``preprocessing.json``,
``model.keras``), through the same evaluator as the run's own final evaluation.

It writes ``evaluation.json`` and the reliability diagram ``reliability.png``;
``--mc_dropout=N`` adds Monte Carlo dropout's scores and diagram
(``reliability_mc_dropout.png``). ``--ensemble=RUN1,RUN2,...`` evaluates several
runs of one dataset and the average of their softmax outputs instead, written to
``--model_dir`` (default ``runs/ensemble-<dataset>``) as ``ensemble.json`` and
``reliability_ensemble.png``.
"""

from __future__ import annotations

import contextlib
import os

import keras
import numpy as np

from engine import rundir
from engine.calibration import plot_reliability
from engine.data import named_data_errors
from engine.evaluate import (NonFiniteOutputs, check_evaluation, check_finite, evaluate,
                             evaluate_ensemble, evaluate_mc_dropout, format_accuracy,
                             predict_test_split, tta_scale)
from engine.modes import saved_run
from engine.report import counted
from engine.spec import check_outside_images, default_model_dir
from layers.errors import UsageError


def run(args) -> None:
    ensemble = args.ensemble or "ensemble" in args.given  # --ensemble= is a list of none
    if "seed" in args.given and not args.mc_dropout:
        raise UsageError(f"--seed draws the dropout masks of --mc_dropout, and this evaluation "
                         f"has none (--seed={args.seed} would be ignored); leave --seed out"
                         f"{'' if ensemble else ' or add --mc_dropout=N'}.")
    if ensemble:
        return run_ensemble(args)
    saved = saved_run(args, reads_images=True)
    rundir.check_writable("model_dir", saved.directory, rundir.COPY_THE_RUN)  # evaluation.json
    evaluation = evaluate_run(saved, args.data_dir, args.tta,
                              args.batch_size, test_scale=args.test_scale,
                              mc_dropout=args.mc_dropout, seed=args.seed)
    print(describe(evaluation, saved.directory))


def evaluate_run(saved: rundir.SavedRun, data_dir: str | None = None, tta: str = "none",
                 batch_size: int | None = None, *, test_scale: int | None = None,
                 mc_dropout: int = 0, seed: int = 0) -> dict:
    """The run ``saved`` on its test split (``data_dir`` overrides where its dataset is),
    with ``mc_dropout`` Monte Carlo dropout passes (masks drawn from ``seed``) if > 0;
    writes and returns
    ``evaluation.json``, and writes the reliability diagrams."""
    model = saved.load_model()
    check_evaluation(model, tta, test_scale, mc_dropout)
    # In order: Monte Carlo dropout's masks then fall on the same images every time.
    data = saved.prepare(data_dir, batch_size, tta=tta, test_scale=test_scale,
                         deterministic=True)
    record = saved.record
    with named_data_errors(data.source), told_of(saved.directory):
        evaluation = {"recipe": record["recipe"], "dataset": saved.dataset,
                      "test_examples": data.source.sizes["test"],
                      **evaluate(model, data, tta, with_calibration=True)}
        if mc_dropout:  # before any figure: a failure leaves the last evaluation's whole
            evaluation["mc_dropout"] = evaluate_mc_dropout(model, data, mc_dropout, seed)
    title = f"{record['recipe']} on {saved.dataset}"
    evaluation["calibration"]["diagram"] = plot_reliability(
        evaluation["calibration"], os.path.join(saved.directory, rundir.RELIABILITY_FILE), title)
    if mc_dropout:
        result = evaluation["mc_dropout"]
        result["calibration"]["diagram"] = plot_reliability(
            result["calibration"],
            os.path.join(saved.directory, rundir.MC_DROPOUT_RELIABILITY_FILE),
            f"{title}\nMonte Carlo dropout, {counted(mc_dropout, 'pass')}")
    else:  # an earlier evaluation's diagram would no longer match evaluation.json
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(saved.directory, rundir.MC_DROPOUT_RELIABILITY_FILE))
    rundir.write_json(os.path.join(saved.directory, rundir.EVALUATION_FILE), evaluation)
    return evaluation


@contextlib.contextmanager
def told_of(directory: str):
    """A network with outputs that are not finite, told as the saved run in
    ``directory`` that it is (an ensemble names which of its runs)."""
    try:
        yield
    except NonFiniteOutputs as failure:
        raise failure.of_saved_run(directory) from None


def describe(evaluation: dict, model_dir: str) -> str:
    """What ``--mode=evaluate`` prints: the accuracy with its interval, the loss, the
    calibration error, TTA and Monte Carlo dropout where asked, the files written."""
    calibration = evaluation["calibration"]
    tta = (f"; {evaluation['tta']} TTA accuracy "
           f"{format_accuracy(evaluation['tta_accuracy'], evaluation['tta_accuracy_interval'])}"
           f", loss {evaluation['tta_loss']:.4f}" if "tta" in evaluation else "")
    lines = [f"{evaluation['recipe']} on {evaluation['dataset']}: test accuracy "
             f"{format_accuracy(evaluation['test_accuracy'], evaluation['test_accuracy_interval'])}"
             f", test loss {evaluation['test_loss']:.4f}, "
             f"ECE {calibration['expected_calibration_error']:.4f}{tta}"]
    if "mc_dropout" in evaluation:
        result = evaluation["mc_dropout"]
        lines.append(
            f"Monte Carlo dropout, {counted(result['passes'], 'pass')}"
            f"{' (without TTA)' if 'tta' in evaluation else ''}: test accuracy "
            f"{format_accuracy(result['test_accuracy'], result['test_accuracy_interval'])}, "
            f"test loss {result['test_loss']:.4f}, "
            f"ECE {result['calibration']['expected_calibration_error']:.4f}, "
            f"{entropies(result['calibration'])}")
    entropy = entropies(calibration)
    lines.append(f"Without dropout: {entropy}." if "mc_dropout" in evaluation
                 else f"{entropy[0].upper()}{entropy[1:]}.")
    lines.append(f"Written to {os.path.join(model_dir, rundir.EVALUATION_FILE)} and "
                 f"{', '.join(os.path.basename(path) for path in _diagrams(evaluation))}.")
    return "\n".join(lines)


def entropies(calibration: dict) -> str:
    """``mean predictive entropy 0.05 (right), 0.81 (wrong) nats (max 2.30)``."""
    def shown(value):
        return "none" if value is None else f"{value:.3f}"

    return (f"mean predictive entropy {shown(calibration['mean_entropy_correct'])} (right), "
            f"{shown(calibration['mean_entropy_wrong'])} (wrong) nats "
            f"(max {calibration['max_entropy']:.2f})")


def _diagrams(evaluation: dict) -> list[str]:
    results = [evaluation, evaluation.get("mc_dropout")]
    return [result["calibration"]["diagram"] for result in results if result]


def run_ensemble(args) -> dict:
    """``--ensemble``: each run and the average of their softmax outputs on the test
    split; writes ``ensemble.json`` and ``reliability_ensemble.png``."""
    check_directories(args.ensemble or [])
    runs = [saved_run(args, directory, reads_images=True) for directory in args.ensemble or []]
    check_ensemble(runs, args)
    dataset = runs[0].dataset
    output_dir = os.path.abspath(os.path.expanduser(args.model_dir) if "model_dir" in args.given
                                 else default_model_dir("ensemble", dataset))
    rundir.check_writable("model_dir", output_dir)  # before any run is evaluated
    check_outside_images("model_dir", output_dir, dataset)
    member_probabilities, scales, labels = [], [], None
    for saved in runs:
        model = saved.load_model()
        # Deterministic element order: every run's probabilities line up with the labels.
        data = saved.prepare(args.data_dir, args.batch_size, tta=args.tta,
                             test_scale=args.test_scale, deterministic=True)
        probabilities, run_labels = predict_test_split(model, data, args.tta)
        with told_of(saved.directory):
            check_finite(probabilities)
        if labels is not None and not np.array_equal(labels, run_labels):
            raise UsageError(f"The runs' test splits differ ({runs[0].directory} and "
                             f"{saved.directory}); ensemble runs of one prepared dataset.")
        member_probabilities.append(probabilities)
        scales.append(tta_scale(data, args.tta))  # each run's own Q under --tta=dense
        labels = run_labels
        del model
        keras.backend.clear_session()
    result = {"dataset": dataset, "tta": args.tta, "test_examples": len(labels),
              **evaluate_ensemble(member_probabilities, labels)}
    for member, saved, scale in zip(result["members"], runs, scales):
        member.update(model_dir=saved.directory, recipe=saved.record["recipe"], **scale)
    os.makedirs(output_dir, exist_ok=True)
    result["calibration"]["diagram"] = plot_reliability(
        result["calibration"], os.path.join(output_dir, rundir.ENSEMBLE_RELIABILITY_FILE),
        f"ensemble of {len(runs)} runs on {dataset}")
    path = os.path.join(output_dir, rundir.ENSEMBLE_FILE)
    rundir.write_json(path, result)
    print(describe_ensemble(result, path))
    return result


def check_directories(directories: list[str]) -> None:
    """Raises :class:`UsageError` for an empty entry of ``--ensemble`` (it would stand for
    ``--model_dir`` or ``runs/<recipe>-<dataset>``) or a run named twice (an ensemble
    holding one run twice weighs it double)."""
    given = ",".join(directories)
    if not all(directories):
        raise UsageError(f"--ensemble={given} has an empty entry; pass run directories "
                         "separated by single commas, without a comma at either end.")
    seen = {}
    for directory in directories:
        path = os.path.realpath(os.path.expanduser(directory))  # as load_run reads it
        if path in seen:
            raise UsageError(f"--ensemble={given} names the run in {path} twice "
                             f"({seen[path]!r} and {directory!r}); pass each run once.")
        seen[path] = directory


def check_ensemble(runs: list[rundir.SavedRun], args) -> None:
    """Raises :class:`UsageError` unless ``runs`` are two or more runs of one dataset that
    ``args``' evaluation options (``--tta``, ``--test_scale``) can evaluate."""
    if len(runs) < 2:
        raise UsageError(f"--ensemble needs two or more run directories, got {len(runs)}.")
    if args.mc_dropout:
        raise UsageError("--mc_dropout and --ensemble are separate evaluations; pass one.")
    first = runs[0]
    for saved in runs[1:]:
        for key, first_value, value in (("dataset", first.dataset, saved.dataset),
                                        ("class_names", first.class_names, saved.class_names)):
            if value != first_value:
                raise UsageError(
                    f"--ensemble runs must share one dataset and its classes: "
                    f"{first.directory} has {key} {first_value!r}, {saved.directory} "
                    f"has {value!r}.")
    if args.tta == "dense":
        for saved in runs:
            check_evaluation(saved.load_model(), args.tta, args.test_scale)
        keras.backend.clear_session()


def describe_ensemble(result: dict, path: str) -> str:
    """One line per run, then the ensemble's."""
    def line(name, scores):
        return (f"  {name}: test accuracy "
                f"{format_accuracy(scores['test_accuracy'], scores['test_accuracy_interval'])}, "
                f"test loss {scores['test_loss']:.4f}")

    tta = f", {result['tta']} TTA" if result["tta"] != "none" else ""
    lines = [f"Ensemble of {len(result['members'])} runs on {result['dataset']}, the average of "
             f"their softmax outputs{tta}:"]
    lines += [line(f"{member['model_dir']} ({member['recipe']})", member)
              for member in result["members"]]
    lines.append(line("ensemble", result) + ", ECE "
                 f"{result['calibration']['expected_calibration_error']:.4f}")
    lines.append(f"Written to {path} and {rundir.ENSEMBLE_RELIABILITY_FILE}.")
    return "\n".join(lines)
