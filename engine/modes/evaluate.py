"""``--mode=evaluate``: a finished run on its dataset's test split, with the
preprocessing it trained with (``run.json``, ``preprocessing.json``,
``model.keras``), through the same evaluator as the run's own final evaluation."""

from __future__ import annotations

import os

from engine import rundir
from engine.data import DataSpec, named_data_errors, prepare
from engine.evaluate import evaluate
from engine.spec import default_model_dir, training_config


def run(args) -> None:
    model_dir = args.model_dir or default_model_dir(args.recipe, args.dataset)
    evaluation = evaluate_run(rundir.load_run(model_dir), args.data_dir, args.tta, args.batch_size)
    tta = (f"; {evaluation['tta']} TTA accuracy {evaluation['tta_accuracy']:.4f}"
           if "tta" in evaluation else "")
    print(f"{evaluation['recipe']} on {evaluation['dataset']}: test accuracy "
          f"{evaluation['test_accuracy']:.4f}, test loss {evaluation['test_loss']:.4f} "
          f"({evaluation['test_examples']} test images){tta}; written to "
          f"{os.path.join(model_dir, rundir.EVALUATION_FILE)}")


def evaluate_run(saved: rundir.SavedRun, data_dir: str | None = None, tta: str = "none",
                 batch_size: int | None = None) -> dict:
    """The run ``saved`` on its test split (``data_dir`` overrides where its dataset is);
    writes and returns ``evaluation.json``."""
    record = saved.record
    training = training_config(record)
    preprocessing = saved.preprocessing()
    spec = DataSpec(dataset=record["dataset"], data_dir=data_dir or record["data_dir"],
                    batch_size=batch_size or training.batch_size,
                    augmentation=training.augmentation, normalization=training.normalization,
                    tta=tta)
    data = prepare(spec, preprocessing.input_shape, classes=record["num_classes"],
                   preprocessing=preprocessing)
    with named_data_errors(data.source):
        evaluation = {"recipe": record["recipe"], "dataset": record["dataset"],
                      "test_examples": data.source.sizes["test"],
                      **evaluate(saved.load_model(), data, tta)}
    rundir.write_json(os.path.join(saved.directory, rundir.EVALUATION_FILE), evaluation)
    return evaluation
