"""Searches run in this process on the embedded digits (engine.modes.tune.tune): the
search picks a good setting over a bad one, failures are recorded without poisoning it
(nor printing tracebacks), trials do not accumulate models, Hyperband continues its
trials, the report describes the training the saved model comes from, a Ctrl-C between
trials stops the search, and a trial runs under MirroredStrategy."""

import dataclasses
import gc
import json
import os
import re
import sys
import types
import weakref

import keras
import keras_tuner
import pytest
import tensorflow as tf

import recipes
from engine import rundir, spec
from engine.modes import tune
from engine.report import read_history
from engine.tuning.hypermodel import RecipeHyperModel
from engine.tuning.spec import SearchSpec
from layers.errors import RunFailure, UsageError
from recipes.space import Choice, Float, SearchSpace


def digits_search(tmp_path, training, epochs=1, distribute="none", **settings):
    """A search of lenet5_modern on digits over the ``training`` ranges only."""
    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=epochs)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "search_run"),
                       distribute=distribute)
    return SearchSpec(run=run, space=SearchSpace(training=training), **settings)


def killed_search(tmp_path, search: SearchSpec, **record) -> None:
    """What a kill of ``search`` before its first trial leaves: run.json (plus
    ``record``'s entries) and an empty project folder."""
    (tmp_path / "search_run" / "search").mkdir(parents=True)
    rundir.write_json(str(tmp_path / "search_run" / "run.json"), {
        "recipe": "lenet5_modern", "dataset": "digits", "seed": 42, "precision": "float32",
        "input_shape": [32, 32, 1], "init_from": None, "transfer": None,
        "finetune_multiplier": None, "training": dataclasses.asdict(search.run.training),
        "search": tune.search_record(search), **record})


def test_the_search_picks_the_good_learning_rate_and_keeps_no_model_alive(tmp_path,
                                                                          monkeypatch):
    built = []
    build = RecipeHyperModel.build

    def recording(self, hp):
        model = build(self, hp)
        built.append(weakref.ref(model))
        return model

    monkeypatch.setattr(RecipeHyperModel, "build", recording)
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-6, 1e-3, 3e-3),
                                                              default=1e-3)},
                           epochs=2, max_trials=3)
    report = tune.tune(search, verbose=0)
    # A failed trial's own message first (its traceback could keep its model alive).
    assert all(row["status"] == "COMPLETED" and row["seconds"] > 0 for row in report["trials"])
    gc.collect()
    assert len(built) >= 4  # the space explored, three trials, the best one reloaded
    alive = [type(referrer).__name__ for reference in built if reference() is not None
             for referrer in gc.get_referrers(reference())]
    assert sum(reference() is not None for reference in built) <= 1, alive
    rates = {row["hyperparameters"]["learning_rate"]: row for row in report["trials"]}
    assert set(rates) == {1e-6, 1e-3, 3e-3}
    assert report["best_hyperparameters"]["learning_rate"] != 1e-6
    assert rates[1e-6]["score"] < report["best_score"] - 0.3  # 1e-6 barely moves in 2 epochs
    assert report["best_score"] == max(row["score"] for row in report["trials"])
    assert report["test_examples"] == 360 and 0.0 <= report["test_accuracy"] <= 1.0
    assert report["learning_rate"] == report["best_hyperparameters"]["learning_rate"]
    keras.backend.clear_session()


def test_a_diverged_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, capsys):
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e-2, 1e9), default=1e-2)},
                           max_trials=2, max_failed_trials=2)
    report = tune.tune(search, verbose=0)
    failed = [row for row in report["trials"] if row["status"] == "FAILED"]
    assert len(failed) == report["failed_trials"] == 1
    assert failed[0]["hyperparameters"]["learning_rate"] == 1e9 and failed[0]["score"] is None
    assert failed[0]["message"].startswith("The training loss became")
    assert report["best_hyperparameters"]["learning_rate"] == 1e-2
    printed = capsys.readouterr()
    lines = [line for line in printed.out.splitlines() if line.startswith("Trial ")]
    assert len(lines) == 2 and any("FAILED" in line and "loss became" in line for line in lines)
    assert "Traceback" not in printed.err  # the trial's line says why
    keras.backend.clear_session()


def test_a_search_whose_last_trial_reaches_max_failed_trials_ran_every_trial(tmp_path):
    # It ended "so the search stopped", exit 1 and no model, though no trial was left.
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e-2, 1e9), default=1e-2)},
                           max_trials=2, max_failed_trials=1)
    report = tune.tune(search, verbose=0)
    assert [row["status"] for row in report["trials"]] == ["COMPLETED", "FAILED"]
    assert report["best_hyperparameters"]["learning_rate"] == 1e-2
    keras.backend.clear_session()


