"""A run directory: the names of its files, strict JSON written atomically, and the
saved run that later modes (evaluate, export, visualize) read back.

A training run writes ``run.json`` when it starts (its resolved configuration,
:func:`engine.spec.run_record`), ``preprocessing.json`` (the statistics fitted on
the training split), then ``model.keras`` and ``report.json`` when it ends.
:func:`load_run` reads the first three; ``report.json`` is output only.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import tempfile
import zipfile

from engine import command
from layers.checks import is_int
from layers.errors import RunFailure, UsageError

RUN_FILE = "run.json"
REPORT_FILE = "report.json"
MODEL_FILE = "model.keras"
PREPROCESSING_FILE = "preprocessing.json"
EVALUATION_FILE = "evaluation.json"
CURVES_FILE = "curves.png"
# run.json's key for the layers a transfer run started from --init_from's weights
PRETRAINED_LAYERS = "pretrained_layers"
BACKUP_DIR = "backup"  # Keras BackupAndRestore's state: an interrupted run resumes from it
METADATA_FILE = "training_metadata.json"  # Keras's name: the epochs the backup holds
EXPORT_DIR = "export"  # the default model base path of the run's exports (TF Serving layout)
PUBLISHED_FILE = "published.json"  # between the export and the report: the version written
# --mode=evaluate's results and reliability diagrams and --mode=visualize's figures.
RELIABILITY_FILE = "reliability.png"
MC_DROPOUT_RELIABILITY_FILE = "reliability_mc_dropout.png"
ENSEMBLE_FILE = "ensemble.json"  # an --ensemble's, in its --model_dir
ENSEMBLE_RELIABILITY_FILE = "reliability_ensemble.png"
OCCLUSION_FILE = "occlusion.png"
LAYER_FIGURES = ("filters_{layer}.png", "feature_maps_{layer}.png", "top_images_{layer}.png")


FILE_MODE = 0o644  # what open() would give a new file under the usual umask
DIRECTORY_MODE = 0o755  # and os.makedirs a new folder: a server running as another user reads it


def write_json(path: str, data) -> None:
    """Writes ``data`` to ``path`` as strict JSON (non-finite numbers as ``null``) through
    a temporary file renamed into place, so readers never see half of it."""
    write_text(path, json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


@contextlib.contextmanager
def staging(path: str, target: str):
    """Yields ``path``, a file about to be written and renamed to ``target``, and removes
    what was written of it if the writing fails (a full disk: the space is given back
    and no stray file is left); an error that names no file (a failed close) is given
    ``target``'s name."""
    try:
        yield path
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(path)
        if isinstance(error, OSError) and error.filename is None:
            error.filename = target
        raise


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file renamed into place: a
    reader (or a process killed while writing) sees the old file or the new one,
    never part of one."""
    directory = os.path.dirname(os.path.abspath(path))
    file = tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False)
    with staging(file.name, path):
        with file:
            file.write(text)
        os.chmod(file.name, FILE_MODE)  # a temporary file is private to its owner
        os.replace(file.name, path)


def strict(data):
    """``data`` with every non-finite float (NaN, infinities) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict(value) for value in data]
    return data


# What to do about a damaged file of a run: the project wrote it.
RESTORE = "restore it, or rerun the command that wrote it with --overwrite"
# ... and about a damaged --init_from, which may come from anywhere.
PASS_A_RUNS_MODEL = "pass --init_from a model that a finished run saved"


def damaged(path: str, problem, remedy: str = RESTORE) -> UsageError:
    """The usage error for a file that cannot be read as written: ``problem`` says how,
    ``remedy`` what to do."""
    return UsageError(f"{path} is damaged ({problem}); {remedy}.")


def read_json(path: str, remedy: str = RESTORE) -> dict:
    """The JSON object in the file at ``path``; one that does not parse, or holds another
    JSON value than an object, is a usage error naming it (``remedy`` ends it)."""
    try:
        with open(path) as file:
            data = json.load(file)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise damaged(path, error, remedy) from None
    if not isinstance(data, dict):
        raise damaged(path, f"it holds {json.dumps(data)[:40]}, not a JSON object", remedy)
    return data


def read_model(path: str, remedy: str = RESTORE):
    """The Keras model saved at ``path`` (``safe_mode=True``), uncompiled; a file that is
    not a whole ``.keras`` archive (not a zip file, as a truncated one is not; a zip
    without the model's configuration; truncated weights) is a usage error naming it,
    and so is a model holding code that ``safe_mode`` refuses to run (a ``Lambda``
    layer): a run's own ``model.keras`` holds none. ``remedy`` ends the sentence for a
    damaged file."""
    import keras

    import engine.losses  # noqa: F401  (registers the loss a run may have compiled with)

    with open(path, "rb"):  # one that may not be read is not damaged: say so (PermissionError)
        pass
    if not zipfile.is_zipfile(path):
        raise damaged(path, "not a .keras archive", remedy)
    check_keras_archive(path, remedy)
    from recipes.registry import deep_graph

    try:
        with deep_graph():  # ResNet-1202's 4,209 layers
            return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (KeyError, OSError, zipfile.BadZipFile) as error:
        raise damaged(path, f"{type(error).__name__}: {str(error).splitlines()[0]}",
                      remedy) from None
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise UsageError(f"{path} holds code (a Lambda layer or another function saved by "
                         "value) that loading with safe_mode=True refuses to run; a model "
                         f"trained by {command.program()} holds none: pass one that it "
                         "saved.") from None


