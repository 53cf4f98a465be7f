"""engine/rundir.py: what an interrupted run's refusal names."""

import os

import pytest

from engine import rundir
from layers.errors import UsageError


def interrupted(tmp_path, record):
    os.makedirs(tmp_path / rundir.BACKUP_DIR)
    rundir.write_json(str(tmp_path / rundir.RUN_FILE), record)
    return str(tmp_path)


def test_an_interrupted_run_with_another_configuration_is_refused_naming_what_differs(tmp_path):
    record = {"recipe": "lenet5_modern", "seed": 42,
              "training": {"epochs": 6, "learning_rate": 0.005, "schedule": "cosine"}}
    run_dir = interrupted(tmp_path, record)
    assert rundir.check_resumable(run_dir, record) is False  # the same run resumes
    longer = {**record, "seed": 3, "training": {**record["training"], "epochs": 5}}
    with pytest.raises(UsageError, match=r"holds an interrupted run with another training "
                       r"\(epochs: 6 then, 5 now\), seed \(42 then, 3 now\); run its own command "
                       r"again to resume it"):
        rundir.check_resumable(run_dir, longer)
    assert rundir.check_resumable(run_dir, longer, overwrite=True) is True
    # --overwrite starts afresh, as a search's does, rather than resume the same run
    assert rundir.check_resumable(run_dir, record, overwrite=True) is True
