"""train.py end to end: the exported classifier of a run, --mode=export, --mode=predict,
and what a run's artifacts may hold."""

import ast
import base64
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
TFLITE_TOLERANCE = 1e-5  # README: TFLite's kernels against Keras's, probabilities


def run_train(*flags, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *flags], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0]).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """LeNet-5 on the embedded digits, 2 epochs, exported as a SavedModel and TFLite."""
    model_dir = tmp_path_factory.mktemp("serving") / "lenet"
    result = run_train("--epochs=2", "--deterministic", "--export_format=saved_model,tflite",
                       f"--model_dir={model_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, json.loads((model_dir / "report.json").read_text())


@pytest.fixture(scope="module")
def test_split(run):
    """The run's test split: raw uint8 images, the pipeline's network inputs, labels,
    and the trained Keras model's probabilities on those inputs."""
    from engine import rundir
    from engine.data import DataSpec, prepare

    saved = rundir.load_run(str(run[0]))
    preprocessing = saved.preprocessing()
    data = prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True),
                   preprocessing.input_shape, preprocessing=preprocessing)
    batches = list(data.pipelines.test.as_numpy_iterator())
    features = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    raw = np.stack([image for image, _ in data.source.test.as_numpy_iterator()])
    probabilities = saved.load_model().predict(features, verbose=0)
    return raw, features, labels, probabilities, data


def test_the_export_is_version_1_of_the_runs_model_base_path(run):
    model_dir, report = run
    assert report["export_dir"] == str(model_dir / "export" / "1")
    assert sorted(path.name for path in (model_dir / "export").iterdir()) == ["1"]
    version = model_dir / "export" / "1"
    for name in ("saved_model.pb", "variables", "assets/labels.txt", "model.tflite"):
        assert (version / name).exists(), name


def test_served_probabilities_and_accuracy_are_the_runs(run, test_split):
    # This process did not write the export (train.py did): it has only the SavedModel.
    _, report = run
    raw, _, labels, probabilities, _ = test_split
    saved = tf.saved_model.load(report["export_dir"])
    served = saved.signatures["serving_default"](images=tf.constant(raw))
    np.testing.assert_allclose(served["probabilities"], probabilities, atol=1e-5)
    assert np.mean(served["class_ids"].numpy() == labels) == report["test_accuracy"]
    assert [name.decode() for name in served["class_names"].numpy()] == [
        str(class_id) for class_id in served["class_ids"].numpy()]
    from_bytes = saved.signatures["serve_bytes"](
        image_bytes=tf.constant([png(image) for image in raw]))
    np.testing.assert_allclose(from_bytes["probabilities"], probabilities, atol=1e-5)
    np.testing.assert_array_equal(from_bytes["class_ids"], served["class_ids"])


def test_tflite_runs_builtin_ops_on_uint8_images_and_matches_keras(run, test_split):
    from engine.serving import tflite

    _, report = run
    raw, _, labels, probabilities, data = test_split
    path = str(pathlib.Path(report["export_dir"]) / "model.tflite")
    assert b"Flex" not in pathlib.Path(path).read_bytes()  # no SELECT_TF_OPS
    runner = tflite.interpreter(path)
    (images,) = runner.get_input_details()
    assert images["dtype"] == np.uint8 and list(images["shape_signature"]) == [-1, 32, 32, 1]
    views = data.augmentation.store(tf.constant(raw)).numpy()  # the caller's H x W images
    outputs = tflite.classify(path, views)
    np.testing.assert_allclose(outputs["probabilities"], probabilities, atol=TFLITE_TOLERANCE)
    assert np.mean(outputs["class_ids"] == labels) == report["test_accuracy"]


