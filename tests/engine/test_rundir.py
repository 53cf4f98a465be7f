"""engine/rundir.py: what an interrupted run's refusal names."""

import errno
import os
import pathlib
import re

import pytest

from engine import rundir
from layers.errors import UsageError


def interrupted(tmp_path, record):
    os.makedirs(tmp_path / rundir.BACKUP_DIR)
    rundir.write_json(str(tmp_path / rundir.BACKUP_DIR / rundir.METADATA_FILE),
                      {"epoch": 1, "batch": 0})
    rundir.write_json(str(tmp_path / rundir.RUN_FILE), record)
    return str(tmp_path)


def test_a_backup_that_names_no_epoch_lets_another_command_start_afresh(tmp_path):
    # The first epoch's backup failed (a full disk) after its random states: nothing
    # resumes, and "No epoch was backed up yet" said so, but another command was refused
    # as if an interrupted run waited.
    run_dir = interrupted(tmp_path, {"recipe": "mlp", "training": {"batch_size": 64}})
    os.remove(tmp_path / rundir.BACKUP_DIR / rundir.METADATA_FILE)
    (tmp_path / rundir.BACKUP_DIR / "random_states_1.npz").write_bytes(b"")
    assert rundir.check_resumable(run_dir, {"recipe": "mlp", "training": {"batch_size": 32}}) \
        is False
    assert rundir.claim(run_dir, search=True) is True  # a search replaces what it left


