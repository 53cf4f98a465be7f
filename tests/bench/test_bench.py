"""bench/: every script runs on a tiny setting, prints its result last and writes its files.

No timing is asserted (speed belongs to the scripts' output, not to the tests); what is
checked is the contract: the JSON keys, the ratios computed from the windows, the
figures written, TensorFlow left out of the JAX path, the skips and the usage errors.
"""

import importlib.util
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys

import pytest

import recipes

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(script, *flags, env=None):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *flags], cwd=ROOT,
                            capture_output=True, text=True, timeout=900,
                            env={**os.environ, **(env or {})})
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, lines


def test_throughput_against_keras_applications_interleaved():
    result, lines = run("throughput.py", "--recipe=vgg16", "--baseline=keras", "--batch_size=2",
                        "--image_size=32", "--steps=1", "--windows=3", "--warmup_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    header, *windows, last = lines
    assert header["input_shape"] == [32, 32, 3] and header["device"].startswith("CPU")
    assert set(last) >= {"recipe", "images_per_second", "baseline", "baseline_images_per_second",
                         "ratio", "device", "precision", "jit_compile", "batch_size"}
    assert last["baseline"] == "keras.applications.VGG16" and last["precision"] == "float32"
    assert [window["first"] for window in windows] == [
        "vgg16", "keras.applications.VGG16", "vgg16"]  # alternating order
    ratios = [window["vgg16_images_per_second"] / window[f"{last['baseline']}_images_per_second"]
              for window in windows]
    assert last["ratio"] == pytest.approx(statistics.median(ratios), rel=1e-2)
    assert last["fastest_ratio"] == pytest.approx(
        max(window["vgg16_images_per_second"] for window in windows)
        / max(window[f"{last['baseline']}_images_per_second"] for window in windows), rel=1e-2)
    assert last["images_per_second"] == pytest.approx(
        statistics.median(window["vgg16_images_per_second"] for window in windows), rel=1e-3)
    assert last["cpu_ratio"] == pytest.approx(statistics.median(
        window[f"{last['baseline']}_cpu_seconds"] / window["vgg16_cpu_seconds"]
        for window in windows), rel=1e-2)
    # VGG-16 at 32x32: 3 x 2 x its multiply-adds per image, against the matmul's rate.
    # (The printed figures are rounded: 0.1 GFLOP/s, 3 decimals for the fraction.)
    assert last["achieved_gflops"] == pytest.approx(
        last["images_per_second"] * header["training_gflops_per_image"], rel=2e-2, abs=0.1)
    assert last["fraction_of_matmul"] == pytest.approx(
        last["achieved_gflops"] / last["matmul_gflops"], rel=2e-2, abs=2e-3)
    assert last["matmul_size"] == 2048  # a CPU's; 8192 on an accelerator


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install -e '.[test]' installs it)")
def test_throughput_on_jax_imports_no_tensorflow():
    result, lines = run("throughput.py", "--backend=jax", "--recipe=lenet5_modern",
                        "--batch_size=4", "--steps=2", "--windows=2", "--warmup_steps=1",
                        env={"KERAS_BACKEND": "tensorflow"})  # the flag wins
    assert result.returncode == 0, result.stderr[-3000:]
    assert lines[0]["backend"] == "jax"
    last = lines[-1]
    assert last["backend"] == "jax" and last["tensorflow_imported"] is False
    assert last["jit_compile"] is True and last["images_per_second"] > 0


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install -e '.[test]' installs it)")
def test_throughput_on_jax_times_an_averaging_recipe_without_its_average():
    # GoogLeNet's --ema: Keras's JAX trainer failed in the second fit ("Attempt to donate
    # the same buffer twice", then a TypeError traceback).
    result, lines = run("throughput.py", "--backend=jax", "--recipe=googlenet",
                        "--batch_size=1", "--steps=1", "--windows=2", "--warmup_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert lines[0]["ema"] is lines[-1]["ema"] is False and lines[-1]["images_per_second"] > 0


def test_bench_flag_mistakes_end_like_train_pys():
    # absl's two lines and exit 1; --help exited 1; the fit error named an input_shape flag.
    result, _ = run("throughput.py", "--precision=fp16")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "throughput.py: error: flag --precision=fp16: value should be one of "
        "<float32|mixed_float16|mixed_bfloat16>")
    assert run("throughput.py", "--help")[0].returncode == 0
    result, _ = run("throughput.py", "recipe=vgg16")  # its '--' lost: not timed as resnet50
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == (
        "throughput.py: error: unexpected arguments 'recipe=vgg16'; every option is a --flag "
        "(see --help).")
    result, _ = run("throughput.py", "--recipe=lenet5_modern", "--image_size=4", "--steps=1")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("< 1; pass a larger --image_size.")