def test_export_mode_adds_a_version_from_the_runs_files(run, test_split, tmp_path, train_here):
    model_dir, report = run
    first = model_dir / "export" / "1"
    before = {path: path.read_bytes() for path in first.rglob("*") if path.is_file()}
    result = train_here("--mode=export", f"--model_dir={model_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    second = model_dir / "export" / "2"
    assert f"exported to {second}" in result.stdout
    assert {path: path.read_bytes() for path in first.rglob("*") if path.is_file()} == before
    assert not (second / "model.tflite").exists()  # --export_format's default
    raw = tf.constant(test_split[0][:32])
    outputs = [tf.saved_model.load(str(version)).signatures["serving_default"](images=raw)
               for version in (first, second)]
    np.testing.assert_allclose(outputs[1]["probabilities"], outputs[0]["probabilities"],
                               atol=1e-6)
    assert json.loads((model_dir / "report.json").read_text()) == report


@pytest.fixture
def images(test_split, tmp_path):
    """Three digits as PNG files and one as BMP in a sub-folder, plus a text file."""
    raw = test_split[0]
    folder = tmp_path / "images"
    (folder / "more").mkdir(parents=True)
    for index in range(3):
        (folder / f"digit{index}.png").write_bytes(png(raw[index]))
    Image.fromarray(raw[3][..., 0]).save(folder / "more" / "digit3.bmp")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_predict_classifies_files_folders_and_globs_with_the_saved_model_alone(
        run, test_split, images, tmp_path, train_here):
    _, report = run
    export_only = tmp_path / "export"  # no run.json, no model.keras, no recipe
    shutil.copytree(report["export_dir"], export_only / "3")
    result = train_here("--mode=predict", f"--export_dir={export_only}", str(images / "more"),
                        str(images / "digit*.png"), str(images / "notes.txt"),
                        str(images / "missing.png"), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    files = [images / "more" / "digit3.bmp"] + [images / f"digit{i}.png" for i in range(3)]
    assert [line.split(": ")[0] for line in lines] == [str(path) for path in files]
    expected = test_split[3][[3, 0, 1, 2]]
    for line, probabilities in zip(lines, expected):
        top = [entry.rsplit(" ", 1) for entry in line.split(": ", 1)[1].split(", ")]
        assert len(top) == 5
        assert [name for name, _ in top] == [str(i) for i in np.argsort(-probabilities)[:5]]
        np.testing.assert_allclose([float(p) for _, p in top],
                                   np.sort(probabilities)[::-1][:5], atol=1e-4)
    errors = result.stderr.strip().splitlines()
    assert f"{images / 'notes.txt'}: error: not a decodable image (JPEG, PNG, GIF or BMP)" \
        in errors
    assert f"{images / 'missing.png'}: error: no such file" in errors
    assert errors[-1] == "train.py: failed: 2 of 6 files could not be classified."
    assert "Traceback" not in result.stderr


def test_a_glob_matching_only_folders_without_images_is_a_failure(run, tmp_path, train_here):
    model_dir, _ = run
    for name in ("empty", "notes"):
        (tmp_path / "scans" / name).mkdir(parents=True)
    (tmp_path / "scans" / "notes" / "notes.txt").write_text("not an image")
    pattern = str(tmp_path / "scans" / "*")
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}", pattern,
                        cwd=tmp_path)
    assert result.returncode == 1 and not result.stdout
    assert result.stderr.strip().splitlines() == [
        f"{pattern}: error: matches only folders that hold no images (.jpg, .jpeg, .jpe, "
        ".jfif, .png, .gif, .bmp)", "", "train.py: failed: 1 of 1 files could not be classified."]


def test_a_recursive_glob_names_each_file_once_and_each_failure_in_its_line_alone(
        run, test_split, tmp_path, train_here):
    # "**" matches the folders on the way too, and each was expanded again: a file printed
    # up to three times, counted as many in the failures; a truncated JPEG's line came
    # after libjpeg's own ("Premature end of JPEG data"); a newline in a name split a line;
    # a 24 KB PNG of 200 million pixels was decoded (predict's memory grew by gigabytes).
    model_dir, _ = run
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(png(test_split[0][0]))
    (folder / "sub" / "b.png").write_bytes(png(test_split[0][1]))
    (folder / "two\nlines.png").write_bytes(png(test_split[0][2]))
    (folder / "notes.txt").write_text("not an image")
    photo = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), np.uint8)).save(
        photo, "JPEG")
    (folder / "cut.jpg").write_bytes(photo.getvalue()[:len(photo.getvalue()) // 2])
    Image.new("1", (20_000, 10_000)).save(folder / "bomb.png")
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}",
                        str(folder / "**"), cwd=tmp_path)
    assert result.returncode == 1
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [
        str(folder / "a.png"), str(folder / "sub" / "b.png"), f"{folder}/two\\x0alines.png"]
    assert result.stderr.strip().splitlines() == [
        f"{folder / 'bomb.png'}: error: an image of 200,000,000 pixels, more than the "
        "178,956,970 decoded at most; scale it down first",
        f"{folder / 'cut.jpg'}: error: not a decodable image (JPEG, PNG, GIF or BMP)",
        f"{folder / 'notes.txt'}: error: not a decodable image (JPEG, PNG, GIF or BMP)", "",
        "train.py: failed: 3 of 6 files could not be classified."]


