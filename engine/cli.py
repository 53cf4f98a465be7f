"""The command line's flags and what they resolve to.

Every flag of ``train.py`` is defined here, its choices taken from
:mod:`engine.choices`; :func:`arguments` turns the parsed values into a plain
namespace that the modes receive, and :func:`run_spec` resolves a training run's
:class:`engine.spec.RunSpec` from it. Importing this module loads no TensorFlow.
"""

from __future__ import annotations

import ast
import math
import re
import types

from absl import flags

from engine import choices, command

# --- what to do and on what -----------------------------------------------------------------
flags.DEFINE_enum("mode", "train", choices.MODES,
                  "train; evaluate the run in --model_dir on its test split (with --tta); "
                  "summary: print the per-layer table (no data needed); activations: the "
                  "lectures' activation-statistics experiment; export: a new version of the "
                  "run in --model_dir into --export_dir; predict: classify the image files "
                  "given as arguments with the SavedModel in --export_dir; visualize: filters, "
                  "feature maps, occlusion and top test images of the run in --model_dir; "
                  "tune: search the recipe's hyperparameters with keras-tuner.")
flags.DEFINE_string("recipe", "lenet5_modern",
                    "Registered recipe name; a name it does not know lists the known ones.")
flags.DEFINE_string("dataset", "digits",
                    "'digits' (embedded, no download), 'synthetic' (random images), "
                    "'folder:PATH' (an image folder) or a TFDS image-classification dataset name.")
flags.DEFINE_string("data_dir", None, "TFDS data dir holding prepared datasets.")
flags.DEFINE_string("manual_dir", None,
                    "Directory of hand-downloaded archives to prepare a TFDS dataset offline.")
flags.DEFINE_string("model_dir", None, "Run directory; default: runs/<recipe>-<dataset>.")
flags.DEFINE_string("export_dir", None,
                    "Model base path of the exports (TF Serving's layout: each export is a new "
                    "<export_dir>/<version>/); default: <model_dir>/export.")
flags.DEFINE_boolean("overwrite", False,
                     "Replace the run in --model_dir, finished or interrupted, and start "
                     "afresh (without it a finished run is kept and an interrupted one "
                     "resumes).")
flags.DEFINE_integer("seed", 42, "Random seed for initialization and shuffling.",
                     lower_bound=0, upper_bound=choices.SEEDS - 1)

# --- the input pipeline (engine.data) -------------------------------------------------------
flags.DEFINE_integer("image_size", None, "Input height and width; default: the recipe's.",
                     lower_bound=1)
flags.DEFINE_enum("augment", None, choices.AUGMENTATIONS,
                  "Training augmentation preset; default: the recipe's.")
flags.DEFINE_enum("normalization", None, choices.NORMALIZATIONS,
                  "Input normalization fitted on the training split; default: the recipe's.")
flags.DEFINE_enum("tta", "none", choices.TTA_MODES,
                  "Test-time augmentation of the final evaluation, reported as tta_accuracy; "
                  "dense: VGG's fully convolutional evaluation of the whole image at "
                  "--test_scale.")
flags.DEFINE_integer("test_scale", None,
                     "--tta=dense: Q, the test images' shorter side; default: the scale the "
                     "augmentation preset trains at (384 for vgg's 224 input).", lower_bound=1)
flags.DEFINE_float("validation_fraction", None,
                   "Share of the training split held out for validation where the dataset has "
                   "no validation split; 0 trains on the whole training split, without "
                   "validation. Default: the recipe's (0.1; 0 for lenet5, resnext29_8x64d, "
                   "wrn28_10, wrn28_10_dropout, alphago_policy, alphago_policy_k128, "
                   "alphago_policy_k256 and alphago_policy_k384, whose papers train on the "
                   "whole training split).", lower_bound=0.0,
                   upper_bound=0.99)
flags.DEFINE_boolean("deterministic", False,
                     "Reproducible element order in the input pipeline (and op determinism).")

# --- training (engine.training, engine.loop, engine.distribute); unset keeps the recipe's ---
flags.DEFINE_integer("epochs", None, "Training epochs; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_float("learning_rate", None,
                   "Initial learning rate, positive; default: the recipe's.")
flags.DEFINE_enum("optimizer", None, choices.OPTIMIZERS, "Optimizer; default: the recipe's.")
flags.DEFINE_float("momentum", None, "Momentum of momentum/nesterov/rmsprop.", lower_bound=0.0)
flags.DEFINE_float("weight_decay", None,
                   "L2 coefficient through the gradient (decoupled for adamw).", lower_bound=0.0)
