"""train.py --mode=tune end to end: a search's lines, files, report and export; flags
refused before any work; a search killed with SIGKILL resumes; a chief and two workers
share a search on this machine."""

import csv
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "train.py")


def trial_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("Trial ")]


@pytest.fixture(scope="module")
def searched(tmp_path_factory, train_here):
    """Two trials of one epoch of lenet5_modern on the embedded digits."""
    model_dir = tmp_path_factory.mktemp("tune") / "lenet"
    result = train_here("--mode=tune", "--max_trials=2", "--epochs=1", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, result


def test_each_finished_trial_prints_one_line_and_the_search_a_summary(searched):
    model_dir, result = searched
    report = json.loads((model_dir / "report.json").read_text())
    lines = trial_lines(result.stdout)
    assert [line.split()[1] for line in lines] == ["0", "1"]
    for line, row in zip(lines, report["trials"]):
        assert line.startswith(f"Trial {row['id']} {row['status']}: val_accuracy "
                               f"{row['score']:.4f} in {row['seconds']:.1f} s; ")
        assert f"learning_rate={row['hyperparameters']['learning_rate']:.4g}" in line
    assert result.stdout.strip().splitlines()[-1].startswith(
        f"Best of 2 trials (0 failed): trial {report['best_trial']}, val_accuracy "
        f"{report['best_score']:.4f}")


def test_the_report_holds_the_best_trial_its_test_score_and_the_trial_table(searched):
    model_dir, _ = searched
    report = json.loads((model_dir / "report.json").read_text())
    space = {"batch_norm", "width_multiplier", "learning_rate", "batch_size", "weight_decay",
             "optimizer", "label_smoothing"}
    assert set(report["best_hyperparameters"]) == space
    assert 0.0 <= report["test_accuracy"] <= 1.0 and report["test_loss"] > 0
    assert report["test_examples"] == 360 and report["validation_examples"] == 144
    assert [row["id"] for row in report["trials"]] == ["0", "1"]
    for row in report["trials"]:
        assert {"id", "hyperparameters", "score", "status", "seconds"} <= set(row)
        assert set(row["hyperparameters"]) == space
    best = next(row for row in report["trials"] if row["id"] == report["best_trial"])
    assert best["score"] == report["best_score"] == max(row["score"] for row in report["trials"])
    assert best["hyperparameters"] == report["best_hyperparameters"]
    assert (report["tuner"], report["max_trials"], report["objective"]) == (
        "random", 2, "val_accuracy")
    record = json.loads((model_dir / "run.json").read_text())
    assert record["search"]["tuner"] == "random"
    assert record["search"]["search_space"]["learning_rate"]["kind"] == "float"


def test_the_best_model_is_saved_and_exported_as_a_training_run(searched, tmp_path, train_here):
    import keras
    import tensorflow as tf

    import engine.losses  # noqa: F401  (the loss a trial may have compiled with)

    model_dir, _ = searched
    for name in ("run.json", "preprocessing.json", "model.keras", "report.json", "curves.png"):
        assert (model_dir / name).is_file(), name
    model = keras.saving.load_model(model_dir / "model.keras", safe_mode=True)
    images = np.random.default_rng(0).normal(size=(8, 32, 32, 1)).astype("float32")
    report = json.loads((model_dir / "report.json").read_text())
    assert report["export_dir"] == str(model_dir / "export" / "1")
    exported = tf.saved_model.load(report["export_dir"])
    served = exported.signatures["serve_features"](features=tf.constant(images))
    np.testing.assert_allclose(served["probabilities"], np.asarray(model(images)), atol=1e-6)
    # The run's records serve --mode=evaluate as a training run's do: the same test score.
    result = train_here("--mode=evaluate", f"--model_dir={model_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    assert evaluation["test_accuracy"] == pytest.approx(report["test_accuracy"], abs=1e-6)


def test_tensorboard_shows_each_trials_hyperparameters_beside_its_scores(searched):
    from tensorboard.backend.event_processing import event_multiplexer
    from tensorboard.plugins.hparams import metadata

    model_dir, _ = searched
    report = json.loads((model_dir / "report.json").read_text())
    events = event_multiplexer.EventMultiplexer()
    events.AddRunsFromDirectory(str(model_dir))
    events.Reload()
    sessions, experiment = {}, None
    for run, tags in events.PluginRunToTagToContent("hparams").items():
        for tag, content in tags.items():
            if tag == "_hparams_/session_start_info":
                info = metadata.parse_session_start_info_plugin_data(content)
                sessions[info.group_name] = (run, {
                    name: getattr(value, value.WhichOneof("kind"))
                    for name, value in info.hparams.items()})
            elif tag == "_hparams_/experiment":
                experiment = metadata.parse_experiment_plugin_data(content)
    assert {info.name for info in experiment.hparam_infos} == set(report["best_hyperparameters"])
    for row in report["trials"]:
        run, values = sessions[f"trial_{row['id']}"]
        assert values["learning_rate"] == pytest.approx(row["hyperparameters"]["learning_rate"])
        assert values["optimizer"] == row["hyperparameters"]["optimizer"]
        validation = events.Tensors(f"{run}/validation", "epoch_accuracy")
        assert float(tf_value(validation[-1])) == pytest.approx(row["score"], rel=1e-6)


def tf_value(event):
    import tensorflow as tf

    return tf.make_ndarray(event.tensor_proto)


@pytest.mark.parametrize("flag, message", [
    ("--tuner=unknown", "--tuner=unknown is none of random, bayesian, hyperband."),
    ("--max_trials=0", "flag --max_trials=0: 0 is not a positive integer"),
])
def test_bad_tune_flags_fail_in_one_sentence_before_any_work(flag, message, tmp_path,
                                                             train_here):
    result = train_here("--mode=tune", flag, f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"train.py: error: {message}"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_search_killed_with_sigkill_resumes_without_rerunning_finished_trials(tmp_path,
                                                                               train_here):
    model_dir = tmp_path / "run"
    command = ["--mode=tune", "--max_trials=2", "--epochs=3", f"--model_dir={model_dir}"]
    process = subprocess.Popen([sys.executable, TRAIN, *command], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    project = model_dir / "search"
    history = project / "trial_1" / "execution0" / "history.csv"
    backup = project / "trial_1" / "execution0" / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 600
    # Kill once trial 0 is over and trial 1 has backed up an epoch (the backup is an
    # epoch's last record: its history row is written by then).
    while not backed_up(backup) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = (project / "trial_0" / "outcome.json").read_text()
    checkpoint = (project / "trial_0" / "checkpoint.weights.h5").stat().st_mtime_ns
    # Trial 1's epochs before the kill count in its seconds: one made to last 1000 s.
    with open(history, newline="") as file:
        epochs = list(csv.DictReader(file))
    epochs[0]["epoch_seconds"] = "1000.0"
    with open(history, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(epochs[0]))
        writer.writeheader()
        writer.writerows(epochs)
    # What a kill during plain keras-tuner's truncate-then-write leaves behind.
    oracle = project / "oracle.json"
    oracle.write_text(oracle.read_text()[:60])

    started = time.monotonic()
    resumed = train_here(*command)
    resumed_seconds = time.monotonic() - started
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Recovered {oracle} from its last good copy." in resumed.stdout
    assert "Resuming the search: 1 of 2 trials done" in resumed.stdout
    assert "Reloading Tuner" not in resumed.stdout  # keras-tuner's own line, said above
    assert "Resuming from the backup: epoch " in resumed.stdout  # trial 1, mid-way
    assert [line.split()[1] for line in trial_lines(resumed.stdout)] == ["1"]
    assert (project / "trial_0" / "outcome.json").read_text() == finished
    assert (project / "trial_0" / "checkpoint.weights.h5").stat().st_mtime_ns == checkpoint
    report = json.loads((model_dir / "report.json").read_text())
    assert [(row["id"], row["status"]) for row in report["trials"]] == [
        ("0", "COMPLETED"), ("1", "COMPLETED")]
    assert 1000 < report["trials"][1]["seconds"] < 1000 + resumed_seconds
    rows = history.read_text().split()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2"]


def backed_up(metadata) -> bool:
    """Whether the BackupAndRestore metadata file holds a whole epoch (it is complete)."""
    try:
        return json.loads(metadata.read_text())["epoch"] >= 1
    except (OSError, ValueError, KeyError):
        return False


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_chief_and_two_workers_split_the_trials_and_the_chief_reports(tmp_path):
    model_dir = tmp_path / "run"
    command = [sys.executable, TRAIN, "--mode=tune", "--max_trials=4", "--epochs=1",
               f"--model_dir={model_dir}"]
    cluster = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": str(free_port())}
    processes = {tuner: subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True,
                                         env={**cluster, "KERASTUNER_TUNER_ID": tuner})
                 for tuner in ("chief", "tuner1", "tuner2")}
    outputs = {tuner: process.communicate(timeout=900) for tuner, process in processes.items()}
    for tuner, process in processes.items():
        assert process.returncode == 0, (tuner, outputs[tuner][1][-3000:])
    report = json.loads((model_dir / "report.json").read_text())
    assert len(report["trials"]) == 4
    ran = {row["tuner_id"] for row in report["trials"]}
    # The chief only holds the oracle. Both workers usually run trials; one whose start
    # lags (3 processes loading TensorFlow on 2 cores) may find none left.
    assert ran and ran <= {"tuner1", "tuner2"}
    for tuner in ("tuner1", "tuner2"):
        stdout = outputs[tuner][0]
        ids = [line.split()[1] for line in trial_lines(stdout)]
        assert ids == [row["id"] for row in report["trials"] if row["tuner_id"] == tuner]
        assert "the chief writes the report" in stdout
    assert not trial_lines(outputs["chief"][0])
    assert outputs["chief"][0].strip().splitlines()[-1].startswith("Best of 4 trials")
    assert (model_dir / "model.keras").is_file() and (model_dir / "export").is_dir()
