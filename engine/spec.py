"""A run's resolved configuration: the recipe's paper configuration with the
command line's overrides, validated once, recorded as ``run.json``.

:class:`RunSpec` is what every phase of a run receives (explicitly, piece by
piece); :func:`validate` is the one place where the names in a run are checked
against :mod:`engine.choices`. ``run.json`` (:func:`run_record`) is written when a
run starts and is what later modes (evaluate, export, visualize) read; predict reads an export.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import os
import platform
import re

from engine import choices, rundir
from engine.rundir import check_writable
from engine.data.sources import FOLDER_PREFIX
from engine.data.spec import DataSpec
from layers.errors import UsageError
from recipes import TrainingConfig

PACKAGE = "convnet-recipes"  # the distribution's name (setup.cfg)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a training run needs, resolved from the recipe and the flags.

    ``data`` derives from ``training`` (batch size, augmentation, normalization):
    :func:`resolve` builds both, so they cannot disagree. Paths are absolute.
    """

    recipe: str
    data: DataSpec
    model_dir: str
    export_dir: str
    seed: int
    training: TrainingConfig
    precision: str = "float32"
    jit_compile: bool = False
    steps_per_execution: int = 1
    distribute: str = "none"
    deterministic: bool = False
    init_from: str | None = None
    transfer: str = "finetune"
    finetune_multiplier: float = choices.DEFAULT_FINETUNE_MULTIPLIER
    export_formats: tuple[str, ...] = ("saved_model",)


def resolve(recipe: str, training: TrainingConfig, *, dataset: str = "digits",
            data_dir: str | None = None, manual_dir: str | None = None,
            model_dir: str | None = None, export_dir: str | None = None, seed: int = 42,
            image_size: int | None = None, tta: str = "none", test_scale: int | None = None,
            precision: str = "float32",
            jit_compile: bool = False, steps_per_execution: int = 1, distribute: str = "none",
            deterministic: bool = False, init_from: str | None = None, transfer: str = "finetune",
            finetune_multiplier: float = choices.DEFAULT_FINETUNE_MULTIPLIER,
            export_formats=("saved_model",)) -> RunSpec:
    """The validated :class:`RunSpec` of a run of ``recipe`` with ``training``;
    ``model_dir`` defaults to ``runs/<recipe>-<dataset>``, ``export_dir`` (the model
    base path of the exports) to ``<model_dir>/export``."""
    dataset = recorded_dataset(dataset)  # as run.json records it: later modes run anywhere
    model_dir = run_directory(model_dir, recipe, dataset)
    # Several machines each shard their own copy of the pipeline by element position,
    # which divides the data between them only where every copy keeps one order.
    ordered = deterministic or distribute == "multi_worker"
    data = DataSpec(dataset=dataset, data_dir=absolute(data_dir), manual_dir=absolute(manual_dir),
                    batch_size=training.batch_size, seed=seed, image_size=image_size,
                    augmentation=training.augmentation, normalization=training.normalization,
                    tta=tta, test_scale=test_scale, deterministic=ordered,
                    validation_fraction=training.validation_fraction)
    spec = RunSpec(recipe=recipe, data=data, model_dir=model_dir,
                   export_dir=absolute(export_dir) or os.path.join(model_dir, rundir.EXPORT_DIR),
                   seed=seed, training=training, precision=precision, jit_compile=jit_compile,
                   steps_per_execution=steps_per_execution, distribute=distribute,
                   deterministic=deterministic, init_from=absolute(init_from), transfer=transfer,
                   finetune_multiplier=finetune_multiplier,
                   export_formats=tuple(export_formats))
    validate(spec)
    return spec


