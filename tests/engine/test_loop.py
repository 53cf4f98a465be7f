"""engine.loop.fit: model.fit's arguments, several steps per call, resuming only from a
backup, no model kept alive by its cache, Ctrl-C (and SIGTERM) held while an epoch's records
are written."""

import gc
import signal
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from engine import interrupts, loop, training
from recipes import TrainingConfig


def tiny_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, recipes.common.classifier(hidden, 2, "softmax"))


def tiny_data(count=32):
    x = np.random.default_rng(0).normal(size=(count, 4)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int64"))).batch(8)


def compiled():
    model = tiny_model()
    training.compile_model(model, TrainingConfig(optimizer="sgd", learning_rate=0.1))
    return model


def test_fit_takes_model_fits_argument_names(capsys):
    model = compiled()
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    history = loop.fit(model, x=tiny_data(), validation_data=tiny_data(), epochs=4,
                       initial_epoch=2, callbacks=[record], verbose=0)
    assert seen == [2, 3]
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert "Resuming" not in capsys.readouterr().out  # an initial epoch is not a resume


def test_an_initial_epoch_trains_on_that_epochs_pass_over_the_data():
    # A continued Hyperband trial (initial_epoch=1, a new pipeline) trained its second
    # epoch on the first pass's shuffle again, where a run through both epochs draws a
    # new one.
    def reshuffled():
        return tiny_data().unbatch().shuffle(32, seed=5, reshuffle_each_iteration=True).batch(8)

    final = []
    for continued in (False, True):
        keras.utils.set_random_seed(1)
        model = compiled()
        loop.fit(model, reshuffled(), epochs=1 if continued else 2, verbose=0)
        if continued:  # a new model from the first epoch's checkpoint, on a new pipeline
            first_epoch = model
            model = compiled()
            model.set_weights(first_epoch.get_weights())
            model.optimizer.build(model.trainable_variables)
            for variable, saved in zip(model.optimizer.variables,
                                       first_epoch.optimizer.variables):
                variable.assign(saved)
            loop.fit(model, reshuffled(), epochs=2, initial_epoch=1, verbose=0)
        final.append(model.get_weights())
    for through, continued in zip(*final):
        np.testing.assert_array_equal(through, continued)


def weights_after(steps_per_execution, data, epochs=2):
    keras.utils.set_random_seed(1)
    model = compiled()
    batches = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: batches.append(("begin", batch)),
        on_train_batch_end=lambda batch, logs: batches.append(("end", batch, logs["loss"])))
    history = loop.fit(model, data, validation_data=tiny_data(), epochs=epochs, verbose=0,
                       callbacks=[record], steps_per_execution=steps_per_execution)
    return model.get_weights(), history.history, batches


@pytest.mark.parametrize("known_length", [True, False])
def test_several_steps_per_call_train_as_one_step_per_call(known_length):
    data = tiny_data(count=40)  # 5 batches: calls of 3 and 2 steps
    if not known_length:
        data = data.filter(lambda x, y: True)
        assert loop._cardinality(data) is None
    one, one_history, one_batches = weights_after(1, data)
    three, three_history, three_batches = weights_after(3, data)
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(one_history[name], three_history[name], rtol=1e-5)
    # Each call is one batch to the callbacks: begins at its first step, ends at its last
    # with the logs after it, as under model.fit(steps_per_execution=3). Where the length
    # is unknown, each epoch ends with one call that finds no batch (begun, never ended).
    ends = [event for event in three_batches if event[0] == "end"]
    assert [event[1] for event in ends] == [2, 4, 2, 4]
    begins = [event[1] for event in three_batches if event[0] == "begin"]
    assert begins == ([0, 3] if known_length else [0, 3, 5]) * 2
    one_ends = [event for event in one_batches if event[0] == "end"]
    assert [event[2] for event in ends] == pytest.approx(
        [event[2] for event in one_ends if event[1] in (2, 4)], rel=1e-5)


def test_models_trained_in_one_process_are_freed():
    references = []
    for _ in range(3):
        model = compiled()
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=1, verbose=0)
        loop.evaluate(model, tiny_data())
        references.append(weakref.ref(model))
        del model
    gc.collect()
    assert [reference() for reference in references] == [None, None, None]


def test_models_trained_one_after_another_are_not_reported_as_retracing(tensorflow_warnings):
    # Each model's step functions trace for the full and for the last, smaller batch:
    # four models in a row are 16 traces of the code TensorFlow keys its counts by.
    for steps_per_execution in (1, 1, 3, 3):
        loop.fit(compiled(), tiny_data(count=36), validation_data=tiny_data(count=12),
                 epochs=1, verbose=0, steps_per_execution=steps_per_execution)
    assert not [message for message in tensorflow_warnings if "retracing" in message]
    # The same warning about a function made in a loop elsewhere still shows.
    for size in range(1, 7):
        tf.function(lambda x: x + 1)(tf.zeros(size))
    assert [message for message in tensorflow_warnings if "retracing" in message]


@pytest.fixture
def python_sigint():
    """Python's Ctrl-C handler, whatever this process inherited: started in the background
    by a shell without job control, it starts with SIGINT ignored and no handler. SIGTERM's
    handler is train.py's."""
    previous_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_sigterm = signal.signal(signal.SIGTERM, interrupts.raise_terminated)
    yield
    signal.signal(signal.SIGINT, previous_sigint)
    signal.signal(signal.SIGTERM, previous_sigterm)