def test_a_recursive_glob_enters_each_real_folder_once(tmp_path, monkeypatch):
    # Python's "**" follows folder links without a check: a link back up the tree named
    # one image 41 times, then "too many levels of symbolic links"; with a second link
    # beside it, the expansion grew without end (3.5 GB in a minute).
    from engine.modes.predict import expand, glob_paths

    (tmp_path / "g" / "x" / "y").mkdir(parents=True)
    for path in ("g/x/1.png", "g/x/y/2.png", "g/.hidden.png"):
        (tmp_path / path).write_bytes(b"")
    os.symlink("../..", tmp_path / "g" / "x" / "y" / "loop")
    os.symlink("x", tmp_path / "g" / "xl")
    monkeypatch.chdir(tmp_path)
    assert expand(["g/**"]) == [("g/x/1.png", None), ("g/x/y/2.png", None)]
    assert expand(["g/**/*.png"]) == [("g/x/1.png", None), ("g/x/y/2.png", None)]
    assert glob_paths("g/*/*.png") == ["g/x/1.png", "g/xl/1.png"]  # no "**": glob's own
    assert glob_paths("g/**/.*.png") == ["g/.hidden.png"]
    monkeypatch.chdir(tmp_path / "g")  # "**" from here: no empty path of the folder itself
    assert glob_paths("**")[:2] == ["x", "x/1.png"] and "" not in glob_paths("**/")


def test_a_bmp_of_a_depth_or_compression_tensorflow_does_not_decode_is_named_as_one(rle8_bmp,
                                                                                  os2_bmp):
    # A 1-bit BMP was "not a decodable image (JPEG, PNG, GIF or BMP)", though a BMP.
    from engine.modes.predict import undecodable

    one_bit = io.BytesIO()
    Image.new("1", (8, 8)).save(one_bit, "BMP")
    assert undecodable(one_bit.getvalue()) == (
        "a 1-bit BMP, which TensorFlow's decoder does not read (it reads 8, 24 and 32 bits); "
        "save it as PNG")
    assert undecodable(b"BM" + bytes(60)) == "not a decodable image (JPEG, PNG, GIF or BMP)"
    assert undecodable(rle8_bmp) == ("a compressed (RLE, JPEG or PNG) BMP, whose pixels "
                                     "TensorFlow's decoder misreads; save it as PNG")
    assert undecodable(os2_bmp) == ("an OS/2 BMP (a 12-byte header), which TensorFlow's decoder "
                                    "does not read; save it as PNG")
    assert undecodable(b"GIF89a broken") == "not a decodable image (JPEG, PNG, GIF or BMP)"


