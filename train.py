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
                    "'digits' (embedded, no download) or a TFDS image-classification dataset name.")
flags.DEFINE_string("data_dir", None, "TFDS data dir holding prepared datasets.")
flags.DEFINE_integer("epochs", None, "Training epochs; default: the recipe's.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Batch size; default: the recipe's.", lower_bound=1)
flags.DEFINE_float("learning_rate", None, "Initial learning rate; default: the recipe's.",
                   lower_bound=0.0)
flags.DEFINE_string("model_dir", None, "Run directory; default: runs/<recipe>-<dataset>.")
flags.DEFINE_string("export_dir", None, "SavedModel directory; default: <model_dir>/export.")
flags.DEFINE_integer("seed", 42, "Random seed for initialization and shuffling.")
flags.DEFINE_enum("mode", "train", ["train"], "What to do.")


def run_spec():
    """The run described by the flags, on top of the recipe's own configuration."""
    import recipes
    from engine.data import DataSpec
    from engine.run import RunSpec

    recipe = recipes.get(FLAGS.recipe)
    overrides = {key: getattr(FLAGS, key) for key in ("epochs", "batch_size", "learning_rate")
                 if getattr(FLAGS, key) is not None}
    training = dataclasses.replace(recipe.training, **overrides)
    model_dir = FLAGS.model_dir or os.path.join("runs", f"{FLAGS.recipe}-{FLAGS.dataset}")
    data = DataSpec(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir,
                    batch_size=training.batch_size, seed=FLAGS.seed)
    return RunSpec(
        recipe=FLAGS.recipe, data=data, model_dir=model_dir,
        export_dir=FLAGS.export_dir or os.path.join(model_dir, "export"),
        seed=FLAGS.seed, training=training)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}.")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's export chatter
    from engine.run import train_and_evaluate

    try:
        spec = run_spec()
        report = train_and_evaluate(spec)
    except ValueError as error:
        sys.exit(f"train.py: error: {error}")
    print(f"{report['recipe']} on {report['dataset']}: test accuracy {report['test_accuracy']:.4f}, "
          f"test loss {report['test_loss']:.4f} ({report['test_examples']} test images), "
          f"{report['epochs']} epochs in {report['train_seconds']:.1f} s; "
          f"run in {spec.model_dir}")


if __name__ == "__main__":
    app.run(main)
