"""Train, evaluate and export any registered recipe.

    python train.py                                   # LeNet-5 on the embedded digits
    python train.py --recipe=lenet5_modern --dataset=mnist --data_dir=../shared/tfds --epochs=1

Defaults come from the recipe's paper configuration; flags override them.
Run `python train.py --helpfull` for every flag.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app, flags, logging

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "lenet5_modern", "Registered recipe name (see README's recipe table).")
flags.DEFINE_string("dataset", "digits",
                    "'digits' (embedded, no download), 'synthetic' (random images), "
                    "'folder:PATH' (an image folder) or a TFDS image-classification dataset name.")
flags.DEFINE_string("data_dir", None, "TFDS data dir holding prepared datasets.")
flags.DEFINE_integer("epochs", None, "Training epochs; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_float("learning_rate", None, "Initial learning rate; default: the recipe's.",
                   lower_bound=0.0)
flags.DEFINE_string("model_dir", None, "Run directory; default: runs/<recipe>-<dataset>.")
flags.DEFINE_string("export_dir", None, "SavedModel directory; default: <model_dir>/export.")
flags.DEFINE_integer("seed", 42, "Random seed for initialization and shuffling.")
flags.DEFINE_enum("mode", "train", ["train", "evaluate", "summary", "activations"],
                  "What to do: train; evaluate the run in --model_dir on its test split "
                  "(with --tta); print the per-layer summary (no data needed); or run the "
                  "lectures' activation-statistics experiment on the mlp recipe.")
# --mode=activations: 10 layers of 500 units, one initialization and nonlinearity.
flags.DEFINE_enum("init", "normal_0.01", ["normal_0.01", "normal_1", "xavier", "he"],
                  "--mode=activations: weights from N(0, 0.01), N(0, 1), Xavier or He.")
flags.DEFINE_enum("activation", "tanh", ["tanh", "relu"], "--mode=activations: nonlinearity.")
# The input pipeline (engine.data); the augmentation names are recipes.registry.AUGMENTATIONS.
flags.DEFINE_string("manual_dir", None,
                    "Directory of hand-downloaded archives to prepare a TFDS dataset offline.")
flags.DEFINE_integer("image_size", None, "Input height and width; default: the recipe's.",
                     lower_bound=1)
flags.DEFINE_enum("augment", None, ["none", "cifar", "alexnet", "vgg", "inception"],
                  "Training augmentation preset; default: the recipe's.")
flags.DEFINE_enum("tta", "none", ["none", "flip", "10crop"],
                  "Test-time augmentation of the final evaluation, reported as tta_accuracy.")
flags.DEFINE_boolean("deterministic", False,
                     "Reproducible element order in the input pipeline (and op determinism).")

# Training (engine.training, engine.loop, engine.distribute); unset values keep the recipe's.
flags.DEFINE_enum("optimizer", None, ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                      "adamw"], "Optimizer; default: the recipe's.")
flags.DEFINE_float("momentum", None, "Momentum of momentum/nesterov/rmsprop.", lower_bound=0.0)
flags.DEFINE_float("weight_decay", None,
                   "L2 coefficient through the gradient (decoupled for adamw).", lower_bound=0.0)
flags.DEFINE_enum("schedule", None, ["constant", "step", "plateau", "exponential", "cosine"],
                  "Learning-rate schedule; default: the recipe's.")
flags.DEFINE_float("warmup_epochs", None, "Linear learning-rate warmup epochs.", lower_bound=0.0)
flags.DEFINE_float("label_smoothing", None, "Label smoothing of the cross-entropy.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("clipnorm", None, "Clip each gradient to this norm.", lower_bound=0.0)
flags.DEFINE_float("dropout", None, "Rate of every Dropout layer; default: the paper's.",
                   lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_boolean("ema", None, "Polyak averaging of the weights (Keras use_ema).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_float16", "mixed_bfloat16"],
                  "Keras dtype policy; the softmax head stays float32.")
flags.DEFINE_boolean("jit_compile", False, "Compile the training step with XLA.")
flags.DEFINE_enum("distribute", "none", ["none", "mirrored", "multi_worker"],
                  "none: one device; mirrored: all local GPUs; multi_worker: the TF_CONFIG "
                  "cluster. --batch_size is global.")
flags.DEFINE_string("init_from", None,
                    "Transfer learning: a run directory or .keras file to start from "
                    "(every layer but the classifier head).")
flags.DEFINE_enum("transfer", "finetune", ["feature_extractor", "finetune"],
                  "With --init_from: train only the new head, or everything with the "
                  "pretrained layers at --finetune_multiplier times the learning rate.")
flags.DEFINE_float("finetune_multiplier", 0.1,
                   "Learning-rate factor of the pretrained layers when fine-tuning.",
                   lower_bound=0.0)
TRAINING_OVERRIDES = ("epochs", "batch_size", "learning_rate", "optimizer", "momentum",
                      "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "clipnorm",
                      "dropout", "ema")


def run_spec():
    """The run described by the flags, on top of the recipe's own configuration."""
    import recipes
    from engine.data import DataSpec
    from engine.run import RunSpec

    recipe = recipes.get(FLAGS.recipe)
    overrides = {key: getattr(FLAGS, key) for key in TRAINING_OVERRIDES
                 if getattr(FLAGS, key) is not None}
    training = dataclasses.replace(recipe.training, **overrides)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"{FLAGS.recipe}-{FLAGS.dataset}")
    data = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir,
                    batch_size=training.batch_size, seed=FLAGS.seed,
                    image_size=FLAGS.image_size,
                    augmentation=FLAGS.augment or training.augmentation,
                    normalization=training.normalization, tta=FLAGS.tta,
                    deterministic=FLAGS.deterministic)
    return RunSpec(
        recipe=FLAGS.recipe, data=data, model_dir=model_dir,
        export_dir=FLAGS.export_dir or os.path.join(model_dir, "export"),
        seed=FLAGS.seed, training=training, precision=FLAGS.precision,
        jit_compile=FLAGS.jit_compile, distribute=FLAGS.distribute,
        deterministic=FLAGS.deterministic, init_from=FLAGS.init_from, transfer=FLAGS.transfer,
        finetune_multiplier=FLAGS.finetune_multiplier)


