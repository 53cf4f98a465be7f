"""The command line's flags and what they resolve to.

Every flag of ``train.py`` is defined here, its choices taken from
:mod:`engine.choices`; :func:`arguments` turns the parsed values into a plain
namespace that the modes receive, and :func:`run_spec` resolves a training run's
:class:`engine.spec.RunSpec` from it. Importing this module loads no TensorFlow.
"""

from __future__ import annotations

import types

from absl import flags

from engine import choices

# --- what to do and on what -----------------------------------------------------------------
flags.DEFINE_enum("mode", "train", choices.MODES,
                  "train; evaluate the run in --model_dir on its test split (with --tta); "
                  "summary: print the per-layer table (no data needed); activations: the "
                  "lectures' activation-statistics experiment; tune: search the recipe's "
                  "hyperparameters with keras-tuner.")
flags.DEFINE_string("recipe", "lenet5_modern",
                    "Registered recipe name (see README's recipe table).")
flags.DEFINE_string("dataset", "digits",
                    "'digits' (embedded, no download), 'synthetic' (random images), "
                    "'folder:PATH' (an image folder) or a TFDS image-classification dataset name.")
flags.DEFINE_string("data_dir", None, "TFDS data dir holding prepared datasets.")
flags.DEFINE_string("manual_dir", None,
                    "Directory of hand-downloaded archives to prepare a TFDS dataset offline.")
flags.DEFINE_string("model_dir", None, "Run directory; default: runs/<recipe>-<dataset>.")
flags.DEFINE_string("export_dir", None, "SavedModel directory; default: <model_dir>/export.")
flags.DEFINE_boolean("overwrite", False,
                     "Replace the finished (or differently configured) run in --model_dir "
                     "instead of refusing to.")
flags.DEFINE_integer("seed", 42, "Random seed for initialization and shuffling.")

# --- the input pipeline (engine.data) -------------------------------------------------------
flags.DEFINE_integer("image_size", None, "Input height and width; default: the recipe's.",
                     lower_bound=1)
flags.DEFINE_enum("augment", None, choices.AUGMENTATIONS,
                  "Training augmentation preset; default: the recipe's.")
flags.DEFINE_enum("tta", "none", choices.TTA_MODES,
                  "Test-time augmentation of the final evaluation, reported as tta_accuracy.")
flags.DEFINE_boolean("deterministic", False,
                     "Reproducible element order in the input pipeline (and op determinism).")

# --- training (engine.training, engine.loop, engine.distribute); unset keeps the recipe's ---
flags.DEFINE_integer("epochs", None, "Training epochs; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_float("learning_rate", None, "Initial learning rate; default: the recipe's.",
                   lower_bound=0.0)
flags.DEFINE_enum("optimizer", None, choices.OPTIMIZERS, "Optimizer; default: the recipe's.")
flags.DEFINE_float("momentum", None, "Momentum of momentum/nesterov/rmsprop.", lower_bound=0.0)
flags.DEFINE_float("weight_decay", None,
                   "L2 coefficient through the gradient (decoupled for adamw).", lower_bound=0.0)
flags.DEFINE_enum("schedule", None, choices.SCHEDULES,
                  "Learning-rate schedule; default: the recipe's.")
flags.DEFINE_float("warmup_epochs", None, "Linear learning-rate warmup epochs.", lower_bound=0.0)
flags.DEFINE_float("label_smoothing", None, "Label smoothing of the cross-entropy.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("clipnorm", None, "Clip each gradient to this norm.", lower_bound=0.0)
flags.DEFINE_float("dropout", None, "Rate of every Dropout layer; default: the paper's.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_boolean("ema", None, "Polyak averaging of the weights (Keras use_ema).")
flags.DEFINE_enum("precision", "float32", choices.PRECISIONS,
                  "Keras dtype policy; the softmax head stays float32.")
flags.DEFINE_boolean("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_enum("distribute", "none", choices.DISTRIBUTE_MODES,
                  "none: one device; mirrored: all local GPUs; multi_worker: the TF_CONFIG "
                  "cluster. --batch_size is global.")
flags.DEFINE_string("init_from", None,
                    "Transfer learning: a run directory or .keras file to start from "
                    "(every layer but the recipe's classifier head).")
flags.DEFINE_enum("transfer", "finetune", choices.TRANSFER_MODES,
                  "With --init_from: train only the new head, or everything with the "
                  "pretrained layers at --finetune_multiplier times the learning rate.")
flags.DEFINE_float("finetune_multiplier", 0.1,
                   "Learning-rate factor of the pretrained layers when fine-tuning.",
                   lower_bound=0.0)

# --- --mode=activations: 10 layers of 500 units, one initialization and nonlinearity --------
flags.DEFINE_enum("init", "normal_0.01", choices.INITIALIZATIONS,
                  "--mode=activations: weights from N(0, 0.01), N(0, 1), Xavier or He.")
flags.DEFINE_enum("activation", "tanh", choices.ACTIVATIONS,
                  "--mode=activations: nonlinearity.")

# --- --mode=tune (engine.tuning); checked there, so a bad value is one sentence (exit 2) ---
flags.DEFINE_string("tuner", "random",
                    f"--mode=tune: the search algorithm, one of {', '.join(choices.TUNERS)}.")
flags.DEFINE_integer("max_trials", 10, "--mode=tune: hyperparameter sets to try at most.")
flags.DEFINE_integer("executions_per_trial", 1,
                     "--mode=tune: trainings of each trial from fresh initializations; the "
                     "trial scores their mean.")
flags.DEFINE_string("objective", "val_accuracy",
                    "--mode=tune: what the search optimizes on the validation split, one of "
                    f"{', '.join(choices.OBJECTIVES)}.")
flags.DEFINE_integer("max_failed_trials", 3,
                     "--mode=tune: stop the search once this many trials failed (a diverged "
                     "loss, out of memory, an architecture that does not fit).")

# The flags that override the recipe's TrainingConfig field of the same name.
TRAINING_OVERRIDES = ("epochs", "batch_size", "learning_rate", "optimizer", "momentum",
                      "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "clipnorm",
                      "dropout", "ema")
_NAMES = tuple(flag.name for flag in flags.FLAGS.get_flags_for_module(__name__))


def arguments(flag_values: flags.FlagValues) -> types.SimpleNamespace:
    """The parsed values of this module's flags, plus ``given``: the names of the flags
    set on the command line."""
    return types.SimpleNamespace(
        **{name: flag_values[name].value for name in _NAMES},
        given=frozenset(name for name in _NAMES if flag_values[name].present))


def run_spec(args: types.SimpleNamespace):
    """The :class:`engine.spec.RunSpec` of a training run: the recipe's configuration
    with the flags' overrides (``--augment`` included), validated."""
    import dataclasses

    import recipes
    from engine import spec

    recipe = recipes.get(args.recipe)
    overrides = {key: getattr(args, key) for key in TRAINING_OVERRIDES
                 if getattr(args, key) is not None}
    if args.augment is not None:
        overrides["augmentation"] = args.augment
    training = dataclasses.replace(recipe.training, **overrides)
    return spec.resolve(
        args.recipe, training, dataset=args.dataset, data_dir=args.data_dir,
        manual_dir=args.manual_dir, model_dir=args.model_dir, export_dir=args.export_dir,
        seed=args.seed, image_size=args.image_size, tta=args.tta, precision=args.precision,
        jit_compile=args.jit_compile, distribute=args.distribute,
        deterministic=args.deterministic, init_from=args.init_from, transfer=args.transfer,
        finetune_multiplier=args.finetune_multiplier)