def test_the_search_stops_at_max_failed_trials_in_one_sentence(tmp_path):
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e9, 1e10))},
                           max_trials=3, max_failed_trials=1)
    with pytest.raises(RunFailure, match=r"^1 of 1 trials failed \(the last: The training loss "
                                         r"became .*[0-9]\), reaching "
                                         r"--max_failed_trials=1, so the search stopped"):
        tune.tune(search, verbose=0)
    assert not (tmp_path / "search_run" / "report.json").exists()
    oracle = json.loads((tmp_path / "search_run" / "search" / "oracle.json").read_text())
    assert oracle["end_order"] == ["0"]  # kept: a higher limit resumes the search
    # --overwrite starts afresh (here with a space that trains).
    good = dataclasses.replace(search, space=SearchSpace(training={
        "learning_rate": Choice((1e-3,))}), max_trials=1)
    report = tune.tune(good, overwrite=True, verbose=0)
    assert [(row["id"], row["status"]) for row in report["trials"]] == [("0", "COMPLETED")]
    assert report["trials"][0]["hyperparameters"] == {"learning_rate": 1e-3}
    keras.backend.clear_session()


def test_a_search_whose_every_trial_failed_says_what_to_do(tmp_path):
    # It named the failure but no way forward.
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e9,))},
                           max_trials=1, max_failed_trials=2)
    with pytest.raises(RunFailure, match=r"^None of the search's 1 trial completed \(the last "
                                         r"failure: The training loss became .*\); remove its "
                                         r"cause \(a lower --learning_rate where trials "
                                         r"diverged, .*\) and run again with --overwrite\.$"):
        tune.tune(search, verbose=0)
    keras.backend.clear_session()


def test_a_failed_search_puts_back_the_run_that_overwrite_was_replacing(tmp_path):
    # It removed the finished training run in the folder before the first trial.
    run_dir = tmp_path / "search_run"
    run_dir.mkdir()
    finished = {"report.json": '{"test_accuracy": 0.97}', "model.keras": "the trained model",
                "history.csv": "epoch,loss\n0,0.1\n"}
    for name, text in finished.items():
        (run_dir / name).write_text(text)
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e9,))},
                           max_trials=1, max_failed_trials=1)
    with pytest.raises(RunFailure, match=r"^None of the search.s 1 trial completed .* The run "
                                         r"that --overwrite was replacing is back in "
                                         r".*search_run\.$"):
        tune.tune(search, overwrite=True, verbose=0)
    assert {path.name: path.read_text() for path in run_dir.iterdir()} == finished
    keras.backend.clear_session()


def test_an_overwrite_search_stopped_before_its_first_trial_puts_the_run_back(tmp_path,
                                                                           monkeypatch):
    # A full disk before the first trial hid the finished run in .replaced until a later
    # command in the folder put it back.
    run_dir = tmp_path / "search_run"
    run_dir.mkdir()
    finished = {"report.json": '{"test_accuracy": 0.97}', "model.keras": "the trained model"}
    for name, text in finished.items():
        (run_dir / name).write_text(text)
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3,))}, max_trials=1)

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tune, "make_tuner", full_disk)
    with pytest.raises(OSError, match="No space left"):
        tune.tune(search, overwrite=True, verbose=0)
    assert {path.name: path.read_text() for path in run_dir.iterdir()} == finished
    assert not rundir.replaced_here(str(run_dir))


def test_an_overwrite_search_that_max_failed_trials_stopped_keeps_its_trials(tmp_path):
    # It put the replaced run back, removing the trials that "run the same command to
    # resume it" promised to resume (and the same command, with --overwrite, starts afresh).
    run_dir = tmp_path / "search_run"
    run_dir.mkdir()
    finished = {"report.json": '{"test_accuracy": 0.97}', "model.keras": "the trained model"}
    for name, text in finished.items():
        (run_dir / name).write_text(text)
    search = digits_search(tmp_path, {"optimizer": Choice(("sgd",)),
                                      "learning_rate": Choice((1e9, 1e-2))},
                           max_trials=2, max_failed_trials=1)
    with pytest.raises(RunFailure, match=r"so the search stopped; raise --max_failed_trials "
                                         r"and run the same command without --overwrite to "
                                         r"resume it, .* The run it replaces waits in "
                                         r".*search_run/\.replaced until the search has its "
                                         r"report\.$"):
        tune.tune(search, overwrite=True, verbose=0)
    assert {path.name: path.read_text() for path in (run_dir / ".replaced").iterdir()
            if path.name in finished} == finished
    assert json.loads((run_dir / "search" / "oracle.json").read_text())["end_order"] == ["0"]
    report = tune.tune(dataclasses.replace(search, max_failed_trials=2), verbose=0)
    assert [row["status"] for row in report["trials"]] == ["FAILED", "COMPLETED"]
    assert not (run_dir / ".replaced").exists()
    keras.backend.clear_session()