def archived_model_name(path: str) -> str | None:
    """The name of the model in the ``.keras`` archive at ``path`` (None where its
    configuration does not say)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return None
    inner = config.get("config") if isinstance(config, dict) else None
    return inner.get("name") if isinstance(inner, dict) else None


def check_keras_archive(path: str, remedy: str = RESTORE) -> None:
    """Raises :class:`UsageError` naming ``path``, a zip file, unless it holds what a
    ``.keras`` archive does: a ``config.json`` that is a model's configuration (a JSON
    object naming its class) and the weights; ``remedy`` ends the sentence."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            config = json.loads(archive.read("config.json")) if "config.json" in names else None
    except (zipfile.BadZipFile, OSError, ValueError) as error:  # a member cut short
        raise damaged(path, f"{type(error).__name__}: {error}", remedy) from None
    if not (isinstance(config, dict) and "class_name" in config):
        raise damaged(path, "no model configuration in its config.json", remedy)
    if not any(name.startswith("model.weights.") for name in names):
        raise damaged(path, "no weights", remedy)


def pretrained_model_file(init_from: str) -> str:
    """``--init_from``'s model: a run directory's ``model.keras`` or a ``.keras`` file,
    which must be a ``.keras`` archive."""
    model_file = os.path.join(init_from, MODEL_FILE) if os.path.isdir(init_from) else init_from
    if not (os.path.isfile(model_file) and model_file.endswith(".keras")):
        unfinished = os.path.isdir(init_from) and os.path.isfile(os.path.join(init_from,
                                                                               RUN_FILE))
        raise UsageError(f"--init_from={init_from!r} is neither a run directory holding "
                         "model.keras nor a .keras file" + (
                             ": its run has not finished; run its command again (its "
                             "--model_dir) to finish it, then start from it." if unfinished
                             else "."))
    if not zipfile.is_zipfile(model_file):
        raise damaged(model_file, "not a .keras archive", PASS_A_RUNS_MODEL)
    return model_file


@dataclasses.dataclass(frozen=True)
class SavedRun:
    """A finished training run: its directory and ``run.json`` record."""

    directory: str
    record: dict
    # ``folder:PATH`` where an image folder run's images are read from after they moved
    # (``--dataset`` given to a mode that reads them); None: the recorded folder.
    moved_images: str | None = None

    @property
    def dataset(self) -> str:
        """The dataset the run's images are read from: where they moved, else the recorded one."""
        return self.moved_images or self.record["dataset"]

    @property
    def model_path(self) -> str:
        return os.path.join(self.directory, MODEL_FILE)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.record["class_names"])

    def preprocessing(self):
        """The run's :class:`engine.data.Preprocessing`; one for another input shape than
        the run's is a usage error naming its file."""
        from engine.data import Preprocessing

        return Preprocessing.load(os.path.join(self.directory, PREPROCESSING_FILE),
                                  self.record["input_shape"])

    def prepare(self, data_dir: str | None = None, batch_size: int | None = None, **options):
        """The run's data (:class:`engine.data.Prepared`) with the preprocessing it trained
        with: its dataset (``data_dir`` overrides where it is; a ``~`` is expanded, as
        training expands it), its augmentation preset's
        views, its splits (its validation fraction), its batch size unless ``batch_size``;
        ``options`` are further
        :class:`engine.data.DataSpec` fields (``tta``, ``test_scale``, ``deterministic``)."""
        from engine.data import DataSpec, open_source, prepare
        from engine.spec import absolute, training_config

        training = training_config(self.record)
        preprocessing = self.preprocessing()
        self.check_images_present()
        spec = DataSpec(dataset=self.dataset,
                        data_dir=absolute(data_dir) or self.record["data_dir"],
                        batch_size=batch_size or training.batch_size,
                        augmentation=training.augmentation,
                        normalization=training.normalization,
                        validation_fraction=held_fraction(training.validation_fraction,
                                                          self.record), **options)
        source = open_source(spec, preprocessing.input_shape, self.record["num_classes"])
        self.check_classes(source.class_names)
        self.check_splits(source.sizes, source.split_digest)
        return prepare(spec, preprocessing.input_shape, preprocessing=preprocessing,
                       source=source)

    def check_images_present(self) -> None:
        """Raises :class:`UsageError` where the image folder the run trained on is gone,
        saying how to name where its images are now."""
        from engine.data.source import FOLDER_PREFIX

        dataset = self.record["dataset"]
        if self.moved_images or not dataset.startswith(FOLDER_PREFIX):
            return
        path = dataset.removeprefix(FOLDER_PREFIX)
        if not os.path.isdir(path):
            raise UsageError(f"The image folder {path!r} that the run in {self.directory} "
                             "trained on is gone; if its images moved, pass "
                             "--dataset=folder:PATH with their folder now (its files are "
                             "checked to be the run's).")

    def check_classes(self, class_names) -> None:
        """Raises :class:`UsageError` unless the dataset's classes, ``class_names``, are
        the ones the run trained on (an image folder can gain, lose or rename a class
        folder: its labels would then no longer be the network's outputs)."""
        trained = self.class_names
        if tuple(class_names) == trained:
            return
        added = sorted(set(class_names) - set(trained))
        missing = sorted(set(trained) - set(class_names))
        change = "; ".join(part for part in (f"new {added}" if added else "",
                                             f"missing {missing}" if missing else "")
                           if part) or "in another order"
        raise UsageError(f"Dataset {self.record['dataset']!r} no longer has the "
                         f"{len(trained)} classes the run in {self.directory} trained on "
                         f"({change}); restore its classes or train a new run.")

    def check_splits(self, sizes: dict, digest: str | None = None) -> None:
        """Raises :class:`UsageError` unless the dataset's split ``sizes`` and ``digest``
        are those the run recorded: an image folder whose images changed since the run is
        split anew (a carved test split then holds images the run trained on)."""
        record = {**self.record, "dataset": self.dataset}
        change = split_change(record, sizes, digest, f"the run in {self.directory}")
        if change:
            raise UsageError(f"{change}; restore them or train a new run.")

    def load_model(self):
        """The trained model (``safe_mode=True``), uncompiled; one whose input or number of
        classes is not the run's (a ``model.keras`` copied from another run) is a usage
        error: its outputs would be read as the run's classes."""
        model = read_model(self.model_path)
        found = (list(model.inputs[0].shape[1:]), model.outputs[0].shape[-1])
        recorded = (self.record["input_shape"], self.record["num_classes"])
        if found != recorded:
            raise UsageError(
                f"{self.model_path} is not the model of the run in {self.directory}: it maps "
                f"{shape_text(found[0])} images to {found[1]} classes, where the run's "
                f"{RUN_FILE} records {shape_text(recorded[0])} images and {recorded[1]} classes; "
                "restore the run's own model.keras, or rerun its training with --overwrite.")
        check_finite_weights(model, self.directory)
        return model