def test_a_ctrl_c_during_the_epochs_records_is_held_until_they_are_written(tmp_path,
                                                                            python_sigint):
    class InterruptWhileRecording(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            signal.raise_signal(signal.SIGINT)  # lands between the backup and the CSV row

    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3)
    model = compiled()
    callbacks = training.run_callbacks(config, str(tmp_path))
    callbacks.insert(1, InterruptWhileRecording())
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=3,
                 callbacks=callbacks, verbose=0)
    assert training.backed_up_epochs(str(tmp_path / training.BACKUP_DIR)) == 1
    rows = (tmp_path / training.HISTORY_FILE).read_text().strip().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0"]


@pytest.mark.parametrize("number, stopped", [(signal.SIGINT, KeyboardInterrupt),
                                             (signal.SIGTERM, interrupts.Terminated)])
def test_a_ctrl_c_as_training_ends_stops_the_run(number, stopped, python_sigint, capsys):
    # Held, said, then dropped: the run went on to evaluate, save and export, exit 0.
    class InterruptAsTrainingEnds(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            signal.raise_signal(number)

    with pytest.raises(stopped):
        loop.fit(compiled(), tiny_data(), epochs=1, verbose=0,
                 callbacks=[InterruptAsTrainingEnds()])
    assert "training stops when this step is done" in capsys.readouterr().err


class CtrlCBeforeStep(keras.callbacks.Callback):
    """Presses Ctrl-C (or sends ``number``) ``presses`` times as step ``step`` begins;
    records the steps that end."""

    def __init__(self, step, presses, number=signal.SIGINT):
        super().__init__()
        self.step, self.presses, self.number, self.ended = step, presses, number, []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.step:
            for _ in range(self.presses):
                signal.raise_signal(self.number)

    def on_train_batch_end(self, batch, logs=None):
        self.ended.append(batch)


@pytest.mark.parametrize("number, name", [(signal.SIGINT, "Ctrl-C"),
                                          (signal.SIGTERM, "SIGTERM")])
def test_a_ctrl_c_during_a_step_stops_training_after_that_step(number, name, python_sigint,
                                                               capsys):
    model = compiled()
    ctrl_c = CtrlCBeforeStep(step=2, presses=1, number=number)
    with pytest.raises(KeyboardInterrupt) as interruption:
        loop.fit(model, tiny_data(), epochs=3, verbose=0, callbacks=[ctrl_c])
    # Under Python's own handler the interrupt would end the callback, before step 2 runs.
    assert ctrl_c.ended == [0, 1, 2]
    assert int(model.optimizer.iterations.numpy()) == 3
    assert (interruption.type is interrupts.Terminated) == (number == signal.SIGTERM)
    assert (f"{name}: training stops when this step is done ({name} again: at once)."
            in capsys.readouterr().err)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is interrupts.raise_terminated


def test_a_ctrl_c_in_a_call_of_several_steps_stops_training_after_that_call(python_sigint,
                                                                           capsys):
    # It said "when this step is done", and the call's other steps ran.
    model = compiled()
    ctrl_c = CtrlCBeforeStep(step=3, presses=1)
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(count=64), epochs=1, verbose=0, callbacks=[ctrl_c],
                 steps_per_execution=3)
    assert ctrl_c.ended == [2, 5]  # calls of steps 0-2 and 3-5
    assert ("Ctrl-C: training stops when this call of 3 steps is done (Ctrl-C again: at once)."
            in capsys.readouterr().err)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_second_ctrl_c_stops_training_at_once(number, python_sigint):
    model = compiled()
    ctrl_c = CtrlCBeforeStep(step=2, presses=2, number=number)
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(), epochs=3, verbose=0, callbacks=[ctrl_c])
    assert ctrl_c.ended == [0, 1]
    assert int(model.optimizer.iterations.numpy()) == 2


def test_sigterm_is_left_alone_where_train_py_did_not_take_it_over():
    class SeeHandler(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.handler = signal.getsignal(signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        seen = SeeHandler()
        loop.fit(compiled(), tiny_data(), epochs=1, verbose=0, callbacks=[seen])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen.handler is signal.SIG_DFL  # a library caller's process: kill still kills


def test_resuming_drops_history_rows_the_backup_does_not_hold(tmp_path):
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3)
    model = compiled()
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(), epochs=3, verbose=0, callbacks=[
            *training.run_callbacks(config, str(tmp_path)),
            keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
                _raise() if epoch == 1 else None))])
    history = tmp_path / training.HISTORY_FILE
    # A kill after epoch 1's row but before its backup: the history runs ahead.
    (tmp_path / training.BACKUP_DIR / "training_metadata.json").write_text(
        '{"epoch": 1, "batch": 0}')
    model = compiled()
    loop.fit(model, tiny_data(), epochs=3, verbose=0,
             callbacks=training.run_callbacks(config, str(tmp_path)))
    epochs = [row.split(",")[0] for row in history.read_text().strip().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]


def _raise():
    raise KeyboardInterrupt
