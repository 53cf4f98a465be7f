"""engine.tuning.hypermodel: a recipe as a keras-tuner HyperModel, and the keras-tuner
pitfalls it handles (measured with keras-tuner 1.4.8 and Keras 3)."""

import dataclasses
import math
import re
import types

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import recipes
from engine import loop, rundir, spec, training
from engine.tuning.hypermodel import MainHeadLogs, RecipeHyperModel, best_epoch, rebatched
from engine.tuning.spec import SearchSpec
from recipes.space import Choice, SearchSpace

EXAMPLES = 64


def hypermodel(tmp_path, strategy=None, space=SearchSpace(training={}), precision="float32",
               seed=42, init_from=None, **config):
    """Trials of lenet5_modern (its paper's configuration with ``config``) over ``space``,
    trial 0 started."""
    training = dataclasses.replace(recipes.get("lenet5_modern").training,
                                   **{"epochs": 2, **config})
    run = spec.resolve("lenet5_modern", training, model_dir=str(tmp_path), precision=precision,
                       seed=seed, init_from=init_from)
    model = RecipeHyperModel(SearchSpec(run=run, space=space), 10, (32, 32, 1),
                             strategy or tf.distribute.get_strategy(), EXAMPLES, verbose=0)
    model.start_trial("0", str(tmp_path / "trial_0"))
    return model


def data(batch_size=32):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(EXAMPLES, 32, 32, 1)).astype("float32")
    labels = rng.integers(0, 10, size=EXAMPLES)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


def prepared(batch_size=32):
    """What a search hands its trials (an :class:`engine.data.Prepared`): the training
    split's pipeline, built anew for each execution's seed."""
    return types.SimpleNamespace(training_pipeline=lambda seed: data(batch_size), source=None)


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.config.set_dtype_policy("float32")


def test_build_sets_the_dtype_policy_that_clearing_the_session_resets(tmp_path):
    keras.config.set_dtype_policy("mixed_float16")
    keras.backend.clear_session()  # what keras-tuner does before every trial
    assert keras.config.dtype_policy().name == "float32"
    model = hypermodel(tmp_path, precision="mixed_float16").build(keras_tuner.HyperParameters())
    assert model.get_layer("c1").dtype_policy.name == "mixed_float16"
    assert model.output.dtype == "float32"


def test_build_and_fit_enter_the_strategy_scope(tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    trials = hypermodel(tmp_path, strategy)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)  # keras-tuner enters no scope around fit
    assert isinstance(model.get_layer("c1").kernel.value, tf.distribute.DistributedValues)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(tf.distribute.get_strategy()))
    metrics = trials.fit(hp, model, prepared(), validation_data=data(), callbacks=[record],
                         epochs=1)
    assert seen == [strategy]
    assert set(metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}


def test_only_a_trial_says_which_layers_init_from_gave(tmp_path, train_digits, capsys):
    # The best trial's network, rebuilt for its checkpoint after the search, printed a
    # third "Initialized 4 layers from ..." between the last trial and the summary.
    trained = train_digits(tmp_path / "trained", epochs=1)
    model = hypermodel(tmp_path / "search", init_from=str(trained))
    capsys.readouterr()
    model.build(keras_tuner.HyperParameters())
    assert re.search(r"Initialized \d+ layers from .*trained \(finetune\)", capsys.readouterr().out)
    model.end_trial()
    slowed = model.build(keras_tuner.HyperParameters())
    assert "Initialized" not in capsys.readouterr().out
    assert slowed.optimizer.slow_variables  # set up as in a trial, for the checkpoint


def test_executions_past_the_largest_seed_go_on_from_seed_0(tmp_path):
    # --seed=4294967295 with two executions per trial seeded Keras with 2**32, which it
    # refuses: the search failed at its second execution.
    trials = hypermodel(tmp_path, seed=2**32 - 1)
    seeds = []
    data_of = types.SimpleNamespace(training_pipeline=lambda seed: seeds.append(seed) or data(),
                                    source=None)
    hp = keras_tuner.HyperParameters()
    for _ in range(2):
        trials.fit(hp, trials.build(hp), data_of, validation_data=data(), epochs=1)
    assert seeds == [2**32 - 1, 0]


