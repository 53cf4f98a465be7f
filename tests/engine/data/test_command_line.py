"""The input-pipeline flags of train.py (run in this process), end to end
(bench/input_pipeline.py's run: tests/bench/test_bench.py)."""

import json
import pathlib
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def run(script, *flags):
    return subprocess.run([sys.executable, str(ROOT / script), *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_input_flags_reach_the_pipeline_the_model_and_the_report(tmp_path, train_here):
    model_dir = tmp_path / "run"
    result = train_here("--epochs=1", "--augment=cifar", "--tta=flip", "--image_size=40",
                 "--deterministic", f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((model_dir / "report.json").read_text())
    assert report["augmentation"] == "cifar" and report["tta"] == "flip"
    assert 0.0 <= report["tta_accuracy"] <= 1.0 and "test_accuracy" in report
    assert report["preprocessing"]["input_shape"] == [40, 40, 1]
    model = keras.saving.load_model(model_dir / "model.keras", safe_mode=True)
    assert tuple(model.input_shape) == (None, 40, 40, 1)


@pytest.mark.slow
def test_an_rgb_folder_for_a_grey_recipe_trains_without_an_error_line(tmp_path):
    # tf.image.rgb_to_grayscale on decoded images (of unknown size) made oneDNN log
    # "E0000 ... oneDNN supports DT_UINT8 only on platforms with AVX-512" on every run.
    from PIL import Image

    for name, colour in (("red", (200, 20, 20)), ("blue", (20, 20, 200))):
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(5):
            Image.new("RGB", (12 + index, 10), colour).save(tmp_path / "images" / name /
                                                            f"{index}.png")
    # A new process: oneDNN logs to the process's stderr, once.
    result = run("train.py", "--epochs=1", f"--dataset=folder:{tmp_path / 'images'}",
                 f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "E0000" not in result.stderr and "oneDNN" not in result.stderr, result.stderr


def test_unknown_augmentation_flag_is_rejected_before_any_work(tmp_path, train_here):
    result = train_here("--augment=mixup", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode != 0 and "--augment" in result.stderr and "cifar" in result.stderr
    assert not (tmp_path / "run").exists()


def test_validation_fraction_zero_trains_on_the_whole_training_split(tmp_path, train_here):
    model_dir = tmp_path / "run"
    result = train_here("--epochs=2", "--validation_fraction=0", "--normalization=lenet",
                 f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("No validation split") == 1  # said once
    record = json.loads((model_dir / "run.json").read_text())
    assert record["split_sizes"] == {"train": 1437, "validation": 0, "test": 360}
    assert record["training"]["validation_fraction"] == 0
    assert record["normalization"] == "lenet"
    report = json.loads((model_dir / "report.json").read_text())
    assert report["train_examples"] == 1437 and report["best_val_accuracy"] is None
    assert report["epochs_run"] == 2 and report["test_accuracy"] > 0.5
    assert not (model_dir / "checkpoints").exists()  # no validation, no best checkpoint
    header = (model_dir / "history.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "accuracy", "epoch_seconds", "learning_rate", "loss",
                      "validation_seconds"]


def test_validation_fractions_that_cannot_work_are_refused_before_any_work(tmp_path, train_here):
    result = train_here("--validation_fraction=1", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and ("flag --validation_fraction=1: 1.0 is not a number in "
                                       "the range [0.0, 0.99]") in result.stderr
    # VGG's plateau schedule watches the validation accuracy.
    result = train_here("--recipe=vgg_a", "--validation_fraction=0",
                 f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "has no validation split" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()

