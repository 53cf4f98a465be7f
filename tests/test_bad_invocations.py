"""Every bad invocation of train.py ends in one sentence: through the real command line,
the exit code (2 for a mistake in the command, 1 for a run that failed), a last line that
names the flag or the file, no traceback, and nothing written.

The table runs train.py's parsing and ``main`` in this process (``train_here``); a few of
its cases, and the diverging run, also go through a new ``python train.py`` process, so
the exit codes and the output a user sees are checked where they are made."""

import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from engine import choices, cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_train(*arguments, env=None):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def places(tmp_path_factory, train_here):
    """Files and folders the bad invocations point at, and one finished run."""
    root = tmp_path_factory.mktemp("places")
    (root / "a_file").write_text("not a folder\n")
    (root / "empty").mkdir()
    one_class = root / "one_class" / "cat"
    one_class.mkdir(parents=True)
    undecodable = root / "undecodable"
    for name in ("cat", "dog"):
        (undecodable / name).mkdir(parents=True)
        (undecodable / name / "broken.png").write_bytes(b"not an image")
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(one_class / "red.png")
    for split in ("train", "validation", "test"):  # ships its own validation split
        for name, colour in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
            (root / "with_validation" / split / name).mkdir(parents=True)
            Image.new("RGB", (8, 8), colour).save(root / "with_validation" / split / name / "a.png")
    (root / "with_validation" / "train" / "cat" / "broken.png").write_bytes(b"not an image")
    finished = root / "finished"
    result = train_here("--epochs=1", f"--model_dir={finished}")
    assert result.returncode == 0, result.stderr[-3000:]
    damaged_model = root / "damaged_model"  # a finished run whose model.keras was cut short
    shutil.copytree(finished, damaged_model)
    (damaged_model / "model.keras").write_bytes((finished / "model.keras").read_bytes()[:20000])
    damaged_record = root / "damaged_record"  # one whose run.json is not JSON
    shutil.copytree(finished, damaged_record)
    (damaged_record / "run.json").write_text('{"recipe": "lenet5_modern", ')
    (root / "text.keras").write_text("not a model\n")
    save_damaged_runs(root, finished)
    interrupted = root / "interrupted"  # an interrupted run of another recipe
    (interrupted / "backup").mkdir(parents=True)
    (interrupted / "backup" / "training_metadata.json").write_text('{"epoch": 1, "batch": 0}')
    record = json.loads((finished / "run.json").read_text())
    (interrupted / "run.json").write_text(json.dumps({**record, "recipe": "mlp"}))
    return root


