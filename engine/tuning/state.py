"""A search's state files, written so that a killed search can always resume.

keras-tuner writes ``oracle.json``, every ``trial_*/trial.json`` and
``tuner0.json`` by truncating the file and then writing it: a process killed in
between leaves a JSON file that no later run can read. Within
:func:`atomic_state`, each is written to a temporary file renamed into place, then
the same again as ``<name>.last-good``; :func:`recover` restores a damaged file
(truncated by a kill of plain keras-tuner, a full disk, a hand) from that copy
before a search reloads its state.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os

from engine import private_api, rundir
from layers.errors import UsageError

LAST_GOOD = ".last-good"
# keras-tuner's state files in a project folder.
STATE_FILES = (rundir.ORACLE_FILE, "tuner*.json", os.path.join("trial_*", "trial.json"),
               os.path.join("trial_*", "build_config.json"))


def write_state(path: str, state) -> str:
    """Writes ``state`` as JSON to ``path`` and to its last good copy, each atomically;
    returns the text (keras-tuner's ``save_json`` contract)."""
    text = json.dumps(state)
    rundir.write_text(path, text)
    rundir.write_text(path + LAST_GOOD, text)
    return text


@contextlib.contextmanager
def atomic_state():
    """Within the block, keras-tuner writes its state with :func:`write_state`."""
    with private_api.keras_tuner_state_writer(write_state):
        yield


def recover(project_dir: str) -> list[str]:
    """Restores every state file in ``project_dir`` that is not valid JSON from its last
    good copy; returns the paths restored. A damaged file without a good copy is a
    usage error (the search cannot resume; ``--overwrite`` starts afresh)."""
    restored = []
    for pattern in STATE_FILES:
        for path in sorted(glob.glob(os.path.join(project_dir, pattern))):
            if readable(path):
                continue
            if not readable(path + LAST_GOOD):
                raise UsageError(f"The search's state file {path} is damaged and has no good "
                                 "copy; pass --overwrite to start the search afresh.")
            with open(path + LAST_GOOD) as copy:
                rundir.write_text(path, copy.read())
            restored.append(path)
    return restored


def readable(path: str) -> bool:
    try:
        with open(path) as file:
            json.load(file)
        return True
    except (OSError, ValueError):
        return False
