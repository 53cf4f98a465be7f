"""train.py end to end: the default job, its files, its export, its failures."""

import importlib.metadata
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

ROOT = pathlib.Path(__file__).resolve().parents[1]


def interrupting(*args, **kwargs):
    """A phase of a run replaced by a Ctrl-C."""
    raise KeyboardInterrupt


def lenet_run(model_dir, epochs=1):
    """The spec of a ``lenet5_modern`` run on the digits of ``epochs`` epochs in ``model_dir``."""
    import dataclasses

    import recipes
    from engine import spec

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=epochs)
    return spec.resolve("lenet5_modern", config, model_dir=str(model_dir))


def run_train(*flags, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *flags], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A short run of the default job: LeNet-5 on the embedded digits, 4 epochs (with
    weight decay, so that the regularized loss and the test loss differ)."""
    model_dir = tmp_path_factory.mktemp("run") / "lenet"
    result = run_train("--epochs=4", "--weight_decay=5e-4", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, result


@pytest.mark.parametrize("flag", ["--help", "-h", "--helpfull", "--help=true"])
def test_help_prints_the_usage_and_succeeds(flag):
    # absl's help flags exit 1, and -h was an unknown flag.
    result = run_train(flag)
    assert result.returncode == 0, result.stderr
    assert "python train.py --mode=predict --export_dir=" in result.stdout
    # Every flag of the project's (--help listed none, only "Try --helpfull"); absl's own
    # with --helpfull.
    assert "--[no]deterministic" in result.stdout and "--recipe" in result.stdout
    assert ("--flagfile" in result.stdout) == (flag == "--helpfull")


def test_help_whose_reader_left_stops_quietly_as_a_shell_tool_does():
    # `--help | head`: a BrokenPipeError traceback and exit 1 (the flags are parsed
    # before train.py's own handler), or "Exception ignored" as the exit flushed.
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--help"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    process.stdout.close()  # the reader leaves before a line is written
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 141, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr


def test_help_that_cannot_be_written_says_so_in_one_line():
    # `--help > /dev/full`: absl's OSError traceback.
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system to write the help to")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--help"], cwd=ROOT,
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "train.py: error: the help could not be written (No space left on device).")


def test_python_m_train_is_named_so_in_its_help_and_hints():
    result = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == run_train("--help").stdout.replace("python train.py",
                                                               "python -m train")
    result = subprocess.run([sys.executable, "-m", "train", "--epoch=2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == ("train.py: error: Unknown flag --epoch; did you mean "
                                     "--epochs? (python -m train --helpfull lists every flag)")


@pytest.mark.parametrize("hiding", ["layers.py", "recipes/__init__.py"])
def test_python_m_train_beside_a_file_that_hides_a_package_says_so(tmp_path, hiding):
    # python -m puts the current folder first on the import path: a user's layers.py
    # ended the command in a ModuleNotFoundError traceback.
    (tmp_path / hiding).parent.mkdir(exist_ok=True)
    (tmp_path / hiding).write_text("# the user's own\n")
    result = subprocess.run([sys.executable, "-m", "train", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"train.py: error: {tmp_path / hiding} hides convnet-recipes' "
        f"{hiding.split('.')[0].split('/')[0]!r} package (python -m puts the current folder "
        "first on the import path); rename it, or run the installed convnet-recipes command.")


def test_a_folder_without_init_that_comes_first_hides_its_package_too(tmp_path, monkeypatch):
    # Before setuptools' editable finder, a namespace folder (recipes/ of notes) was found
    # first: "cannot import name 'TrainingConfig' from 'recipes' (unknown location)".
    import importlib.machinery
    import importlib.util

    import train

    found = importlib.util.find_spec
    folder = importlib.machinery.ModuleSpec("recipes", None, is_package=True)
    folder.submodule_search_locations = [str(tmp_path / "recipes")]
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name: folder if name == "recipes" else found(name))
    assert train.shadowed() == ("recipes", f"{tmp_path / 'recipes'}/")
    monkeypatch.setattr(importlib.util, "find_spec", found)
    assert train.shadowed() is None


def test_the_installed_command_is_train_py_in_its_own_words():
    # A non-editable install has no train.py: setup.cfg's console script runs its command.
    (entry_point,) = importlib.metadata.entry_points(group="console_scripts",
                                                     name="convnet-recipes")
    assert entry_point.value == "train:run"
    command = shutil.which("convnet-recipes", path=os.path.dirname(sys.executable))
    assert command, "convnet-recipes is not installed beside this Python: pip install -e ."
    result = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    # The usage, its examples in the command's own words.
    assert result.stdout == run_train("--help").stdout.replace(
        "python train.py", "convnet-recipes").replace(f"{ROOT / 'train.py'}:", f"{command}:")
    result = subprocess.run([command, "--epochs=abc"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == "convnet-recipes: error: --epochs=abc is not an integer."
    result = subprocess.run([command, "--epoch=2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == ("convnet-recipes: error: Unknown flag --epoch; did you "
                                     "mean --epochs? (convnet-recipes --helpfull lists every "
                                     "flag)")


def test_report_has_the_contract_keys(digits_run):
    model_dir, result = digits_run
    report = json.loads((model_dir / "report.json").read_text())
    for key in ("recipe", "dataset", "epochs", "test_accuracy", "test_loss", "trainable_params",
                "train_seconds", "export_dir"):
        assert key in report
    assert report["recipe"] == "lenet5_modern" and report["dataset"] == "digits"
    assert report["epochs"] == 4
    assert report["trainable_params"] == 61_706
    assert report["export_dir"] == str(model_dir / "export" / "1")  # TF Serving's layout
    assert f"test accuracy {report['test_accuracy']:.4f}" in result.stdout


def test_run_json_records_the_resolved_configuration(digits_run):
    model_dir, _ = digits_run
    record = json.loads((model_dir / "run.json").read_text())
    assert record["recipe"] == "lenet5_modern" and record["dataset"] == "digits"
    assert record["class_names"] == [str(digit) for digit in range(10)]
    assert record["training"]["epochs"] == 4 and record["training"]["weight_decay"] == 5e-4
    assert record["training"]["augmentation"] == record["augmentation"] == "shift"
    assert record["input_shape"] == [32, 32, 1] and record["seed"] == 42
    assert record["model_dir"] == str(model_dir)
    assert pathlib.Path(record["export_dir"]).is_absolute()
    assert record["split_sizes"] == {"train": 1293, "validation": 144, "test": 360}
    assert set(record["versions"]) == {"convnet_recipes", "tensorflow", "keras", "python"}
    assert record["versions"]["convnet_recipes"] == importlib.metadata.version("convnet-recipes")


def test_a_cpu_run_prints_no_tensorflow_start_up_chatter(digits_run):
    _, result = digits_run
    for chatter in ("cuInit", "cudart_stub", "I0000", "E0000", "absl::InitializeLog", "oneDNN"):
        assert chatter not in result.stderr, result.stderr[-2000:]
    # The plan before training and the time to the end after its first epoch.
    assert "lenet5_modern: 4 epochs of 21 steps (batch 64, 1,293 training images)" in result.stdout
    # The first epoch also traces the steps: its estimate is a bound, the second's closer.
    assert re.search(r"\nEpoch 1 took \d+ s, its steps traced first; at most about \d+ s to "
                     r"the end \(3 more epochs\)\.\n", result.stdout), result.stdout
    assert re.search(r"\nEpoch 2 took \d+ s; about \d+ s to the end \(2 more epochs\)\.\n",
                     result.stdout), result.stdout
    assert "Epoch 3 took" not in result.stdout
    assert "4 epochs in" in result.stdout.strip().splitlines()[-1]
    # Its output goes to a pipe: one line per epoch, without the progress bar's colours,
    # backspaces and carriage returns.
    assert not {"\x1b", "\b", "\r"} & set(result.stdout)
    assert sum(line.startswith("21/21 - ") for line in result.stdout.splitlines()) == 4


def test_a_run_with_its_output_closed_trains_to_the_end(tmp_path):
    # Closed stdout: a traceback from Keras's progress bar after run.json; closed
    # stderr: exit 1 without a word or a file, TensorFlow's import failed.
    command = (f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'train.py'))} "
               f"--epochs=1 --model_dir={shlex.quote(str(tmp_path / 'run'))} <&- >&- 2>&-")
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, timeout=900)
    assert result.returncode == 0
    assert json.loads((tmp_path / "run" / "report.json").read_text())["epochs_run"] == 1


def test_short_run_beats_chance_by_a_wide_margin(digits_run):
    model_dir, _ = digits_run
    report = json.loads((model_dir / "report.json").read_text())
    assert report["test_accuracy"] > 0.8  # chance is 0.1
    assert report["test_examples"] == 360  # 20% of 1,797, never trained on


def test_run_writes_model_checkpoints_and_logs(digits_run):
    model_dir, _ = digits_run
    assert (model_dir / "model.keras").is_file()
    assert (model_dir / "checkpoints" / "best.weights.h5").is_file()
    assert list((model_dir / "logs").rglob("events.out.tfevents.*"))
    assert (model_dir / "history.csv").read_text().count("\n") == 5  # header + 4 epochs


def test_export_serves_the_same_predictions_as_the_keras_model(digits_run):
    import keras
    import tensorflow as tf

    model_dir, _ = digits_run
    model = keras.saving.load_model(model_dir / "model.keras", safe_mode=True)
    features = np.random.default_rng(0).normal(size=(8, 32, 32, 1)).astype("float32")
    exported = tf.saved_model.load(str(model_dir / "export" / "1"))
    served = exported.serve_features(tf.constant(features))
    np.testing.assert_allclose(served["probabilities"], np.asarray(model(features)), atol=1e-6)


def test_unknown_recipe_fails_with_one_sentence(tmp_path, train_here):
    result = train_here("--recipe=lenet6", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "Unknown recipe 'lenet6'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_flagfile_is_honoured(tmp_path, train_here):
    flagfile = tmp_path / "flags.txt"
    flagfile.write_text("--recipe=no_such_recipe\n")
    result = train_here(f"--flagfile={flagfile}")
    assert result.returncode != 0 and "Unknown recipe 'no_such_recipe'" in result.stderr


@pytest.mark.slow
def test_lenet5_on_mnist_one_epoch_exceeds_98_percent(shared_tfds, tmp_path, train_here):
    # --deterministic: one fixed input order and op order, so the figure is reproducible
    # (without it, one epoch lands between about 0.973 and 0.985 from run to run).
    result = train_here("--dataset=mnist", f"--data_dir={shared_tfds}", "--epochs=1",
                        "--deterministic", f"--model_dir={tmp_path / 'mnist'}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "mnist" / "report.json").read_text())
    assert report["test_examples"] == 10_000 and report["train_examples"] == 54_000
    assert report["test_accuracy"] > 0.98


def test_unprepared_dataset_fails_before_writing_anything(tmp_path, train_here):
    result = train_here("--dataset=mnist", f"--data_dir={tmp_path / 'empty'}",
                       f"--model_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "is not prepared" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_evaluate_mode_reproduces_the_runs_test_accuracy(digits_run, tmp_path, train_here):
    model_dir, _ = digits_run
    report = json.loads((model_dir / "report.json").read_text())
    # From another folder: the run's records hold absolute paths.
    result = train_here("--mode=evaluate", f"--model_dir={model_dir}", "--tta=flip",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((model_dir / "evaluation.json").read_text())
    # One evaluator: the same numbers, test_loss the plain cross-entropy (no decay term).
    assert evaluation["test_accuracy"] == pytest.approx(report["test_accuracy"], abs=1e-6)
    assert evaluation["test_loss"] == pytest.approx(report["test_loss"], rel=1e-5)
    assert evaluation["tta"] == "flip" and 0 <= evaluation["tta_accuracy"] <= 1
    assert f"test accuracy {report['test_accuracy']:.4f}" in result.stdout


def backed_up(backup_dir):
    """A backup naming one epoch."""
    backup_dir.mkdir(parents=True)
    (backup_dir / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')


def main_exits(flag_list, run_mode, monkeypatch) -> int:
    """The exit code of ``train.main`` in this process, with ``flag_list`` parsed and
    ``modes.run`` replaced by ``run_mode`` (``os._exit`` raises SystemExit instead)."""
    from absl import flags

    import train
    from engine import modes

    def exit_at_once(code):
        raise SystemExit(code)

    monkeypatch.setattr(modes, "run", run_mode)
    monkeypatch.setattr(train.os, "_exit", exit_at_once)
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["train.py", *flag_list])
    try:
        with pytest.raises(SystemExit) as exit_info:
            train.main(["train.py"])
    finally:
        flags.FLAGS.unparse_flags()
    return exit_info.value.code


@pytest.mark.parametrize("mode, folder, last_words", [
    ("train", "run", "Files written so far are in {run}."),
    ("tune", "run", "Files written so far are in {run}."),
    ("train", None, "the traceback above says where."),  # it failed before writing any
    ("evaluate", "run", "the traceback above says where."),  # evaluate writes no run folder
])
def test_an_internal_error_keeps_its_traceback(mode, folder, last_words, tmp_path, monkeypatch,
                                               capsys):
    def broken(mode, args):
        raise ValueError("a bug inside Keras")  # not the project's UsageError

    if folder:
        (tmp_path / folder).mkdir()
    assert main_exits([f"--mode={mode}", f"--model_dir={tmp_path / 'run'}"], broken,
                      monkeypatch) == 1
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr and "ValueError: a bug inside Keras" in stderr
    assert stderr.strip().splitlines()[-1].endswith(last_words.format(run=tmp_path / "run"))



@pytest.mark.parametrize("mode, error, last_line", [
    # A full disk, in HDF5's words (h5py names the file inside its message).
    ("train", OSError(28, "Can't close file (file write failed: time = ..., filename = "
                          "'{run}/backup/.partial-epoch-3.weights.h5', file descriptor = 7)"),
     "train.py: failed: could not write {run}/backup/.partial-epoch-3.weights.h5 (No space "
     "left on device); free space on its disk. The last completed epoch is backed up in {run}; "
     "run the same command again to resume."),
    ("evaluate", PermissionError(13, "Permission denied", "{run}/run.json"),
     "train.py: failed: cannot access {run}/run.json (Permission denied); fix its permissions. "
     "Then run the same command again."),
    ("train", OSError(27, "File too large", "{run}/history.csv"),
     "train.py: failed: could not write {run}/history.csv (File too large); raise the limit on "
     "the size of a file (ulimit -f). The last completed epoch is backed up in {run}; run the "
     "same command again to resume."),
    # TensorFlow's words, after the file's name: a full disk was "out of memory".
    ("train", tf.errors.ResourceExhaustedError(None, None, "{run}/export/.partial-1/variables/"
                                               "x.tempstate1; No space left on device"),
     "train.py: failed: could not write {run}/export/.partial-1/variables/x.tempstate1 (No "
     "space left on device); free space on its disk. The last completed epoch is backed up in "
     "{run}; run the same command again to resume."),
    ("train", tf.errors.OutOfRangeError(None, None, "{run}/logs/train/events.x; File too "
                                        "large"),
     "train.py: failed: could not write {run}/logs/train/events.x (File too large); raise the "
     "limit on the size of a file (ulimit -f). The last completed epoch is backed up in {run}; "
     "run the same command again to resume."),
])
def test_a_file_that_cannot_be_written_or_read_ends_in_one_sentence(mode, error, last_line,
                                                                    tmp_path, monkeypatch,
                                                                    capsys):
    # They ended as internal errors, a bug report's traceback for a full disk.
    run = tmp_path / "run"
    backed_up(run / "backup")
    if isinstance(error, OSError):
        error.filename = error.filename and error.filename.format(run=run)
        error.strerror = error.strerror.format(run=run)
    else:
        error = type(error)(None, None, error.message.format(run=run))

    def failing(mode, args):
        raise error

    assert main_exits([f"--mode={mode}", f"--model_dir={run}"], failing, monkeypatch) == 1
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    assert stderr.strip() == last_line.format(run=run)


@pytest.mark.parametrize("mode, left, advice", [
    ("train", "backup", "The last completed epoch is backed up in {run}; run the same command "
                        "again to resume."),
    # Once replaced, the same command, --overwrite in it, would start afresh again.
    ("train --overwrite replaced", "backup", "The last completed epoch is backed up in {run}; "
                                             "run the same command without --overwrite to "
                                             "resume."),
    ("tune --overwrite replaced", "search", "The search's state is in {run}; run the same "
                                            "command without --overwrite to resume it."),
    # Stopped before it replaced anything (the backup is the old run's).
    ("train --overwrite", "backup", "Nothing was replaced yet: the same command starts "
                                    "afresh."),
    ("train", None, "No epoch was backed up yet: the same command starts afresh."),
    # Stopped while the first epoch's files were written: no epoch to resume from.
    ("train", "backup/random_states_1.npz", "No epoch was backed up yet: the same command "
                                            "starts afresh."),
    ("tune", "search", "The search's state is in {run}; run the same command again to resume "
                       "it."),
    ("evaluate", None, ""),
])
def test_ctrl_c_says_what_there_is_to_resume(mode, left, advice, tmp_path, monkeypatch,
                                             capsys):
    from engine import quiet

    if left == "backup":
        backed_up(tmp_path / left)
    elif left and "/" in left:  # a file
        (tmp_path / left).parent.mkdir()
        (tmp_path / left).touch()
    elif left:
        (tmp_path / left).mkdir()
    mode, *more = mode.split()
    if "replaced" in more:
        from engine import rundir

        more.remove("replaced")
        rundir.mark_replaced(str(tmp_path))
    flag_list = [f"--mode={mode}", f"--model_dir={tmp_path}", *more]
    assert main_exits(flag_list, interrupting, monkeypatch) == 130
    # While TensorFlow loads, nothing has started: one sentence, no traceback.
    monkeypatch.setattr(quiet, "import_tensorflow", interrupting)
    assert main_exits(flag_list, interrupting, monkeypatch) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    expected = "train.py: interrupted." + (" " + advice.format(run=tmp_path) if advice else "")
    assert lines[-3] == expected
    assert lines[-1] == "train.py: interrupted while TensorFlow loaded; nothing was done."
    assert "Traceback" not in "\n".join(lines)


def test_a_sigterm_stops_the_run_as_a_ctrl_c_does_with_exit_143(tmp_path, monkeypatch,
                                                                capsys):
    from engine import interrupts

    def terminated(*args):
        raise interrupts.Terminated

    backed_up(tmp_path / "backup")
    assert main_exits([f"--model_dir={tmp_path}"], terminated, monkeypatch) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"train.py: stopped by SIGTERM. The last completed epoch is backed up in {tmp_path}; "
        "run the same command again to resume.")


@pytest.mark.parametrize("flag_list, run", [
    (["--model_dir=~/rr"], "rr"),  # ~ expanded as the run expands it
    (["--dataset=folder:."], "pets/runs/lenet5_modern-pets")])  # named as the run names it
def test_an_interruption_finds_the_backup_where_the_run_wrote_it(flag_list, run, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pets").mkdir()
    monkeypatch.chdir(tmp_path / "pets")
    backed_up(tmp_path / run / "backup")
    assert main_exits(flag_list, interrupting, monkeypatch) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"train.py: interrupted. The last completed epoch is backed up in {tmp_path / run}; "
        "run the same command again to resume.")


def without_module_list(stderr: str) -> str:
    """A crashed process's output without the list of extension modules that Python's
    fault handler prints last, so that a failure shows the threads' stacks before it."""
    return re.sub(r"\nExtension modules: .*?\(total: \d+\)", "", stderr, flags=re.DOTALL)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path):
    import signal
    import time

    model_dir = tmp_path / "run"
    # Batch 32: 41 steps an epoch, so that the interrupt lands well before the tenth.
    command = [sys.executable, str(ROOT / "train.py"), "--epochs=10", "--batch_size=32",
               f"--model_dir={model_dir}"]
    # As from a terminal: SIGINT back to its default before train.py starts, since a test
    # run started in the background by a shell without job control passes it on ignored.
    with_default_sigint = [sys.executable, "-c", "import os, signal, sys; "
                           "signal.signal(signal.SIGINT, signal.SIG_DFL); "
                           "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"]
    process = subprocess.Popen(with_default_sigint + command[1:], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backup = model_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while not backup.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, without_module_list(stderr)[-6000:]
    assert "Ctrl-C: training stops when this step is done" in stderr
    assert "run the same command again to resume" in stderr
    assert not (model_dir / "report.json").exists()
    done = json.loads(backup.read_text())["epoch"]
    assert 1 <= done < 10

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from the backup: epoch {done + 1} of 10." in resumed.stdout
    history = (model_dir / "history.csv").read_text().strip().splitlines()
    assert [int(line.split(",")[0]) for line in history[1:]] == list(range(10))
    report = json.loads((model_dir / "report.json").read_text())
    assert report["epochs"] == 10 and report["test_accuracy"] > 0.9


@pytest.mark.slow
def test_sigterm_stops_after_the_step_under_way_and_leaves_the_backup(tmp_path):
    import signal
    import time

    model_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--epochs=10",
                                "--batch_size=32", f"--model_dir={model_dir}"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    backup = model_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + 300
    while not backup.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.terminate()  # as kill, or a scheduler stopping the job
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, without_module_list(stderr)[-6000:]
    assert "SIGTERM: training stops when this step is done (SIGTERM again: at once)." in stderr
    assert "train.py: stopped by SIGTERM. The last completed epoch is backed up" in stderr
    assert not (model_dir / "report.json").exists()
    assert 1 <= json.loads(backup.read_text())["epoch"] < 10


def test_deterministic_seeded_runs_are_bit_identical(tmp_path, train_here):
    import keras

    weights = []
    for name in ("first", "second"):
        result = train_here("--epochs=2", "--deterministic", f"--model_dir={tmp_path / name}")
        assert result.returncode == 0, result.stderr[-3000:]
        weights.append(keras.saving.load_model(tmp_path / name / "model.keras",
                                               safe_mode=True).get_weights())
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)