def check_finite_weights(model, directory: str) -> None:
    """Raises :class:`RunFailure` where a weight of ``model``, the network saved in
    ``directory``, is NaN or infinite: its outputs need not show it (a compiled ReLU turns
    NaN into 0 on the CPU, and such a network scores as a weak one, not a broken one)."""
    import keras
    import numpy as np

    broken = [weight.path for weight in model.weights
              if not np.isfinite(keras.ops.convert_to_numpy(weight)).all()]
    if broken:
        raise RunFailure(f"The network saved in {directory} holds weights that are not finite "
                         f"numbers (NaN or infinite) in {len(broken)} of its "
                         f"{len(model.weights)} weight tensors (the first: {broken[0]}), so it "
                         "has no accuracy; train that run anew with --overwrite, at a lower "
                         "--learning_rate.")


def shape_text(shape) -> str:
    """An image shape as the messages write it: ``32x32x1``."""
    return "x".join(str(size) for size in shape)


# What the modes that read a run take from its run.json, with each value's JSON type.
RECORD_TYPES = {"recipe": str, "dataset": str, "data_dir": (str, type(None)), "training": dict,
                "input_shape": list, "num_classes": int, "class_names": list}


def check_record(record: dict, path: str) -> None:
    """Raises :class:`UsageError` naming ``path`` unless the ``run.json`` ``record`` holds
    what later modes read: the keys of :data:`RECORD_TYPES` with values of their types, one
    class name per class, and a training configuration with known data choices."""
    from engine import choices
    from engine.spec import training_config

    for key, kind in RECORD_TYPES.items():
        if key not in record:
            raise damaged(path, f"it lacks {key!r}")
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise damaged(path, f"its {key!r} is {record[key]!r}")
    if len(record["class_names"]) != record["num_classes"]:
        raise damaged(path, f"it names {len(record['class_names'])} classes for "
                            f"{record['num_classes']}")
    if not (len(record["input_shape"]) == 3
            and all(is_int(side) and side > 0 for side in record["input_shape"])):
        raise damaged(path, f"its 'input_shape' is {record['input_shape']!r}")
    sizes = record.get("split_sizes")  # older records lack it
    if sizes is not None and not (isinstance(sizes, dict) and all(
            is_int(sizes.get(split)) and sizes[split] >= 0
            for split in ("train", "validation", "test"))):
        raise damaged(path, f"its 'split_sizes' is {sizes!r}")
    try:
        training = training_config(record)
        choices.check("augmentation", training.augmentation, choices.AUGMENTATIONS)
        choices.check("normalization", training.normalization, choices.NORMALIZATIONS)
        if not (is_int(training.batch_size) and training.batch_size > 0):
            raise UsageError(f"batch_size {training.batch_size!r} is no batch size")
    except (TypeError, UsageError) as error:
        raise damaged(path, f"its training configuration: {str(error).rstrip('.')}") from None