def evaluate_run():
    """--mode=evaluate: the saved run in --model_dir on its dataset's test split."""
    from engine.run import evaluate_saved_run

    model_dir = FLAGS.model_dir or os.path.join("runs", f"{FLAGS.recipe}-{FLAGS.dataset}")
    evaluation = evaluate_saved_run(model_dir, FLAGS.data_dir, FLAGS.tta, FLAGS.batch_size)
    tta = (f"; {evaluation['tta']} TTA accuracy {evaluation['tta_accuracy']:.4f}"
           if "tta" in evaluation else "")
    print(f"{evaluation['recipe']} on {evaluation['dataset']}: test accuracy "
          f"{evaluation['test_accuracy']:.4f} ({evaluation['test_examples']} test images){tta}; "
          f"written to {os.path.join(model_dir, 'evaluation.json')}")


def inspect_recipe():
    """--mode=summary prints the lecture-style table; --mode=activations writes the
    experiment's statistics and histograms to --model_dir (default runs/<recipe>-activations)."""
    import recipes
    from engine.initialization import run_experiment
    from recipes.summary import format_summary

    if FLAGS.mode == "summary":
        print(format_summary(recipes.build(FLAGS.recipe)))
        return
    model_dir = FLAGS.model_dir or os.path.join("runs", f"{FLAGS.recipe}-activations")
    text, png = run_experiment(FLAGS.init, FLAGS.activation, model_dir, FLAGS.recipe, FLAGS.seed)
    print(f"{text}\nhistograms: {png}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}.")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's export chatter
    from engine.run import train_and_evaluate

    spec = None
    try:
        if FLAGS.mode == "evaluate":
            return evaluate_run()
        if FLAGS.mode != "train":
            return inspect_recipe()
        spec = run_spec()
        report = train_and_evaluate(spec)
    except ValueError as error:
        sys.exit(f"train.py: error: {error}")
    except KeyboardInterrupt:
        backup = f" in {spec.model_dir}" if spec else ""
        print(f"\ntrain.py: interrupted. The last completed epoch is backed up{backup}; "
              "run the same command again to resume.", file=sys.stderr)
        sys.exit(130)
    if report is None:  # a multi-worker run's non-chief worker: the chief reports
        return
    print(f"{report['recipe']} on {report['dataset']}: test accuracy {report['test_accuracy']:.4f}, "
          f"test loss {report['test_loss']:.4f} ({report['test_examples']} test images), "
          f"{report['epochs']} epochs in {report['train_seconds']:.1f} s; "
          f"run in {spec.model_dir}")


if __name__ == "__main__":
    app.run(main)