def test_several_steps_per_call_train_the_run_one_step_per_call_trains(tmp_path, train_here):
    # The same updates in fewer trips through Python (a constant rate: a per-step schedule
    # moves once per call).
    import keras

    weights = []
    for steps in (1, 9):
        model_dir = tmp_path / f"steps{steps}"
        result = train_here("--epochs=1", "--deterministic", "--schedule=constant",
                            f"--steps_per_execution={steps}", f"--model_dir={model_dir}")
        assert result.returncode == 0, result.stderr[-3000:]
        for record in ("run.json", "report.json"):
            recorded = json.loads((model_dir / record).read_text())
            assert recorded["steps_per_execution"] == steps and recorded["deterministic"] is True
        weights.append(keras.saving.load_model(model_dir / "model.keras",
                                               safe_mode=True).get_weights())
    for one, nine in zip(*weights):
        np.testing.assert_allclose(one, nine, rtol=1e-4, atol=1e-5)


def test_an_interruption_after_the_last_epoch_resumes_without_training_again(tmp_path,
                                                                           monkeypatch,
                                                                           capsys):
    """The backup outlives the training until the report is written: a Ctrl-C (or a
    crash) during the final evaluation, save or export loses no epoch."""
    import dataclasses

    import recipes
    from engine import spec
    from engine.modes import train as train_mode

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=2, ema=True)
    uninterrupted, run = (spec.resolve("lenet5_modern", config, deterministic=True,
                                       model_dir=str(tmp_path / name))
                          for name in ("uninterrupted", "run"))
    expected = train_mode.train(uninterrupted)
    evaluate = train_mode.evaluate

    monkeypatch.setattr(train_mode, "evaluate", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_mode.train(run)
    assert (tmp_path / "run" / "backup").is_dir()
    monkeypatch.setattr(train_mode, "evaluate", evaluate)
    capsys.readouterr()
    report = train_mode.train(run)
    out = capsys.readouterr().out
    assert "Resuming from the backup: all 2 epochs are done." in out
    assert "Epoch 1/2" not in out and "Epoch 2/2" not in out  # nothing trained again
    assert report["epochs_run"] == 2
    # The same model as without the interruption (the averaged weights, --ema, included).
    assert report["test_accuracy"] == expected["test_accuracy"]
    assert report["test_loss"] == pytest.approx(expected["test_loss"], abs=1e-6)
    assert not (tmp_path / "run" / "backup").exists()  # a finished run is not resumed


def test_a_transfer_run_resumes_without_its_source_as_it_would_have_ended(tmp_path,
                                                                          monkeypatch):
    """An interrupted --init_from run resumes from its backup, which holds every weight,
    after the source is gone: the layers it took from there stay frozen, and it ends as
    the uninterrupted run does."""
    import dataclasses
    import shutil

    import keras

    import recipes
    from engine import spec
    from engine.modes import train as train_mode
    from layers.errors import UsageError

    class InterruptSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # the first epoch is backed up
                raise KeyboardInterrupt

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=1)
    train_mode.train(spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "source")))
    source = tmp_path / "source.keras"
    shutil.copy(tmp_path / "source" / "model.keras", source)
    pretrained = keras.saving.load_model(source, safe_mode=True)
    config = dataclasses.replace(config, epochs=2)
    uninterrupted, run = (spec.resolve("lenet5_modern", config, deterministic=True,
                                       model_dir=str(tmp_path / name), init_from=str(source),
                                       transfer="feature_extractor")
                          for name in ("uninterrupted", "run"))
    expected = train_mode.train(uninterrupted)
    record = json.loads((tmp_path / "uninterrupted" / "run.json").read_text())
    assert record["pretrained_layers"] == ["c1", "c3", "c5", "f6"]
    assert record["finetune_multiplier"] is None  # feature extraction trains at one rate
    assert expected["transfer"] == "feature_extractor" and expected["finetune_multiplier"] is None

    with monkeypatch.context() as patch:
        patch.setattr(train_mode.training, "TimeToEnd", InterruptSecondEpoch)
        with pytest.raises(KeyboardInterrupt):
            train_mode.train(run)
    source.write_text("retrained meanwhile")  # changed or gone: the backup holds every weight
    report = train_mode.train(run)
    assert report["epochs_run"] == 2
    assert report["test_accuracy"] == expected["test_accuracy"]
    assert report["test_loss"] == pytest.approx(expected["test_loss"], abs=1e-6)
    resumed = keras.saving.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    for name in record["pretrained_layers"]:  # still frozen after the resume
        for ours, theirs in zip(resumed.get_layer(name).get_weights(),
                                pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    # Without a backup to resume from, the source is needed.
    source.unlink()
    with pytest.raises(UsageError, match="is neither a run directory holding model.keras"):
        train_mode.train(run)


def test_a_resumed_run_trains_on_with_the_statistics_it_started_with(tmp_path, monkeypatch):
    """A resume reads the backed-up run's preprocessing.json: fitting it again read the
    training split once more (up to 100,000 images) and could differ in its last bits."""
    import dataclasses

    import keras

    import recipes
    from engine import spec
    from engine.data import pipeline
    from engine.modes import train as train_mode

    class InterruptSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=2)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "run"))
    with monkeypatch.context() as patch:
        patch.setattr(train_mode.training, "TimeToEnd", InterruptSecondEpoch)
        with pytest.raises(KeyboardInterrupt):
            train_mode.train(run)
    statistics = (tmp_path / "run" / "preprocessing.json").read_text()
    assert json.loads(statistics)["normalization"] == "per_channel"

    def fitted_again(*args, **kwargs):
        raise AssertionError("the statistics were fitted again")

    monkeypatch.setattr(pipeline, "_fit_preprocessing", fitted_again)
    assert train_mode.train(run)["epochs_run"] == 2
    assert (tmp_path / "run" / "preprocessing.json").read_text() == statistics