def load_run(model_dir: str, reads_images: bool = False, **named: str) -> SavedRun:
    """The finished run in ``model_dir``; a folder without ``run.json``,
    ``preprocessing.json`` and ``model.keras`` is a usage error that names it, and so is
    a run of another recipe or dataset than ``named`` says (``recipe=``, ``dataset=``:
    the flags given beside ``--model_dir``, which the modes that read a run take from
    it: a mismatch would be ignored), except, for a mode that ``reads_images``, another
    ``folder:PATH`` for a run of an image folder: where its images are now
    (:attr:`SavedRun.moved_images`; :meth:`SavedRun.prepare` checks that they are the
    run's files). A ``~`` in ``model_dir`` is expanded, as a training run's
    ``--model_dir`` is."""
    model_dir = os.path.expanduser(model_dir)
    if os.path.isdir(model_dir) and not os.access(model_dir, os.R_OK | os.X_OK):
        raise UsageError(f"{model_dir!r} cannot be read (permission denied); fix its "
                         "permissions, or pass the --model_dir of a run you can read.")
    missing = [name for name in (RUN_FILE, PREPROCESSING_FILE, MODEL_FILE)
               if not os.path.isfile(os.path.join(model_dir, name))]
    if missing:
        interrupted = any(os.path.isfile(os.path.join(model_dir, *path)) for path in (
            (BACKUP_DIR, METADATA_FILE), (SEARCH_DIR, ORACLE_FILE)))
        aside = any(os.path.isdir(os.path.join(model_dir, name))
                    for name in (REPLACED_DIR, SETTING_ASIDE_DIR))
        remedy = ("the run that --overwrite is replacing waits in .replaced until its "
                  "replacement ends (an interrupted one is finished by its own command, or "
                  "put back by the next --mode=train or --mode=tune command in this folder if it "
                  "trained no epoch); or pass" if aside
                  else "it holds an interrupted run: run its own command again to finish "
                  "it, or pass" if interrupted else "pass")
        raise UsageError(f"No finished run in {model_dir!r} (it lacks {', '.join(missing)}); "
                         f"{remedy} the --model_dir of a completed training run.")
    from engine.data.source import FOLDER_PREFIX
    from engine.spec import recorded_dataset

    record_path = os.path.join(model_dir, RUN_FILE)
    saved = SavedRun(os.path.abspath(model_dir), read_json(record_path))
    check_record(saved.record, record_path)
    for flag, value in named.items():
        if flag == "dataset" and recorded_dataset(value) != saved.record[flag] and reads_images \
                and value.startswith(FOLDER_PREFIX) \
                and saved.record[flag].startswith(FOLDER_PREFIX):
            saved = dataclasses.replace(saved, moved_images=recorded_dataset(value))
        elif value != saved.record[flag] and not (
                flag == "dataset" and recorded_dataset(value) == saved.record[flag]):
            raise UsageError(f"--{flag}={value!r}, but the run in {saved.directory} is of "
                             f"{flag} {saved.record[flag]!r}, which this mode reads from it; "
                             f"leave --{flag} out or pass the --model_dir of a run of {value!r}.")
    return saved


SEARCH_DIR = "search"  # --mode=tune: keras-tuner's project (its state and every trial)
ORACLE_FILE = "oracle.json"  # keras-tuner's state of a search, in its project folder
HISTORY_FILE = "history.csv"  # a run's (or a trial's) epochs, one row each
CHECKPOINT_DIR = "checkpoints"  # the best epoch's weights
LOG_DIR = "logs"  # TensorBoard's

# What a run, a search, and the modes that read them write into its directory
# (--overwrite removes these, nothing else; `*` stands for a layer's name). Not the
# exports: a version number, once served, must not name another model (TF Serving does
# not reload a version it has loaded), so a new run's export takes the next number.
# --mode=visualize's figures: each call replaces those of the one before.
FIGURE_ENTRIES = (OCCLUSION_FILE, *(name.format(layer="*") for name in LAYER_FIGURES))
# What the modes that read a saved model wrote of it: stale once another model is saved.
MODEL_RESULTS = (EVALUATION_FILE, RELIABILITY_FILE, MC_DROPOUT_RELIABILITY_FILE, ENSEMBLE_FILE,
                 ENSEMBLE_RELIABILITY_FILE, *FIGURE_ENTRIES)
RUN_ENTRIES = (RUN_FILE, REPORT_FILE, MODEL_FILE, PREPROCESSING_FILE, PUBLISHED_FILE,
               CURVES_FILE,
               # the statistics' arrays beside PREPROCESSING_FILE (engine.data.preprocessing)
               f"{os.path.splitext(PREPROCESSING_FILE)[0]}_*.npy", HISTORY_FILE,
               CHECKPOINT_DIR, BACKUP_DIR, LOG_DIR, SEARCH_DIR, *MODEL_RESULTS)