flags.DEFINE_enum("weight_decay_scope", None, choices.WEIGHT_DECAY_SCOPES,
                  "What weight decay applies to: kernels (not biases nor batch normalization) "
                  "or all trainable variables; default: the recipe's.")
flags.DEFINE_enum("schedule", None, choices.SCHEDULES,
                  "Learning-rate schedule; default: the recipe's.")
flags.DEFINE_float("decay_factor", None,
                   "The rate's multiplier at each drop of the step, plateau and exponential "
                   "schedules (0.1 divides it by ten), in (0, 1]; default: the recipe's.")
flags.DEFINE_list("decay_epochs", None,
                  "The step schedule's drops: the epochs at which the rate is multiplied by "
                  "--decay_factor, ascending (e.g. 30,60,90); default: the recipe's. They "
                  "replace the per-stage rates a paper lists (LeNet-5's).")
flags.DEFINE_float("decay_every", None,
                   "The exponential schedule's period: the rate is multiplied by "
                   "--decay_factor every this many epochs, positive; default: the recipe's.")
flags.DEFINE_float("warmup_epochs", None,
                   "Learning-rate warm-up epochs: a linear ramp from zero, or the recipe's "
                   "constant warm-up rate (ResNet-110's 0.01); default: the recipe's.",
                   lower_bound=0.0)