def validate(spec: RunSpec) -> None:
    """Checks the names in ``spec`` against :mod:`engine.choices` (raises
    :class:`UsageError` naming the first one that is not accepted); the data's own
    names (augmentation, normalization, TTA) are checked by :class:`DataSpec`. Also
    refuses ``--transfer=vgg_shallow`` for a recipe that is not a VGG network,
    ``gcn_zca`` for an input too large to whiten, ``--deterministic`` with
    ``--jit_compile``, ``--clipnorm`` and ``--jit_compile`` with a distribution strategy
    and several steps per call across machines, before any work."""
    import recipes

    recipes.get(spec.recipe)
    training = spec.training
    for kind, value, accepted in (
            ("optimizer", training.optimizer, choices.OPTIMIZERS),
            ("schedule", training.schedule, choices.SCHEDULES),
            ("weight decay scope", training.weight_decay_scope, choices.WEIGHT_DECAY_SCOPES),
            ("precision", spec.precision, choices.PRECISIONS),
            ("distribute", spec.distribute, choices.DISTRIBUTE_MODES),
            ("transfer", spec.transfer, choices.TRANSFER_MODES),
            ("plateau monitor", training.plateau_monitor, choices.PLATEAU_MONITORS),
            *(("export format", value, choices.EXPORT_FORMATS)
              for value in spec.export_formats)):
        choices.check(kind, value, accepted)
    if ((spec.data.augmentation, spec.data.normalization, spec.data.validation_fraction)
            != (training.augmentation, training.normalization, training.validation_fraction)):
        raise UsageError("The data spec's augmentation, normalization and validation fraction "
                         "differ from the training configuration's; build the spec with "
                         "engine.spec.resolve.")
    if training.clipnorm and spec.distribute != "none":
        raise UsageError(f"--clipnorm cannot go with --distribute={spec.distribute}: Keras clips "
                         "each replica's share of the gradient before the shares are summed, so "
                         "a step could reach the number of replicas times the norm; leave one "
                         "of the two out.")
    if spec.steps_per_execution < 1:
        raise UsageError(f"--steps_per_execution={spec.steps_per_execution} is no number of "
                         "steps; give 1 or more.")
    if spec.steps_per_execution > 1 and spec.distribute == "multi_worker":
        raise UsageError("--steps_per_execution cannot go above 1 with "
                         "--distribute=multi_worker: a call of several steps stops at the end "
                         "of the data by a test inside the compiled loop, which "
                         "MultiWorkerMirroredStrategy does not run; leave it at 1.")
    if spec.jit_compile and spec.distribute != "none":
        raise UsageError(f"--jit_compile cannot go with --distribute={spec.distribute}: XLA "
                         "compiles no update of variables mirrored across devices, nor "
                         "collectives on CPUs (Keras too turns XLA off under tf.distribute); "
                         "leave one of the two out.")
    if spec.deterministic and spec.jit_compile:
        raise UsageError("--deterministic cannot go with --jit_compile: TensorFlow's "
                         "deterministic ops have no XLA kernel for max pooling's gradient, "
                         "which most recipes train through; leave one of the two out.")
    if spec.init_from and spec.transfer == "vgg_shallow":
        from engine import transfer

        transfer.check_vgg_shallow(spec.recipe)
    multiplier = spec.finetune_multiplier
    if not (isinstance(multiplier, (int, float)) and math.isfinite(multiplier)
            and multiplier >= 0):  # the flag's own check, for a spec built in Python
        raise UsageError(f"finetune_multiplier={multiplier!r} is no learning-rate multiplier; "
                         "give a finite number of 0 or more (0 keeps the pretrained weights, while the "
                         "batch statistics still adapt; --transfer=feature_extractor freezes "
                         "them too).")
    from engine.data.augment import check_fits
    from engine.data.preprocessing import check_normalization

    height, width, *channels = recipes.get(spec.recipe).input_shape
    side = spec.data.image_size
    check_fits(training.augmentation, (side or height, side or width))
    check_normalization(training.normalization,
                        (side or height, side or width, *channels))


def check_paths(spec: RunSpec, overwrite: bool = False) -> None:
    """Checks, before any work, that the run's inputs exist and its outputs can be
    written: ``model_dir`` and ``export_dir`` are (or can be made) writable folders
    outside an image folder dataset, ``data_dir`` is a folder if it exists,
    ``init_from`` a run folder or a ``.keras`` file that holds a model of the recipe,
    unless ``model_dir`` holds the backup of the run it started (and no ``overwrite``
    starts that run afresh): the backup holds every weight, so the run resumes whatever
    has become of its source (gone, retrained, replaced)."""
    for flag, path in (("model_dir", spec.model_dir), ("export_dir", spec.export_dir)):
        check_writable(flag, path)
        check_outside_images(flag, path, spec.data.dataset)
    data_dir = spec.data.data_dir
    if data_dir and "://" not in data_dir and os.path.exists(data_dir) \
            and not os.path.isdir(data_dir):
        raise UsageError(f"--data_dir={data_dir!r} is a file; pass the TFDS data folder.")
    if spec.init_from and (overwrite or not training_restores(spec)):
        from engine import transfer

        rundir.pretrained_model_file(spec.init_from)
        transfer.check_source_recipe(spec.init_from, spec.recipe, spec.transfer)


def training_restores(spec: RunSpec) -> bool:
    """Whether ``spec.model_dir`` holds the backup of an interrupted run that started
    from ``spec.init_from`` and restores the layers it took from there."""
    from engine.distribute import worker_dir
    from engine.training import restored_pretrained_layers

    # Each worker of a multi-worker run resumes from its own folder.
    return restored_pretrained_layers(worker_dir(spec.model_dir), spec.init_from) is not None


def check_outside_images(flag: str, path: str | None, dataset: str) -> None:
    """Raises :class:`UsageError` if ``path``, where ``--flag`` writes, lies inside the
    image folder of a ``folder:`` ``dataset``: its files would be read as classes and
    images, and every run on the folder refused as changed."""
    if not (path and dataset.startswith(FOLDER_PREFIX)):
        return
    images = dataset.removeprefix(FOLDER_PREFIX)
    real = os.path.realpath(os.path.expanduser(images))
    if os.path.commonpath([real, os.path.realpath(os.path.expanduser(path))]) == real:
        raise UsageError(f"--{flag}={path} lies inside the image folder {images}, whose "
                         f"folders are read as classes and splits; pass a --{flag} outside it "
                         "(the default runs/... is made in the current folder).")