def test_input_pipeline_refuses_an_unknown_recipe_in_one_sentence():
    result, _ = run("input_pipeline.py", "--recipe=lenet6")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "input_pipeline.py: error: Unknown recipe 'lenet6'")


def test_input_pipeline_reports_the_end_to_end_slowdown_of_interleaved_windows():
    result, lines = run("input_pipeline.py", "--batch_size=32", "--steps=2", "--windows=2",
                        "--pipeline_batches=5")
    assert result.returncode == 0, result.stderr[-3000:]
    header, pipeline, *windows, last = lines
    assert header["dataset"] == "digits" and header["steps"] == 2 and "command" in header
    assert pipeline["measurement"] == "pipeline_alone" and pipeline["images"] == 5 * 32
    assert [window["first"] for window in windows] == ["pipeline", "in_memory"]  # alternating
    for window in windows:
        assert all(window[f"{side}_{kind}"] > 0 for side in ("pipeline", "in_memory")
                   for kind in ("seconds", "cpu_seconds"))
    for key in ("slowdown", "cpu_time_slowdown", "fastest_slowdown", "pipeline_images_per_second",
                "training_images_per_second", "end_to_end_images_per_second",
                "throughput_ratio"):
        assert isinstance(last[key], float) and last[key] > 0, key
    assert last["slowdown"] == pytest.approx(statistics.median(
        window["pipeline_seconds"] / window["in_memory_seconds"] for window in windows), rel=1e-2)
    assert last["cpu_time_slowdown"] == pytest.approx(statistics.median(
        window["pipeline_cpu_seconds"] / window["in_memory_cpu_seconds"] for window in windows),
        rel=1e-2)
    assert last["fastest_slowdown"] == pytest.approx(
        min(window["pipeline_seconds"] for window in windows)
        / min(window["in_memory_seconds"] for window in windows), rel=1e-2)
    assert last["slowdowns"] == [window["slowdown"] for window in windows]
    assert last["input_bound_share"] == pytest.approx(1 - 1 / last["slowdown"], abs=1e-3)
    assert last["target"] == 1.1 and last["meets_target"] == (last["slowdown"] <= 1.1)
    assert last["throughput_ratio"] == pytest.approx(
        last["pipeline_images_per_second"] / last["training_images_per_second"], rel=1e-2)


def test_throughput_refuses_a_baseline_it_does_not_have():
    result, _ = run("throughput.py", "--recipe=lenet5_modern", "--baseline=keras")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no keras.applications model for recipe 'lenet5_modern'" in result.stderr
    # torchvision's side trains under bf16 autocast: the recipe's must be bf16 too.
    result, _ = run("throughput.py", "--recipe=resnet50", "--baseline=torchvision")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--baseline=torchvision trains under bf16 autocast, and --precision=float32 would time "
        "the recipe otherwise; pass --precision=mixed_bfloat16.")
    if importlib.util.find_spec("torch") is None:
        result, _ = run("throughput.py", "--recipe=resnet50", "--baseline=torchvision",
                        "--precision=mixed_bfloat16", "--batch_size=1", "--image_size=32")
        assert result.returncode == 2 and "needs PyTorch and torchvision" in result.stderr


