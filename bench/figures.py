"""README's pictures of what a trained network computes, and the numbers next to them.

    python bench/figures.py                    # MNIST from ../shared/tfds, else the digits
    python bench/figures.py --dataset=digits

Runs ``train.py`` as a user would, into ``--work`` (a temporary folder by default):
three one-epoch LeNet-5 runs (``lenet5_modern``, seeds 1-3) and a one-epoch dropout
MLP (``mlp``), then ``--mode=visualize --patch=16`` on the first LeNet, ``--mode=evaluate`` on it
(plain, and ``--tta=dense`` at Q = 32 and 40), ``--mc_dropout=20`` on the MLP and
``--ensemble`` of the three LeNets. It copies one figure of each kind into
``bench/figures/`` as 256-colour PNGs (tens of KB) and prints one JSON object per
command, the last with every number README quotes.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

from absl import flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.common import FIGURES, SHARED_TFDS, run  # noqa: E402
from engine.rundir import check_writable  # noqa: E402

COLOURS = 256

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, "mnist (default where ../shared/tfds holds it) or digits.")
flags.DEFINE_string("data_dir", str(SHARED_TFDS), "TFDS data dir for mnist.")
flags.DEFINE_string("work", None, "Folder for the runs; default: a temporary one.")
flags.DEFINE_string("out", str(FIGURES), "Where the README's figures go.")

# (run directory, name in bench/figures) of the figures README shows, one of each kind.
SHOWN = (("lenet", "filters_c1.png"), ("lenet", "feature_maps_s2.png"),
         ("lenet", "occlusion.png"), ("lenet", "top_images_s4.png"),
         ("lenet", "reliability.png"), ("mlp", "reliability_mc_dropout.png"))


def train_py(*arguments) -> str:
    """Runs ``python train.py arguments``; returns its standard output."""
    command = [sys.executable, str(ROOT / "train.py"), *arguments]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def compress(source: pathlib.Path, target: pathlib.Path) -> int:
    """Writes ``source`` as a ``COLOURS``-colour PNG at ``target``; returns its bytes."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=COLOURS).save(target, optimize=True)
    return target.stat().st_size


def main(argv):
    del argv
    check_writable("out", FLAGS.out)  # before any training
    if FLAGS.work:
        check_writable("work", FLAGS.work)
    # The embedded digits stand in for MNIST only where the default shared folder is missing:
    # a --data_dir given is read (and refused in one sentence where it lacks MNIST).
    dataset = FLAGS.dataset or ("mnist" if FLAGS["data_dir"].present
                                or (pathlib.Path(FLAGS.data_dir) / "mnist").is_dir()
                                else "digits")
    data = [f"--dataset={dataset}"] + ([f"--data_dir={FLAGS.data_dir}"]
                                       if dataset != "digits" else [])
    work = pathlib.Path(FLAGS.work or tempfile.mkdtemp(prefix="figures-"))
    run = {name: str(work / name) for name in ("lenet", "lenet2", "lenet3", "mlp", "ensemble")}
    common = [*data, "--epochs=1", "--deterministic", "--overwrite"]
    for name, seed in (("lenet", 1), ("lenet2", 2), ("lenet3", 3)):
        train_py(*common, "--recipe=lenet5_modern", f"--seed={seed}", f"--model_dir={run[name]}")
    train_py(*common, "--recipe=mlp", "--seed=1", f"--model_dir={run['mlp']}")
    # A square of half the image: one epoch's LeNet still knows most digits with a quarter hidden.
    train_py("--mode=visualize", f"--model_dir={run['lenet']}", "--patch=16")

    def evaluation(name, *arguments):
        train_py("--mode=evaluate", f"--model_dir={run[name]}", *arguments)
        return json.loads((pathlib.Path(run[name]) / "evaluation.json").read_text())

    numbers = {"dataset": dataset}
    for label, arguments in (("dense_q40", ["--tta=dense", "--test_scale=40"]),
                             ("dense_q32", ["--tta=dense"]), ("plain", [])):
        result = evaluation("lenet", *arguments)
        numbers[f"lenet_{label}"] = {key: result.get(key) for key in (
            "test_accuracy", "test_accuracy_interval", "test_loss", "tta", "test_scale",
            "tta_accuracy", "tta_loss")}
        numbers["lenet_ece"] = result["calibration"]["expected_calibration_error"]
        print(json.dumps({"evaluation": f"lenet {label}", **numbers[f"lenet_{label}"]}))
    mc = evaluation("mlp", "--mc_dropout=20")
    numbers["mlp"] = {
        "test_accuracy": mc["test_accuracy"],
        "ece": mc["calibration"]["expected_calibration_error"],
        "entropy_right_wrong": [mc["calibration"]["mean_entropy_correct"],
                                mc["calibration"]["mean_entropy_wrong"]],
        "mc_dropout_accuracy": mc["mc_dropout"]["test_accuracy"],
        "mc_dropout_ece": mc["mc_dropout"]["calibration"]["expected_calibration_error"],
        "mc_dropout_entropy_right_wrong": [
            mc["mc_dropout"]["calibration"]["mean_entropy_correct"],
            mc["mc_dropout"]["calibration"]["mean_entropy_wrong"]]}
    print(json.dumps({"evaluation": "mlp --mc_dropout=20", **numbers["mlp"]}))
    train_py("--mode=evaluate", f"--ensemble={run['lenet']},{run['lenet2']},{run['lenet3']}",
             f"--model_dir={run['ensemble']}")
    ensemble = json.loads((pathlib.Path(run["ensemble"]) / "ensemble.json").read_text())
    numbers["ensemble"] = {"members": [member["test_accuracy"] for member in ensemble["members"]],
                           "test_accuracy": ensemble["test_accuracy"],
                           "test_loss": ensemble["test_loss"],
                           "member_losses": [member["test_loss"]
                                             for member in ensemble["members"]]}
    print(json.dumps({"evaluation": "ensemble of 3 LeNets", **numbers["ensemble"]}))
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    numbers["figures"] = {name: compress(pathlib.Path(run[source]) / name, out / name)
                          for source, name in SHOWN}
    numbers["work"] = str(work)
    print(json.dumps(numbers))


if __name__ == "__main__":
    run(main)
