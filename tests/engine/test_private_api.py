"""The private Keras, TensorFlow and keras-tuner API in engine.private_api still means
what it did.

If one of these fails after an upgrade, Keras or TensorFlow changed the private
name it wraps: update engine/private_api.py, nothing else uses it.
"""

import os

import keras
import numpy as np

from engine import private_api


def tiny_model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_backup_and_restore_reports_its_epoch_through_the_model(tmp_path):
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    model = tiny_model()
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(str(tmp_path), delete_checkpoint=False)])
    resumed = tiny_model()
    assert private_api.restored_epoch(resumed) is None
    callback = keras.callbacks.BackupAndRestore(str(tmp_path))
    callback.set_model(resumed)
    callback.on_train_begin()
    assert private_api.restored_epoch(resumed) == 2
    private_api.forget_restored_epoch(resumed)
    assert private_api.restored_epoch(resumed) is None


def test_optimizer_keys_and_slots_match_the_variables_update_step_receives():
    model = tiny_model()
    keys, indices = [], []

    class Recording(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            keys.append(private_api.variable_key(self, variable))
            indices.append(private_api.variable_index(self, variable))
            return super().update_step(gradient, variable, learning_rate)

    recording = Recording()
    variables = model.trainable_variables
    recording.apply_gradients([(np.ones(v.shape, "float32"), v) for v in variables])
    assert sorted(keys) == sorted(private_api.variable_key(recording, v) for v in variables)
    assert len(set(keys)) == len(variables)
    # A slot variable (one per model variable) is found by the variable's index.
    assert sorted(indices) == list(range(len(variables)))
    assert [private_api.variable_index(recording, v) for v in variables] == \
        list(range(len(variables)))


def test_a_tracked_loss_is_the_loss_the_logs_report():
    model = tiny_model()
    model.evaluate(np.ones((1, 3), "float32"), np.ones((1, 2), "float32"), verbose=0)
    model.reset_metrics()
    for loss in (1.0, 4.0):
        private_api.track_loss(model, loss)
    assert model.get_metrics_result()["loss"] == 2.5


def test_op_determinism_turns_on_and_off():
    before = private_api.op_determinism()
    try:
        private_api.set_op_determinism(True)
        assert private_api.op_determinism()
        private_api.set_op_determinism(False)
        assert not private_api.op_determinism()
    finally:
        private_api.set_op_determinism(before)


def test_keras_tuner_saves_all_its_state_through_the_writer(tmp_path):
    import keras_tuner

    class Quadratic(keras_tuner.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            return trial.hyperparameters.Float("x", -1.0, 1.0) ** 2

    written = []

    def save_json(path, state):
        written.append(str(path)[len(str(tmp_path)) + 1:])
        return "{}"

    with private_api.keras_tuner_state_writer(save_json):
        tuner = Quadratic(objective=keras_tuner.Objective("score", "min"), max_trials=1,
                          directory=str(tmp_path), project_name="p")
        tuner.search(verbose=0)
    assert {"p/oracle.json", "p/tuner0.json", "p/trial_0/trial.json"} <= set(written)
    assert not (tmp_path / "p" / "oracle.json").exists()  # nothing else wrote it


def test_keras_tuner_prints_no_traceback_for_a_failed_trial_in_the_block(tmp_path, capsys):
    import keras_tuner

    class Failing(keras_tuner.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            raise keras_tuner.errors.FailedTrialError("no good")

    def search(project):
        Failing(objective=keras_tuner.Objective("score", "min"), max_trials=1,
                directory=str(tmp_path), project_name=project).search(verbose=0)

    search("default")
    assert "Traceback" in capsys.readouterr().err  # keras-tuner's config.DEBUG, on
    with private_api.keras_tuner_quiet_failures():
        search("quiet")
    assert "Traceback" not in capsys.readouterr().err
    search("again")
    assert "Traceback" in capsys.readouterr().err  # restored after the block


def one_trial(tmp_path, fit, objective: str) -> list:
    """The callbacks keras-tuner gives the ``fit(model, callbacks)`` of a one-trial search
    of a one-unit network (which returns the trial's ``objective``)."""
    import keras_tuner

    given = []

    class Recorded(keras_tuner.HyperModel):
        def build(self, hp):
            return keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            given.extend(callbacks)
            fit(model, callbacks)
            return {objective: 0.5}

    keras_tuner.RandomSearch(Recorded(), objective=objective, max_trials=1,
                             directory=str(tmp_path), project_name="p").search(verbose=0)
    return given


def test_keras_tuners_best_epoch_checkpoint_keeps_a_value_it_is_given(tmp_path):
    given = one_trial(tmp_path, lambda model, callbacks: None, "val_accuracy")
    private_api.keras_tuner_keep_best_epoch(given, 0.75)
    private_api.keras_tuner_keep_best_epoch(given, 0.25)  # not better: 0.75 stays
    assert [callback.best_value for callback in given if hasattr(callback, "best_value")] == [0.75]


def test_keras_tuners_best_epoch_checkpoint_is_written_whole_then_renamed(tmp_path,
                                                                         monkeypatch):
    # It was written in place: a kill during the write left a truncated checkpoint.
    from keras_tuner.src.engine import tuner_utils

    def fit(model, callbacks):
        private_api.keras_tuner_atomic_checkpoint(callbacks)
        private_api.keras_tuner_atomic_checkpoint(callbacks)  # once is once
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=1, verbose=0, callbacks=callbacks)

    written = []
    save_weights = keras.Model.save_weights
    monkeypatch.setattr(keras.Model, "save_weights", lambda model, path, **kwargs: (
        written.append(os.path.basename(path)), save_weights(model, path, **kwargs)))
    given = one_trial(tmp_path, fit, "loss")
    [saver] = [callback for callback in given
               if isinstance(callback, tuner_utils.SaveBestEpoch)]
    assert written == ["checkpoint.partial.weights.h5"]
    assert sorted(os.listdir(os.path.dirname(saver.final_filepath))) == [
        "build_config.json", "checkpoint.weights.h5", "trial.json"]
    keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]).load_weights(
        saver.final_filepath)  # a whole weights file