def test_a_continued_trial_keeps_its_optimizers_state(tmp_path):
    """Hyperband continues a trial by loading its checkpoint into a freshly built model."""
    trials = hypermodel(tmp_path, optimizer="momentum", learning_rate=0.01)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)
    trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)
    checkpoint = str(tmp_path / "checkpoint.weights.h5")
    model.save_weights(checkpoint)  # as keras-tuner's SaveBestEpoch does
    continued = trials.build(hp)
    continued.load_weights(checkpoint)
    assert int(continued.optimizer.iterations.numpy()) == EXAMPLES // 32
    for saved, loaded in zip(model.optimizer.variables, continued.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(loaded))
    # The pitfall: an optimizer that does not exist yet is skipped (Keras warns).
    compiled_only = recipes.build("lenet5_modern")
    compiled_only.compile(optimizer=keras.optimizers.SGD(momentum=0.9),
                          loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        compiled_only.load_weights(checkpoint)
    assert int(compiled_only.optimizer.iterations.numpy()) == 0


def test_hyperbands_epochs_keep_the_searchs_schedule_horizon(tmp_path):
    trials = hypermodel(tmp_path, schedule="cosine", learning_rate=0.01, epochs=4)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)
    trials.fit(hp, model, prepared(), validation_data=data(), epochs=2, initial_epoch=1)
    rows = (tmp_path / "trial_0" / "execution0" / training.HISTORY_FILE).read_text().split()
    epoch, rate = rows[1].split(",")[0], dict(zip(rows[0].split(","), rows[1].split(",")))
    assert epoch == "1"  # Hyperband's rung: epoch 2 of the search's 4
    # The rate recorded is the epoch's last step's: batch 1 of 2 in epoch 1, of 4 epochs.
    position = (1 + 1 / 2) / 4
    assert float(rate["learning_rate"]) == pytest.approx(
        0.5 * 0.01 * (1 + math.cos(math.pi * position)))


def test_a_trial_resumed_after_its_last_epoch_scores_its_recorded_epochs(tmp_path,
                                                                          monkeypatch):
    """Killed after backing its last epoch up: the rerun trains no epoch, and the trial
    is scored from the history it recorded."""
    trials = hypermodel(tmp_path, epochs=1)
    hp = keras_tuner.HyperParameters()
    with monkeypatch.context() as patch:
        patch.setattr(keras.callbacks.BackupAndRestore, "on_train_end", _kill)
        with pytest.raises(SystemExit):
            trials.fit(hp, trials.build(hp), prepared(), validation_data=data(), epochs=1)
    trials.start_trial("0", str(tmp_path / "trial_0"))  # keras-tuner retries the trial
    model = trials.build(hp)
    metrics = trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)
    assert not model.history.history  # nothing left to train
    recorded = (tmp_path / "trial_0" / "execution0" / training.HISTORY_FILE).read_text().split()
    row = dict(zip(recorded[0].split(","), recorded[1].split(",")))
    assert metrics["val_accuracy"] == pytest.approx(float(row["val_accuracy"]))


def test_a_trial_resumed_mid_way_scores_and_keeps_its_best_epoch_before_the_kill(tmp_path):
    """Killed after its first epoch, whose score (made 1.0 here) no later epoch reaches:
    the resumed trial still scores that epoch, and keras-tuner's checkpoint (a new
    ``SaveBestEpoch`` per run of the trial) keeps its weights."""
    from keras_tuner.src.engine import tuner_utils

    trials = hypermodel(tmp_path, epochs=3)
    hp = keras_tuner.HyperParameters()
    objective = keras_tuner.Objective("val_accuracy", "max")
    checkpoint = tmp_path / "trial_0" / "checkpoint.weights.h5"
    with pytest.raises(SystemExit):
        trials.fit(hp, trials.build(hp), prepared(), validation_data=data(), epochs=3,
                   callbacks=[tuner_utils.SaveBestEpoch(objective, str(checkpoint)),
                              KillAtEpoch(1)])
    history = tmp_path / "trial_0" / "execution0" / training.HISTORY_FILE
    header, first = (line.split(",") for line in history.read_text().split()[:2])
    first[header.index("val_accuracy")] = "1.0"
    history.write_text(",".join(header) + "\n" + ",".join(first) + "\n")
    saved = checkpoint.read_bytes()
    trials.start_trial("0", str(tmp_path / "trial_0"))
    model = trials.build(hp)
    metrics = trials.fit(hp, model, prepared(), validation_data=data(), epochs=3,
                         callbacks=[tuner_utils.SaveBestEpoch(objective, str(checkpoint))])
    assert len(model.history.history["val_accuracy"]) == 2  # epochs 2 and 3 trained
    assert max(model.history.history["val_accuracy"]) < 1.0
    assert metrics["val_accuracy"] == 1.0
    assert checkpoint.read_bytes() == saved