def test_loop_overhead_reports_the_median_of_interleaved_rounds():
    result, lines = run("loop_overhead.py", "--batch_size=8", "--steps=3", "--rounds=3",
                        "--steps_per_execution=2")
    assert result.returncode == 0, result.stderr[-3000:]
    header, *rounds, last = lines
    assert header["steps_per_execution"] == 2 and len(rounds) == 3
    assert [entry["first"] for entry in rounds] == ["loop", "fit", "loop"]
    assert last["ratio"] == pytest.approx(
        statistics.median(entry["fit_seconds"] / entry["loop_seconds"] for entry in rounds),
        rel=1e-2)
    assert last["ratios"] == [entry["ratio"] for entry in rounds]
    assert last["fastest_ratio"] == pytest.approx(
        min(entry["fit_seconds"] for entry in rounds)
        / min(entry["loop_seconds"] for entry in rounds), rel=1e-2)


def test_time_to_accuracy_stops_at_the_target_and_scores_the_test_split_once():
    result, lines = run("time_to_accuracy.py", "--dataset=digits", "--epochs=3",
                        "--target=0.3")
    assert result.returncode == 0, result.stderr[-3000:]
    epochs, last = [line for line in lines if "epoch" in line], lines[-1]
    assert last["reached"] and last["epochs"] == len(epochs) < 3  # stopped at the target
    assert epochs[-1]["val_accuracy"] >= 0.3 > max([e["val_accuracy"] for e in epochs[:-1]] or [0])
    assert last["meets_target"] == (last["test_accuracy"] >= 0.3)
    assert last["seconds"] >= epochs[-1]["seconds"] > 0  # counted from the process start
    assert last["train_images"] == 1293


def test_time_to_accuracy_that_never_reaches_the_target_says_so():
    result, lines = run("time_to_accuracy.py", "--dataset=digits", "--epochs=1", "--target=1",
                        "--steps_per_execution=7")
    assert result.returncode == 0, result.stderr[-3000:]
    assert lines[-1]["epochs"] == 1 and lines[-1]["reached"] is False
    assert lines[-1]["steps_per_execution"] == 7
    # --epochs caps the run, not the schedule: one epoch of the recipe's cosine, whose
    # rate has barely moved (a one-epoch cosine ended at 1.7e-08).
    training = lines[0]["training"]
    assert training["epochs"] == recipes.get("lenet5_modern").training.epochs > 1
    assert lines[1]["learning_rate"] > 0.5 * training["learning_rate"]


