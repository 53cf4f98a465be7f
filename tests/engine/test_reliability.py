"""The pieces that keep runs honest: strict JSON, named bad data, warnings where the
flags do not suit the data, the divergence stop, atomic records."""

import dataclasses
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from engine import rundir, training
from engine.data import DataSpec, named_data_errors, prepare
from engine.data.pipeline import empty_crop_share, with_checked_labels
from engine.data.source import Source
from layers import RunFailure, UsageError


def test_every_json_the_project_writes_is_strict(tmp_path):
    path = tmp_path / "report.json"
    rundir.write_json(str(path), {"loss": math.nan, "rates": [1.0, math.inf], "ok": 0.5})
    text = path.read_text()
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name)) == {
        "loss": None, "rates": [1.0, None], "ok": 0.5}
    assert not list(tmp_path.glob("*.tmp"))


def tiny_source(labels, classes=3):
    images = np.zeros((len(labels), 8, 8, 1), np.uint8)
    split = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int64)))
    return Source(name="tiny", train=split, validation=split, test=split, num_classes=classes,
                  image_shape=(8, 8, 1), sizes={key: len(labels) for key in
                                                ("train", "validation", "test")},
                  class_names=("a", "b", "c"))


@pytest.mark.parametrize("label", [7, -1])  # -1: TFDS's mark of an unlabelled image
def test_a_label_outside_the_classes_is_named(label):
    source = tiny_source([0, 1, label])
    with pytest.raises(RunFailure, match=rf"Dataset 'tiny' has a label \({label}\) outside the "
                                         r"range of its 3 classes, 0 to 2"):
        with named_data_errors(source):
            prepare(DataSpec(batch_size=2), (8, 8, 1), source=source)


def test_a_label_outside_the_classes_is_named_in_a_reshuffled_training_split():
    bad = tiny_source([0, 5, 1]).train
    checked = with_checked_labels(dataclasses.replace(
        tiny_source([0, 1, 2]), reshuffled_train=lambda seed, num_shards, shard_index: bad))
    with pytest.raises(RunFailure, match=r"Dataset 'tiny' has a label \(5\) outside the range"):
        with named_data_errors(checked):
            list(checked.reshuffled_train(0, 1, 0))


def test_flags_that_do_not_suit_the_data_are_warned_about(caplog):
    spec = DataSpec(dataset="digits", batch_size=4096, tta="flip", augmentation="cifar")
    with caplog.at_level("WARNING"):
        prepared = prepare(spec, (8, 8, 1))
    text = caplog.text
    assert "--batch_size=4096 is larger than the 1293 training images of digits" in text
    assert "--tta=flip adds mirror images, but digits is not mirror-symmetric" in text
    assert "--augment=cifar adds mirror images" in text
    assert "pads" not in text  # 8x8 digits: every crop holds pixels of the image
    with pytest.raises(UsageError, match=(  # a NaN loss at any rate: all-padding batches
            r"^--augment=cifar pads 4 pixels on each side and crops 3x3: 69% of the crops of "
            r"a 3x3 image hold none of its pixels, and batches of such crops end the run in a "
            r"NaN loss whatever the learning rate; use --image_size=4 or larger, or "
            r"--augment=none\.$")):  # 1 - (5/9)^2; at 4x4, 1 - (7/9)^2 = 40%
        prepare(DataSpec(dataset="digits", augmentation="cifar", image_size=3), (8, 8, 1))
    prepare(DataSpec(dataset="digits", augmentation="cifar", image_size=3), (8, 8, 1),
            training=False)  # evaluated only: the crops are not taken
    assert [round(empty_crop_share(4, (side, side)), 4) for side in (1, 4, 5, 32)] == [
        round(80 / 81, 4), round(32 / 81, 4), 0.0, 0.0]  # offsets 4; 1..7; all of 0..8
    assert empty_crop_share(0, (1, 1)) == 0.0
    caplog.clear()
    with caplog.at_level("WARNING"):  # a saved run's data, evaluated: no epochs to warn of
        prepare(spec, (8, 8, 1), preprocessing=prepared.preprocessing)
    assert "--batch_size" not in caplog.text and "--tta=flip adds mirror" in caplog.text


@pytest.mark.parametrize("batch_sizes, said", [
    ((1024, 4096), "The search tries batch sizes from 1024 to 4096, and digits has 1293 "
     "training images: a trial with a larger batch takes a single step per epoch; fix "
     "--batch_size at most 1293."),
    ((32, 128), None)])
def test_a_search_is_warned_of_its_batch_sizes_not_of_the_prepared_one(caplog, batch_sizes,
                                                                         said):
    spec = DataSpec(dataset="digits", batch_size=2048)  # the recipe's, which trials rebatch
    with caplog.at_level("WARNING"):
        prepare(spec, (8, 8, 1), batch_sizes=batch_sizes)
    assert "--batch_size=2048" not in caplog.text
    assert (said in caplog.text) if said else "batch" not in caplog.text


def test_divergence_stops_the_run_naming_epoch_and_step():
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.array([[1.0, np.nan]] * 4, "float32")
    with pytest.raises(RunFailure, match=r"became nan at epoch 1, step 1: the run diverged; "
                                         r"lower --learning_rate \(the rate at that step, after "
                                         r"the schedule and warm-up, was 0\.5\)"):
        model.fit(x, np.zeros((4, 1)), epochs=2, verbose=0,
                  callbacks=[training.StopOnDivergence()])


@pytest.mark.parametrize("precision", ["float32", "mixed_float16"])
def test_divergence_in_a_finetuning_faster_than_the_rate_names_the_multiplier(precision):
    # The pretrained layers trained at 20 times the rate, and the advice named only that.
    import keras

    from engine import transfer

    keras.mixed_precision.set_global_policy(precision)
    try:
        inputs = keras.Input((2,))
        pretrained = keras.layers.Dense(1)
        model = keras.Model(inputs, pretrained(inputs))
        optimizer = transfer.slow_down(keras.optimizers.SGD(0.5), [pretrained], 20)
        model.compile(optimizer=optimizer, loss="mse")
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (
            precision == "mixed_float16")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = np.array([[1.0, np.nan]] * 4, "float32")
    with pytest.raises(RunFailure, match=r"the run diverged; lower --finetune_multiplier=20 or "
                                         r"--learning_rate \(the rate at that step, after the "
                                         r"schedule and warm-up, was 0\.5, the pretrained "
                                         r"layers' 10\) and run again\.$"):
        model.fit(x, np.zeros((4, 1)), epochs=1, verbose=0,
                  callbacks=[training.StopOnDivergence()])


def test_divergence_in_a_call_of_several_steps_names_the_call_s_steps():
    import keras

    from engine import loop

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    x = np.array([[1.0, 1.0]] * 8 + [[1.0, np.nan]] * 4, "float32")  # batches 5 and 6 bad
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros((12, 1), "float32"))).batch(2)
    # Calls of 3 steps: the loss is seen after step 3, finite, then after step 6.
    with pytest.raises(RunFailure, match=r"became nan at epoch 1, in steps 4 to 6: the run "
                                         r"diverged; lower --learning_rate \(the rate at those "
                                         r"steps, after the schedule and warm-up, was 0\.5\)"):
        loop.fit(model, data, epochs=1, verbose=0, steps_per_execution=3,
                 callbacks=[training.StopOnDivergence()])


def test_durations_read_like_a_person_says_them():
    assert [training.duration(s) for s in (42, 720, 7.7 * 3600)] == ["42 s", "12 min", "7.7 h"]