def claim(model_dir: str, overwrite: bool = False, search: bool = False) -> bool:
    """Makes sure a training run (a search, with ``search``) may write into
    ``model_dir``, before any work; returns whether what is there is to be replaced.

    A finished run there (one with ``report.json``) is kept unless ``overwrite``: then
    the caller removes what a run writes (:func:`remove_run`; a training run sets it
    aside, :func:`set_aside`, until its own report) once every other check has passed,
    so that a mistake in the command loses nothing. So is an interrupted
    run of the other mode, a search's ``search/`` for a training run or a training
    run's backup for a search: neither resumes the other's. An interrupted run of the
    same mode is :func:`check_resumable`'s (a search's, :mod:`engine.modes.tune`'s). A
    path that is a file or a folder that cannot be written is a usage error.
    """
    check_writable("model_dir", model_dir)
    settle_replaced(model_dir)
    check_no_foreign_folders(model_dir)
    if not os.path.isfile(os.path.join(model_dir, REPORT_FILE)):
        # A search's folder without the oracle's state is one that never ran a trial; a
        # backup that names no epoch (its first write failed) has none to resume, and a
        # search replaces what that run left.
        other = (os.path.join(model_dir, BACKUP_DIR) if search
                 else os.path.join(model_dir, SEARCH_DIR, ORACLE_FILE))
        if overwrite or not os.path.exists(
                os.path.join(other, METADATA_FILE) if search else other):
            return os.path.exists(other)
        kind = "training run (--mode=train)" if search else "search (--mode=tune)"
        raise UsageError(f"{model_dir} holds an interrupted {kind}; run its own command again "
                         "to resume it, pass --overwrite to replace it, or choose another "
                         "--model_dir.")
    tidy_finished(model_dir)
    if not overwrite:
        refuse_finished(model_dir)
    return True


def tidy_finished(model_dir: str) -> None:
    """Removes what a finished run's last step removes after its report (the run it
    replaced, its backup, :data:`PUBLISHED_FILE`), where an interruption in that step left
    it: a finished run is not resumed, and its backup can be gigabytes."""
    forget_replaced(model_dir)
    remove_backup(model_dir)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(model_dir, PUBLISHED_FILE))


def remove_backup(run_dir: str) -> None:
    """Deletes the backup a run kept (``run_callbacks(keep_backup=True)``) once its report
    is written: a finished run is not resumed."""
    import shutil

    shutil.rmtree(os.path.join(run_dir, BACKUP_DIR), ignore_errors=True)


def refuse_finished(model_dir: str) -> None:
    """Raises the :class:`UsageError` for the finished run in ``model_dir`` that a command
    without ``--overwrite`` keeps."""
    raise UsageError(f"{model_dir} holds a finished run; pass --overwrite to replace it or "
                     "choose another --model_dir.")


def check_no_foreign_folders(model_dir: str) -> None:
    """Refuses a ``model_dir`` whose ``logs/`` or ``checkpoints/`` hold files while no run
    is there (no ``run.json`` or ``report.json``): a run writes into those folders, and
    ``--overwrite`` removes them whole (a project folder's own TensorBoard logs, say)."""
    if any(os.path.isfile(os.path.join(model_dir, name)) for name in (RUN_FILE, REPORT_FILE)):
        return
    foreign = [f"{name}/" for name in (LOG_DIR, CHECKPOINT_DIR)
               if os.path.isdir(os.path.join(model_dir, name))
               and os.listdir(os.path.join(model_dir, name))]
    if foreign:
        raise UsageError(f"{model_dir} holds {' and '.join(foreign)} but no run: a run writes "
                         "into those folders, and --overwrite would remove them whole; move "
                         "them out, or choose another --model_dir.")


# run.json's entries that a resumed run must share with the run it resumes.
RESUME_KEYS = ("recipe", "dataset", "training", "input_shape", "precision", "seed", "init_from",
               "transfer", "finetune_multiplier", "class_names", "deterministic",
               "steps_per_execution")  # the schedules move once per call
# run.json's entries a resumed run may change (how it runs, not what it computes), said
# when it does: the records name the resuming command's.
RESUME_MAY_CHANGE = ("jit_compile", "distribute")


def check_resumable(run_dir: str, record: dict, overwrite: bool = False) -> bool:
    """Where ``run_dir`` holds an interrupted run (a backup), returns whether it is to be
    replaced: with ``overwrite``, always (the caller removes its files, :func:`remove_run`,
    once every check has passed, and the run starts afresh, as a search does); without,
    ``record`` (the new ``run.json``) must describe the same run, which then resumes, and
    a differently configured one is refused naming the differences, as is one whose image
    folder now splits otherwise (its test split would hold images the run trained on)."""
    backup, previous = os.path.join(run_dir, BACKUP_DIR), os.path.join(run_dir, RUN_FILE)
    if overwrite and os.path.isdir(backup):
        return True
    if not os.path.isfile(os.path.join(backup, METADATA_FILE)):
        return False  # none, or one that names no epoch (its first write failed): none resumes
    if not os.path.isfile(previous):  # nothing says which run the backup's epochs are of
        raise UsageError(f"{run_dir} holds an interrupted run's backup but not its {RUN_FILE}, "
                         "which says what that run was; restore it to resume the run, pass "
                         "--overwrite to replace it, or choose another --model_dir.")
    old = read_json(previous)
    changed = [key for key in RESUME_KEYS
               if strict(resumed_value(old, key)) != strict(resumed_value(record, key))]
    if changed:
        said = ", ".join(difference(key, strict(resumed_value(old, key)),
                                    strict(resumed_value(record, key)))
                         for key in changed)
        # The same command can meet a recipe whose paper configuration was corrected since.
        recorded = (" (if this is that command, the recipe's configuration changed since: "
                    "give the recorded values as flags)"
                    if "training" in changed and "recipe" not in changed else "")
        raise UsageError(f"{run_dir} holds an interrupted run with another {said}; "
                         f"run its own command again to resume it{recorded}, pass --overwrite "
                         "to replace it, or choose another --model_dir.")
    change = "split_sizes" in record and split_change(
        old, record["split_sizes"], record.get("split_digest"), f"the interrupted run in {run_dir}")
    if change:  # an image folder's images changed
        raise UsageError(f"{change}; restore them, pass --overwrite to start afresh, or choose "
                         "another --model_dir.")
    for key in RESUME_MAY_CHANGE:
        if key in old and old[key] != record.get(key):
            from absl import logging

            logging.warning("The interrupted run in %s trained with --%s=%s and resumes with "
                            "--%s=%s: run.json and report.json name the new setting, and the "
                            "report's throughput counts epochs of both.", run_dir, key,
                            json.dumps(old[key]).strip('"'), key,
                            json.dumps(record.get(key)).strip('"'))
    return False