def test_a_finished_search_is_extended_by_a_larger_max_trials(tmp_path):
    # README: "a larger --max_trials extends a search"; a finished one was refused
    # ("holds a finished run; pass --overwrite").
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3), default=1e-3)},
                           max_trials=1)
    first = tune.tune(search, verbose=0)
    with pytest.raises(UsageError, match=r"holds a finished search of --max_trials=1; pass a "
                                         "larger --max_trials to extend it, --overwrite"):
        tune.tune(search, verbose=0)
    run_dir = tmp_path / "search_run"
    # What evaluate and visualize wrote of the first model (and a file of the user's).
    for name in ("evaluation.json", "reliability.png", "ensemble.json", "occlusion.png",
                 "feature_maps_s2.png", "notes.txt"):
        (run_dir / name).write_text("of the model saved before")
    extended = tune.tune(dataclasses.replace(search, max_trials=2), verbose=0)
    assert sorted(path.name for path in run_dir.iterdir() if path.is_file()
                  and path.suffix != ".npy") == [
        "curves.png", "model.keras", "notes.txt", "preprocessing.json", "report.json",
        "run.json"]
    assert [row["id"] for row in extended["trials"]] == ["0", "1"]
    assert extended["trials"][0] == first["trials"][0]  # kept, not trained again
    assert extended["max_trials"] == 2
    assert {row["hyperparameters"]["learning_rate"] for row in extended["trials"]} == {
        1e-3, 3e-3}
    assert sorted(path.name for path in (run_dir / "export").iterdir()) == ["1", "2"]
    assert extended["export_dir"] == str(run_dir / "export" / "2")
    assert json.loads((run_dir / "report.json").read_text())["max_trials"] == 2
    keras.backend.clear_session()


def test_a_search_interrupted_after_its_export_keeps_that_version_on_resume(tmp_path,
                                                                          monkeypatch):
    # The best trial's model was exported a second time, as version 2.
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3,))}, max_trials=1)
    plot_curves = tune.plot_curves

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tune, "plot_curves", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune.tune(search, verbose=0)
    monkeypatch.setattr(tune, "plot_curves", plot_curves)
    report = tune.tune(search, verbose=0)
    run_dir = tmp_path / "search_run"
    assert sorted(path.name for path in (run_dir / "export").iterdir()) == ["1"]
    assert report["export_dir"] == str(run_dir / "export" / "1")
    assert not (run_dir / "published.json").exists()
    keras.backend.clear_session()


@pytest.mark.slow
def test_hyperband_continues_the_best_trials_from_their_checkpoints(tmp_path, capsys):
    # max_epochs 3, factor 3: three trials of 1 epoch, then the best continued to 3.
    search = digits_search(tmp_path, {"learning_rate": Choice((3e-4, 1e-3, 3e-3),
                                                              default=1e-3)},
                           epochs=3, tuner="hyperband", max_trials=4)
    report = tune.tune(search, verbose=0)
    rows = report["trials"]
    assert [row["epochs"] for row in rows] == [1, 1, 1, 3]
    first_round = max(rows[:3], key=lambda row: row["score"])
    # The continued trial says so: its line printed the same settings as a duplicate.
    assert "continues" not in rows[0]
    assert (rows[3]["continues"], rows[3]["initial_epoch"]) == (first_round["id"], 1)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith("Trial 3 "))
    assert f"s, continuing trial {first_round['id']} after 1 epoch; " in line
    trial = json.loads((tmp_path / "search_run" / "search" / "trial_3" / "trial.json").read_text())
    assert trial["hyperparameters"]["values"]["tuner/trial_id"] == first_round["id"]
    history = (tmp_path / "search_run" / "search" / "trial_3" / "execution0" /
               "history.csv").read_text().split()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2"]
    best = tmp_path / "search_run" / "search" / f"trial_{report['best_trial']}"
    epochs = read_history(str(best / "execution0" / "history.csv"))["epoch"]
    assert report["best_epoch"] - 1 in epochs  # counted as the trial's own log counts
    # Every epoch the saved model trained, a continued trial's first one included.
    assert report["epochs_run"] == next(row["epochs"] for row in rows
                                        if row["id"] == report["best_trial"])
    keras.backend.clear_session()