def test_a_trial_whose_first_backup_failed_is_scored_on_its_own_epochs(tmp_path):
    # A full disk in the first epoch's backup left its random states but named no epoch:
    # the rerun trained afresh, yet took the failed attempt's history as its own, whose
    # score its epochs then had to beat to be keras-tuner's checkpoint.
    from keras_tuner.src.engine import tuner_utils

    trials = hypermodel(tmp_path, epochs=1)
    hp = keras_tuner.HyperParameters()
    execution = tmp_path / "trial_0" / "execution0"
    (execution / rundir.BACKUP_DIR).mkdir(parents=True)
    (execution / rundir.BACKUP_DIR / "random_states_1.npz").write_bytes(b"")
    (execution / training.HISTORY_FILE).write_text("epoch,val_accuracy,val_loss\n0,1.0,0.0\n")
    checkpoint = tmp_path / "trial_0" / "checkpoint.weights.h5"
    model = trials.build(hp)
    metrics = trials.fit(hp, model, prepared(), validation_data=data(), epochs=1, callbacks=[
        tuner_utils.SaveBestEpoch(keras_tuner.Objective("val_accuracy", "max"), str(checkpoint))])
    trained = model.history.history["val_accuracy"]
    assert len(trained) == 1 and trained[0] < 1.0
    assert metrics["val_accuracy"] == pytest.approx(trained[0]) and checkpoint.exists()


def test_a_trial_interrupted_in_its_second_execution_runs_no_finished_one_again(tmp_path):
    trials = hypermodel(tmp_path, epochs=2)
    hp = keras_tuner.HyperParameters()
    first = trials.fit(hp, trials.build(hp), prepared(), validation_data=data(), epochs=2)
    with pytest.raises(SystemExit):
        trials.fit(hp, trials.build(hp), prepared(), validation_data=data(), epochs=2,
                   callbacks=[KillAtEpoch(1)])
    trials.start_trial("0", str(tmp_path / "trial_0"))  # keras-tuner runs the trial again
    model = trials.build(hp)
    assert trials.fit(hp, model, prepared(), validation_data=data(), epochs=2) == first
    assert not model.history.history  # execution 0 trained nothing again
    model = trials.build(hp)
    trials.fit(hp, model, prepared(), validation_data=data(), epochs=2)
    assert len(model.history.history["val_accuracy"]) == 1  # execution 1 from its backup
    trials.end_trial()  # the backups stay until the oracle recorded the trial's end
    assert len(list((tmp_path / "trial_0").glob(f"execution*/{training.BACKUP_DIR}"))) == 2
    trials.remove_backups(str(tmp_path / "trial_0"))
    assert not list((tmp_path / "trial_0").glob(f"execution*/{training.BACKUP_DIR}"))


class KillAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            _kill()


def _kill(*args, **kwargs):
    raise SystemExit("killed before the backup is removed")


def test_each_trial_trains_at_its_own_batch_size(tmp_path):
    batches = rebatched(data(32), 16, 32, EXAMPLES)
    assert int(batches.cardinality()) == 4
    assert [int(images.shape[0]) for images, _ in batches] == [16] * 4
    assert rebatched(data(32), 32, 32, EXAMPLES) is not None


def test_a_diverged_loss_fails_the_trial(tmp_path):
    trials = hypermodel(tmp_path, optimizer="sgd", learning_rate=1e9)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="The training loss became"):
        trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)
    # The search chose the rate: "lower --learning_rate and run again" led to a refusal.
    failure = trials.end_trial()
    assert re.fullmatch(r"The training loss became nan at epoch 1, step \d+: the trial diverged "
                        r"at a learning rate of [0-9.]+e\+0[89]\.", failure), failure  # cosine-annealed


def test_running_out_of_memory_fails_the_trial_and_a_bug_stops_the_search(tmp_path,
                                                                        monkeypatch):
    trials = hypermodel(tmp_path)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)

    def out_of_memory(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(loop, "fit", out_of_memory)
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="ran out of memory"):
        trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(loop, "fit", bug)
    with pytest.raises(keras_tuner.errors.FatalError, match="internal error") as error:
        trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)
    assert isinstance(error.value.__cause__, KeyError)