def held_fraction(fraction: float, record: dict) -> float:
    """The validation fraction that splits the dataset of ``record`` (a ``run.json``) as
    the run was split: 0 where the run held out no image (a fraction too small to hold
    one out, which runs before 2026-12-07 trained with and a split now refuses)."""
    return 0.0 if (record.get("split_sizes") or {}).get("validation") == 0 else fraction


def resumed_value(record: dict, key: str):
    """``record[key]`` (a ``run.json``'s) as a resume compares it with the command's: a
    ``finetune_multiplier`` recorded for a transfer that does not fine-tune (as records
    before 2026-12-06 hold it) reads as null, as such a record holds it now; a missing
    ``steps_per_execution`` as 1; a ``training``
    written before a :class:`TrainingConfig` field existed reads that field as its
    default, which is how such a run trained (``weight_decay_scope``, from 2026-12-07:
    ``kernels``)."""
    if key == "finetune_multiplier" and record.get("transfer") != "finetune":
        return None
    if key == "steps_per_execution":  # a record from before the flag: one step per call
        return record.get(key) or 1
    if key == "training" and isinstance(record.get(key), dict):
        from recipes.registry import TrainingConfig

        defaults = {field.name: field.default for field in dataclasses.fields(TrainingConfig)}
        return {**defaults, **record[key]}
    return record.get(key)


def split_change(record: dict, sizes: dict, digest: str | None, run: str) -> str | None:
    """None where the dataset of ``record`` (a ``run.json``) still splits as ``run`` was
    trained (its split ``sizes`` and, for an image folder, the ``digest`` of its files);
    otherwise the sentence, without its remedy, that says how it changed."""
    def shown(counts):
        return ", ".join(f"{counts.get(split)} {split}"
                         for split in ("train", "validation", "test"))

    consequence = "(a test split carved from train would now hold training images)"
    if record.get("split_sizes") not in (None, dict(sizes)):
        return (f"Dataset {record['dataset']!r} now splits into {shown(sizes)} images, and "
                f"{run} trained on a split into {shown(record['split_sizes'])}: its images "
                f"changed since {consequence}")
    if record.get("split_digest") not in (None, digest):
        return (f"Dataset {record['dataset']!r} still splits into {shown(sizes)} images, but "
                f"not into the files {run} trained on: its images were replaced, renamed or "
                f"changed since {consequence}")
    return None


def difference(key: str, then, now) -> str:
    """``key`` and what differs in it, as a refusal names it: ``seed (42 then, 3 now)``;
    for a configuration (a dict), its entries that differ: ``training (epochs: 6 then,
    5 now)``."""
    if isinstance(then, dict) and isinstance(now, dict):
        entries = [f"{name}: {json.dumps(then.get(name))} then, {json.dumps(now.get(name))} now"
                   for name in {**then, **now} if then.get(name) != now.get(name)]
        return f"{key} ({'; '.join(entries)})"
    return f"{key} ({json.dumps(then)} then, {json.dumps(now)} now)"