def run_directory(model_dir: str | None, recipe: str, dataset: str) -> str:
    """The absolute folder a run writes to: ``model_dir`` (``~`` expanded), by default
    :func:`default_model_dir`'s."""
    return os.path.abspath(os.path.expanduser(model_dir or default_model_dir(recipe, dataset)))


def default_model_dir(recipe: str, dataset: str) -> str:
    """``runs/<recipe>-<dataset>``, with a folder dataset's path reduced to its folder's
    name (``folder:.``: the current folder's) and a TFDS name's config and version joined
    by dashes (``imagenette/320px-v2:1.0.0``: ``imagenette-320px-v2-1.0.0``)."""
    if dataset.startswith(FOLDER_PREFIX):
        path = dataset.removeprefix(FOLDER_PREFIX)
        name = os.path.basename(os.path.abspath(os.path.expanduser(path)) if path else "")
    else:
        name = named_dataset(dataset).replace("/", "-").replace(":", "-")
    return os.path.join("runs", f"{recipe}-{name}")


def named_dataset(dataset: str) -> str:
    """A dataset name (not ``folder:``) with its builder's name in lower case, as TFDS
    names its builders and reads ``MNIST`` too: one dataset, one name in ``run.json``
    (``MNIST`` and ``mnist`` were two, and the modes that read the run refused the other);
    a config and a version after it are kept as they are."""
    builder = re.match(r"[^/:]*", dataset).group(0)
    if f"{builder.lower()}:" == FOLDER_PREFIX:  # FOLDER:PATH is no folder: refused as a name
        return dataset
    return builder.lower() + dataset[len(builder):]


def recorded_dataset(dataset: str) -> str:
    """``dataset`` as ``run.json`` records it: a folder dataset's PATH made absolute
    (later modes run from any folder), another's builder name in lower case
    (:func:`named_dataset`); ``folder:`` without a PATH is a usage error."""
    if not dataset.startswith(FOLDER_PREFIX):
        return named_dataset(dataset)
    path = dataset.removeprefix(FOLDER_PREFIX)
    if not path:
        raise UsageError(f"--dataset={dataset} names no folder; pass folder:PATH with PATH "
                         "holding PATH/train/<class>/* or PATH/<class>/*.")
    return FOLDER_PREFIX + absolute(path)


def absolute(path: str | None) -> str | None:
    """``path`` made absolute (``~`` expanded), so a run's records work from any folder;
    TFDS-style ``gs://`` paths are kept."""
    if not path or "://" in path:
        return path or None
    return os.path.abspath(os.path.expanduser(path))


def transfer_record(spec: RunSpec) -> dict:
    """The transfer settings a run's records hold: ``init_from``, and where one is given
    its ``transfer`` mode and, for ``finetune`` alone, the ``finetune_multiplier`` that
    slows the pretrained layers (None where a setting does not apply)."""
    given = bool(spec.init_from)
    return {"init_from": spec.init_from,
            "transfer": spec.transfer if given else None,
            "finetune_multiplier": spec.finetune_multiplier
            if given and spec.transfer == "finetune" else None}


def run_record(spec: RunSpec, class_names, input_shape, split_sizes,
               split_digest: str | None = None) -> dict:
    """``run.json``: the resolved configuration of a run, with what the data told."""
    return {
        "recipe": spec.recipe,
        "dataset": spec.data.dataset,
        "data_dir": spec.data.data_dir,
        "manual_dir": spec.data.manual_dir,
        "model_dir": spec.model_dir,
        "export_dir": spec.export_dir,
        "training": dataclasses.asdict(spec.training),
        "augmentation": spec.training.augmentation,
        "normalization": spec.training.normalization,
        "image_size": spec.data.image_size,
        "input_shape": list(input_shape),
        "tta": spec.data.tta,
        "test_scale": spec.data.test_scale,
        "precision": spec.precision,
        "jit_compile": spec.jit_compile,
        "steps_per_execution": spec.steps_per_execution,
        "distribute": spec.distribute,
        "deterministic": spec.deterministic,
        "seed": spec.seed,
        **transfer_record(spec),
        "num_classes": len(class_names),
        "class_names": list(class_names),
        "split_sizes": dict(split_sizes),
        "split_digest": split_digest,
        "versions": software_versions(),
    }


def software_versions() -> dict:
    """The versions a run used, as ``run.json`` and ``report.json`` record them: the
    installed ``convnet-recipes`` distribution's (setup.cfg's version; null where none is
    installed), TensorFlow's, Keras's and Python's."""
    import keras
    import tensorflow as tf

    try:
        package = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        package = None
    return {"convnet_recipes": package, "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version()}


def training_config(record: dict) -> TrainingConfig:
    """The :class:`TrainingConfig` a ``run.json`` record holds (JSON lists back to tuples)."""
    fields = {field.name for field in dataclasses.fields(TrainingConfig)}
    return TrainingConfig(**{key: tuple(value) if isinstance(value, list) else value
                             for key, value in record["training"].items() if key in fields})