def test_a_network_that_does_not_build_fails_its_trial_only(tmp_path):
    space = SearchSpace(architecture={"width_multiplier": Choice((1.0, -1.0), default=1.0)},
                        training={})
    trials = hypermodel(tmp_path, space=space)
    hp = keras_tuner.HyperParameters()
    trials.build(hp)
    hp.values["width_multiplier"] = -1.0
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="width_multiplier must be"):
        trials.build(hp)
    trials.end_trial()
    with pytest.raises(ValueError, match="width_multiplier must be"):  # outside a trial
        trials.build(hp)


def test_the_trial_scores_its_best_epoch():
    history = {"loss": [2.0, 1.0, 0.5], "val_accuracy": [0.5, 0.9, 0.8],
               "val_loss": [1.5, 0.7, 0.6], "accuracy": [0.3, 0.6, 0.9], "learning_rate": [1] * 3}
    assert best_epoch(history, "val_accuracy") == {"loss": 1.0, "accuracy": 0.6,
                                                   "val_loss": 0.7, "val_accuracy": 0.9}
    assert best_epoch(history, "val_loss")["val_loss"] == 0.6
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="never a finite number"):
        best_epoch({"val_accuracy": [float("nan")]}, "val_accuracy")


def test_auxiliary_heads_report_the_main_heads_accuracy_and_cross_entropy():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3)(inputs)
    model = keras.Model(inputs, [keras.layers.Dense(2, name="predictions")(hidden),
                                 keras.layers.Dense(2, name="aux")(hidden)])
    logs = {"predictions_accuracy": 0.5, "val_predictions_accuracy": 0.25,
            "predictions_cross_entropy": 0.7, "val_predictions_cross_entropy": 0.8,
            "loss": 1.0, "val_loss": 1.2}  # the losses: both heads', weight decay's
    MainHeadLogs(model).on_epoch_end(0, logs)
    assert (logs["accuracy"], logs["val_accuracy"]) == (0.5, 0.25)
    assert (logs["loss"], logs["val_loss"]) == (0.7, 0.8)
    assert "predictions_cross_entropy" not in logs


def test_a_trials_losses_are_plain_cross_entropies_whatever_its_decay_and_smoothing(tmp_path):
    # Keras's loss adds the weight-decay term and smooths the labels: a val_loss search
    # preferred the trials with least of either, whatever their accuracy.
    trials = hypermodel(tmp_path, weight_decay=0.05, label_smoothing=0.1, epochs=1)
    hp = keras_tuner.HyperParameters()
    model = trials.build(hp)
    metrics = trials.fit(hp, model, prepared(), validation_data=data(), epochs=1)
    images, labels = (np.concatenate(parts) for parts in zip(*data().as_numpy_iterator()))
    plain = float(keras.losses.SparseCategoricalCrossentropy()(
        labels, model.predict(images, verbose=0)))
    assert metrics["val_loss"] == pytest.approx(plain, rel=1e-4)
    compiled = model.evaluate(data(), verbose=0, return_dict=True)["loss"]
    assert compiled > plain + 0.01  # what the trial reported before


def test_the_first_trial_too_short_for_its_batch_statistics_is_warned_once(tmp_path, caplog):
    # Trial 0, the default lenet5_modern, has no batch normalization: a later trial with
    # batch_norm=True went untold; and Hyperband's first rounds train fewer epochs than
    # --epochs, which the steps were counted from.
    trials = hypermodel(tmp_path, epochs=50)

    def network(normalized):
        inputs = keras.Input((4,))
        hidden = keras.layers.BatchNormalization()(inputs) if normalized else inputs
        return keras.Model(inputs, keras.layers.Dense(2)(hidden))

    with caplog.at_level("WARNING"):
        trials.tell_unsettled_batch_norm(network(False), 32, 1)
        assert not caplog.text
        trials.tell_unsettled_batch_norm(network(True), 32, 3)  # 3 epochs of 2 steps
        trials.tell_unsettled_batch_norm(network(True), 32, 1)
    assert caplog.text.count("batch normalizations keep") == 1
    assert "keep 94.1% of their starting statistics after a trial's 6 steps" in caplog.text
