"""engine/runlock.py: one run per folder. Two runs in one folder mixed their records:
the second resumed from the first's live backup, appended its epochs to the first's
history and failed when the first removed the backup."""

import os
import select
import signal
import socket
import subprocess
import sys

import pytest

import recipes
from engine import runlock, spec
from engine.modes import train, tune
from engine.tuning.spec import SearchSpec
from layers.errors import UsageError
from recipes.space import Choice, SearchSpace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def holding(folder):
    """A process that holds ``folder`` until it is killed."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from engine import runlock\n"
         "with runlock.held(sys.argv[1], 'train'):\n"
         "    print('held', flush=True); time.sleep(600)", str(folder)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    # A child that hangs before it holds the folder fails the test, not the whole run.
    ready, _, _ = select.select([child.stdout], [], [], 300)
    if not ready:
        child.kill()
        pytest.fail("the holding process did not start within 300 s")
    assert child.stdout.readline() == "held\n"
    return child


def test_a_folder_another_run_holds_is_refused_naming_it_until_that_run_dies(tmp_path):
    folder = tmp_path / "run"
    child = holding(folder)
    try:
        with pytest.raises(UsageError, match=(
                rf"^{folder} is in use by another run \(train\.py --mode=train, process "
                rf"{child.pid} on {socket.gethostname()}\); wait for it to end, or choose "
                r"another --model_dir\.$")):
            with runlock.held(str(folder), "tune"):
                pass
        run = spec.resolve("lenet5_modern", recipes.get("lenet5_modern").training,
                           model_dir=str(folder))
        with pytest.raises(UsageError, match="is in use by another run"):
            train.train(run)
        with pytest.raises(UsageError, match="is in use by another run"):
            tune.tune(SearchSpec(run=run, space=SearchSpace(training={
                "learning_rate": Choice((1e-3,))})))
        assert sorted(os.listdir(folder)) == [runlock.LOCK_FILE]  # nothing done
    finally:
        child.send_signal(signal.SIGKILL)  # no clean-up: the kernel drops its lock
        child.wait()
    assert (folder / runlock.LOCK_FILE).exists()  # left behind, and free
    with runlock.held(str(folder), "train"):
        assert "--mode=train, process " + str(os.getpid()) in (
            folder / runlock.LOCK_FILE).read_text()
    assert not (folder / runlock.LOCK_FILE).exists()


def test_the_folders_it_made_are_removed_when_the_run_left_them_empty(tmp_path):
    os.utime(tmp_path, ns=(10**18, 10**18))
    with runlock.held(str(tmp_path / "runs" / "refused"), "train"):
        assert (tmp_path / "runs" / "refused" / runlock.LOCK_FILE).exists()
    assert os.listdir(tmp_path) == []  # a command refused early leaves nothing behind
    assert tmp_path.stat().st_mtime_ns == 10**18
    (tmp_path / "finished").mkdir()
    os.utime(tmp_path / "finished", ns=(10**18, 10**18))
    with runlock.held(str(tmp_path / "finished"), "train"):
        assert (tmp_path / "finished").stat().st_mtime_ns != 10**18  # the lock file's
    assert (tmp_path / "finished").stat().st_mtime_ns == 10**18  # nor a trace
    with runlock.held(str(tmp_path / "runs" / "ran"), "train"):
        (tmp_path / "runs" / "ran" / "run.json").write_text("{}")
    assert os.listdir(tmp_path / "runs" / "ran") == ["run.json"]


def test_one_process_holds_a_folder_once(tmp_path):
    with runlock.held(str(tmp_path), "train"):
        with pytest.raises(UsageError, match="is in use by another run"):
            with runlock.held(str(tmp_path), "train"):
                pass
    with runlock.held(str(tmp_path), "train"):  # released
        assert (tmp_path / runlock.LOCK_FILE).exists()


def test_a_lock_file_or_folder_removed_meanwhile_is_made_anew(tmp_path, monkeypatch):
    # A run that ended (or was refused) between this one's open and its lock: locked
    # as it was, the removed file would have let a third run lock a new one beside it;
    # a removed folder ended in FileNotFoundError.
    import fcntl

    folder = tmp_path / "run"
    folder.mkdir()
    flock, opened = fcntl.flock, os.open
    calls = []

    def flock_after_the_holder_left(descriptor, operation):
        if not calls:
            os.unlink(folder / runlock.LOCK_FILE)
        calls.append(operation)
        return flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_left)
    with runlock.held(str(folder), "train"):
        assert len(calls) == 2 and (folder / runlock.LOCK_FILE).exists()
    monkeypatch.setattr(fcntl, "flock", flock)

    def open_after_the_folder_left(path, *args):
        if os.path.isdir(folder) and not calls[2:]:
            calls.append("removed")
            os.rmdir(folder)
        return opened(path, *args)

    monkeypatch.setattr(runlock.os, "open", open_after_the_folder_left)
    with runlock.held(str(folder), "train"):
        assert (folder / runlock.LOCK_FILE).exists()


def test_a_holder_that_cannot_be_written_still_holds_and_leaves_nothing(tmp_path,
                                                                         monkeypatch):
    # A full disk: the write raised outside the clean-up, leaking the lock and the folder.
    def full(descriptor, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runlock.os, "write", full)
    with runlock.held(str(tmp_path / "run"), "train"):
        with pytest.raises(UsageError, match=r"in use by another run \(train\.py\)"):
            with runlock.held(str(tmp_path / "run"), "train"):
                pass
    assert os.listdir(tmp_path) == []


def test_readers_share_a_finished_run_that_no_training_run_replaces_meanwhile(tmp_path):
    # An evaluate beside a --overwrite retraining the folder wrote the old model's
    # evaluation.json into the new run's.
    folder = tmp_path / "run"
    folder.mkdir()
    os.utime(folder, ns=(10**18, 10**18))
    with runlock.reading(str(folder), "evaluate"):
        with runlock.reading(str(folder), "visualize"):  # readers share it
            with pytest.raises(UsageError, match=r"is in use by another run \(train\.py "
                                                 r"--mode=evaluate, process "):
                with runlock.held(str(folder), "train"):
                    pass
        assert (folder / runlock.LOCK_FILE).exists()  # the first reader is still in
    assert os.listdir(folder) == []  # the last one out removed it
    assert folder.stat().st_mtime_ns == 10**18
    child = holding(folder)
    try:
        with pytest.raises(UsageError, match=r"in use by another run \(train\.py --mode=train"):
            with runlock.reading(str(folder), "export"):
                pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with runlock.reading(str(tmp_path / "missing"), "evaluate"):  # for the mode to name
        assert not (tmp_path / "missing").exists()


def test_a_run_that_cannot_hold_a_lock_file_is_read_unlocked(tmp_path, monkeypatch):
    # Another user's run, shared read-only: its export must not be refused.
    opened = os.open

    def denied(path, *args):
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied", str(path))  # as for a non-root user
        return opened(path, *args)

    monkeypatch.setattr(runlock.os, "open", denied)
    with runlock.reading(str(tmp_path), "export"):
        assert os.listdir(tmp_path) == []


def test_a_file_system_without_locks_runs_unlocked_and_says_so(tmp_path, monkeypatch, caplog):
    import errno
    import fcntl

    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with caplog.at_level("WARNING"):
        with runlock.held(str(tmp_path / "run"), "train"):
            with runlock.reading(str(tmp_path / "run"), "evaluate"):
                pass
    assert caplog.text.count("cannot be locked (No locks available): nothing keeps another "
                             "run from starting in that folder meanwhile.") == 1
    assert os.listdir(tmp_path) == []