flags.DEFINE_float("label_smoothing", None, "Label smoothing of the cross-entropy.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("clipnorm", None, "Clip each gradient to this norm, positive.")
flags.DEFINE_float("dropout", None, "Rate of every Dropout layer; default: the paper's.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_boolean("ema", None, "Polyak averaging of the weights (Keras use_ema).")
flags.DEFINE_enum("precision", "float32", choices.PRECISIONS,
                  "Keras dtype policy; the softmax head stays float32.")
flags.DEFINE_boolean("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_integer("steps_per_execution", 1,
                     "Training steps per call of the compiled step (Keras's "
                     "steps_per_execution): fewer trips through Python, faster where steps "
                     "are short and the input keeps up; the warm-up ramp and the cosine then move once per call, and "
                     "a Ctrl-C waits for the call. Not with --distribute=multi_worker.",
                     lower_bound=1)
flags.DEFINE_enum("distribute", "none", choices.DISTRIBUTE_MODES,
                  "none: one device; mirrored: all local GPUs; multi_worker: the TF_CONFIG "
                  "cluster. --batch_size is global.")
flags.DEFINE_string("init_from", None,
                    "Transfer learning: a run directory or .keras file to start from "
                    "(every layer but the recipe's classifier head).")
flags.DEFINE_enum("transfer", "finetune", choices.TRANSFER_MODES,
                  "With --init_from: train only the new head, or everything with the "
                  "pretrained layers at --finetune_multiplier times the learning rate; "
                  "vgg_shallow: a deeper VGG net starts from a trained net A's first four "
                  "conv and three FC layers, all at the full rate (Simonyan and Zisserman, "
                  "section 3.1).")
flags.DEFINE_float("finetune_multiplier", choices.DEFAULT_FINETUNE_MULTIPLIER,
                   "Learning-rate factor of the pretrained layers when fine-tuning.",
                   lower_bound=0.0)

# --- --mode=activations: 10 layers of 500 units, one initialization and nonlinearity --------
flags.DEFINE_enum("init", "normal_0.01", choices.INITIALIZATIONS,
                  "--mode=activations: weights from N(0, 0.01), N(0, 1), Xavier or He.")
flags.DEFINE_enum("activation", "tanh", choices.ACTIVATIONS,
                  "--mode=activations: nonlinearity.")

# --- export and serving (engine.serving) ----------------------------------------------------
flags.DEFINE_list("export_format", ["saved_model"],
                  f"Comma-separated: {', '.join(choices.EXPORT_FORMATS)}. The SavedModel is "
                  "always written; tflite adds model.tflite to the version.")
flags.register_validator(
    "export_format",
    lambda formats: set(formats) <= set(choices.EXPORT_FORMATS) and "saved_model" in formats,
    message=f"give a comma-separated list of {', '.join(choices.EXPORT_FORMATS)} that includes "
            "saved_model (every version is a SavedModel).")
flags.DEFINE_integer("top_k", 5, "--mode=predict: classes printed per image.", lower_bound=1)
flags.DEFINE_enum("output", "text", choices.OUTPUT_FORMATS,
                  "--mode=predict: text lines, or json: one JSON object per file.")
# --- looking inside a finished run: --mode=evaluate and --mode=visualize ----------------------
flags.DEFINE_integer("mc_dropout", 0,
                     "--mode=evaluate: also average N stochastic passes with dropout on "
                     "(Monte Carlo dropout) and report their accuracy and calibration.",
                     lower_bound=0)
flags.DEFINE_list("ensemble", None,
                  "--mode=evaluate: run directories of one dataset whose softmax outputs are "
                  "averaged; reports each run's accuracy and the ensemble's.")
flags.DEFINE_list("layers", None,
                  "--mode=visualize: layers whose feature maps and top test images to draw; "
                  "default: each stage's output (every pooling stage; a ResNet's last block at "
                  "each map size).")
flags.DEFINE_string("image", None,
                    "--mode=visualize: image file for the feature maps and occlusion; default: "
                    "the first test image.")
flags.DEFINE_integer("patch", None,
                     "--mode=visualize: side of the grey occluding square; default: a quarter "
                     "of the input.", lower_bound=1)
flags.DEFINE_integer("stride", None,
                     "--mode=visualize: step of the occluding square; default: a quarter of "
                     "--patch.", lower_bound=1)
# --- --mode=tune (engine.tuning) --------------------------------------------------------------
flags.DEFINE_enum("tuner", "random", choices.TUNERS, "--mode=tune: the search algorithm.")
flags.DEFINE_integer("max_trials", 10, "--mode=tune: hyperparameter sets to try at most.",
                     lower_bound=1)
flags.DEFINE_integer("executions_per_trial", 1,
                     "--mode=tune: trainings of each trial from fresh initializations; the "
                     "trial scores their mean.", lower_bound=1)
flags.DEFINE_enum("objective", "val_accuracy", choices.OBJECTIVES,
                  "--mode=tune: what the search optimizes on the validation split.")
flags.DEFINE_integer("max_failed_trials", 3,
                     "--mode=tune: stop the search once this many trials failed (a diverged "
                     "loss, out of memory, an architecture that does not fit).", lower_bound=1)
TUNE_FLAGS = ("tuner", "max_trials", "executions_per_trial", "objective", "max_failed_trials")
# The flags of the modes that read a saved run or an export, or no run at all; train and
# tune read every flag but these (train not the tune flags).
READ_BY = {
    "evaluate": ("model_dir", "recipe", "dataset", "data_dir", "batch_size", "seed", "tta",
                 "test_scale", "mc_dropout", "ensemble"),
    "summary": ("recipe", "image_size"),
    "activations": ("recipe", "model_dir", "seed", "init", "activation"),
    "export": ("model_dir", "recipe", "dataset", "export_dir", "export_format"),
    "predict": ("export_dir", "batch_size", "top_k", "output"),
    "visualize": ("model_dir", "recipe", "dataset", "data_dir", "batch_size", "layers",
                  "image", "patch", "stride"),
}
_OTHER_MODES_ONLY = ("mc_dropout", "ensemble", "layers", "image", "patch", "stride", "top_k",
                     "output", "init", "activation")
NOT_READ_BY = {"train": (*_OTHER_MODES_ONLY, *TUNE_FLAGS),
               "tune": _OTHER_MODES_ONLY}

# The flags that override the recipe's TrainingConfig field of the same name.
TRAINING_OVERRIDES = ("epochs", "batch_size", "learning_rate", "optimizer", "momentum",
                      "weight_decay", "weight_decay_scope", "schedule", "decay_factor",
                      "decay_every", "warmup_epochs", "label_smoothing", "clipnorm", "dropout",
                      "ema", "validation_fraction")
_NAMES = tuple(flag.name for flag in flags.FLAGS.get_flags_for_module(__name__))


def _finite(value) -> bool:
    return value is None or math.isfinite(value)


for _name in _NAMES:  # nan and inf parse as floats; no flag accepts them
    if isinstance(flags.FLAGS[_name].parser, flags.FloatParser):
        flags.register_validator(_name, _finite, message="must be a finite number")


def epochs_list(values) -> tuple[float, ...] | None:
    """``--decay_epochs``' epochs as numbers; None where they are not positive, finite
    and ascending."""
    try:
        epochs = tuple(float(value) for value in values)
    except ValueError:
        return None
    ascending = all(0 < a < b for a, b in zip(epochs, epochs[1:]))
    return epochs if epochs and epochs[0] > 0 and ascending and all(
        map(math.isfinite, epochs)) else None


# Zero is no rate, period or norm (absl's lower_bound would accept it and --help say so).
for _name, _why in (("learning_rate", "a rate of zero trains nothing"),
                    ("decay_every", "the exponential schedule's period in epochs"),
                    ("clipnorm", "leave it out not to clip")):
    flags.register_validator(_name, lambda value: value is None or value > 0,
                             message=f"must be positive ({_why})")
flags.register_validator("decay_factor", lambda value: value is None or 0 < value <= 1,
                         message="must be in (0, 1]: the rate's multiplier at each drop")
flags.register_validator("decay_epochs", lambda values: values is None or bool(epochs_list(values)),
                         message="must be positive epochs in ascending order, e.g. 30,60,90")


# absl's words for a command line it cannot parse where they are Python's, and what a
# user reads instead.
_ABSL_MISTAKES = (
    (re.compile(r"^flag (--\w+=.*): invalid literal for int\(\) with base 10: .*$"),
     r"\1 is not an integer."),
    (re.compile(r"^flag (--\w+=.*): could not convert string to float: .*$"),
     r"\1 is not a number."),
    (re.compile(r"^flag --(\w+)=(.*): \('Non-boolean argument to boolean flag', .*\)$"),
     r"--\1=\2 is not true or false; write --\1 or --no\1."),
    (re.compile(r"^--no(\w+)=.* does not take an argument$"),
     r"--no\1 takes no value; write --\1 or --no\1 alone (or --\1=true or --\1=false)."),
    # No flag has a dot or a slash in its name: a file name that starts with '-' (before
    # absl's suggestion: -epochs.png is no misspelt --epochs).
    (re.compile(r"^Unknown command line flag '([^']*[./][^']*)'(\. Did you mean: .*)?$"),
     lambda match: f"Unknown flag --{match[1]}: no flag has a '.' or '/' in its name; pass a "
                   "file whose name starts with '-' after '--', or as ./ and its name."),
    (re.compile(r"^Unknown command line flag '([^']*)'\. Did you mean: ([\w, ]*) \?$"),
     lambda match: f"Unknown flag --{match[1]}; did you mean "
                   f"{' or '.join('--' + name for name in match[2].split(', '))}? "
                   f"({command.invocation()} --helpfull lists every flag)"),
    (re.compile(r"^ERROR:: Unable to open flagfile: \[Errno \d+\] ([^:]*): '(.*)'$"),
     r"--flagfile=\2 cannot be read (\1); pass the path of a file of flags, one a line."),
    (re.compile(r"^Unknown command line flag '([^']*)'$"),
     lambda match: f"Unknown flag --{match[1]}; {command.invocation()} --helpfull lists every "
                   "flag."),
    # A choice flag's value that is none of its choices, with the one it may mean.
    (re.compile(r"^flag --(\w+)=(.*): value should be one of <(.*)>$"),
     lambda match: choice_mistake(match[1], match[2], match[3].split("|"))),
    # A list flag's value as given (--export_format=onnx), not as Python's list.
    (re.compile(r"^flag --(\w+)=(\[.*\]): (.*)$"),
     lambda match: f"--{match[1]}={','.join(ast.literal_eval(match[2]))}: {match[3]}"),
)


def choice_mistake(flag: str, value: str, accepted: list[str]) -> str:
    """The sentence for ``--flag=value`` where the flag takes one of ``accepted``."""
    from layers.checks import close_names  # (imports Keras: only for a mistake)

    meant = close_names(value, accepted, limit=1)
    return (f"--{flag}={value} is none of {', '.join(accepted)}"
            + (f"; did you mean --{flag}={meant[0]}?" if meant else "."))


def flag_mistake(error: Exception) -> str:
    """The sentence for a command line absl cannot parse (``error``: its
    ``flags.Error``, or the ``ValueError`` of a ``--noflag=value``), in the user's words
    where absl's are Python's: "--epochs=abc is not an integer.", not "invalid literal
    for int() with base 10"."""
    message = str(error)
    for pattern, sentence in _ABSL_MISTAKES:
        if pattern.match(message):
            return pattern.sub(sentence, message)
    return message


def arguments(flag_values: flags.FlagValues, argv=()) -> types.SimpleNamespace:
    """The parsed values of this module's flags, plus ``given``: the names of the flags
    set on the command line, and ``files``: the arguments after the program name in
    ``argv`` (what absl leaves of the command line)."""
    return types.SimpleNamespace(
        **{name: flag_values[name].value for name in _NAMES},
        given=frozenset(name for name in _NAMES if flag_values[name].present),
        files=tuple(argv[1:]))


def reads(mode: str, name: str) -> bool:
    """Whether ``--mode=mode`` reads flag ``name`` (:data:`READ_BY`, :data:`NOT_READ_BY`)."""
    if mode in READ_BY:
        return name in READ_BY[mode]
    return name not in NOT_READ_BY[mode]


def check_mode_flags(mode: str, args: types.SimpleNamespace) -> None:
    """Raises :class:`layers.UsageError` for a flag set on the command line that
    ``--mode=mode`` does not read (:func:`reads`): it would be silently ignored."""
    for name in sorted(set(getattr(args, "given", ())) - {"mode"}):
        if not reads(mode, name):
            from layers.errors import UsageError

            modes = [f"--mode={other}" for other in choices.MODES if reads(other, name)]
            accepted = " or ".join([", ".join(modes[:-1]), modes[-1]] if len(modes) > 1
                                   else modes)
            raise UsageError(f"--{name} applies to {accepted}, not --mode={mode}.")
    check_paths_given(args)


PATH_FLAGS = ("model_dir", "export_dir", "data_dir", "manual_dir", "init_from", "image")
# Read and written with the local file system's calls (TFDS's folders may be URLs):
# a gs:// path became the local folder ./gs:/bucket/...
LOCAL_PATH_FLAGS = ("model_dir", "export_dir", "init_from", "image", "ensemble")


def check_paths_given(args: types.SimpleNamespace) -> None:
    """Raises :class:`layers.UsageError` for a path flag set to nothing (``--model_dir=``):
    every mode would take its default instead, silently; and for a URL (``gs://...``)
    where the project reads or writes a local folder."""
    from layers.errors import UsageError

    for flag in PATH_FLAGS:
        if flag in getattr(args, "given", ()) and not getattr(args, flag):
            raise UsageError(f"--{flag} is empty; give a path or leave the flag out.")
    for flag in LOCAL_PATH_FLAGS:
        value = getattr(args, flag, None)
        for path in (value if isinstance(value, list) else [value]):
            if path and "://" in path:
                raise UsageError(f"--{flag}={path!r} is a URL; runs and exports are local "
                                 "folders: use a local path, and copy to or from the bucket "
                                 "(gsutil cp -r).")


def run_spec(args: types.SimpleNamespace):
    """The :class:`engine.spec.RunSpec` of a training run: the recipe's configuration
    with the flags' overrides (``--augment`` and ``--normalization`` included), validated."""
    import dataclasses

    import recipes
    from engine import spec
    from engine.data.sources import check_tfds_flags

    check_paths_given(args)
    check_tfds_flags(args.dataset, getattr(args, "given", ()))
    recipe = recipes.get(args.recipe)
    overrides = {key: getattr(args, key) for key in TRAINING_OVERRIDES
                 if getattr(args, key) is not None}
    if args.augment is not None:
        overrides["augmentation"] = args.augment
    if args.normalization is not None:
        overrides["normalization"] = args.normalization
    if args.decay_epochs is not None:
        overrides["decay_epochs"] = epochs_list(args.decay_epochs)
    if {"decay_epochs", "decay_factor"} & overrides.keys():
        overrides["step_rates"] = ()  # the drops given replace a paper's per-stage rates
    rate = overrides.pop("learning_rate", recipe.training.learning_rate)
    training = dataclasses.replace(recipe.training, **overrides).with_learning_rate(rate)
    return spec.resolve(
        args.recipe, training, dataset=args.dataset, data_dir=args.data_dir,
        manual_dir=args.manual_dir, model_dir=args.model_dir, export_dir=args.export_dir,
        seed=args.seed, image_size=args.image_size, tta=args.tta, test_scale=args.test_scale,
        precision=args.precision,
        jit_compile=args.jit_compile, steps_per_execution=args.steps_per_execution,
        distribute=args.distribute,
        deterministic=args.deterministic, init_from=args.init_from, transfer=args.transfer,
        finetune_multiplier=args.finetune_multiplier, export_formats=args.export_format)