def test_an_interruption_after_the_export_resumes_without_exporting_again(tmp_path,
                                                                       monkeypatch):
    """A run killed between its export and its report ends again with the same weights:
    it keeps the version it exported, where it took the next number for the same model;
    a record of other weights exports anew."""
    import dataclasses

    import recipes
    from engine import spec
    from engine.modes import train as train_mode

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=1)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "run"))
    export, record = tmp_path / "run" / "export", tmp_path / "run" / "published.json"
    plot_curves = train_mode.plot_curves

    monkeypatch.setattr(train_mode, "plot_curves", interrupting)
    with pytest.raises(KeyboardInterrupt):
        train_mode.train(run)
    assert sorted(os.listdir(export)) == ["1"]
    with pytest.raises(KeyboardInterrupt):
        train_mode.train(run)
    assert sorted(os.listdir(export)) == ["1"]  # the same weights: not exported again
    other = {**json.loads(record.read_text()), "weights_sha256": "0" * 64}
    record.write_text(json.dumps(other))
    with pytest.raises(KeyboardInterrupt):
        train_mode.train(run)
    assert sorted(os.listdir(export)) == ["1", "2"]
    monkeypatch.setattr(train_mode, "plot_curves", plot_curves)
    report = train_mode.train(run)
    assert report["export_dir"] == str(export / "2")
    assert sorted(os.listdir(export)) == ["1", "2"]
    assert not record.exists() and not (tmp_path / "run" / "backup").exists()