def test_a_finished_run_left_with_its_backup_is_tidied_when_next_claimed(tmp_path):
    # A Ctrl-C after report.json left the backup (gigabytes for a large model) and
    # published.json for good: the finished run was refused before anything removed them.
    rundir.write_json(str(tmp_path / rundir.RUN_FILE), {"recipe": "mlp"})
    rundir.write_json(str(tmp_path / rundir.REPORT_FILE), {"recipe": "mlp"})
    interrupted(tmp_path, {"recipe": "mlp"})
    rundir.write_json(str(tmp_path / rundir.PUBLISHED_FILE), {"version": "1"})
    with pytest.raises(UsageError, match="holds a finished run"):
        rundir.claim(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [rundir.REPORT_FILE, rundir.RUN_FILE]


def test_a_run_resumed_with_another_jit_compile_or_distribute_says_so(tmp_path, caplog):
    # It resumed silently, and run.json and report.json named only the new setting.
    import logging

    record = {"recipe": "lenet5_modern", "jit_compile": True, "distribute": "none"}
    run_dir = interrupted(tmp_path, record)
    with caplog.at_level(logging.WARNING):
        assert rundir.check_resumable(run_dir, record) is False
        assert not caplog.records
        assert rundir.check_resumable(run_dir, {**record, "jit_compile": False,
                                                "distribute": "mirrored"}) is False
    assert [entry.getMessage() for entry in caplog.records] == [
        f"The interrupted run in {run_dir} trained with --{key}={then} and resumes with "
        f"--{key}={now}: run.json and report.json name the new setting, and the report's "
        "throughput counts epochs of both." for key, then, now in (
            ("jit_compile", "true", "false"), ("distribute", "none", "mirrored"))]
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # a record from before the flags: nothing to say
        rundir.check_resumable(interrupted(tmp_path / "old", {"recipe": "lenet5_modern"}),
                               record)
    assert not caplog.records


def test_an_interrupted_run_with_another_configuration_is_refused_naming_what_differs(tmp_path):
    record = {"recipe": "lenet5_modern", "seed": 42,
              "training": {"epochs": 6, "learning_rate": 0.005, "schedule": "cosine"}}
    run_dir = interrupted(tmp_path, record)
    assert rundir.check_resumable(run_dir, record) is False  # the same run resumes
    longer = {**record, "seed": 3, "training": {**record["training"], "epochs": 5}}
    with pytest.raises(UsageError, match=r"holds an interrupted run with another training "
                       r"\(epochs: 6 then, 5 now\), seed \(42 then, 3 now\); run its own command "
                       r"again to resume it \(if this is that command, the recipe's "
                       r"configuration changed since: give the recorded values as flags\), pass "
                       r"--overwrite"):
        rundir.check_resumable(run_dir, longer)
    with pytest.raises(UsageError, match=r"seed \(42 then, 3 now\); run its own command again "
                                         r"to resume it, pass --overwrite"):
        rundir.check_resumable(run_dir, {**record, "seed": 3})
    assert rundir.check_resumable(run_dir, longer, overwrite=True) is True
    # --overwrite starts afresh, as a search's does, rather than resume the same run
    assert rundir.check_resumable(run_dir, record, overwrite=True) is True


def test_a_resume_with_other_steps_per_call_or_recipe_is_refused_as_such(tmp_path):
    # Another --steps_per_execution resumed, its schedule moving once per call from then on,
    # and both records named only the new value; another recipe was told that the recipe's
    # configuration may have changed since.
    record = {"recipe": "lenet5_modern", "steps_per_execution": 1, "training": {"epochs": 6}}
    run_dir = interrupted(tmp_path, record)
    with pytest.raises(UsageError, match=r"another steps_per_execution \(1 then, 4 now\); run "
                                         r"its own command again to resume it, pass"):
        rundir.check_resumable(run_dir, {**record, "steps_per_execution": 4})
    with pytest.raises(UsageError, match=r"now\); run its own command again to resume it, pass"):
        rundir.check_resumable(run_dir, {**record, "recipe": "mlp", "training": {"epochs": 5}})
    older = {key: value for key, value in record.items() if key != "steps_per_execution"}
    assert rundir.check_resumable(interrupted(tmp_path / "older", older), record) is False


def test_a_feature_extractor_interrupted_before_its_multiplier_went_null_resumes(tmp_path):
    # run.json recorded finetune_multiplier 0.1 for every transfer until 2026-12-06, where
    # only fine-tuning reads it: the same command was refused ("0.1 then, null now").
    record = {"recipe": "lenet5_modern", "init_from": "/runs/a", "transfer": "feature_extractor",
              "finetune_multiplier": None}
    run_dir = interrupted(tmp_path, {**record, "finetune_multiplier": 0.1})
    assert rundir.check_resumable(run_dir, record) is False
    finetuned = {**record, "transfer": "finetune", "finetune_multiplier": 0.1}
    with pytest.raises(UsageError, match=r'another transfer \("feature_extractor" then, '
                                         r'"finetune" now\), finetune_multiplier \(null then, '
                                         r'0.1 now\)'):
        rundir.check_resumable(run_dir, finetuned)


def test_a_run_interrupted_before_a_training_field_existed_resumes_with_its_default(tmp_path):
    # run.json's training had no weight_decay_scope before 2026-12-07: the same command was
    # refused ("weight_decay_scope: null then, "kernels" now"), and no flag could say null.
    import dataclasses

    import recipes

    training = dataclasses.asdict(recipes.get("resnet20").training)
    record = {"recipe": "resnet20", "training": training}
    older = {key: value for key, value in training.items() if key != "weight_decay_scope"}
    run_dir = interrupted(tmp_path, {**record, "training": older})
    assert rundir.check_resumable(run_dir, record) is False
    # A wide ResNet interrupted then decayed its kernels only; its recipe now decays all.
    wide = {**record, "training": {**training, "weight_decay_scope": "all"}}
    with pytest.raises(UsageError, match=r'another training \(weight_decay_scope: "kernels" '
                                         r'then, "all" now\)'):
        rundir.check_resumable(run_dir, wide)


def test_a_backup_without_its_run_json_is_not_resumed(tmp_path):
    # It resumed unchecked: epochs of another learning rate and seed under the new
    # command's report, or, of another recipe, a traceback.
    record = {"recipe": "lenet5_modern", "seed": 42}
    run_dir = interrupted(tmp_path, record)
    os.remove(tmp_path / rundir.RUN_FILE)
    with pytest.raises(UsageError, match=r"holds an interrupted run's backup but not its "
                                         r"run\.json, which says what that run was; restore it"):
        rundir.check_resumable(run_dir, record)
    assert rundir.check_resumable(run_dir, record, overwrite=True) is True


def test_an_interrupted_run_whose_image_folder_now_splits_otherwise_is_refused(tmp_path):
    # An image folder that gained images is split anew: resumed, the run would evaluate
    # on a test split holding images it trained on.
    record = {"recipe": "resnet20", "dataset": "folder:/data/pets",
              "split_sizes": {"train": 63, "validation": 9, "test": 18}}
    run_dir = interrupted(tmp_path, record)
    assert rundir.check_resumable(run_dir, record) is False
    grown = {**record, "split_sizes": {"train": 84, "validation": 12, "test": 24}}
    with pytest.raises(UsageError, match=r"Dataset 'folder:/data/pets' now splits into 84 train, "
                       r"12 validation, 24 test images, and the interrupted run in .* trained "
                       r"on a split into 63 train, 9 validation, 18 test: its images changed "
                       r"since .*; restore them, pass --overwrite"):
        rundir.check_resumable(run_dir, grown)
    assert rundir.check_resumable(run_dir, grown, overwrite=True) is True


def test_an_interrupted_run_whose_image_folder_holds_other_files_of_the_same_count_is_refused(
        tmp_path):
    sizes = {"train": 63, "validation": 9, "test": 18}
    record = {"recipe": "resnet20", "dataset": "folder:/data/pets", "split_sizes": sizes,
              "split_digest": "a" * 64}
    run_dir = interrupted(tmp_path, record)
    assert rundir.check_resumable(run_dir, record) is False
    with pytest.raises(UsageError, match=r"Dataset 'folder:/data/pets' still splits into 63 "
                       r"train, 9 validation, 18 test images, but not into the files the "
                       r"interrupted run in .* trained on: its images were replaced, renamed or "
                       r"changed since .*; restore them, pass --overwrite"):
        rundir.check_resumable(run_dir, {**record, "split_digest": "b" * 64})
    older = {key: value for key, value in record.items() if key != "split_digest"}
    assert rundir.check_resumable(interrupted(tmp_path / "older", older), record) is False


@pytest.mark.parametrize("search, other, kind", [
    (False, rundir.SEARCH_DIR, r"search \(--mode=tune\)"),
    (True, rundir.BACKUP_DIR, r"training run \(--mode=train\)")])
def test_an_interrupted_run_of_the_other_mode_is_neither_resumed_nor_overwritten(
        tmp_path, search, other, kind):
    os.makedirs(tmp_path / other)
    if other == rundir.SEARCH_DIR:  # a search that started a trial: the oracle saved its state
        rundir.write_json(str(tmp_path / other / "oracle.json"), {})
    else:  # a training run that backed an epoch up
        rundir.write_json(str(tmp_path / other / rundir.METADATA_FILE), {"epoch": 1, "batch": 0})
    with pytest.raises(UsageError, match=rf"holds an interrupted {kind}; run its own command "
                                         r"again to resume it, pass --overwrite to replace it"):
        rundir.claim(str(tmp_path), search=search)
    assert rundir.claim(str(tmp_path), overwrite=True, search=search) is True  # removed first
    assert rundir.claim(str(tmp_path), search=not search) is False  # its own mode resumes it


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_whose_logs_or_checkpoints_no_run_wrote_is_refused(tmp_path, overwrite):
    # A first run wrote into a project folder's own logs/, and --overwrite then removed it
    # whole, the project's TensorBoard logs with it.
    (tmp_path / "logs" / "my_experiment").mkdir(parents=True)
    (tmp_path / "checkpoints").mkdir()  # empty: nothing to lose
    with pytest.raises(UsageError, match=rf"^{tmp_path} holds logs/ but no run: a run writes "
                                         r"into those folders, and --overwrite would remove "
                                         r"them whole; move them out"):
        rundir.claim(str(tmp_path), overwrite=overwrite)
    assert (tmp_path / "logs" / "my_experiment").is_dir()
    rundir.write_json(str(tmp_path / rundir.RUN_FILE), {})  # a run's own logs/
    assert rundir.claim(str(tmp_path)) is False


def test_only_a_backed_up_run_is_to_be_replaced(tmp_path):
    record = {"recipe": "lenet5_modern", "seed": 42}
    assert rundir.check_resumable(str(tmp_path), record, overwrite=True) is False  # nothing
    (tmp_path / "finished").mkdir()  # a run folder without a backup is not interrupted
    rundir.write_json(str(tmp_path / "finished" / rundir.RUN_FILE), record)
    assert rundir.check_resumable(str(tmp_path / "finished"), record, overwrite=True) is False
    assert rundir.check_resumable(interrupted(tmp_path / "cut", record), record,
                                  overwrite=True) is True
    assert rundir.check_resumable(str(tmp_path / "cut"), record) is False  # resumed


def test_a_saved_model_loads_where_only_the_layers_are_imported(tmp_path):
    # model.keras held a compiled LeNet-5's SDLM optimizer by name: loading it as README
    # says, without the engine imported, failed to locate the optimizer's class.
    import subprocess
    import sys

    import numpy as np

    import recipes
    from engine.training import compile_model

    model = recipes.build("lenet5", classes=10, input_shape=(32, 32, 1))
    compile_model(model, recipes.get("lenet5").training)
    path = rundir.save_model(model, str(tmp_path))
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    code = ("import sys, keras, numpy as np, layers; "
            f"model = keras.saving.load_model({path!r}, safe_mode=True); "
            f"np.save({str(tmp_path / 'outputs.npy')!r}, "
            f"model.predict(np.load({str(tmp_path / 'images.npy')!r}), verbose=0)); "
            "print('engine' in sys.modules, model.compiled)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=pathlib.Path(__file__).resolve().parents[2])
    assert result.stdout.split() == ["False", "False"], result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "outputs.npy"),
                               model.predict(images, verbose=0), atol=1e-6)