def test_a_continued_trials_report_counts_the_epochs_it_continued(tmp_path):
    # A best trial that continued trial 0 after 1 epoch reported epochs_run 2 and the
    # seconds and curves of its own two epochs, for a model that trained three.
    def trial(values):
        hyperparameters = types.SimpleNamespace(values=values)
        return types.SimpleNamespace(hyperparameters=hyperparameters)

    trials = {"0": trial({}), "3": trial({"tuner/trial_id": "0", "tuner/initial_epoch": 1}),
              "7": trial({"tuner/trial_id": "3", "tuner/initial_epoch": 3})}
    tuner = types.SimpleNamespace(
        oracle=types.SimpleNamespace(get_trial=trials.__getitem__,
                                     objective=keras_tuner.Objective("val_accuracy", "max")),
        get_trial_dir=lambda trial_id: str(tmp_path / f"trial_{trial_id}"))
    for trial_id, rows in (("0", [(0, 0.5, 4.0)]), ("3", [(1, 0.7, 5.0), (2, 0.6, 6.0)]),
                           ("7", [(3, 0.85, 7.0)])):
        (tmp_path / f"trial_{trial_id}" / "execution0").mkdir(parents=True)
        (tmp_path / f"trial_{trial_id}" / "execution0" / "history.csv").write_text(
            "epoch,val_accuracy,epoch_seconds\n"
            + "".join(f"{epoch},{accuracy},{seconds}\n" for epoch, accuracy, seconds in rows))
    own = tune.checkpoint_history(tuner, "3", 1)
    assert tune.lineage_history(tuner, "3", own, 1) == {
        "epoch": [0.0, 1.0, 2.0], "val_accuracy": [0.5, 0.7, 0.6],
        "epoch_seconds": [4.0, 5.0, 6.0]}
    # Through trial 3's checkpoint (its epoch 1, the better one), and trial 0 before it,
    # numbered as the weights trained them.
    lineage = tune.lineage_history(tuner, "7", tune.checkpoint_history(tuner, "7", 1), 1)
    assert lineage == {"epoch": [0.0, 1.0, 2.0], "val_accuracy": [0.5, 0.7, 0.85],
                       "epoch_seconds": [4.0, 5.0, 7.0]}
    # Its checkpoint is its own best epoch, the third the weights trained (not a parent's).
    lineage["val_accuracy"][0] = 0.9
    assert tune.checkpoint_epoch(lineage, tuner.oracle.objective, first_row=2) == {
        "best_epoch": 3, "best_val_accuracy": 0.85}
    assert tune.lineage_history(tuner, "0", tune.checkpoint_history(tuner, "0", 1), 1)[
        "epoch"] == [0.0]
    (tmp_path / "trial_0" / "execution0" / "history.csv").unlink()  # gone: its own epochs
    assert tune.lineage_history(tuner, "3", own, 1) == own


def test_a_trial_whose_checkpoint_is_only_a_killed_writes_partial_file_has_none(tmp_path):
    # The partial file matched "*.weights.h5": the best model's reload ended in a traceback.
    (tmp_path / "checkpoint.partial.weights.h5").write_bytes(b"cut")
    with pytest.raises(UsageError, match=rf"^Trial 3's checkpoint is not in {tmp_path}: "):
        tune.check_checkpoint("3", str(tmp_path))
    (tmp_path / "checkpoint.weights.h5").write_bytes(b"whole")
    tune.check_checkpoint("3", str(tmp_path))


@pytest.mark.parametrize("epochs", [1, 3])
def test_hyperband_hands_out_max_trials_whatever_the_epochs(tmp_path, epochs):
    """keras-tuner's one pass of Hyperband's brackets holds one trial at --epochs=1 (six at
    3): the search repeats them up to --max_trials, as random search runs that many."""
    from keras_tuner.engine.trial import TrialStatus

    from engine.tuning import space, tuner

    search = digits_search(tmp_path, {"learning_rate": Float(1e-4, 1e-2, log=True,
                                                             default=1e-3)},
                           epochs=epochs, tuner="hyperband", max_trials=8)
    hypermodel = RecipeHyperModel(search, 10, (32, 32, 1), tf.distribute.get_strategy(), 64)
    oracle = tuner.make_tuner(search, hypermodel).oracle
    space.hyperparameters(oracle.hyperparameters, search.space)
    started = 0
    while (trial := oracle.create_trial("tuner0")).status == TrialStatus.RUNNING:
        started += 1
        oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert started == 8


def test_the_first_line_names_what_varies_or_that_nothing_does(tmp_path):
    space = {"learning_rate": Choice((1e-3, 3e-3)), "batch_size": Choice((32, 64))}
    line = tune.announcement(digits_search(tmp_path, space, fixed=("batch_size",)), None, False)
    assert "objective val_accuracy): learning_rate; state in " in line
    line = tune.announcement(digits_search(tmp_path, space, fixed=("batch_size", "learning_rate")),
                             None, False)
    assert "objective val_accuracy): nothing varies, the flags fix every entry; state in " in line
    # An entry whose condition the flags fail varies in no trial (it was listed).
    momentum = {"momentum": Choice((0.0, 0.9)), "optimizer": Choice(("momentum", "nesterov"))}
    conditional = SearchSpace(training=momentum, conditions={"optimizer": ("momentum", (0.9,))})
    search = dataclasses.replace(digits_search(tmp_path, momentum, fixed=("momentum",)),
                                 space=conditional)
    plain = dataclasses.replace(search, run=dataclasses.replace(search.run, training=(
        dataclasses.replace(search.run.training, momentum=0.0))))
    assert "objective val_accuracy): nothing varies" in tune.announcement(plain, None, False)
    assert "objective val_accuracy): optimizer;" in tune.announcement(search, None, False)


def test_a_bayesian_search_extended_on_resume_starts_with_its_new_random_trials(tmp_path):
    from engine.tuning import tuner

    space = {"learning_rate": Float(1e-4, 1e-2, log=True, default=1e-3),
             "batch_size": Choice((32, 64))}

    def made(max_trials):
        search = digits_search(tmp_path, space, tuner="bayesian", max_trials=max_trials)
        hypermodel = RecipeHyperModel(search, 10, (32, 32, 1), tf.distribute.get_strategy(), 64)
        return tuner.make_tuner(search, hypermodel)

    made(6).save()  # a search of 6 trials, killed: 2 random ones first
    assert made(30).oracle.num_initial_points == 6  # resumed with 30: 3 per dimension