def test_lenet5_reproduction_writes_its_curve_and_figure(tmp_path):
    result, lines = run("reproduce_lenet5.py", "--dataset=digits", "--epochs=2",
                        "--steps_per_execution=500", "--curvature_patterns=10",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    header, *curvatures, first, second, last = lines
    # Every weight tensor of C1 to F6 (the RBF's codes are fixed), next to mu.
    assert [row["curvature_at_initialization"]["weights"] for row in curvatures] == [
        f"{layer}/{weights}" for layer in ("c1", "s2", "c3", "s4", "c5", "f6")
        for weights in (("coefficient", "bias") if layer.startswith("s") else ("kernel", "bias"))]
    assert all(row["damping"] == 0.02 and row["curvature_at_initialization"]["gauss_newton"] > 0
               for row in curvatures)
    assert header["criterion"] == last["criterion"] == "cross_entropy"
    assert header["training"]["batch_size"] == 1 and header["training"]["optimizer"] == "sdlm"
    assert header["training"]["validation_fraction"] == 0  # every training image trains
    assert last["train_images"] == 1437 and last["paper_test_error"] == 0.95
    saved = json.loads((tmp_path / "lenet5_digits_2passes.json").read_text())
    assert [entry["pass"] for entry in saved["passes"]] == [1, 2]
    # After each pass, the paper's estimate at the weights then beside sdlm's running h_kk.
    for entry in saved["passes"]:
        assert [row["weights"] for row in entry["curvature"]] == [
            row["curvature_at_initialization"]["weights"] for row in curvatures]
        assert all(row["gauss_newton"] > 0 and row["optimizer"] > 0 for row in entry["curvature"])
    assert saved["passes"][0]["curvature"] != saved["passes"][1]["curvature"]
    assert saved["curvature_at_initialization"] == [row["curvature_at_initialization"]
                                                    for row in curvatures]
    assert saved["final_test_error"] == second["test_error"] == last["final_test_error"]
    assert first["learning_rate"] == pytest.approx(5e-4)  # the paper's first two passes
    assert (tmp_path / "lenet5_digits_2passes.png").stat().st_size > 10_000


def test_lenet5_reproduction_with_the_papers_map_criterion(tmp_path):
    result, lines = run("reproduce_lenet5.py", "--dataset=digits", "--epochs=1",
                        "--criterion=map", "--rubbish_penalty=5", "--curvature_patterns=0",
                        "--steps_per_execution=500", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    header, first, last = lines
    assert (last["criterion"], last["rubbish_penalty"]) == ("map", 5.0)
    assert first["test_error"] < 50  # it learns: chance is 90%
    assert "curvature" not in first  # --curvature_patterns=0: no comparison
    # A variant of the published runs goes into a file of its own, not README's figure.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "lenet5_map_patterns0_j5_digits_1passes.json",  # it trains on another order
        "lenet5_map_patterns0_j5_digits_1passes.png"]


def test_lenet5_reproduction_refuses_a_rubbish_penalty_that_is_not_a_number():
    # NaN trained on under XLA, every curvature NaN, and the JSON held bare NaN tokens.
    result, lines = run("reproduce_lenet5.py", "--criterion=map", "--rubbish_penalty=nan")
    assert result.returncode == 2 and not lines
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--rubbish_penalty=nan: must be a finite number (j of exp(-j), such as 10)")


def test_lenet5_reproduction_with_the_papers_gauss_newton_curvature(tmp_path):
    result, lines = run("reproduce_lenet5.py", "--dataset=digits", "--epochs=1",
                        "--curvature=gauss_newton", "--curvature_patterns=50",
                        "--curvature_every=1000", "--steps_per_execution=500",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    last = lines[-1]
    assert lines[0]["curvature"] == last["curvature"] == "gauss_newton"
    # Its settings in the name: README's gauss_newton runs overwrote each other.
    stem = "lenet5_gauss_newton_every1000_patterns50_digits_1passes"
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{stem}.json", f"{stem}.png"]
    saved = json.loads((tmp_path / f"{stem}.json").read_text())
    assert (saved["curvature"], saved["curvature_every"]) == ("gauss_newton", 1000)


def test_lenet5_reproduction_with_the_per_connection_squared_gradient(tmp_path):
    result, lines = run("reproduce_lenet5.py", "--dataset=digits", "--epochs=1",
                        "--criterion=map", "--curvature=connection_squared_gradient",
                        "--curvature_patterns=20", "--steps_per_execution=500",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    first, last = lines[-2:]
    assert lines[0]["curvature"] == last["curvature"] == "connection_squared_gradient"
    assert first["test_error"] < 50  # it learns: chance is 90%
    # The h_kk it holds after the pass is recorded beside the paper's estimate.
    assert all(row["optimizer"] > 0 for row in first["curvature"])
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "lenet5_map_connection_squared_gradient_digits_1passes.json",
        "lenet5_map_connection_squared_gradient_digits_1passes.png"]


def test_the_gauss_newton_curvature_needs_patterns_to_estimate_it(tmp_path):
    result, _ = run("reproduce_lenet5.py", "--dataset=digits", "--curvature=gauss_newton",
                    "--curvature_patterns=0", f"--output_dir={tmp_path}")
    assert result.returncode == 2
    assert "give it a positive number" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_re_estimating_the_curvature_needs_the_gauss_newton_curvature(tmp_path):
    result, _ = run("reproduce_lenet5.py", "--dataset=digits", "--curvature_every=100",
                    f"--output_dir={tmp_path}")
    assert result.returncode == 2
    assert "add --curvature=gauss_newton" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_reproduction_refuses_a_data_dir_without_the_dataset_or_a_misspelt_name(tmp_path):
    # One script: they all ask bench.common.prepared_or_skip before any work. A --data_dir
    # given without the dataset, or --dataset=mnsit, was a skip that exited 0; only the
    # default shared folder, where a machine lacks it, is a skip.
    result, _ = run("reproduce_degradation.py", f"--data_dir={tmp_path}",
                    f"--output_dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'cifar10' is not prepared in" in result.stderr and not list(tmp_path.iterdir())
    result, _ = run("time_to_accuracy.py", "--dataset=mnsit")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].startswith(
        "time_to_accuracy.py: error: Unknown dataset 'mnsit' (did you mean 'mnist'?)")


@pytest.mark.slow
def test_degradation_reproduction_records_every_networks_curve(tmp_path):
    result, lines = run("reproduce_degradation.py", "--dataset=synthetic", "--depths=20,32",
                        "--steps=4", "--chunk_steps=2", "--batch_size=4",
                        "--learning_rate=0.01", "--figure_name=small", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    last = lines[-1]
    assert set(last["final_training_error"]) == {"plain20", "plain32", "resnet20", "resnet32"}
    assert last["learning_rate"] == 0.01 and lines[0]["training"]["learning_rate"] == 0.01
    saved = json.loads((tmp_path / "small.json").read_text())
    for curve in saved["curves"].values():
        assert curve["iterations"] == [2, 4]
        assert all(0 <= error <= 100 for error in curve["training_error"])
    assert last["plain_deeper_is_worse"] == (
        last["final_training_error"]["plain32"] > last["final_training_error"]["plain20"])
    assert (tmp_path / "small.png").stat().st_size > 10_000


def test_initialization_figure_has_the_lectures_four_settings(tmp_path):
    result, lines = run("reproduce_initialization.py", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "initialization.json").read_text())
    settings = {(entry["init"], entry["activation"]): entry["std"]
                for entry in saved["settings"]}
    assert list(settings) == [("normal_0.01", "tanh"), ("normal_1", "tanh"),
                              ("xavier", "tanh"), ("he", "relu")]
    # The lecture's readings: collapse to zero, saturation, spread kept for tanh and ReLU.
    assert settings["normal_0.01", "tanh"][-1] < 1e-5
    assert min(settings["normal_1", "tanh"]) > 0.95
    assert 0.1 < settings["xavier", "tanh"][-1] < settings["xavier", "tanh"][0] < 0.7
    assert all(0.6 < std < 1.2 for std in settings["he", "relu"])
    assert (tmp_path / "initialization.png").stat().st_size > 10_000


def test_initialization_from_another_seed_keeps_readmes_figure(tmp_path):
    result, lines = run("reproduce_initialization.py", "--seed=1", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "initialization_seed1.json", "initialization_seed1.png"]


def test_initialization_refuses_an_output_dir_that_is_a_file_before_any_work(tmp_path):
    # It drew the four settings, then os.makedirs ended in a FileExistsError traceback.
    taken = tmp_path / "taken"
    taken.write_text("")
    result, lines = run("reproduce_initialization.py", f"--output_dir={taken}")
    assert result.returncode == 2 and not lines
    assert result.stderr.strip().splitlines()[-1] == (
        f"reproduce_initialization.py: error: --output_dir={str(taken)!r} is a file; pass a "
        "folder.")


@pytest.mark.parametrize("script", ["reproduce_degradation.py", "reproduce_lenet5.py"])
def test_a_reproduction_refuses_an_output_dir_that_is_a_file_before_any_work(tmp_path, script):
    # They trained in full, then os.makedirs ended in a FileExistsError traceback.
    taken = tmp_path / "taken"
    taken.write_text("")
    result, lines = run(script, "--dataset=digits", f"--output_dir={taken}")
    assert result.returncode == 2 and not lines
    assert result.stderr.strip().splitlines()[-1] == (
        f"{script}: error: --output_dir={str(taken)!r} is a file; pass a folder.")


def test_a_leading_tilde_in_the_path_flags_is_the_home_folder(tmp_path):
    # The shell leaves the ~ of --output_dir=~/figures alone: the scripts made a folder
    # named ~ in the current one, and looked for the datasets of --data_dir=~/tfds there.
    result, lines = run("reproduce_initialization.py", "--output_dir=~/figures",
                        env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert lines[-1]["json"] == str(tmp_path / "figures" / "initialization.json")
    assert (tmp_path / "figures" / "initialization.png").is_file()
    assert not (ROOT / "~").exists()
    result, _ = run("reproduce_degradation.py", "--data_dir=~/tfds", f"--output_dir={tmp_path}",
                    env={"HOME": str(tmp_path)})
    assert result.returncode == 2  # read where ~ points, which holds no CIFAR-10
    assert f"'cifar10' is not prepared in '{tmp_path / 'tfds'}'" in result.stderr


def test_figures_refuses_an_out_folder_it_cannot_write_into_before_any_training(tmp_path):
    # It trained five runs and evaluated them, then out.mkdir ended in a FileExistsError
    # traceback.
    taken = tmp_path / "taken"
    taken.write_text("")
    result, lines = run("figures.py", "--dataset=digits", f"--out={taken}",
                        f"--work={tmp_path / 'work'}")
    assert result.returncode == 2 and not lines and not (tmp_path / "work").exists()
    assert result.stderr.strip().splitlines()[-1] == (
        f"figures.py: error: --out={str(taken)!r} is a file; pass a folder.")


def test_throughput_refuses_an_image_size_its_keras_baseline_cannot_take():
    # keras.applications' models take 32x32 and up: it was a ValueError traceback.
    result, lines = run("throughput.py", "--recipe=resnet50", "--baseline=keras",
                        "--image_size=31", "--batch_size=1", "--steps=1", "--windows=1",
                        "--warmup_steps=1")
    assert result.returncode == 2 and not lines and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "throughput.py: error: --baseline=keras: keras.applications.ResNet50 cannot be built for "
        "the input (31, 31, 3): Input size must be at least 32x32; Received: "
        "input_shape=(31, 31, 3)")


def test_throughput_refuses_a_peak_of_zero_tflops():
    # --peak_tflops=0 passed its lower bound, then left out the mfu it asks for.
    result, lines = run("throughput.py", "--recipe=lenet5_modern", "--peak_tflops=0",
                        "--steps=1", "--windows=1", "--warmup_steps=1")
    assert result.returncode != 0 and not lines
    assert ("flag --peak_tflops=0.0: must be a positive number of TFLOP/s (the device's peak)"
            in result.stderr)


@pytest.mark.parametrize("depths, message", [
    ("20,abc", "--depths takes the CIFAR networks' depths 6n + 2 (20, 32, 44, 56, 110); "
               "received 'abc'."),
    ("18,20", "--depths takes the CIFAR networks' depths 6n + 2 (20, 32, 44, 56, 110); "
              "received '18'."),
    ("20,20", "--depths compares two depths or more, such as 20,56; received '20,20'."),
])
def test_degradation_refuses_depths_it_cannot_compare(tmp_path, depths, message):
    # 'abc' was a ValueError traceback; 18 picked the ImageNet plain18 and resnet18; one
    # depth compared a network with itself.
    result, lines = run("reproduce_degradation.py", f"--depths={depths}", "--dataset=digits",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 2 and not lines and not list(tmp_path.iterdir())
    assert result.stderr.strip().splitlines()[-1] == \
        f"reproduce_degradation.py: error: {message}"


def test_the_rubbish_penalty_needs_the_map_criterion(tmp_path):
    # It was ignored: the cross-entropy run trained as without it, into the same lenet5.json.
    result, lines = run("reproduce_lenet5.py", "--dataset=digits", "--rubbish_penalty=5",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 2 and not lines and not list(tmp_path.iterdir())
    assert result.stderr.strip().splitlines()[-1] == (
        "reproduce_lenet5.py: error: --rubbish_penalty is j of the MAP criterion's rubbish class, "
        "not used by --criterion=cross_entropy: add --criterion=map, or drop --rubbish_penalty.")


def test_a_variants_file_name_holds_each_setting_and_a_path_hashed(monkeypatch):
    # Two folders (a:b, a/b) gave one name; a long path a name open() refuses.
    from absl import flags

    from bench import common

    values = flags.FlagValues()
    flags.DEFINE_string("dataset", "cifar10", "", flag_values=values)
    flags.DEFINE_list("depths", ["20", "56"], "", flag_values=values)
    flags.DEFINE_float("learning_rate", 0.01, "", flag_values=values)
    values(["bench"])
    monkeypatch.setattr(flags, "FLAGS", values)
    names = ("dataset", "depths", "learning_rate")
    assert common.variant_stem("degradation", names) == "degradation"
    values.depths, values.learning_rate = ["20", "32"], 1e12
    assert common.variant_stem("degradation", names) == (
        "degradation_depths20-32_learning_rate1e+12")
    stems = set()
    for dataset in ("folder:/data/a:b", "folder:/data/a/b", "folder:/" + "x" * 300):
        values.dataset = dataset
        stems.add(common.variant_stem("degradation", ("dataset",)))
    assert len(stems) == 3 and max(map(len, stems)) < 60


def test_a_record_is_strict_json_at_every_depth(capsys):
    # Only a top-level NaN was made null: Infinity and NaN in lists were printed as such.
    from bench.common import emit

    emit({"a": float("inf"), "b": [1.5, float("nan")], "c": {"d": float("-inf")}, "e": "x"})
    assert json.loads(capsys.readouterr().out, parse_constant=pytest.fail) == {
        "a": None, "b": [1.5, None], "c": {"d": None}, "e": "x"}


def test_a_degradation_whose_loss_diverges_keeps_every_curve_and_ends_in_one_sentence(tmp_path):
    # Diverged (a RunFailure) went out as a traceback, then as a sentence with no curve
    # kept of the networks before.
    result, lines = run("reproduce_degradation.py", "--dataset=digits", "--depths=20,32",
                        "--steps=3", "--chunk_steps=1", "--learning_rate=1e12",
                        f"--output_dir={tmp_path}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    # A variant's settings name its files: it overwrote README's figure.
    stem = "degradation_datasetdigits_depths20-32_steps3_chunk_steps1_learning_rate1e+12"
    assert re.fullmatch(
        r"reproduce_degradation\.py: error: plain20, plain32, resnet20, resnet32 diverged \(the "
        r"first: The training loss became \S+ at epoch 1, step \d\); their curves end there "
        rf"in .*{re.escape(stem)}\.png and .*{re.escape(stem)}\.json; lower --learning_rate "
        r"and run again\.", result.stderr.strip().splitlines()[-1])
    saved = json.loads((tmp_path / f"{stem}.json").read_text())
    assert set(saved["final_training_error"].values()) == {None}
    assert saved["plain_deeper_is_worse"] is None and saved["curves"]["plain20"]["diverged"]
    assert (tmp_path / f"{stem}.png").stat().st_size > 10_000