def test_a_deterministic_run_is_not_resumed_without_determinism(tmp_path):
    # Resumed without --deterministic, it ended elsewhere than the run it continued, and
    # its run.json then said deterministic: false for both parts.
    record = {"recipe": "lenet5_modern", "seed": 42, "deterministic": True}
    run_dir = interrupted(tmp_path, record)
    with pytest.raises(UsageError, match="another deterministic"):
        rundir.check_resumable(run_dir, {**record, "deterministic": False})
    assert rundir.check_resumable(run_dir, record) is False


def test_a_write_that_fails_leaves_no_file_behind_and_names_its_file(tmp_path):
    # A file-size limit (as a full disk) left tmpXXXX.tmp beside run.json: a short text
    # fails at the close, which names no file.
    import resource

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limit[1]))  # Python ignores SIGXFSZ
    try:
        with pytest.raises(OSError, match="File too large") as error:
            rundir.write_text(str(tmp_path / "run.json"), "x" * 3000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert error.value.filename == str(tmp_path / "run.json")
    assert os.listdir(tmp_path) == []
    (tmp_path / "model.keras").write_bytes(b"the model of the last run")
    with pytest.raises(OSError, match="No space left") as error:
        with rundir.staging(str(tmp_path / ".model.keras.partial.keras"),
                            str(tmp_path / "model.keras")) as partial:
            pathlib.Path(partial).write_bytes(b"half an archive")
            raise OSError(28, "No space left on device")
    assert error.value.filename == str(tmp_path / "model.keras")
    assert os.listdir(tmp_path) == ["model.keras"]  # the old one kept


def test_a_folder_that_cannot_be_made_is_refused_before_any_work(tmp_path):
    # Both passed the check and failed after the training, where they were --export_dir.
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    for path in (tmp_path / "dangling", tmp_path / "dangling" / "sub"):
        with pytest.raises(UsageError, match=rf"^--export_dir='{path}': {tmp_path}/dangling is "
                                             rf"a symbolic link to '{tmp_path}/nowhere/x', which "
                                             "does not exist; make its target"):
            rundir.check_writable("export_dir", str(path))
    long = tmp_path / ("a" * 300) / "sub"
    with pytest.raises(UsageError, match=r"the folder name 'a{40}'\.\.\. is 300 bytes long, "
                                         r"longer than the file system takes \(255\)"):
        rundir.check_writable("model_dir", str(long))
    rundir.check_writable("model_dir", str(tmp_path / ("a" * 255) / "sub"))


def test_a_run_that_may_not_be_read_says_so_and_is_not_called_damaged(tmp_path, monkeypatch):
    # An unreadable model.keras was "damaged (not a .keras archive)", whose advice
    # (--overwrite) would delete a good run; an unreadable folder "lacked" its files.
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    real_open = open

    def denied(path, *args, **kwargs):
        if str(path) == str(model):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(PermissionError):
        rundir.read_model(str(model))
    monkeypatch.setattr("builtins.open", real_open)
    access = os.access
    monkeypatch.setattr(rundir.os, "access", lambda path, mode: (
        str(path) != str(tmp_path) and access(path, mode)))  # as chmod 000 does, but for root
    with pytest.raises(UsageError, match=rf"^'{tmp_path}' cannot be read \(permission denied\); "
                                         "fix its permissions"):
        rundir.load_run(str(tmp_path))


def test_a_replacement_sets_the_run_aside_only_in_a_folder_of_its_own(tmp_path):
    # A user's own .replaced was taken for the set-aside run: put back over the finished
    # run, or deleted with it.
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text("first")
    (run / ".replaced").mkdir()
    (run / ".replaced" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"run/.replaced is not a run that --overwrite set "
                                         r"aside; move it out of"):
        rundir.set_aside(str(run))
    assert (run / "report.json").read_text() == "first"
    (run / ".replaced" / "notes.txt").unlink()
    (run / ".replaced").rmdir()
    assert rundir.set_aside(str(run)) and not (run / "report.json").exists()
    (run / "report.json").write_text("second")  # finished, killed before it forgot the first
    assert rundir.set_aside(str(run))  # the newer finished run is the one kept
    assert (run / ".replaced" / "report.json").read_text() == "second"
    (run / "run.json").write_text("{}")  # a replacement, interrupted
    assert rundir.set_aside(str(run)) and not (run / "run.json").exists()
    rundir.put_back(str(run))
    assert (run / "report.json").read_text() == "second" and not (run / ".replaced").exists()
    assert not rundir.set_aside(str(tmp_path / "empty"))


def test_a_run_set_aside_by_a_replacement_that_never_backed_up_an_epoch_is_put_back(tmp_path):
    # Interrupted before its first epoch, the replacement left the finished run in
    # .replaced, and a later run without --overwrite deleted it when it finished.
    run = tmp_path / "run"
    run.mkdir()
    (run / "report.json").write_text("finished")
    (run / "model.keras").write_text("model")
    assert rundir.set_aside(str(run))
    (run / "run.json").write_text("{}")  # the replacement's first file, then a Ctrl-C
    with pytest.raises(UsageError, match="holds a finished run; pass --overwrite"):
        rundir.claim(str(run))
    assert (run / "report.json").read_text() == "finished" and not (run / "run.json").exists()
    assert not (run / ".replaced").exists()
    # A put-back interrupted half-way is finished, not taken for a stale copy.
    assert rundir.set_aside(str(run))
    (run / ".replaced" / rundir.RESTORING_MARK).touch()
    os.replace(run / ".replaced" / "report.json", run / "report.json")  # moved back, then stopped
    assert rundir.claim(str(run), overwrite=True)
    assert (run / "model.keras").read_text() == "model" and not (run / ".replaced").exists()


def finished_run(run):
    """A finished run's files in ``run``: its JSON records, model, checkpoints and logs."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "logs" / "train").mkdir(parents=True)
    files = {"run.json": "{}", "report.json": "finished", "model.keras": "model",
             "checkpoints/best.weights.h5": "best", "logs/train/events": "events"}
    for name, text in files.items():
        (run / name).write_text(text)
    return files


def test_a_run_whose_setting_aside_was_killed_on_the_way_is_moved_back_whole(tmp_path):
    # Killed between two moves, the next command took the moved files for the run set
    # aside and put them back over a folder whose checkpoints/ and logs/ it removed first.
    run = tmp_path / "run"
    files = finished_run(run)
    moving = run / rundir.SETTING_ASIDE_DIR
    moving.mkdir()
    for name in ("run.json", "report.json", "model.keras"):  # then the kill
        os.replace(run / name, moving / name)
    with pytest.raises(UsageError, match="holds a finished run; pass --overwrite"):
        rundir.claim(str(run))
    assert {name: (run / name).read_text() for name in files} == files
    assert not moving.exists() and not (run / rundir.REPLACED_DIR).exists()


def test_a_setting_aside_that_fails_leaves_the_run_where_it_was(tmp_path, monkeypatch):
    # A full disk for the mark left every file in the hidden .replaced.partial, and the
    # message said that nothing was replaced.
    run = tmp_path / "run"
    files = finished_run(run)
    write = open

    def full_disk(path, *args, **kwargs):
        if str(path).endswith(rundir.REPLACED_MARK):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk)
    with pytest.raises(OSError, match="No space left"):
        rundir.set_aside(str(run))
    monkeypatch.undo()
    assert {name: (run / name).read_text() for name in files} == files
    assert sorted(os.listdir(run)) == ["checkpoints", "logs", "model.keras", "report.json",
                                       "run.json"]
    assert not rundir.replaced_here(str(run))


def test_a_put_back_killed_while_it_removed_the_replacement_removes_it_and_puts_back(tmp_path):
    # Killed in the replacement's removal (run.json gone, logs/ not yet), the next command
    # took the replacement's backup for a started run and refused its logs/ as foreign.
    run = tmp_path / "run"
    files = finished_run(run)
    assert rundir.set_aside(str(run))
    (run / "backup").mkdir()
    (run / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    (run / "logs" / "train").mkdir(parents=True)  # the replacement's, not yet removed
    (run / ".replaced" / rundir.REMOVING_MARK).touch()  # the put-back began, then the kill
    with pytest.raises(UsageError, match="holds a finished run; pass --overwrite"):
        rundir.claim(str(run))
    assert {name: (run / name).read_text() for name in files} == files
    assert not (run / "backup").exists() and not (run / rundir.REPLACED_DIR).exists()


def test_a_second_overwrite_killed_while_it_removed_the_first_puts_the_run_back(tmp_path,
                                                                              monkeypatch):
    # The first replacement was interrupted after an epoch; the second, killed while it
    # removed it, left its backup and logs/ beside the run set aside: every command was
    # refused, its logs/ called foreign.
    run = tmp_path / "run"
    files = finished_run(run)
    assert rundir.set_aside(str(run))
    (run / "run.json").write_text("{}")
    (run / "logs" / "train").mkdir(parents=True)
    (run / "backup").mkdir()
    (run / "backup" / "training_metadata.json").write_text('{"epoch": 1}')

    def killed_after_the_first_file(model_dir, *args, **kwargs):
        os.remove(os.path.join(model_dir, "run.json"))
        raise SystemExit("killed")

    monkeypatch.setattr(rundir, "remove_run", killed_after_the_first_file)
    with pytest.raises(SystemExit):
        rundir.set_aside(str(run))
    monkeypatch.undo()
    with pytest.raises(UsageError, match="holds a finished run; pass --overwrite"):
        rundir.claim(str(run))
    assert {name: (run / name).read_text() for name in files} == files


def test_an_empty_replaced_folder_a_kill_left_is_removed(tmp_path):
    # A put-back or a forgetting killed between its mark and its rmdir: every command was
    # refused ("is not a run that --overwrite set aside").
    run = tmp_path / "run"
    files = finished_run(run)
    (run / rundir.REPLACED_DIR).mkdir()
    assert rundir.claim(str(run), overwrite=True)
    assert not (run / rundir.REPLACED_DIR).exists()
    assert {name: (run / name).read_text() for name in files} == files


def test_a_run_that_held_out_no_image_is_read_with_no_validation_split():
    # A fraction too small to hold an image out (5e-6 of MNIST's 60,000) trained without
    # validation before 2026-12-07; a split now refuses it, and the reading modes, which
    # take no --validation_fraction, read the run's own.
    old = {"split_sizes": {"train": 60_000, "validation": 0, "test": 10_000}}
    assert rundir.held_fraction(5e-6, old) == 0.0
    assert rundir.held_fraction(0.1, {"split_sizes": {"validation": 6_000}}) == 0.1
    assert rundir.held_fraction(0.1, {}) == 0.1  # a record without sizes: as recorded


def test_reading_an_interrupted_run_says_to_finish_it(tmp_path):
    # "No finished run ... pass the --model_dir of a completed training run" left out that
    # this one resumes.
    (tmp_path / rundir.BACKUP_DIR).mkdir()
    rundir.write_json(str(tmp_path / rundir.BACKUP_DIR / rundir.METADATA_FILE),
                      {"epoch": 1, "batch": 0})
    rundir.write_json(str(tmp_path / rundir.RUN_FILE), {"recipe": "lenet5_modern"})
    with pytest.raises(UsageError, match=r"lacks preprocessing\.json, model\.keras\); it holds "
                                         r"an interrupted run: run its own command again to "
                                         r"finish it, or pass the --model_dir of a completed"):
        rundir.load_run(str(tmp_path))


def test_reading_a_run_that_is_being_replaced_says_where_it_waits(tmp_path):
    files = finished_run(tmp_path)
    assert rundir.set_aside(str(tmp_path)) and not (tmp_path / "report.json").exists()
    with pytest.raises(UsageError, match=r"\); the run that --overwrite is replacing waits in "
                                         r"\.replaced until its replacement ends"):
        rundir.load_run(str(tmp_path))
    assert (tmp_path / ".replaced" / "report.json").read_text() == files["report.json"]


def test_a_model_as_deep_as_resnet1202_is_read_back(tmp_path):
    # Keras loads a graph recursively, a few frames per layer: ResNet-1202's model.keras
    # ended every mode that reads a run in a RecursionError (1,200 layers do too).
    import sys

    import keras

    from recipes.registry import deep_graph

    with deep_graph():
        x = inputs = keras.Input((4,))
        for index in range(1200):
            x = keras.layers.Activation("linear", name=f"linear{index}")(x)
        keras.Model(inputs, x).save(tmp_path / "deep.keras")
    limit = sys.getrecursionlimit()
    model = rundir.read_model(str(tmp_path / "deep.keras"))
    assert len(model.layers) == 1201 and sys.getrecursionlimit() == limit
    keras.backend.clear_session()


RECORD = {"recipe": "lenet5_modern", "dataset": "digits", "data_dir": None, "training": {},
          "input_shape": [32, 32, 1], "num_classes": 2, "class_names": ["a", "b"],
          "split_sizes": {"train": 3, "validation": 0, "test": 1}}


@pytest.mark.parametrize("key, value, problem", [
    ("split_sizes", "x", "its 'split_sizes' is 'x'"),
    ("split_sizes", {"train": 3}, "its 'split_sizes' is {'train': 3}"),
    ("input_shape", ["a", "b", "c"], "its 'input_shape' is ['a', 'b', 'c']"),
    ("input_shape", [32, 32], "its 'input_shape' is [32, 32]"),
    ("training", {"batch_size": "x"}, "its training configuration: batch_size 'x' is no "
                                      "batch size"),
    ("training", {"batch_size": 0}, "its training configuration: batch_size 0 is no batch "
                                    "size"),
])
def test_a_run_record_with_values_the_modes_cannot_read_is_called_damaged(key, value, problem):
    # Evaluate ended in an AttributeError or TypeError traceback, told that model.keras was
    # another run's, or that "batch_size must be at least 1", a flag the user never gave.
    rundir.check_record(RECORD, "run/run.json")
    rundir.check_record({key: value for key, value in RECORD.items() if key != "split_sizes"},
                        "run/run.json")  # an older record, without split sizes
    with pytest.raises(UsageError, match=re.escape(f"run/run.json is damaged ({problem}); "
                                                   "restore it")):
        rundir.check_record({**RECORD, key: value}, "run/run.json")