def test_a_search_resumed_on_other_classes_is_refused_before_any_work(tmp_path):
    """A folder dataset's classes may change between a kill and the rerun: the trials'
    checkpoints hold a head of the classes the search started with."""
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    killed_search(tmp_path, search, class_names=["0", "1", "2"])
    with pytest.raises(UsageError, match="holds a search of 3 classes and digits now has 10"):
        tune.tune(search, verbose=0)
    assert sorted(path.name for path in (tmp_path / "search_run").iterdir()) == [
        "run.json", "search"]


def test_a_put_back_interrupted_half_way_is_finished_before_a_search_is_extended(tmp_path):
    # Its report back but not its search/, a finished search put back by a failed
    # --overwrite was extended from nothing, then its trials were forgotten with .replaced.
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    run_dir = tmp_path / "search_run"
    aside = run_dir / rundir.REPLACED_DIR
    (aside / "search").mkdir(parents=True)
    (aside / "search" / "oracle.json").write_text("{}")
    (aside / rundir.REPLACED_MARK).touch()
    (aside / rundir.RESTORING_MARK).touch()  # moving back, then the kill
    rundir.write_json(str(run_dir / rundir.REPORT_FILE), {"max_trials": 2,
                                                          "trials": [{"id": "0"}, {"id": "1"}]})
    assert tune.claim(dataclasses.replace(search, max_trials=4), overwrite=False) is False
    assert (run_dir / "search" / "oracle.json").read_text() == "{}" and not aside.exists()


def test_a_search_resumed_with_fewer_trials_than_it_started_is_refused(tmp_path):
    """keras-tuner finishes a trial a kill interrupted whatever --max_trials says: a
    search of 3 started trials resumed with --max_trials=2 would run a third."""
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    killed_search(tmp_path, search, class_names=[str(digit) for digit in range(10)])
    rundir.write_json(str(tmp_path / "search_run" / "search" / "oracle.json"),
                      {"start_order": ["0", "1", "2"], "ongoing_trials": {"tuner0": "2"}})
    with pytest.raises(UsageError, match=r"holds a search that has started 3 trials, more than "
                                         r"--max_trials=2; pass --max_trials=3 or more"):
        tune.tune(search, verbose=0)
    # Finished so before this check, with 3 trials under --max_trials=2: 3 extend nothing.
    rundir.write_json(str(tmp_path / "search_run" / rundir.REPORT_FILE),
                      {"max_trials": 2, "trials": [{"id": str(index)} for index in range(3)]})
    # An interruption after the report left published.json: the next command removes it.
    rundir.write_json(str(tmp_path / "search_run" / rundir.PUBLISHED_FILE), {"version": "1"})
    with pytest.raises(UsageError, match=r"holds a finished search of --max_trials=3; pass a "
                                         r"larger --max_trials"):
        tune.claim(dataclasses.replace(search, max_trials=3), overwrite=False)
    assert not (tmp_path / "search_run" / rundir.PUBLISHED_FILE).exists()


def test_a_search_resumed_on_a_dataset_split_otherwise_is_refused_before_any_work(tmp_path):
    """A folder whose images changed is split anew: its test split would hold images
    the search's trials trained on."""
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    killed_search(tmp_path, search, class_names=[str(digit) for digit in range(10)],
                  split_sizes={"train": 900, "validation": 100, "test": 360})
    with pytest.raises(UsageError, match=r"now splits into 1293 train, 144 validation, 360 test "
                                         r"images, and the search in .* trained on a split into "
                                         r"900 train, 100 validation, 360 test"):
        tune.tune(search, verbose=0)
    assert sorted(path.name for path in (tmp_path / "search_run").iterdir()) == [
        "run.json", "search"]


def test_a_folder_file_gone_during_a_search_ends_it_in_one_sentence(tmp_path, monkeypatch):
    # Decoded every epoch, a file deleted after the folder was checked failed the trial in
    # TensorFlow's error, and the search stopped as on a bug, with a traceback.
    from PIL import Image

    from engine.data import DataFailure, pipeline

    root = tmp_path / "folder"
    for label in range(2):
        (root / f"class{label}").mkdir(parents=True)
        for index in range(10):
            Image.new("L", (32, 32), 20 * index + 5 * label).save(
                root / f"class{label}" / f"{index:02d}.png")
    monkeypatch.setattr(pipeline, "CACHE_BUDGET_BYTES", 0)
    make_tuner = tune.make_tuner

    def make_tuner_once_the_files_are_gone(*args, **kwargs):  # checked, prepared, then gone
        for file in root.rglob("*.png"):
            file.unlink()
        return make_tuner(*args, **kwargs)

    monkeypatch.setattr(tune, "make_tuner", make_tuner_once_the_files_are_gone)
    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=1, batch_size=4)
    run = spec.resolve("lenet5_modern", config, dataset=f"folder:{root}",
                       model_dir=str(tmp_path / "search_run"))
    gone = re.escape(str(root))
    with pytest.raises(DataFailure, match=r"^A file of folder:.* cannot be read or decoded any "
                                          r"more \(.*No such file or directory.*\): the folder "
                                          r"changed after the run checked it \(the files "
                                          rf"changed since, the latest first: {gone}/"):
        tune.tune(SearchSpec(run=run, space=SearchSpace(training={}), max_trials=1), verbose=0)