def test_predict_json_prints_one_object_per_file(run, images, tmp_path, train_here,
                                                 monkeypatch):
    model_dir, _ = run
    monkeypatch.setenv("HOME", str(model_dir))  # --export_dir=~/... as the other modes take it
    result = train_here("--mode=predict", "--export_dir=~/export",
                        "--output=json", "--top_k=3", str(images / "digit0.png"),
                        str(images / "notes.txt"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    first, second = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert first["file"] == str(images / "digit0.png") and len(first["predictions"]) == 3
    probabilities = [entry["probability"] for entry in first["predictions"]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    assert set(first["predictions"][0]) == {"class_id", "class_name", "probability"}
    assert second == {"file": str(images / "notes.txt"),
                      "error": "not a decodable image (JPEG, PNG, GIF or BMP)"}


def test_predict_prints_file_names_that_are_not_utf8_as_a_terminal_takes_them(
        run, test_split, tmp_path, train_here):
    # A Latin-1 file name reaches Python surrogate-escaped; a UTF-8 terminal's strict
    # encoder (LANG=en_US.UTF-8) refused the line: a UnicodeEncodeError traceback.
    model_dir, _ = run
    folder = tmp_path / "scans"
    folder.mkdir()
    with open(bytes(folder) + b"/caf\xe9.png", "wb") as file:
        file.write(png(test_split[0][0]))
    (folder / "caf\xe9 2.png").write_bytes(b"not an image")  # a UTF-8 name, as it is
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}", str(folder),
                        cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{folder}/caf\\xe9.png: ")
    line.encode("utf-8")  # strict
    assert f"{folder}/caf\xe9 2.png: error: not a decodable image" in result.stderr
    # As JSON: UTF-8 throughout (a lone surrogate escape is no Unicode text), the name's
    # bytes kept in base64.
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}",
                        "--output=json", str(folder), cwd=tmp_path)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    (latin1,), (utf8,) = ([line for line in lines if ("file_bytes" in line) == bytes_kept]
                          for bytes_kept in (True, False))
    assert latin1["file"] == f"{folder}/caf\\xe9.png" and "predictions" in latin1
    assert base64.b64decode(latin1["file_bytes"]) == bytes(folder) + b"/caf\xe9.png"
    assert utf8 == {"file": f"{folder}/caf\xe9 2.png",
                    "error": "not a decodable image (JPEG, PNG, GIF or BMP)"}
    result.stdout.encode("utf-8")  # strict


def test_predict_skips_a_folders_hidden_files_as_the_folder_source_does(
        run, test_split, tmp_path, train_here):
    # A folder copied from a Mac holds ._<name> metadata files: each was an error line
    # and the command failed, though a glob's * and the folder: source skip them.
    model_dir, _ = run
    folder = tmp_path / "scans"
    (folder / ".thumbnails").mkdir(parents=True)
    (folder / "digit.png").write_bytes(png(test_split[0][0]))
    (folder / "._digit.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / ".thumbnails" / "digit.png").write_bytes(png(test_split[0][1]))
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}", str(folder),
                        str(folder / "*.png"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [
        str(folder / "digit.png")] * 2


def test_predict_follows_linked_folders_once(tmp_path):
    # os.walk does not follow links: a linked folder of photos was silently left out.
    from engine.modes.predict import folder_images

    photos, scans = tmp_path / "photos", tmp_path / "scans"
    photos.mkdir()
    scans.mkdir()
    (photos / "a.png").write_bytes(b"")
    (scans / "b.jpg").write_bytes(b"")
    (scans / "holiday").symlink_to(photos, target_is_directory=True)
    (scans / "again").symlink_to(photos, target_is_directory=True)
    (scans / "up").symlink_to(tmp_path, target_is_directory=True)  # a loop
    assert folder_images(str(scans)) == [str(scans / "again" / "a.png"), str(scans / "b.jpg")]


def test_a_folder_gives_predict_its_jpegs_by_every_usual_name(tmp_path):
    # The folder: source tells JPEGs by their bytes; predict picks a folder's files by
    # name, and left out the .jfif files that browsers on Windows save.
    from engine.modes.predict import folder_images

    for name in ("a.JFIF", "b.jpe", "c.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert folder_images(str(tmp_path)) == [str(tmp_path / name)
                                            for name in ("a.JFIF", "b.jpe", "c.jpg")]


def test_a_dangling_link_in_a_folder_is_no_such_file_as_a_missing_argument(
        run, test_split, tmp_path, train_here):
    # It was "No such file or directory" (the OS's words), another error string in JSON.
    model_dir, _ = run
    folder = tmp_path / "scans"
    folder.mkdir()
    (folder / "digit.png").write_bytes(png(test_split[0][0]))
    (folder / "moved.png").symlink_to(tmp_path / "gone.png")
    result = train_here("--mode=predict", f"--export_dir={model_dir / 'export'}",
                        "--output=json", str(folder), str(tmp_path / "gone.png"), cwd=tmp_path)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [
        str(folder / "digit.png"), str(folder / "moved.png"), str(tmp_path / "gone.png")]
    assert lines[1]["error"] == lines[2]["error"] == "no such file"


def test_a_named_pipe_is_not_read_but_named_as_not_a_regular_file(tmp_path):
    # Opening a FIFO waited for a writer forever: predict hung on `pipe.png`.
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    code = f"from engine.modes.predict import read; print(read({str(pipe)!r}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.stdout.strip() == "not a regular file", result.stderr[-3000:]


def test_predict_stops_quietly_when_its_output_is_closed(run, images):
    # `predict ... | head -1`: the reader leaves; a traceback and "internal error" followed.
    model_dir, _ = run
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "--mode=predict",
         f"--export_dir={model_dir / 'export'}", str(images)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # before the first line is printed
    _, stderr = process.communicate(timeout=900)
    assert process.returncode == 141, stderr[-3000:]  # 128 + SIGPIPE, as a shell tool's
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr[-3000:]


def test_predict_imports_no_recipe_and_no_pipeline_code():
    code = ("import sys, engine.modes.predict; "
            "print('recipes' in sys.modules, 'engine.data' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.stdout.split() == ["False", "False"], result.stderr[-2000:]


@pytest.fixture
def command_line():
    """``command_line(*arguments)``: parses them as train.py's command line and returns what
    absl leaves (the program name and the positional arguments); the flags are reset after."""
    from absl import flags

    flags.FLAGS.unparse_flags()
    yield lambda *arguments: flags.FLAGS(["train.py", *arguments])
    flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("arguments, message", [
    (("--mode=predict", "--export_dir=unused"), "--mode=predict needs image files"),
    (("--mode=predict", "digit.png"), "--mode=predict needs --export_dir"),
    (("--mode=evaluate", "extra.png", "--model_dir={run}"),
     "unexpected arguments 'extra.png'; only --mode=predict"),
    (("--mode=export", "--model_dir={run}"), "No finished run in"),
])
def test_usage_errors_end_in_one_sentence_before_any_work(arguments, message, command_line,
                                                           tmp_path, capsys):
    import train

    # --mode=predict reads no --model_dir (and refuses one).
    argv = command_line(*(argument.format(run=tmp_path / "run") for argument in arguments))
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("train.py: error: ") and message in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argument", ["--export_format=saved_model,onnx",
                                      "--export_format=tflite", "--top_k=0", "--output=xml"])
