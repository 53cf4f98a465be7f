"""engine.tuning.state: a kill while keras-tuner saves its state cannot leave the
search unable to resume (measured: plain keras-tuner leaves a truncated JSON file that
every rerun fails on)."""

import json
import os

import keras_tuner
import pytest

from engine import rundir
from engine.tuning import state
from layers.errors import UsageError


class Quadratic(keras_tuner.RandomSearch):
    """A search with no model: each trial scores a number (keras-tuner's run_trial hook)."""

    def run_trial(self, trial, *args, **kwargs):
        x = trial.hyperparameters.Float("x", -1.0, 1.0)
        return -x * x


def search(directory, trials, overwrite=False):
    tuner = Quadratic(objective=keras_tuner.Objective("score", "max"), max_trials=trials,
                      directory=str(directory), project_name="search", overwrite=overwrite,
                      seed=1)
    tuner.oracle.verbose = 0
    tuner.search(verbose=0)
    return tuner


def test_plain_keras_tuner_cannot_resume_from_a_truncated_state_file(tmp_path):
    search(tmp_path, trials=2)
    oracle = tmp_path / "search" / "oracle.json"
    oracle.write_text(oracle.read_text()[:40])  # what a kill during its write leaves
    with pytest.raises(json.JSONDecodeError):
        search(tmp_path, trials=3)


def test_every_state_file_is_written_atomically_with_a_last_good_copy(tmp_path):
    with state.atomic_state():
        search(tmp_path, trials=2)
    project = tmp_path / "search"
    for name in ("oracle.json", "tuner0.json", "trial_0/trial.json", "trial_1/trial.json"):
        assert (project / name).read_text() == (project / f"{name}.last-good").read_text()
        json.loads((project / name).read_text())


def test_a_write_killed_halfway_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "oracle.json"
    state.write_state(str(path), {"trials": 1})

    def killed(source, target):
        raise KeyboardInterrupt  # the process dies before the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        state.write_state(str(path), {"trials": 2})
    assert json.loads(path.read_text()) == {"trials": 1}


def test_a_truncated_state_file_is_recovered_and_the_search_resumes(tmp_path):
    with state.atomic_state():
        first = search(tmp_path, trials=2)
    scores = {trial_id: trial.score for trial_id, trial in first.oracle.trials.items()}
    project = tmp_path / "search"
    for name in ("oracle.json", "trial_1/trial.json"):
        (project / name).write_text((project / name).read_text()[:40])
    assert state.recover(str(project)) == [str(project / "oracle.json"),
                                           str(project / "trial_1" / "trial.json")]
    with state.atomic_state():
        resumed = search(tmp_path, trials=3)
    assert len(resumed.oracle.trials) == 3
    assert {trial_id: resumed.oracle.trials[trial_id].score for trial_id in scores} == scores


def test_a_damaged_file_without_a_good_copy_is_one_sentence(tmp_path):
    (tmp_path / "oracle.json").write_text("{\"ongoing")
    with pytest.raises(UsageError, match="oracle.json is damaged and has no good copy; pass "
                                         "--overwrite"):
        state.recover(str(tmp_path))


def test_state_files_are_readable_by_others(tmp_path):
    state.write_state(str(tmp_path / "tuner1.json"), {})
    assert (tmp_path / "tuner1.json").stat().st_mode & 0o777 == rundir.FILE_MODE