def test_the_report_describes_the_execution_the_saved_model_comes_from(tmp_path):
    """With two executions per trial, keras-tuner keeps the checkpoint of the best epoch
    of either: the report's best validation accuracy is the saved model's."""
    search = digits_search(tmp_path, {"learning_rate": Choice((3e-3,))}, epochs=2,
                           max_trials=1, executions_per_trial=2)
    report = tune.tune(search, verbose=0)
    trial = tmp_path / "search_run" / "search" / f"trial_{report['best_trial']}"
    best = [max(read_history(str(trial / f"execution{k}" / "history.csv"))["val_accuracy"])
            for k in (0, 1)]
    assert report["best_val_accuracy"] == max(best)
    saved = rundir.load_run(str(tmp_path / "search_run"))
    model = saved.load_model()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    scores = model.evaluate(saved.prepare().pipelines.validation, return_dict=True, verbose=0)
    assert scores["accuracy"] == pytest.approx(report["best_val_accuracy"], abs=1e-6)
    keras.backend.clear_session()


def test_the_reports_best_epoch_is_the_checkpoints_under_a_val_loss_objective(tmp_path,
                                                                               monkeypatch):
    """keras-tuner checkpoints the epoch of the lowest validation loss: the report names
    that epoch and its accuracy, not the epoch of the highest validation accuracy."""
    recorded = {"epoch": [0.0, 1.0, 2.0], "loss": [2.0, 1.0, 0.5],
                "accuracy": [0.3, 0.6, 0.7], "val_loss": [1.5, 0.9, 0.8],
                "val_accuracy": [0.4, 0.9, 0.8]}
    monkeypatch.setattr(tune, "checkpoint_history", lambda *args: recorded)
    search = digits_search(tmp_path, {"learning_rate": Choice((3e-3,))}, max_trials=1,
                           objective="val_loss")
    report = tune.tune(search, verbose=0)
    assert (report["best_epoch"], report["best_val_accuracy"]) == (3, 0.8)
    keras.backend.clear_session()


def test_a_ctrl_c_dropped_between_trials_stops_the_search(tmp_path, monkeypatch):
    """keras-tuner collects garbage before every trial; a Ctrl-C that lands in a
    finalizer there is dropped by Python (reported to sys.unraisablehook), and the search
    used to run on to its end."""
    end_trial = RecipeHyperModel.end_trial

    def dropped_after_the_trial(self):
        failure = end_trial(self)
        sys.unraisablehook(types.SimpleNamespace(  # what Python does with it
            exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(), exc_traceback=None,
            err_msg=None, object=None))
        return failure

    monkeypatch.setattr(RecipeHyperModel, "end_trial", dropped_after_the_trial)
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    with pytest.raises(KeyboardInterrupt):
        tune.tune(search, verbose=0)
    oracle = json.loads((tmp_path / "search_run" / "search" / "oracle.json").read_text())
    assert oracle["end_order"] == ["0"]  # the second trial never trained
    keras.backend.clear_session()


@pytest.mark.slow
def test_a_trial_runs_under_mirrored_strategy(tmp_path):
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3,))}, distribute="mirrored",
                           max_trials=1)
    report = tune.tune(search, verbose=0)
    assert report["hardware"]["strategy"] == "MirroredStrategy"
    assert report["trials"][0]["status"] == "COMPLETED"
    keras.backend.clear_session()


def test_a_search_resumed_with_another_space_or_configuration_is_refused(tmp_path):
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 3e-3))}, max_trials=2)
    killed_search(tmp_path, search)
    tune.check_same_search(dataclasses.replace(search, max_trials=5))  # a larger budget
    # A search saved before weight_decay_scope existed searched with its default, kernels.
    run_json = tmp_path / "search_run" / "run.json"
    record = json.loads(run_json.read_text())
    del record["training"]["weight_decay_scope"]
    run_json.write_text(json.dumps(record))
    tune.check_same_search(search)
    narrower = dataclasses.replace(search, space=SearchSpace(training={
        "learning_rate": Choice((1e-3,))}))
    with pytest.raises(UsageError, match=r"with another search_space \(learning_rate: "
                                         r"\{.*\[0\.001, 0\.003\].*\} then, "
                                         r"\{.*\[0\.001\].*\} now\); run its own command "
                                         r"again to resume it \(if that is this one, the "
                                         r"recipe's space has changed since: pass "
                                         r"--overwrite\), pass --overwrite"):
        tune.check_same_search(narrower)
    longer = dataclasses.replace(search, run=dataclasses.replace(
        search.run, training=dataclasses.replace(search.run.training, epochs=3)))
    with pytest.raises(UsageError, match=r"with another training \(epochs: 1 then, 3 now\); run "
                                         r"its own command again to resume it, pass"):
        tune.check_same_search(longer)
    # Another --steps_per_execution: the schedules move once per call.
    per_call = dataclasses.replace(search, run=dataclasses.replace(search.run,
                                                                   steps_per_execution=4))
    with pytest.raises(UsageError, match=r"another steps_per_execution \(1 then, 4 now\)"):
        tune.check_same_search(per_call)
    # Its trials' checkpoints do not load into a network of another input size.
    larger = dataclasses.replace(search, run=dataclasses.replace(
        search.run, data=dataclasses.replace(search.run.data, image_size=40)))
    with pytest.raises(UsageError, match=r"with another input_shape \(\[32, 32, 1\] then, "
                                         r"\[40, 40, 1\] now\);"):
        tune.check_same_search(larger)