def test_bad_flag_values_are_refused_when_parsed(argument, command_line):
    from absl import flags

    with pytest.raises(flags.IllegalFlagValueError, match=argument.split("=")[0]):
        command_line(argument)


def test_a_bad_export_format_ends_the_command_in_one_sentence(tmp_path):
    result = run_train("--export_format=saved_model,onnx", f"--model_dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (  # the list as given, not as Python's
        "train.py: error: --export_format=saved_model,onnx: give a comma-separated list of "
        "saved_model, tflite that includes saved_model (every version is a SavedModel).")
    assert not (tmp_path / "run").exists()


def test_training_refuses_an_unversioned_export_dir_before_training(command_line, tmp_path,
                                                                   capsys):
    import train

    old_export = tmp_path / "old_export"
    old_export.mkdir()
    (old_export / "saved_model.pb").write_bytes(b"")
    argv = command_line(f"--export_dir={old_export}", f"--model_dir={tmp_path / 'run'}")
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    assert "holds an unversioned SavedModel" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def keras_classes(config) -> set[str]:
    """Every ``class_name`` in a Keras config, nested ones included."""
    if isinstance(config, dict):
        own = {config["class_name"]} if isinstance(config.get("class_name"), str) else set()
        return own.union(*(keras_classes(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(keras_classes(value) for value in config))
    return set()


def test_the_runs_artifacts_hold_no_lambda_layer_and_no_code(run):
    model_dir, _ = run
    with zipfile.ZipFile(model_dir / "model.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
    classes = keras_classes(config)
    assert "Functional" in classes and "Conv2D" in classes
    assert not classes & {"Lambda", "__lambda__", "function"}
    for version in (model_dir / "export").iterdir():
        files = [path for path in version.rglob("*") if path.is_file()]
        assert not [path for path in files if path.suffix in (".pkl", ".pickle", ".py")]
        assert not (version / "keras_metadata.pb").exists()
        assert b"__lambda__" not in (version / "saved_model.pb").read_bytes()


def test_every_keras_load_in_the_project_is_safe():
    unsafe = []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".") or part in ("runs", "build") for part in path.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load_model" and node.args):
                safe = [keyword for keyword in node.keywords if keyword.arg == "safe_mode"
                        and isinstance(keyword.value, ast.Constant) and keyword.value.value]
                if not safe:
                    unsafe.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unsafe