def test_decoupled_weight_decay_scales_per_variable():
    class HalfDecayForTheBias(private_api.ScaledWeightDecay, keras.optimizers.AdamW):
        def weight_decay_scale(self, variable):
            return 0.5 if variable.path.endswith("bias") else 1.0

    model = tiny_model()
    dense = model.layers[-1]
    dense.bias.assign(np.ones(2, "float32"))
    kernel, bias = dense.kernel.numpy(), dense.bias.numpy()
    optimizer = HalfDecayForTheBias(learning_rate=0.1, weight_decay=0.2)
    # Zero gradients: Adam's step is zero, so only the decay moves the weights.
    optimizer.apply([np.zeros_like(kernel), np.zeros_like(bias)], [dense.kernel, dense.bias])
    np.testing.assert_allclose(dense.kernel.numpy(), kernel * (1 - 0.1 * 0.2), rtol=1e-6)
    np.testing.assert_allclose(dense.bias.numpy(), bias * (1 - 0.1 * 0.2 * 0.5), rtol=1e-6)
    assert optimizer.weight_decay == 0.2


def test_keras_tuner_draws_the_first_trials_values_where_they_can_be_given(tmp_path):
    import keras_tuner

    class Given(private_api.KerasTunerFirstValues, keras_tuner.oracles.RandomSearchOracle):
        def first_values(self):
            return {"x": 7}

    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Int("x", 0, 9)
    values = []

    class Recorded(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            values.append(trial.hyperparameters.get("x"))
            return float(values[-1])

    Recorded(Given(objective=keras_tuner.Objective("score", "min"), max_trials=4,
                   hyperparameters=hyperparameters, seed=0),
             directory=str(tmp_path), project_name="p").search(verbose=0)
    assert values[0] == 7 and len(values) == 4
    assert 7 not in values[1:] and len(set(values)) == 4  # the first is tried, never redrawn