def test_a_dense_evaluation_the_network_cannot_take_is_refused_before_any_trial(tmp_path,
                                                                              monkeypatch):
    """--tta=dense scores the best trial's network densely: one without fully connected
    layers (ResNet's global average pooling) ran the whole search, then failed."""
    def no_trial(*args, **kwargs):
        raise AssertionError("a trial trained")

    monkeypatch.setattr(RecipeHyperModel, "fit", no_trial)
    config = dataclasses.replace(recipes.get("resnet20").training, epochs=1)
    run = spec.resolve("resnet20", config, model_dir=str(tmp_path / "search_run"),
                       tta="dense")
    search = SearchSpec(run=run, space=SearchSpace(training={"learning_rate": Choice((0.1,))}),
                        max_trials=1)
    with pytest.raises(UsageError, match="'resnet20' has no fully connected layers on a "
                                         "flattened feature map to convert for dense evaluation"):
        tune.tune(search, verbose=0)
    assert not (tmp_path / "search_run").exists()


def test_a_test_scale_below_the_input_is_refused_before_any_trial(tmp_path, monkeypatch):
    # --test_scale was refused in tune mode, whose best trial is evaluated densely at it.
    def no_trial(*args, **kwargs):
        raise AssertionError("a trial trained")

    monkeypatch.setattr(RecipeHyperModel, "fit", no_trial)
    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=1)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "search_run"),
                       tta="dense", test_scale=16)
    search = SearchSpec(run=run, space=SearchSpace(training={"learning_rate": Choice((0.1,))}),
                        max_trials=1)
    with pytest.raises(UsageError, match=r"--test_scale=16 is smaller than the network's input "
                                         r"\(32 pixels\)"):
        tune.tune(search, verbose=0)


def test_a_network_that_does_not_fit_the_input_is_refused_before_the_data_is_read(
        tmp_path, monkeypatch):
    # It was found when keras-tuner built the first network: after the statistics were
    # computed, leaving a search folder that then made --mode=train refuse the directory.
    def no_preparing(*args, **kwargs):
        raise AssertionError("the data was prepared")

    monkeypatch.setattr(tune, "prepare", no_preparing)
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3,))}, max_trials=1)
    small = dataclasses.replace(search, run=dataclasses.replace(
        search.run, data=dataclasses.replace(search.run.data, image_size=8)))
    with pytest.raises(UsageError, match="does not fit its input"):
        tune.tune(small, verbose=0)
    assert not (tmp_path / "search_run" / "search").exists()


def test_a_search_folder_without_the_oracles_state_is_no_interrupted_search(tmp_path):
    (tmp_path / "run" / "search").mkdir(parents=True)  # made, then no trial started
    assert rundir.claim(str(tmp_path / "run")) is False
    rundir.write_json(str(tmp_path / "run" / "search" / "oracle.json"), {})
    with pytest.raises(UsageError, match="holds an interrupted search"):
        rundir.claim(str(tmp_path / "run"))


@pytest.mark.parametrize("epochs, first", [(1, 1), (2, 1), (3, 4), (5, 6), (9, 13), (10, 17),
                                           (20, 17)])
def test_hyperband_trains_its_first_trial_for_all_epochs_where_it_is_counted(
        tmp_path, epochs, first):
    # keras-tuner's own oracle, driven trial by trial: the first trial it trains for all
    # epochs is the first of its first bracket's last round.
    from engine.tuning.tuner import HYPERBAND_FACTOR, trials_to_full_length

    space = keras_tuner.HyperParameters()
    space.Float("x", 0, 1)
    oracle = keras_tuner.oracles.HyperbandOracle(
        objective=keras_tuner.Objective("score", "max"), max_epochs=epochs,
        factor=HYPERBAND_FACTOR, hyperparameters=space, seed=1)
    oracle._set_project_dir(str(tmp_path), "search")
    for count in range(1, 200):
        trial = oracle.create_trial("tuner0")
        if trial.hyperparameters.get("tuner/epochs") == epochs:
            break
        oracle.update_trial(trial.trial_id, {"score": trial.hyperparameters.get("x")})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert count == first == trials_to_full_length(epochs)