def save_damaged_runs(root: pathlib.Path, finished: pathlib.Path) -> None:
    """Copies of the ``finished`` run under ``root``, each with one file that is not the
    run's or is damaged in one way, named for it."""
    import zipfile

    import keras

    import recipes

    def copy(name):
        shutil.copytree(finished, root / name)
        return root / name

    record = json.loads((finished / "run.json").read_text())
    preprocessing = json.loads((finished / "preprocessing.json").read_text())
    recipes.build("lenet5_modern", classes=3, input_shape=(32, 32, 1)).save(
        copy("foreign_model") / "model.keras")  # another run's model: 3 classes for 10
    with zipfile.ZipFile(copy("configless_model") / "model.keras", "w") as archive:
        archive.writestr("weights.h5", b"")
    with zipfile.ZipFile(finished / "model.keras") as archive:
        config = archive.read("config.json")
    with zipfile.ZipFile(copy("cut_config_model") / "model.keras", "w") as archive:
        archive.writestr("config.json", config[:len(config) // 2])
        archive.writestr("model.weights.h5", b"")
    with zipfile.ZipFile(copy("weightless_model") / "model.keras", "w") as archive:
        archive.writestr("config.json", config)
    inputs = keras.Input((32, 32, 1))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(
        copy("lambda_model") / "model.keras")
    (copy("listed_record") / "run.json").write_text("[]")
    (copy("record_without_training") / "run.json").write_text(
        json.dumps({key: value for key, value in record.items() if key != "training"}))
    (copy("other_shape_preprocessing") / "preprocessing.json").write_text(
        json.dumps({**preprocessing, "input_shape": [16, 16, 3]}))
    for name in ("folder_run", "folder_run_twin"):  # runs on the with_validation folder
        (copy(name) / "run.json").write_text(json.dumps(
            {**record, "dataset": f"folder:{root / 'with_validation'}"}))


DAMAGED_RUNS = ("foreign_model", "configless_model", "cut_config_model", "weightless_model",
                "lambda_model", "listed_record",
                "record_without_training", "other_shape_preprocessing", "folder_run",
                "folder_run_twin")

# (arguments, exit code, what the last line must name); {place} is a path under `places`.
CASES = [
    # absl's parse errors in the user's words: a --noflag=value was a traceback.
    (["--nodeterministic=1"], 2, "--nodeterministic takes no value; write --deterministic or "
     "--nodeterministic alone (or --deterministic=true or --deterministic=false)."),
    (["--deterministic=maybe"], 2, "--deterministic=maybe is not true or false; write "
     "--deterministic or --nodeterministic."),
    (["--epochs=abc"], 2, "--epochs=abc is not an integer."),
    (["--mode=Train"], 2, "--mode=Train is none of train, evaluate, summary, activations, export, "
                          "predict, visualize, tune; did you mean --mode=train?"),
    (["--optimizer=adamm"], 2, "did you mean --optimizer=adam?"),
    (["--learning_rate=fast"], 2, "--learning_rate=fast is not a number."),
    (["--flagfile={missing}"], 2, "missing cannot be read (No such file or directory); pass "
     "the path of a file of flags, one a line."),
    # A file named -x.png given to predict read as an unknown flag, with no way out.
    (["--mode=predict", "-x.png"], 2, "Unknown flag --x.png: no flag has a '.' or '/' in its "
     "name; pass a file whose name starts with '-' after '--', or as ./ and its name."),
    (["--mode=predict", "-epochs.png"], 2, "Unknown flag --epochs.png: no flag has a '.'"),
    (["--epoch=3"], 2, "Unknown flag --epoch; did you mean --epochs? (python train.py "
     "--helpfull lists every flag)"),
    (["--recipe=lenet6"], 2, "Unknown recipe 'lenet6'"),
    # tf.pad's REFLECT failed in the first epoch, an internal error.
    (["--recipe=resnet20", "--dataset=synthetic", "--image_size=4", "--augment=cifar_reflect"],
     2, "--augment=cifar_reflect pads 4 pixels on each side with reflections of the image, "
     "which needs an image larger than that, got 4x4; use a larger --image_size, or "
     "--augment=cifar, which pads with zeros."),
    (["--recipe=resnet5"], 2, "Did you mean"),
    (["--learning_rate=nan"], 2, "--learning_rate=nan"),
    (["--learning_rate=inf"], 2, "--learning_rate=inf"),
    (["--weight_decay=-inf"], 2, "--weight_decay"),
    (["--epochs=0"], 2, "--epochs=0"),
    (["--batch_size=-4"], 2, "--batch_size"),
    (["--image_size=0"], 2, "--image_size"),
    (["--dropout=1.5"], 2, "--dropout"),
    (["--label_smoothing=1"], 2, "--label_smoothing"),
    (["--finetune_multiplier=-1"], 2, "--finetune_multiplier"),
    (["--optimizer=lbfgs"], 2, "--optimizer=lbfgs"),
    (["--augment=mixup"], 2, "--augment=mixup"),
    (["--tta=12crop"], 2, "--tta=12crop"),
    (["--precision=fp8"], 2, "--precision=fp8"),
    (["--deterministic", "--jit_compile"], 2, "--deterministic cannot go with --jit_compile"),
    (["--clipnorm=1", "--distribute=mirrored"], 2, "--clipnorm cannot go with "
     "--distribute=mirrored: Keras clips each replica's share of the gradient"),
    # Two replicas failed with a traceback, two workers with a C-level abort.
    (["--jit_compile", "--distribute=multi_worker"], 2, "--jit_compile cannot go with "
     "--distribute=multi_worker: XLA compiles no update of variables mirrored across devices"),
    (["--jit_compile", "--distribute=mirrored"], 2, "--jit_compile cannot go with "
     "--distribute=mirrored"),
    (["--steps_per_execution=0"], 2, "--steps_per_execution=0"),
    (["--steps_per_execution=4", "--distribute=multi_worker"], 2, "--steps_per_execution "
     "cannot go above 1 with --distribute=multi_worker"),
    (["--mode=evaluate", "--steps_per_execution=4"], 2, "--steps_per_execution applies to "
     "--mode=train or --mode=tune, not --mode=evaluate."),
    (["--mode=tune", "--deterministic", "--jit_compile"], 2,
     "--deterministic cannot go with --jit_compile"),
    (["--mode=dance"], 2, "--mode=dance"),
    (["--seed=-1"], 2, "--seed=-1"),
    (["--validation_fraction=1"], 2, "--validation_fraction=1"),
    (["--schedule=exponential"], 2, "needs decay_every > 0 epochs (--decay_every)"),
    (["--schedule=step"], 2, "The step schedule needs decay_epochs"),
    (["--decay_epochs=60,30"], 2, "--decay_epochs=60,30: must be positive epochs in ascending "
     "order"),
    (["--decay_factor=0", "--schedule=plateau"], 2, "--decay_factor=0.0: must be in (0, 1]"),
    (["--decay_factor=1", "--schedule=plateau"], 2, "The plateau schedule's drops multiply "
     "the rate by decay_factor (--decay_factor), which must be below 1, got 1"),
    (["--decay_every=0", "--schedule=exponential"], 2, "--decay_every=0.0: must be positive"),
    (["--optimizer=momentum", "--momentum=1.5"], 2, "momentum must be in [0, 1), got 1.5"),
    (["--learning_rate=0"], 2, "--learning_rate=0.0: must be positive (a rate of zero trains "
     "nothing)"),
    (["--clipnorm=0"], 2, "--clipnorm=0.0: must be positive (leave it out not to clip)"),
    (["--warmup_epochs=2.5", "--epochs=2"], 2, "--warmup_epochs=2.5 lasts longer than the run "
     "(--epochs=2)"),
    (["--recipe=resnet20", "--epochs=1", "--dropout=0.3"], 2,
     "resnet20 has none (dropout=0.3 would be ignored)"),
    (["--weight_decay_scope=all"], 2, "--weight_decay_scope says what weight decay applies "
     "to, and this run has none (--weight_decay=0); leave it out or set --weight_decay."),
    (["--momentum=0.5"], 2, "--momentum applies to the momentum, nesterov, rmsprop optimizers, "
     "not --optimizer=adam"),
    # Keras's SGD took it and trained plain SGD, recorded as Nesterov's.
    (["--recipe=mlp", "--optimizer=nesterov"], 2, "--optimizer=nesterov at momentum 0 is plain "
     "SGD; pass a --momentum above 0 (0.9 is usual), or --optimizer=sgd."),
    (["--decay_every=3"], 2, "--decay_every applies to the exponential schedule, not "
     "--schedule=cosine; leave it out or choose that --schedule"),
    (["--schedule=step", "--decay_epochs=2", "--decay_every=3"], 2,
     "--decay_every applies to the exponential schedule, not --schedule=step"),
    (["--decay_factor=0.5"], 2, "--decay_factor applies to the step, plateau, exponential "
     "schedules, not --schedule=cosine"),
    (["--schedule=constant", "--decay_epochs=2"], 2, "--decay_epochs applies to the step "
     "schedule, not --schedule=constant"),
    (["--schedule=step", "--decay_epochs=2,5"], 2, "--decay_epochs=2,5 drops the rate after 5 "
     "epochs, but the run stops after --epochs=5; raise --epochs or leave that drop out."),
    (["--schedule=exponential", "--decay_every=5"], 2, "--decay_every=5 drops the rate every 5 "
     "epochs, but the run stops after --epochs=5, before the first drop"),
    (["--mode=tune", "--schedule=step", "--decay_epochs=9"], 2,
     "--decay_epochs=9 drops the rate after 9 epochs, but the run stops after --epochs=5"),
    (["--validation_fraction=0.001"], 2, "holds out 2 of the 1,437 digits, fewer than one per "
     "class; pass 0 or at least 0.007"),
    (["--mode=tune", "--tuner=grid"], 2, "--tuner=grid"),
    (["--mode=tune", "--max_trials=0"], 2, "--max_trials=0"),
    (["--tuner=hyperband"], 2, "--tuner applies to --mode=tune, not --mode=train"),
    (["--mode=summary", "--top_k=3"], 2, "--top_k applies to --mode=predict"),
    (["--init=he"], 2, "--init applies to --mode=activations"),
    (["--mode=summary", "--epochs=3"], 2,
     "--epochs applies to --mode=train or --mode=tune, not --mode=summary"),
    (["--mode=export", "--precision=mixed_float16"], 2,
     "--precision applies to --mode=train or --mode=tune, not --mode=export"),
    (["--mode=predict", "--image_size=64", "digit.png"], 2,
     "--image_size applies to --mode=train, --mode=summary or --mode=tune, not --mode=predict"),
    (["--mode=summary", "--recipe=alexnet", "--image_size=30"], 2,
     "Layer 'pool2' does not fit its input"),
    (["--mode=activations", "--model_dir={a_file}"], 2, "--model_dir"),
    (["--mode=visualize", "--model_dir={finished}", "--image={empty}"], 2,
     "is not a readable image file"),
    (["--mode=activations", "--init=bogus"], 2, "--init=bogus"),
    (["--no_such_flag=1"], 2, "no_such_flag"),
    (["stray_argument"], 2, "stray_argument"),
    (["--dataset=no_such_dataset"], 2, "Unknown dataset 'no_such_dataset'"),
    (["--dataset={empty}"], 2, "; an image folder is --dataset=folder:/"),
    (["--dataset="], 2, "Unknown dataset '': use 'digits'"),
    (["--dataset=mnist:9.9.9", "--data_dir={empty}"], 2, "TFDS cannot open dataset "
     "'mnist:9.9.9': Dataset mnist cannot be loaded at version 9.9.9, only: 3.0.1; name a "
     "config and version it has"),
    (["--dataset=mnist/foo", "--data_dir={empty}"], 2, "TFDS cannot open dataset 'mnist/foo': "
     "BuilderConfig foo not found with version 3.0.1; name a config"),
    (["--dataset=mnist/foo=1", "--data_dir={empty}"], 2, "TFDS cannot open dataset "  # TypeError
     "'mnist/foo=1': DatasetBuilder.__init__() got an unexpected keyword argument 'foo'; name a "
     "config"),
    (["--dataset=synthetic", "--validation_fraction=0.00001"], 2,  # trained without validation
     "--validation_fraction=1e-05 holds out no image of the 10,000 training images; pass 0 for "
     "no validation split, or at least 0.0001."),
    (["--data_dir={empty}"], 2, "--data_dir tells where a TFDS dataset is prepared, and "
     "--dataset=digits is not one (it is embedded in scikit-learn); leave --data_dir out."),
    (["--dataset=synthetic", "--manual_dir={empty}"], 2, "--manual_dir holds the archives a "
     "TFDS dataset is prepared from, and --dataset=synthetic is not one (its images are "
     "random)"),
    (["--mode=tune", "--dataset=folder:{one_class_root}", "--data_dir={empty}"], 2,
     "(its images are in the folder its name gives); leave --data_dir out."),
    (["--dataset=mnist", "--data_dir={empty}"], 2, "is not prepared"),
    (["--dataset=mnist", "--data_dir={empty}", "--manual_dir={missing}"], 2, "--manual_dir"),
    (["--dataset=mnist", "--data_dir={a_file}"], 2, "--data_dir"),
    (["--dataset=folder:{missing}"], 2, "is not a directory"),
    (["--dataset=folder:{empty}"], 2, "holds no class folders"),
    (["--dataset=folder:{one_class_root}"], 2, "one class"),
    (["--dataset=folder:{undecodable}"], 2, "holds no decodable images"),
    (["--dataset=folder:{with_validation}", "--validation_fraction=0.2"], 2,
     "--validation_fraction=0.2 does not apply: folder:"),
    (["--mode=tune", "--dataset=folder:{with_validation}", "--validation_fraction=0.2"], 2,
     "ships its own validation split, which the run validates on; leave the flag out."),
    (["--mode=tune", "--recipe=lenet5", "--dataset=folder:{with_validation}",
      "--validation_fraction=0"], 2, "--validation_fraction=0 leaves none; leave the flag out"),
    (["--model_dir={a_file}"], 2, "--model_dir"),
    (["--model_dir={a_file}/run"], 2, "--model_dir"),
    (["--model_dir="], 2, "--model_dir is empty"),
    (["--mode=export", "--model_dir={finished}", "--export_dir="], 2, "--export_dir is empty"),
    (["--mode=evaluate", "--model_dir="], 2, "--model_dir is empty"),
    (["--mode=predict", "--export_dir=", "digit.png"], 2, "--export_dir is empty"),
    (["--export_dir={a_file}"], 2, "--export_dir"),
    (["--mode=tune", "--export_dir={a_file}"], 2, "--export_dir"),
    (["--model_dir=/proc/no_such_run"], 2, "cannot be written"),
    (["--model_dir={finished}"], 2, "holds a finished run; pass --overwrite"),
    (["--model_dir={finished}", "--overwrite", "--dataset=mnist", "--data_dir={empty}"], 2,
     "is not prepared"),  # the finished run is kept: the snapshot below checks it
    (["--mode=tune", "--model_dir={finished}", "--overwrite", "--dataset=mnist",
      "--data_dir={empty}"], 2, "is not prepared"),
    (["--model_dir={finished}", "--overwrite", "--image_size=1"], 2, "does not fit its input"),
    (["--model_dir={interrupted}"], 2, "interrupted run with another recipe"),
    (["--recipe=lenet5", "--image_size=1"], 2, "does not fit its input"),
    (["--normalization=gcn_zca", "--tta=dense"], 2, "--tta=dense cannot evaluate with gcn_zca"),
    (["--recipe=alphago_policy"], 2, "48-channel input"),
    (["--init_from={missing}"], 2, "--init_from"),
    (["--init_from={text_keras}"], 2, "is damaged (not a .keras archive); pass --init_from a "
     "model that a finished run saved."),
    (["--init_from={configless_model}"], 2, "model.keras is damaged (no model configuration in "
     "its config.json); pass --init_from a model that a finished run saved."),
    (["--init_from={damaged_record}"], 2, "run.json is damaged (Expecting property name "),
    (["--init_from={damaged_record}"], 2, "; pass --init_from a model that a finished run saved."),
    (["--mode=evaluate", "--model_dir={damaged_model}"], 2, "model.keras is damaged"),
    (["--mode=export", "--model_dir={damaged_record}"], 2, "run.json is damaged"),
    (["--mode=evaluate", "--model_dir={foreign_model}"], 2, "model.keras is not the model of "
     "the run in"),
    (["--mode=export", "--model_dir={foreign_model}"], 2, "it maps 32x32x1 images to 3 classes, "
     "where the run's run.json records 32x32x1 images and 10 classes"),
    (["--mode=export", "--model_dir={configless_model}"], 2,
     "model.keras is damaged (no model configuration in its config.json)"),
    (["--mode=evaluate", "--model_dir={cut_config_model}"], 2,
     "model.keras is damaged (JSONDecodeError: "),
    (["--mode=visualize", "--model_dir={weightless_model}"], 2,
     "model.keras is damaged (no weights)"),
    (["--mode=visualize", "--model_dir={lambda_model}"], 2,
     "that loading with safe_mode=True refuses to run"),
    (["--mode=export", "--model_dir={folder_run}", "--export_dir={with_validation}/export"], 2,
     "/with_validation/export lies inside the image folder"),
    (["--mode=evaluate", "--ensemble={folder_run},{folder_run_twin}",
      "--model_dir={with_validation}/train/cat"], 2, "/with_validation/train/cat lies inside "
     "the image folder"),
    (["--mode=export", "--model_dir={listed_record}"], 2,
     "run.json is damaged (it holds [], not a JSON object)"),
    (["--mode=evaluate", "--model_dir={record_without_training}"], 2,
     "run.json is damaged (it lacks 'training')"),
    (["--mode=export", "--model_dir={other_shape_preprocessing}"], 2,
     "preprocessing.json is damaged (its input shape 16x16x3 is not the run's 32x32x1)"),
    (["--recipe=mlp", "--init_from={finished}"], 2, "holds a lenet5_modern network, and "
     "transfer copies the layers of the same recipe; pass --recipe=lenet5_modern"),
    (["--transfer=feature_extractor"], 2, "--transfer applies to a run that starts from "
     "--init_from"),
    (["--finetune_multiplier=0.5"], 2, "--finetune_multiplier applies to a run that starts "
     "from --init_from"),
    (["--init_from={finished}", "--transfer=feature_extractor", "--finetune_multiplier=0.5"],
     2, "--finetune_multiplier applies to --transfer=finetune, not "
     "--transfer=feature_extractor"),
    (["--mode=evaluate", "--model_dir={empty}"], 2, "No finished run"),
    (["--distribute=multi_worker"], 2, "TF_CONFIG"),
    (["--distribute=multi_worker", "TF_CONFIG=[not, json"], 2, "TF_CONFIG"),
    # Another worker than the chief waited for it in the cluster, deaf to Ctrl-C and SIGTERM,
    # where the chief refused the command.
    (["--distribute=multi_worker", "--model_dir={finished}",
      'TF_CONFIG={{"cluster": {{"worker": ["localhost:1", "localhost:2"]}}, '
      '"task": {{"type": "worker", "index": 1}}}}'], 2,
     "holds a finished run; pass --overwrite to replace it"),
]


IN_A_NEW_PROCESS = [case for case in CASES if case[0][0] in (
    "--nodeterministic=1", "--recipe=resnet5", "--learning_rate=nan", "stray_argument", "--model_dir={a_file}")]


@pytest.mark.parametrize("arguments, code, named", CASES,
                         ids=[" ".join(case[0]) for case in CASES])
def test_a_bad_invocation_ends_in_one_sentence(places, tmp_path, train_here, arguments, code,
                                               named):
    check_bad_invocation(places, tmp_path, arguments, code, named, train_here)


@pytest.mark.slow
@pytest.mark.parametrize("arguments, code, named", IN_A_NEW_PROCESS,
                         ids=[" ".join(case[0]) for case in IN_A_NEW_PROCESS])
def test_a_bad_invocation_ends_the_same_in_a_new_process(places, tmp_path, arguments, code,
                                                         named):
    check_bad_invocation(places, tmp_path, arguments, code, named, run_train)


def check_bad_invocation(places, tmp_path, arguments, code, named, run):
    where = {"a_file": places / "a_file", "empty": places / "empty",
             "missing": places / "missing", "one_class_root": places / "one_class",
             "undecodable": places / "undecodable", "finished": places / "finished",
             "with_validation": places / "with_validation",
             "interrupted": places / "interrupted", "damaged_model": places / "damaged_model",
             "damaged_record": places / "damaged_record", "text_keras": places / "text.keras",
             **{name: places / name for name in DAMAGED_RUNS}}
    env = {}
    flags = []
    for argument in arguments:
        argument = argument.format(**where)
        if argument.startswith("TF_CONFIG="):
            env["TF_CONFIG"] = argument.split("=", 1)[1]
        else:
            flags.append(argument)
    mode = next((flag.split("=", 1)[1] for flag in flags if flag.startswith("--mode=")),
                "train")
    if not any(flag.startswith("--model_dir") for flag in flags) and (
            mode not in choices.MODES or cli.reads(mode, "model_dir")):
        flags.append(f"--model_dir={tmp_path / 'run'}")
    before = snapshot(places)
    result = run(*flags, env=env)
    assert result.returncode == code, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines and named in lines[-1], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
    assert snapshot(places) == before  # nothing written, nothing removed


def snapshot(root: pathlib.Path) -> dict:
    return {str(path): path.stat().st_mtime_ns for path in root.rglob("*")}


@pytest.mark.slow
def test_a_diverging_run_fails_naming_the_epoch_and_exports_nothing(tmp_path):
    result = run_train("--learning_rate=1e6", "--epochs=3", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "at epoch 1, step" in last and "lower --learning_rate" in last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "report.json").exists()
    assert not (tmp_path / "run" / "export").exists()
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.parametrize("mode", ["train", "tune"])
def test_an_architecture_that_does_not_fit_is_named_before_a_folder_is_read(
        places, tmp_path, train_here, mode):
    # The folder's files are all decoded when it is opened (its undecodable ones are
    # skipped, with a warning): the recipe's fit comes first.
    result = train_here(f"--mode={mode}", "--recipe=lenet5", "--image_size=1",
                        f"--dataset=folder:{places / 'undecodable'}",
                        f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "Layer 'c1' does not fit its input" in result.stderr.strip().splitlines()[-1]
    # In the command line's words: there is no --input_shape.
    assert result.stderr.strip().endswith("< 1; pass a larger --image_size, or leave it out "
                                          "for the recipe's input size.")
    assert "Skipped" not in result.stderr and "holds no decodable images" not in result.stderr


@pytest.mark.parametrize("mode", ["train", "tune"])
def test_a_refused_run_is_not_warned_of_its_schedule_first(tmp_path, train_here, mode, caplog):
    # "resnet20's step schedule drops the rate after 90.91 and 136.4 epochs, past
    # --epochs=1" came before the refusal, which was then not the one sentence.
    with caplog.at_level(logging.WARNING):
        result = train_here(f"--mode={mode}", "--recipe=resnet20", "--epochs=1",
                            "--dataset=synthetic", "--image_size=1",
                            f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "--augment=cifar pads 4 pixels" in result.stderr
    assert "schedule drops the rate" not in caplog.text


def test_a_run_is_warned_of_its_schedule_as_it_begins(tmp_path, train_here, caplog):
    with caplog.at_level(logging.WARNING):
        result = train_here("--recipe=lenet5", "--epochs=1", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert "lenet5's step schedule drops the rate after 2 and 5 and 8 and 12 epochs, past " \
           "--epochs=1: this run does not reach those drops." in caplog.text


@pytest.mark.parametrize("mode, told", [
    ("train", "after this run's 79 steps"),
    ("tune", "after a trial's 79 steps (moving averages of momentum 0.99): the "
             "trials' validation accuracy, which ranks them"),
])
def test_a_run_too_short_for_its_batch_statistics_is_warned_as_it_begins(tmp_path, train_here,
                                                                          caplog, mode, told):
    with caplog.at_level(logging.WARNING):
        result = train_here(f"--mode={mode}", "--recipe=resnet20", "--epochs=1",
                            "--dataset=synthetic", "--augment=none", "--image_size=8",
                            *(["--max_trials=1"] if mode == "tune" else []),
                            f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert "resnet20's batch normalizations keep 45.2% of their starting statistics" \
        in caplog.text and told in caplog.text and "train for 459 steps or more (--epochs=6)" \
        in caplog.text


def test_an_unprepared_dataset_is_one_sentence_without_tfds_warning_first(places, tmp_path,
                                                                          train_here):
    # TFDS warned "Variant folder .../3.0.1 has no dataset_info.json" (of a folder that
    # did not exist) before the refusal that names the remedy.
    result = train_here("--dataset=mnist", f"--data_dir={places / 'empty'}",
                        f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "is not prepared" in result.stderr
    assert "dataset_info.json" not in result.stderr and len(
        result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_validation_fraction_a_folder_ignores_is_refused_before_its_images_are_read(
        places, tmp_path, train_here):
    # The refusal came after every image was decoded (the skipped file's warning first).
    result = train_here(f"--dataset=folder:{places / 'with_validation'}",
                        "--validation_fraction=0.2", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "does not apply" in result.stderr
    assert "Skipped" not in result.stderr, result.stderr


@pytest.mark.parametrize("mode, extra, remedy", [
    ("summary", [], "a smaller --image_size needs less"),
    ("evaluate", [], "a smaller --batch_size needs less"),
    # Dense evaluation's whole images at Q (--test_scale=100000 at batch 1 was told to
    # lower --batch_size).
    ("evaluate", ["--tta=dense"], "a smaller --batch_size or --test_scale needs less"),
    ("export", [], "free memory or run it on a machine with more")])
def test_running_out_of_memory_is_one_sentence_naming_the_allocation(
        places, monkeypatch, train_here, mode, extra, remedy):
    # --mode=summary --image_size=100000 ended in a traceback and "internal error". Raised
    # here, not made: whether a huge allocation fails or the process is killed depends on
    # the machine's overcommit setting.
    import tensorflow as tf

    import recipes
    from engine import rundir

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, (
            "{{function_node __wrapped__StatelessRandomUniformV2}} OOM when allocating tensor "
            "with shape[2991605880,84] and type float on /job:localhost/device:CPU:0"))

    monkeypatch.setattr(recipes, "build", exhausted)
    monkeypatch.setattr(rundir, "read_model", exhausted)
    result = train_here(f"--mode={mode}", *([f"--model_dir={places / 'finished'}"]
                                            if mode != "summary" else []), *extra)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "train.py: failed: out of memory (OOM when allocating tensor with "
        f"shape[2991605880,84] and type float); {remedy}.")


def test_a_run_folder_inside_the_image_folder_is_refused(places, tmp_path, train_here):
    # --dataset=folder:. put the default runs/<recipe>-<name> among the class folders: a
    # class 'runs' of no images stopped evaluate and any resume.
    result = train_here("--dataset=folder:.", cwd=places / "with_validation")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"train.py: error: --model_dir={places / 'with_validation' / 'runs'}"
        f"/lenet5_modern-with_validation lies inside the image folder "
        f"{places / 'with_validation'}, whose folders are read as classes and splits; pass a "
        "--model_dir outside it (the default runs/... is made in the current folder).")
    assert not (places / "with_validation" / "runs").exists()


def test_a_folders_name_without_folder_prefix_is_pointed_to_it(places, train_here, tmp_path):
    result = train_here("--dataset=with_validation", f"--model_dir={tmp_path / 'run'}",
                        cwd=places)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1].endswith(
        "; an image folder is --dataset=folder:with_validation.")


def test_a_summary_that_does_not_fit_prints_nothing_before_its_sentence(train_here):
    # The recipe's description and citation were printed, then the error.
    result = train_here("--mode=summary", "--recipe=alexnet", "--image_size=30")
    assert result.returncode == 2 and result.stdout == ""
    assert "Layer 'pool2' does not fit its input" in result.stderr