def check_writable(flag: str, path: str,
                   remedy: str = "choose a folder you can write to") -> None:
    """Raises :class:`UsageError` naming ``--flag`` unless ``path`` is (or can be made)
    a folder this process can write into, the sentence ending in ``remedy``. The nearest
    existing folder is probed by making (and removing) an empty folder in it, its times
    kept: permission bits do not tell, for root or on a virtual file system (``/proc``)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--{flag}={path!r} is a file; pass a folder.")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        check_makeable(flag, path, parent)
        parent = os.path.dirname(parent)
    try:
        if not os.path.isdir(parent):
            raise NotADirectoryError(parent)
        times = os.stat(parent)
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=parent))
        os.utime(parent, ns=(times.st_atime_ns, times.st_mtime_ns))  # leave no trace
    except OSError:
        raise UsageError(f"--{flag}={path!r} cannot be written ({parent} is not a writable "
                         f"folder); {remedy}.") from None


# The remedy where a mode writes its results beside the run it reads (evaluate, visualize).
COPY_THE_RUN = ("copy the run into a folder you can write to and pass that: this mode writes "
                "its results beside the run")


def check_makeable(flag: str, path: str, folder: str) -> None:
    """Raises :class:`UsageError` naming ``--flag=path`` where its missing ``folder``
    cannot be made: a symbolic link to nothing, or a name longer than the file system
    takes (checked where its nearest existing parent says)."""
    if os.path.islink(folder):
        raise UsageError(f"--{flag}={path!r}: {folder} is a symbolic link to "
                         f"{os.readlink(folder)!r}, which does not exist; make its target or "
                         "pass another folder.")
    name, existing = os.path.basename(folder), os.path.dirname(folder)
    while not os.path.isdir(existing) and existing != os.path.dirname(existing):
        existing = os.path.dirname(existing)
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):  # the file system does not say
        return
    if len(os.fsencode(name)) > longest:
        raise UsageError(f"--{flag}={path!r}: the folder name {name[:40]!r}... is "
                         f"{len(os.fsencode(name))} bytes long, longer than the file system "
                         f"takes ({longest}); pass a shorter name.")


# --overwrite's run that a new training run replaces, kept until the new one has its report;
# the file in it that says this command put it there, and the ones that say it is being
# put back: its replacement's files being removed, then its own moved back (an interrupted
# put-back is finished before anything else). The run goes into SETTING_ASIDE_DIR first,
# renamed .replaced once whole: a kill on the way leaves it there, moved back as it was.
REPLACED_DIR, REPLACED_MARK, RESTORING_MARK = ".replaced", "replaced-by-overwrite", "restoring"
REMOVING_MARK, SETTING_ASIDE_DIR = "removing-replacement", ".replaced.partial"
_REPLACED_HERE: set[str] = set()  # the folders whose run this process replaced
_PUT_BACK_HERE: set[str] = set()  # those whose replaced run it put back since


def set_aside(model_dir: str) -> bool:
    """Moves the run in ``model_dir`` (the files :func:`remove_run` would remove) into
    ``model_dir/.replaced``, from which :func:`put_back` restores it if its replacement
    fails and :func:`forget_replaced` removes it once the replacement has its report;
    returns whether a run is set aside there now. Where ``.replaced`` holds one already
    and ``model_dir`` a replacement that was interrupted, that replacement's files go
    instead; a finished one (killed before it removed ``.replaced``) is the run to keep,
    and the older one goes. A ``.replaced`` this command did not make is a usage error."""
    import glob

    aside = os.path.join(model_dir, REPLACED_DIR)
    if os.path.lexists(aside):
        check_replaced(model_dir)
        if not os.path.isfile(os.path.join(model_dir, REPORT_FILE)):
            removing = os.path.join(aside, REMOVING_MARK)
            open(removing, "w").close()  # a kill in the removal: the next command puts back
            remove_run(model_dir)
            os.remove(removing)
            mark_replaced(model_dir)
            return True
        forget_replaced(model_dir)
    paths = [path for entry in RUN_ENTRIES
             for path in glob.glob(os.path.join(glob.escape(model_dir), entry))]
    if not paths:
        return False
    moving = os.path.join(model_dir, SETTING_ASIDE_DIR)
    os.makedirs(moving)
    try:
        for path in paths:
            os.replace(path, os.path.join(moving, os.path.basename(path)))
        with open(os.path.join(moving, REPLACED_MARK), "w", encoding="utf-8") as mark:
            mark.write("The run --overwrite replaces, until the new run has its report.\n")
    except BaseException:  # a full disk for the mark: the run stays where it was
        undo_setting_aside(model_dir)
        raise
    os.replace(moving, aside)
    mark_replaced(model_dir)
    return True


def undo_setting_aside(model_dir: str) -> None:
    """Moves back what a :func:`set_aside` killed on the way had moved out of
    ``model_dir`` (nothing of a replacement was written yet)."""
    moving = os.path.join(model_dir, SETTING_ASIDE_DIR)
    if not os.path.isdir(moving):
        return
    for name in os.listdir(moving):
        if name != REPLACED_MARK:
            os.replace(os.path.join(moving, name), os.path.join(model_dir, name))
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(moving, REPLACED_MARK))
    os.rmdir(moving)


def check_replaced(model_dir: str) -> None:
    """Refuses a ``model_dir/.replaced`` that :func:`set_aside` did not make."""
    aside = os.path.join(model_dir, REPLACED_DIR)
    if os.path.lexists(aside) and not os.path.isfile(os.path.join(aside, REPLACED_MARK)):
        raise UsageError(f"{aside} is not a run that --overwrite set aside; move it out of "
                         f"{model_dir}, or choose another --model_dir.")


def replaced_here(model_dir: str) -> bool:
    """Whether this process replaced the run in ``model_dir`` (set it aside, or removed a
    search): an interrupted replacement then resumes without ``--overwrite``."""
    return os.path.realpath(model_dir) in _REPLACED_HERE


def mark_replaced(model_dir: str) -> None:
    """Records that this process replaced the run in ``model_dir`` (:func:`replaced_here`)."""
    _REPLACED_HERE.add(os.path.realpath(model_dir))
    _PUT_BACK_HERE.discard(os.path.realpath(model_dir))


def put_back_here(model_dir: str) -> bool:
    """Whether this process put back the run in ``model_dir`` that ``--overwrite`` was
    replacing (:func:`put_back`), and has not set it aside again since."""
    return os.path.realpath(model_dir) in _PUT_BACK_HERE


def settle_replaced(model_dir: str) -> None:
    """Before a run claims ``model_dir``: undoes a setting aside that was interrupted,
    finishes a put-back that was, and puts back a run set aside by a replacement that
    stopped before it backed up an epoch or started a search's first trial (nothing of it
    resumes, and the run it set aside is the folder's again)."""
    undo_setting_aside(model_dir)
    aside = os.path.join(model_dir, REPLACED_DIR)
    if os.path.isdir(aside) and not os.path.islink(aside) and not os.listdir(aside):
        os.rmdir(aside)  # a put-back or a forgetting killed between its mark and its rmdir
    check_replaced(model_dir)
    if not os.path.isdir(aside):
        return
    marked = any(os.path.isfile(os.path.join(aside, mark))
                 for mark in (REMOVING_MARK, RESTORING_MARK))
    if marked or not replacement_started(model_dir):
        put_back(model_dir)