def test_overwrite_starts_an_interrupted_run_afresh(tmp_path, monkeypatch, capsys):
    import dataclasses

    import recipes
    from engine import spec
    from engine.modes import train as train_mode

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=2)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "run"))

    with monkeypatch.context() as patch:
        patch.setattr(train_mode, "evaluate", interrupting)
        with pytest.raises(KeyboardInterrupt):
            train_mode.train(run)
    assert (tmp_path / "run" / "backup").is_dir()
    capsys.readouterr()
    report = train_mode.train(run, overwrite=True)
    out = capsys.readouterr().out
    assert "Resuming from the backup" not in out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out  # both epochs trained again
    assert report["epochs_run"] == 2
    rows = (tmp_path / "run" / "history.csv").read_text().split()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1"]  # the interrupted run's are gone


def test_overwrite_replaces_a_finished_run_and_keeps_other_files(tmp_path, train_here):
    model_dir = tmp_path / "run"
    first = train_here("--epochs=1", f"--model_dir={model_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    (model_dir / "notes.txt").write_text("mine")
    # What evaluate wrote of the first model, an --ensemble's results among them.
    for name in ("evaluation.json", "ensemble.json", "reliability_ensemble.png"):
        (model_dir / name).write_text("of the first model")
    second = train_here("--epochs=2", "--overwrite", f"--model_dir={model_dir}")
    assert second.returncode == 0, second.stderr[-3000:]
    assert (model_dir / "notes.txt").read_text() == "mine"
    assert not {"evaluation.json", "ensemble.json", "reliability_ensemble.png"} & {
        path.name for path in model_dir.iterdir()}
    assert json.loads((model_dir / "report.json").read_text())["epochs_run"] == 2
    assert not (model_dir / ".replaced").exists()  # the first run, kept until now
    rows = (model_dir / "history.csv").read_text().split()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1"]  # the first run's row is gone
    # The exports stay: version 1 served the first model, and TF Serving does not reload a
    # version number it has loaded (--overwrite made the new model version 1 again).
    assert sorted(path.name for path in (model_dir / "export").iterdir()) == ["1", "2"]
    assert json.loads((model_dir / "report.json").read_text())["export_dir"] == str(
        model_dir / "export" / "2")


def test_a_run_that_diverged_after_a_backed_up_epoch_says_to_overwrite_it(tmp_path, train_here,
                                                                          monkeypatch):
    # "Lower --learning_rate and run again" was refused: the backup's epoch resumes only
    # at the rate it trained at.
    import keras

    from engine import training

    def diverging_in_epoch_2_at_a_rate_of_1_or_more(callback, batch, logs=None):
        rate = float(keras.ops.convert_to_numpy(callback.model.optimizer.learning_rate))
        if callback.epoch == 1 and rate >= 1:
            raise training.Diverged(float("nan"), 2, batch + 1, rate)

    monkeypatch.setattr(training.StopOnDivergence, "on_train_batch_end",
                        diverging_in_epoch_2_at_a_rate_of_1_or_more)
    model_dir = tmp_path / "run"
    failed = train_here("--learning_rate=3", "--optimizer=sgd", "--epochs=3",
                        f"--model_dir={model_dir}")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert re.search(r"The training loss became nan at epoch 2, step 1: the run diverged; "
                     r"lower --learning_rate \(the rate at that step, after the schedule and "
                     r"warm-up, was 2\.25\) and run again with --overwrite\.$",  # cosine's
                     failed.stderr.strip())
    again = train_here("--learning_rate=0.01", "--optimizer=sgd", "--epochs=3", "--overwrite",
                       f"--model_dir={model_dir}")
    assert again.returncode == 0, again.stderr[-3000:]


def test_a_replacement_that_fails_puts_the_finished_run_back(tmp_path, train_here):
    # --overwrite removed the finished run before the new one trained: a learning rate
    # that diverged at its third step left neither.
    model_dir = tmp_path / "run"
    first = train_here("--epochs=1", f"--model_dir={model_dir}")
    assert first.returncode == 0, first.stderr[-3000:]
    kept = {path.name: path.read_bytes() for path in model_dir.iterdir() if path.is_file()}
    failed = train_here("--epochs=1", "--overwrite", "--optimizer=sgd", "--learning_rate=1e8",
                        f"--model_dir={model_dir}")
    assert failed.returncode == 1 and "the run diverged" in failed.stderr
    assert failed.stderr.strip().endswith(
        f"and run again with --overwrite. The run that --overwrite was replacing is back in "
        f"{model_dir}.")
    assert {path.name: path.read_bytes() for path in model_dir.iterdir()
            if path.is_file()} == kept
    assert not (model_dir / ".replaced").exists() and not (model_dir / "backup").exists()


@pytest.mark.parametrize("stop", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_replacement_stopped_before_its_first_epoch_puts_the_finished_run_back(tmp_path,
                                                                                 monkeypatch,
                                                                                 stop):
    # A full disk in the first epoch hid the finished run in .replaced (--mode=evaluate
    # refused it) until a later training command in the folder put it back.
    from engine import endings, rundir
    from engine.modes import train as train_mode

    run = lenet_run(tmp_path / "run")
    train_mode.train(run)
    first = (tmp_path / "run" / "report.json").read_text()

    def stopping(*args, **kwargs):
        raise stop

    with monkeypatch.context() as patch:
        patch.setattr(train_mode.training, "train", stopping)
        with pytest.raises(type(stop)):
            train_mode.train(run, overwrite=True)
    assert (tmp_path / "run" / "report.json").read_text() == first
    assert not (tmp_path / "run" / ".replaced").exists()
    assert not rundir.replaced_here(str(tmp_path / "run"))
    assert endings.interrupted_state("train", str(tmp_path / "run"), overwrite=True) == (
        f" The run that --overwrite was replacing is back in {tmp_path / 'run'}; the same "
        "command starts afresh.")  # not "The run had finished"


def test_a_ctrl_c_that_a_finalizer_drops_after_training_still_stops_the_run(tmp_path,
                                                                           monkeypatch):
    # JAX's garbage-collection callback, where JAX is installed, printed "Exception ignored
    # ... KeyboardInterrupt" during the evaluation, and the run went on to its report.
    from engine.modes import train as train_mode

    class Dropping:
        def __del__(self):
            raise KeyboardInterrupt

    evaluate = train_mode.evaluate

    def evaluating(*args, **kwargs):
        Dropping()  # freed at once: Python reports its finalizer's exception, and goes on
        return evaluate(*args, **kwargs)

    run = lenet_run(tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(train_mode, "evaluate", evaluating)
        with pytest.raises(KeyboardInterrupt):
            train_mode.train(run)
    assert not (tmp_path / "run" / "report.json").exists()
    assert (tmp_path / "run" / "backup").is_dir()  # the same command goes on from here


def test_an_interrupted_replacement_keeps_the_finished_run_until_it_ends(tmp_path,
                                                                         monkeypatch):
    import dataclasses

    import recipes
    from engine import spec
    from engine.modes import train as train_mode

    config = dataclasses.replace(recipes.get("lenet5_modern").training, epochs=1)
    run = spec.resolve("lenet5_modern", config, model_dir=str(tmp_path / "run"))
    train_mode.train(run)
    first = (tmp_path / "run" / "report.json").read_text()
    longer = dataclasses.replace(run, training=dataclasses.replace(config, epochs=2))
    with monkeypatch.context() as patch:
        patch.setattr(train_mode, "evaluate", interrupting)
        with pytest.raises(KeyboardInterrupt):
            train_mode.train(longer, overwrite=True)
    assert (tmp_path / "run" / ".replaced" / "report.json").read_text() == first
    assert (tmp_path / "run" / "backup").is_dir()  # the replacement resumes
    assert train_mode.train(longer)["epochs_run"] == 2
    assert not (tmp_path / "run" / ".replaced").exists()


def test_the_summary_line_says_the_tta_accuracy_and_counts_in_words():
    from engine.modes.train import summary_line

    interval = {"half_width": 0.02, "confidence": 0.95, "n": 360}
    report = {"recipe": "lenet5_modern", "dataset": "digits", "test_accuracy": 0.95,
              "test_accuracy_interval": interval, "test_loss": 0.2, "epochs_run": 1,
              "train_seconds": 3.0, "tta": "flip", "tta_accuracy": 0.96,
              "tta_accuracy_interval": {**interval, "half_width": 0.01}}
    assert summary_line(report, "/runs/r") == (
        "lenet5_modern on digits: test accuracy 0.9500 ± 0.0200 (95%, n=360), flip TTA "
        "accuracy 0.9600 ± 0.0100 (95%, n=360), test loss 0.2000, 1 epoch in 3.0 s; run in "
        "/runs/r")  # the TTA accuracy was only in report.json; "1 epochs"
    assert "TTA" not in summary_line({**report, "tta": "none"}, "/runs/r")