def test_a_hyperband_search_too_short_to_train_any_trial_for_all_epochs_is_warned_of(tmp_path):
    # At --epochs=3 trials ran 1, 1, 1 then 3 epochs: --max_trials=3 exported a one-epoch
    # model stopped early in its cosine schedule, while the start line said "of 3 epochs".
    from engine.tuning.tuner import short_hyperband

    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 1e-2))}, epochs=3,
                           tuner="hyperband", max_trials=3)
    assert short_hyperband(search) == (
        "Hyperband trains its first trials for fewer epochs: with --max_trials=3 no trial "
        "trains for all 3 epochs (it takes 4 trials to reach one that does), so the best is a "
        "shortened run; raise --max_trials to at least 4.")
    assert short_hyperband(dataclasses.replace(search, max_trials=4)) is None
    assert short_hyperband(dataclasses.replace(search, tuner="random")) is None


def test_the_summary_line_gives_the_test_accuracys_interval_as_a_runs_does():
    report = {"trials": [{}, {}, {}], "failed_trials": 0, "best_trial": "1",
              "objective": "val_accuracy", "best_score": 0.91234,
              "best_hyperparameters": {"learning_rate": 0.005, "optimizer": "adam"},
              "test_accuracy": 0.9, "test_accuracy_interval": {"half_width": 0.031,
                                                               "confidence": 0.95, "n": 360},
              "test_loss": 0.332}
    assert tune.summary_line(report, "/runs/r") == (
        "Best of 3 trials (0 failed): trial 1, val_accuracy 0.9123 with learning_rate=0.005, "
        "optimizer=adam; test accuracy 0.9000 ± 0.0310 (95%, n=360), test loss 0.3320; run in "
        "/runs/r")
    assert tune.summary_line({**report, "trials": [{}]}, "/runs/r").startswith(
        "Best of 1 trial (0 failed): trial 1,")


def test_a_search_that_ran_out_of_points_says_so_and_is_not_extended(tmp_path):
    # It printed "Best of 6 trials" for --max_trials=8 with no word why; a larger
    # --max_trials then ran no trial, exported the same model again and removed what
    # --mode=evaluate had written.
    report = {"trials": [{}] * 6, "max_trials": 8, "failed_trials": 0, "best_trial": "1",
              "objective": "val_accuracy", "best_score": 0.9, "best_hyperparameters": {},
              "test_accuracy": 0.9, "test_loss": 0.3,
              "test_accuracy_interval": {"half_width": 0.03, "confidence": 0.95, "n": 360}}
    assert tune.summary_line(report, "/runs/r").startswith(
        "Best of 6 trials (0 failed; the tuner proposed no other point within "
        "--max_trials=8): trial 1,")
    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 1e-2))}, max_trials=10)
    run_dir = tmp_path / "search_run"
    run_dir.mkdir()
    (run_dir / "report.json").write_text(json.dumps(report))
    for max_trials in (8, 10):  # the same --max_trials said to pass a larger one
        with pytest.raises(UsageError, match=r"holds a finished search whose tuner proposed no "
                                             r"other point after 6 trials of --max_trials=8 "
                                             r"\(keras-tuner ends .*\), so a larger "
                                             r"--max_trials would add none; widen its space"):
            tune.claim(dataclasses.replace(search, max_trials=max_trials), overwrite=False)
    assert tune.claim(search, overwrite=True)


@pytest.mark.parametrize("seed", [0, 42])
def test_a_search_of_seed_0_repeats_as_any_other(tmp_path, seed):
    # keras-tuner reads a seed of 0 as none and draws one: --seed=0 searched anew each time.
    from engine.tuning import tuner

    search = digits_search(tmp_path, {"learning_rate": Choice((1e-3, 1e-2), default=1e-3)})
    search = dataclasses.replace(search, run=dataclasses.replace(search.run, seed=seed))
    hypermodel = RecipeHyperModel(search, 10, (32, 32, 1), tf.distribute.get_strategy(), 64)
    assert tuner.make_tuner(search, hypermodel).oracle.seed == tuner.oracle_seed(seed) != 0


def test_a_search_killed_as_a_trial_ends_resumes_that_trial_from_its_backup(tmp_path,
                                                                           monkeypatch):
    # The trial's backups went before the oracle recorded its end: resumed, it trained
    # again from scratch, and its checkpoint no longer held the weights it was scored by.
    from engine.training import backed_up_epochs

    class Killed(BaseException):
        pass

    write_json = rundir.write_json

    def killed_writing_the_outcome(path, record):
        if os.path.basename(path) == "outcome.json":
            raise Killed
        write_json(path, record)

    search = digits_search(tmp_path, {"learning_rate": Choice((3e-3,))}, epochs=2, max_trials=1)
    monkeypatch.setattr(rundir, "write_json", killed_writing_the_outcome)
    with pytest.raises(Killed):
        tune.tune(search, verbose=0)
    execution = tmp_path / "search_run" / "search" / "trial_0" / "execution0"
    assert backed_up_epochs(str(execution / "backup")) == 2
    history = (execution / "history.csv").read_text()
    monkeypatch.setattr(rundir, "write_json", write_json)
    keras.backend.clear_session()
    tune.tune(search, verbose=0)
    assert (execution / "history.csv").read_text() == history  # no epoch trained again
    assert not (execution / "backup").exists()
    keras.backend.clear_session()