def replacement_started(model_dir: str) -> bool:
    """Whether the run that replaces a run set aside in ``model_dir`` has something to
    resume or keep: a report, a backed-up epoch, a search's state."""
    return any(os.path.isfile(os.path.join(model_dir, *path)) for path in (
        (REPORT_FILE,), (BACKUP_DIR, METADATA_FILE), (SEARCH_DIR, ORACLE_FILE)))


def put_back(model_dir: str) -> None:
    """Restores the run that :func:`set_aside` moved aside, the files of its failed
    replacement removed first (once: a put-back interrupted on the way is finished by
    the next call)."""
    aside = os.path.join(model_dir, REPLACED_DIR)
    removing, restoring = (os.path.join(aside, mark) for mark in (REMOVING_MARK, RESTORING_MARK))
    if not os.path.isfile(restoring):
        open(removing, "w").close()  # a kill in the removal: the next command removes again
        remove_run(model_dir)
        open(restoring, "w").close()  # from here on nothing is removed, only moved back
        os.remove(removing)
    for name in os.listdir(aside):
        if name not in (REPLACED_MARK, REMOVING_MARK, RESTORING_MARK):
            os.replace(os.path.join(aside, name), os.path.join(model_dir, name))
    with contextlib.suppress(FileNotFoundError):  # a kill between the two marks left it
        os.remove(removing)
    os.remove(restoring)
    os.remove(os.path.join(aside, REPLACED_MARK))
    os.rmdir(aside)
    _REPLACED_HERE.discard(os.path.realpath(model_dir))  # nothing is replaced any more
    _PUT_BACK_HERE.add(os.path.realpath(model_dir))


def forget_replaced(model_dir: str) -> None:
    """Removes the run that :func:`set_aside` kept (its replacement finished, or a search
    replaced it), where there is one."""
    import shutil

    aside = os.path.join(model_dir, REPLACED_DIR)
    if not os.path.isfile(os.path.join(aside, REPLACED_MARK)):
        return
    for name in os.listdir(aside):  # the mark last: a kill on the way leaves it marked
        path = os.path.join(aside, name)
        if name != REPLACED_MARK:
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) \
                else os.remove(path)
    os.remove(os.path.join(aside, REPLACED_MARK))
    os.rmdir(aside)


def remove_run(model_dir: str, entries: tuple[str, ...] = RUN_ENTRIES, keep=()) -> None:
    """Removes the files a training run wrote into ``model_dir`` (or those ``entries``
    name, such as :data:`FIGURE_ENTRIES`), but the paths in ``keep``."""
    import glob
    import shutil

    kept = {os.path.realpath(path) for path in keep}
    for entry in entries:
        for path in glob.glob(os.path.join(glob.escape(model_dir), entry)):
            if os.path.realpath(path) in kept:
                continue
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)


def save_model(model, directory: str) -> str:
    """Saves the network ``model`` (its layers and weights, uncompiled) as
    ``directory/model.keras`` through a temporary file renamed into place; returns the
    path. Uncompiled, the file loads where only :mod:`layers` is imported: a compiled
    one held the project's optimizer (LeNet-5's SDLM) and loss by name, and a mixed
    float16 run's optimizer without its loss scaling; the state an interrupted run
    resumes from is in its backup."""
    import keras

    path = os.path.join(directory, MODEL_FILE)
    with staging(os.path.join(directory, f".{MODEL_FILE}.partial.keras"), path) as partial:
        keras.Model(model.input, model.output, name=model.name).save(partial)
        os.replace(partial, path)
    return path


def read_column(path: str, column: str) -> list[float]:
    """The values of ``column`` in the CSV history at ``path`` (none if it is missing)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as file:
        # CSVLogger writes "NA" where an epoch lacked the column.
        return [float(row[column]) for row in csv.DictReader(file)
                if row.get(column) not in (None, "", "NA")]
