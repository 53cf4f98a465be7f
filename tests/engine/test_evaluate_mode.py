"""--mode=evaluate on finished digits runs: the accuracy interval, the reliability
diagram, dense evaluation, Monte Carlo dropout and ensembles."""

import json
import re
import shutil

import numpy as np
import pytest

from engine import modes
from layers import UsageError


@pytest.fixture(scope="module")
def runs(tmp_path_factory, train_digits):
    """Two LeNet-5 runs of different seeds and a dropout MLP, 2 epochs each."""
    root = tmp_path_factory.mktemp("evaluate")
    return {"lenet": train_digits(root / "lenet"),
            "lenet_seed7": train_digits(root / "lenet_seed7", seed=7),
            "mlp": train_digits(root / "mlp", recipe="mlp")}


def read(path):
    return json.loads(path.read_text())


def grey_folder(root, greys, images):
    """A ``folder:`` dataset in ``root``: per class (name -> grey level) ``images`` 8x8
    PNGs of slightly different greys."""
    from PIL import Image

    for name, grey in greys.items():
        (root / name).mkdir(parents=True)
        for index in range(images):
            Image.new("RGB", (8, 8), (grey + index,) * 3).save(root / name / f"{index}.png")


def test_the_interval_is_in_the_report_the_evaluation_and_the_summary_lines(runs, mode_args,
                                                                           capsys):
    run = runs["lenet"]
    modes.run("evaluate", mode_args(model_dir=str(run)))
    report, evaluation = read(run / "report.json"), read(run / "evaluation.json")
    interval = evaluation["test_accuracy_interval"]
    assert interval == pytest.approx(report["test_accuracy_interval"])
    accuracy = evaluation["test_accuracy"]
    assert interval["n"] == 360 and interval["confidence"] == 0.95
    assert interval["half_width"] == pytest.approx(1.96 * np.sqrt(accuracy * (1 - accuracy) / 360),
                                                   rel=1e-3)
    shown = f"test accuracy {accuracy:.4f} ± {interval['half_width']:.4f} (95%, n=360)"
    assert shown in capsys.readouterr().out
    calibration = evaluation["calibration"]
    assert sum(row["count"] for row in calibration["bins"]) == 360
    assert 0 <= calibration["expected_calibration_error"] <= 1
    assert (run / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_dense_evaluation_of_lenet(runs, mode_args, capsys):
    # At the native 32x32 (the default Q of lenet5_modern's `shift` preset) the converted
    # network is the original and there is no flip (digits are not mirrored in training):
    # the plain accuracy exactly.
    run = runs["lenet"]
    modes.run("evaluate", mode_args(model_dir=str(run), tta="dense"))
    evaluation = read(run / "evaluation.json")
    interval = evaluation["tta_accuracy_interval"]  # printed with the TTA loss, as the plain's
    assert (f"; dense TTA accuracy {evaluation['tta_accuracy']:.4f} ± "
            f"{interval['half_width']:.4f} (95%, n=360), loss {evaluation['tta_loss']:.4f}"
            in capsys.readouterr().out)
    assert evaluation["tta"] == "dense" and evaluation["test_scale"] == 32
    assert evaluation["tta_accuracy"] == evaluation["test_accuracy"]
    assert evaluation["tta_loss"] == pytest.approx(evaluation["test_loss"], rel=1e-5)
    modes.run("evaluate", mode_args(model_dir=str(run), tta="dense", test_scale=40))
    larger = read(run / "evaluation.json")
    assert larger["test_scale"] == 40 and larger["tta_loss"] != evaluation["tta_loss"]


def test_monte_carlo_dropout(runs, mode_args, capsys):
    run = runs["mlp"]
    modes.run("evaluate", mode_args(model_dir=str(run), mc_dropout=5))
    evaluation = read(run / "evaluation.json")
    result = evaluation["mc_dropout"]
    assert result["passes"] == 5 and result["test_accuracy_interval"]["n"] == 360
    assert result["test_loss"] != evaluation["test_loss"]
    assert result["calibration"]["mean_entropy_correct"] < result["calibration"][
        "mean_entropy_wrong"]
    assert (run / "reliability_mc_dropout.png").read_bytes()[:4] == b"\x89PNG"
    assert "Monte Carlo dropout, 5 passes: test accuracy" in capsys.readouterr().out
    modes.run("evaluate", mode_args(model_dir=str(run), mc_dropout=1, tta="flip"))
    assert ("Monte Carlo dropout, 1 pass (without TTA): test accuracy"  # not "1 passes"
            in capsys.readouterr().out)
    modes.run("evaluate", mode_args(model_dir=str(run)))  # the diagram goes with its numbers
    assert "mc_dropout" not in read(run / "evaluation.json")
    assert not (run / "reliability_mc_dropout.png").exists()
    before = (runs["lenet"] / "evaluation.json").read_text()
    with pytest.raises(UsageError, match="--mc_dropout needs Dropout layers, and "
                                         "'lenet5_modern' has none"):
        modes.run("evaluate", mode_args(model_dir=str(runs["lenet"]), mc_dropout=5))
    assert (runs["lenet"] / "evaluation.json").read_text() == before


def test_seed_draws_the_monte_carlo_masks_and_is_refused_without_them(runs, mode_args):
    run = runs["mlp"]
    losses = []
    for seed in (1, 2):
        modes.run("evaluate", mode_args(model_dir=str(run), mc_dropout=2, seed=seed))
        losses.append(read(run / "evaluation.json")["mc_dropout"]["test_loss"])
    assert losses[0] != losses[1]
    # Without --mc_dropout the evaluation draws nothing: the seed was silently ignored.
    before = (run / "evaluation.json").read_text()
    for flags in ({}, {"tta": "flip"},
                  {"ensemble": [str(runs["lenet"]), str(runs["lenet_seed7"])]}):
        # An ensemble refuses --mc_dropout: it is not offered there.
        remedy = "out." if "ensemble" in flags else "out or add --mc_dropout=N."
        with pytest.raises(UsageError, match=r"--seed draws the dropout masks of --mc_dropout, "
                                             r"and this evaluation has none \(--seed=3 would "
                                             r"be ignored\); leave --seed " + re.escape(remedy)):
            modes.run("evaluate", mode_args(model_dir=str(run), seed=3, **flags))
    assert (run / "evaluation.json").read_text() == before


def test_an_ensemble_of_two_runs(runs, mode_args, tmp_path, capsys, monkeypatch):
    members = [runs["lenet"], runs["lenet_seed7"]]
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ expanded, not a folder named ~ made here
    monkeypatch.chdir(tmp_path)
    # The members are held as the runs they are (a training run with --overwrite deleted
    # a member's model.keras under the ensemble: an internal error).
    from engine import runlock
    from engine.modes import evaluate as evaluate_mode

    averaged = evaluate_mode.evaluate_ensemble

    def averaged_with_members_held(*arguments):
        for run in members:
            with pytest.raises(UsageError, match="is in use by another run"):
                with runlock.held(str(run), "train"):
                    pass
        return averaged(*arguments)

    monkeypatch.setattr(evaluate_mode, "evaluate_ensemble", averaged_with_members_held)
    modes.run("evaluate", mode_args(ensemble=[str(run) for run in members],
                                    model_dir="~/ensemble"))
    assert not (tmp_path / "~").exists()
    assert not any((run / runlock.LOCK_FILE).exists() for run in members)
    result = read(tmp_path / "ensemble" / "ensemble.json")
    reports = [read(run / "report.json") for run in members]
    # Each member scores as its own run did: the test images line up across runs.
    assert [member["test_accuracy"] for member in result["members"]] == [
        report["test_accuracy"] for report in reports]
    assert [member["model_dir"] for member in result["members"]] == [str(run) for run in members]
    # The cross-entropy of the averaged softmax is at most the members' mean (Jensen).
    assert result["test_loss"] <= np.mean([member["test_loss"] for member in result["members"]])
    assert result["test_examples"] == 360
    assert (tmp_path / "ensemble" / "reliability_ensemble.png").is_file()
    assert "Ensemble of 2 runs on digits" in capsys.readouterr().out
    modes.run("evaluate", mode_args(ensemble=[str(run) for run in members],
                                    model_dir="relative"))  # its files named whole, as a run's
    diagram = read(tmp_path / "relative" / "ensemble.json")["calibration"]["diagram"]
    assert diagram == str(tmp_path / "relative" / "reliability_ensemble.png")
    assert not any("test_scale" in member for member in result["members"])


def test_a_dense_ensemble_records_the_scale_each_member_ran_at(runs, mode_args, tmp_path):
    members = [runs["lenet"], runs["lenet_seed7"]]
    modes.run("evaluate", mode_args(ensemble=[str(run) for run in members], tta="dense",
                                    test_scale=40, model_dir=str(tmp_path / "ensemble")))
    result = read(tmp_path / "ensemble" / "ensemble.json")
    assert result["tta"] == "dense"
    assert [member["test_scale"] for member in result["members"]] == [40, 40]


def test_ensemble_mistakes_are_usage_errors(runs, mode_args, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs["lenet"], other)
    record = read(other / "run.json")
    record["dataset"] = "mnist"
    (other / "run.json").write_text(json.dumps(record))
    with pytest.raises(UsageError, match="--ensemble runs must share one dataset"):
        modes.run("evaluate", mode_args(ensemble=[str(runs["lenet"]), str(other)]))
    with pytest.raises(UsageError, match="two or more run directories, got 1"):
        modes.run("evaluate", mode_args(ensemble=[str(runs["lenet"])]))
    with pytest.raises(UsageError, match="No finished run in"):
        modes.run("evaluate", mode_args(ensemble=[str(runs["lenet"]), str(tmp_path / "none")]))


def test_an_empty_or_repeated_ensemble_entry_is_refused(runs, mode_args, tmp_path,
                                                         monkeypatch):
    # An empty entry stood for --model_dir (or runs/<recipe>-<dataset>): with
    # --model_dir=RUN, --ensemble=RUN,,OTHER averaged RUN twice; --ensemble= evaluated
    # the default run alone, as --mode=evaluate without --ensemble.
    run, other = str(runs["lenet"]), str(runs["lenet_seed7"])
    for entries in ([run, "", other], [run, other, ""], [""]):
        with pytest.raises(UsageError, match=r"--ensemble=.* has an empty entry"):
            modes.run("evaluate", mode_args(ensemble=entries, model_dir=run))
    with pytest.raises(UsageError, match="two or more run directories, got 0"):
        modes.run("evaluate", mode_args(ensemble=[], model_dir=run))
    # The same run twice, by another spelling of its path too.
    monkeypatch.chdir(runs["lenet"].parent)
    with pytest.raises(UsageError, match=r"names the run in .*lenet twice \('lenet' and "):
        modes.run("evaluate", mode_args(ensemble=["lenet", other, run + "/"],
                                        model_dir=str(tmp_path / "ensemble")))
    monkeypatch.setenv("HOME", str(runs["lenet"].parent))
    with pytest.raises(UsageError, match=r"names the run in .*lenet twice \('~/lenet' and "):
        modes.run("evaluate", mode_args(ensemble=["~/lenet", other, run],
                                        model_dir=str(tmp_path / "ensemble")))
    assert not (tmp_path / "ensemble").exists()
    assert not (runs["lenet"] / "ensemble.json").exists()


def test_an_ensemble_model_dir_that_is_a_file_is_refused_before_any_run_is_evaluated(
        runs, mode_args, tmp_path, monkeypatch):
    # It was os.makedirs' FileExistsError traceback once every run had been evaluated.
    from engine.modes import evaluate

    def not_reached(*args, **kwargs):
        raise AssertionError("a run was evaluated")

    monkeypatch.setattr(evaluate, "predict_test_split", not_reached)
    output = tmp_path / "ensemble.txt"
    output.write_text("notes")
    with pytest.raises(UsageError, match=r"--model_dir=.*ensemble.txt' is a file; pass a folder"):
        modes.run("evaluate", mode_args(ensemble=[str(runs["lenet"]), str(runs["lenet_seed7"])],
                                        model_dir=str(output)))
    assert output.read_text() == "notes"


def test_a_run_directory_that_cannot_be_written_is_refused_before_any_work(
        runs, mode_args, tmp_path, monkeypatch, read_only):
    # evaluation.json and the diagrams go into the run: a read-only run (another user's,
    # a read-only copy) was evaluated in full, then writing ended in a PermissionError.
    from engine.modes import evaluate

    run = tmp_path / "read_only"
    shutil.copytree(runs["lenet"], run)
    before = sorted(path.name for path in run.iterdir())
    read_only(run)
    monkeypatch.setattr(evaluate, "evaluate_run", None)  # nothing is evaluated
    with pytest.raises(UsageError, match=rf"--model_dir='{run}' cannot be written .*; copy "
                                         r"the run into a folder you can write to and pass "
                                         r"that: this mode writes its results beside the run\.$"):
        modes.run("evaluate", mode_args(model_dir=str(run)))
    assert sorted(path.name for path in run.iterdir()) == before


@pytest.mark.parametrize("mode", ["evaluate", "visualize"])
def test_a_data_dir_for_a_run_of_an_embedded_dataset_is_refused(runs, mode_args, tmp_path, mode):
    # The digits are embedded: --data_dir was silently ignored by the modes that read a run.
    with pytest.raises(UsageError, match=r"^--data_dir tells where a TFDS dataset is prepared, "
                                         r"and --dataset=digits is not one"):
        modes.run(mode, mode_args(model_dir=str(runs["lenet"]), data_dir=str(tmp_path)))


def test_a_recipe_or_dataset_beside_model_dir_must_be_the_runs(runs, mode_args, tmp_path,
                                                                 monkeypatch):
    # The modes read both from the run: another one was silently ignored (a digits run
    # was scored on digits under --dataset=mnist).
    run = str(runs["lenet"])
    versions = sorted((runs["lenet"] / "export").iterdir())
    for mode, flags in (("evaluate", {}), ("visualize", {}), ("export", {}),
                        ("evaluate", {"ensemble": [run, str(runs["lenet_seed7"])]})):
        with pytest.raises(UsageError, match=r"--dataset='mnist', but the run in .* is of "
                                             r"dataset 'digits'"):
            modes.run(mode, mode_args(model_dir=run, dataset="mnist", **flags))
        with pytest.raises(UsageError, match=r"--recipe='vgg16', but the run in .* is of "
                                             r"recipe 'lenet5_modern'"):
            modes.run(mode, mode_args(model_dir=run, recipe="vgg16", **flags))
    assert sorted((runs["lenet"] / "export").iterdir()) == versions
    # The run's own names are accepted; a folder dataset also by a relative path.
    modes.run("evaluate", mode_args(model_dir=run, recipe="lenet5_modern", dataset="digits"))
    from engine import rundir

    folder = tmp_path / "images"
    folder.mkdir()
    record = read(runs["lenet"] / "run.json")
    saved = tmp_path / "folder_run"
    shutil.copytree(runs["lenet"], saved)
    (saved / "run.json").write_text(json.dumps({**record, "dataset": f"folder:{folder}"}))
    monkeypatch.chdir(tmp_path)
    assert rundir.load_run(str(saved), dataset="folder:images").directory == str(saved)


def test_dense_training_of_a_network_without_fc_layers_fails_before_training(mode_args,
                                                                           tmp_path):
    with pytest.raises(UsageError, match="'nin' has no fully connected layers"):
        modes.run("train", mode_args(recipe="nin", tta="dense", normalization="per_channel",
                                     model_dir=str(tmp_path / "nin")))
    assert not (tmp_path / "nin").exists()
    with pytest.raises(UsageError, match="--test_scale applies to --mode=train, "
                                         "--mode=evaluate or --mode=tune, not "
                                         "--mode=visualize"):
        modes.run("visualize", mode_args(test_scale=64))


def test_a_run_without_validation_is_evaluated_on_its_own_splits(tmp_path, train_digits,
                                                                 mode_args):
    # Two images a class: one held out for test, one to train on, none for validation.
    grey_folder(tmp_path / "images", {"dark": 20, "light": 230}, images=2)
    run = train_digits(tmp_path / "run", epochs=1, dataset=f"folder:{tmp_path / 'images'}",
                       validation_fraction=0.0)
    modes.run("evaluate", mode_args(model_dir=str(run)))
    evaluation, report = read(run / "evaluation.json"), read(run / "report.json")
    assert evaluation["test_accuracy_interval"]["n"] == report["test_examples"] == 2
    assert evaluation["test_loss"] == pytest.approx(report["test_loss"], rel=1e-6)


def test_a_folder_whose_classes_changed_since_the_run_is_refused(tmp_path, train_digits,
                                                                  mode_args):
    grey_folder(tmp_path / "images", {"dark": 20, "light": 230}, images=3)
    run = train_digits(tmp_path / "run", epochs=1, dataset=f"folder:{tmp_path / 'images'}",
                       validation_fraction=0.0)
    # A class sorted first shifts every label (scored silently against the wrong outputs);
    # one sorted last has a label the network has no output for (an IndexError).
    grey_folder(tmp_path / "images", {"blank": 0}, images=3)
    for mode in ("evaluate", "visualize"):
        with pytest.raises(UsageError, match=r"no longer has the 2 classes the run in .* "
                                             r"trained on \(new \['blank'\]\)"):
            modes.run(mode, mode_args(model_dir=str(run)))
    assert not (run / "evaluation.json").exists()


def test_a_folder_whose_images_changed_since_the_run_is_refused(tmp_path, train_digits,
                                                                 mode_args):
    # The test split is carved from train: one image more reshuffles it, and the run was
    # scored, silently, on a test split holding images it had trained on.
    from PIL import Image

    grey_folder(tmp_path / "images", {"dark": 20, "light": 230}, images=6)
    run = train_digits(tmp_path / "run", epochs=1, dataset=f"folder:{tmp_path / 'images'}",
                       validation_fraction=0.0)
    modes.run("evaluate", mode_args(model_dir=str(run)))  # unchanged: evaluated
    (run / "evaluation.json").unlink()
    Image.new("RGB", (8, 8), (30,) * 3).save(tmp_path / "images" / "dark" / "6.png")
    for mode in ("evaluate", "visualize"):
        with pytest.raises(UsageError, match=r"now splits into 9 train, 0 validation, 4 test "
                                             r"images, and the run in .* trained on a split "
                                             r"into 8 train, 0 validation, 4 test: its images "
                                             r"changed since"):
            modes.run(mode, mode_args(model_dir=str(run)))
    # The same counts, other files: one image renamed (it moves to another split).
    (tmp_path / "images" / "dark" / "6.png").unlink()
    (tmp_path / "images" / "dark" / "0.png").rename(tmp_path / "images" / "dark" / "9.png")
    with pytest.raises(UsageError, match=r"still splits into 8 train, 0 validation, 4 test "
                                         r"images, but not into the files the run in .* "
                                         r"trained on: its images were replaced, renamed"):
        modes.run("evaluate", mode_args(model_dir=str(run)))
    (tmp_path / "images" / "dark" / "9.png").rename(tmp_path / "images" / "dark" / "0.png")
    modes.run("evaluate", mode_args(model_dir=str(run)))  # restored: evaluated again
    assert (run / "evaluation.json").exists()


def test_a_moved_folder_is_named_by_dataset_and_checked_to_hold_the_runs_images(
        tmp_path, train_digits, mode_args):
    # A folder run whose images moved could not be evaluated: --dataset had to be the
    # recorded path, and the error named the old folder without a way forward.
    grey_folder(tmp_path / "images", {"dark": 20, "light": 230}, images=6)
    run = train_digits(tmp_path / "run", epochs=1, dataset=f"folder:{tmp_path / 'images'}",
                       validation_fraction=0.0)
    modes.run("evaluate", mode_args(model_dir=str(run)))
    before = read(run / "evaluation.json")
    (tmp_path / "images").rename(tmp_path / "moved")
    for mode in ("evaluate", "visualize"):
        with pytest.raises(UsageError, match=r"The image folder '.*images' that the run in .* "
                                             r"trained on is gone; if its images moved, pass "
                                             r"--dataset=folder:PATH"):
            modes.run(mode, mode_args(model_dir=str(run)))
    moved = f"folder:{tmp_path / 'moved'}"
    modes.run("evaluate", mode_args(model_dir=str(run), dataset=moved))
    after = read(run / "evaluation.json")
    assert after["test_accuracy"] == before["test_accuracy"]
    assert after["test_loss"] == pytest.approx(before["test_loss"], rel=1e-6)
    assert (before["dataset"], after["dataset"]) == (f"folder:{tmp_path / 'images'}", moved)
    with pytest.raises(UsageError, match=r"--dataset='folder:.*moved', but the run in .* is "
                                         r"of dataset"):
        modes.run("export", mode_args(model_dir=str(run), dataset=moved))  # reads no images
    # An ensemble of runs on the moved images: the refusal's advice is taken there too.
    other = train_digits(tmp_path / "other", epochs=1, dataset=moved, validation_fraction=0.0)
    ensemble = mode_args(ensemble=[str(run), str(other)], model_dir=str(tmp_path / "ensemble"),
                         dataset=moved)
    assert modes.run("evaluate", ensemble)["dataset"] == moved
    (tmp_path / "moved" / "dark" / "0.png").unlink()  # not the run's images any more
    with pytest.raises(UsageError, match=r"Dataset 'folder:.*moved' now splits into 8 train, 0 "
                                         r"validation, 3 test"):
        modes.run("evaluate", mode_args(model_dir=str(run), dataset=moved))


@pytest.mark.parametrize("mode, flag", [("evaluate", "data_dir"), ("visualize", "image"),
                                        ("visualize", "data_dir"), ("export", "export_dir")])
def test_an_empty_path_flag_is_refused_by_the_modes_that_read_a_run(mode_args, mode, flag):
    # Empty, it read as not given: the recorded data dir, the first test image.
    with pytest.raises(UsageError, match=f"--{flag} is empty; give a path or leave the flag out"):
        modes.run(mode, mode_args(model_dir="runs/none", **{flag: ""}))


@pytest.mark.parametrize("mode, flag, value", [
    ("train", "model_dir", "gs://bucket/run"), ("evaluate", "model_dir", "gs://bucket/run"),
    ("export", "export_dir", "gs://bucket/models"), ("predict", "export_dir", "s3://b/m"),
    ("train", "init_from", "gs://bucket/run"), ("visualize", "image", "https://x/cat.png"),
    ("evaluate", "ensemble", ["runs/a", "gs://bucket/b"])])
def test_a_url_is_refused_where_a_local_folder_is_read_or_written(mode_args, mode, flag, value):
    # --export_dir=gs://bucket/models exported to the local folder ./gs:/bucket/models.
    shown = value[-1] if isinstance(value, list) else value
    with pytest.raises(UsageError, match=rf"^--{flag}='{re.escape(shown)}' is a URL; runs and "
                                         r"exports are local folders"):
        modes.run(mode, mode_args(**{flag: value}))


@pytest.mark.parametrize("layer, weights", [("logits", 2), ("c1", 1)])
def test_a_saved_network_with_weights_that_are_not_finite_is_named(runs, mode_args, tmp_path,
                                                                    layer, weights):
    # Told before any data is read, and in an ensemble naming the run. NaN in c1, whose
    # ReLU the compiled evaluation turns NaN into 0 with, gave finite outputs: the network
    # scored as a weak one.
    import keras

    broken = tmp_path / "broken"
    shutil.copytree(runs["lenet"], broken)
    (broken / "evaluation.json").unlink(missing_ok=True)  # an earlier test's
    model = keras.saving.load_model(broken / "model.keras", safe_mode=True)
    nan = model.get_layer(layer)
    nan.set_weights([np.full_like(value, np.nan) if index < weights else value
                     for index, value in enumerate(nan.get_weights())])
    model.save(broken / "model.keras")
    named = (rf"^The network saved in {re.escape(str(broken))} holds weights that are not "
             rf"finite numbers \(NaN or infinite\) in {weights} of its {len(model.weights)} "
             rf"weight tensors \(the first: {layer}/\w+\), so it has no accuracy; train that "
             rf"run anew with --overwrite")
    from layers.errors import RunFailure

    with pytest.raises(RunFailure, match=named):
        modes.run("evaluate", mode_args(model_dir=str(broken)))
    assert not (broken / "evaluation.json").exists()
    with pytest.raises(RunFailure, match=named):
        modes.run("evaluate", mode_args(ensemble=[str(runs["lenet"]), str(broken)],
                                        model_dir=str(tmp_path / "ensemble")))


def test_a_saved_network_with_outputs_that_are_not_finite_is_named(runs, mode_args, tmp_path):
    # Finite weights, which overflow: logits of +-inf, whose softmax is NaN.
    import keras

    from layers.errors import RunFailure

    broken = tmp_path / "broken"
    shutil.copytree(runs["lenet"], broken)
    (broken / "evaluation.json").unlink(missing_ok=True)  # an earlier test's
    model = keras.saving.load_model(broken / "model.keras", safe_mode=True)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([np.full_like(kernel, 3e38), bias])
    model.save(broken / "model.keras")
    named = (rf"^The network saved in {re.escape(str(broken))} gives outputs that are not "
             r"finite numbers \(NaN or infinite\)")
    with pytest.raises(RunFailure, match=named):
        modes.run("evaluate", mode_args(model_dir=str(broken)))
