"""The one training path: ``model.fit``'s contract on ``tf.distribute`` steps.

Keras 3's ``model.fit`` breaks under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585: it reduces the first distributed batch, and later the
metric scalars, with a multi-worker all-reduce that rejects them). Keras's own
``train_step`` and ``test_step`` run fine inside ``strategy.run``, so this
module keeps them — the compiled loss (loss weights, label smoothing,
regularization, loss scaling), the optimizer (EMA, clipping) and the compiled
metrics — and replaces only the driver: the epoch loop that ``fit`` and
``evaluate`` run. :func:`fit` takes ``model.fit``'s arguments (so keras-tuner's
``HyperModel.fit`` can hand them over) and drives the same Keras callbacks
(progress bar, History, BackupAndRestore, ModelCheckpoint, TensorBoard,
CSVLogger, learning-rate schedules, the divergence stop) in the same order as
``fit``, for every strategy, the default one included, so a run behaves the same
on one CPU, on all local GPUs or on several machines.

A Ctrl-C stops training where the loop can stop cleanly: after the step call
under way, or, while the callbacks record an epoch (history row, checkpoint,
backup), after all of them, so the records never disagree about which epochs ran.
The ``KeyboardInterrupt`` is raised by the loop itself, never from inside
TensorFlow's Python code (where an exception can leave its runtime's state half
updated; a Ctrl-C there crashed the process once). A second Ctrl-C outside the
records stops at once. A SIGTERM is held the same way where ``train.py`` made it raise
(:mod:`engine.interrupts`).
"""

from __future__ import annotations

import weakref

import keras
import tensorflow as tf

from engine import interrupts, private_api, quiet
from engine.optimizers import averaged_weights


def fit(model: keras.Model, x: tf.data.Dataset, validation_data: tf.data.Dataset | None = None,
        epochs: int = 1, initial_epoch: int = 0, callbacks=None, verbose: int = 1,
        jit_compile: bool = False, steps_per_execution: int = 1) -> keras.callbacks.History:
    """Trains a compiled ``model`` (built under ``tf.distribute.get_strategy()``) on the
    batches of ``x`` from ``initial_epoch`` to ``epochs``, as ``model.fit`` does.

    A ``BackupAndRestore`` among ``callbacks`` that finds a backup restores the
    model and resumes at the epoch after the one it saved, and says so.

    ``steps_per_execution`` (Keras's ``compile`` argument of that name) runs that many
    training steps per call of the compiled function, an epoch's last call fewer: the
    batch callbacks then see one batch per call (``on_train_batch_begin`` with its first
    step, ``on_train_batch_end`` with its last step and the logs after it), as under
    ``model.fit``. Epochs, validation and the epoch callbacks are unchanged.

    One departure: where the optimizer averages the weights (``use_ema``, ``--ema``),
    each epoch's validation scores the averaged weights, the ones a run saves
    (:func:`engine.optimizers.averaged_weights`), so the validation accuracy, the best checkpoint and a
    search's objective judge the model that is kept; ``model.fit`` scores the last
    weights unless Keras's ``SwapEMAWeights`` swaps them, by sums and differences that
    leave the training weights changed by rounding.
    """
    strategy = tf.distribute.get_strategy()
    _build_state(model, x)
    train_steps = _step_function(model, "train", jit_compile, steps_per_execution)
    distributed_train = strategy.experimental_distribute_dataset(x)
    steps = _cardinality(x)
    callbacks = keras.callbacks.CallbackList(
        list(callbacks or ()), add_history=True, add_progbar=verbose != 0, verbose=verbose,
        epochs=epochs, steps=steps, model=model)

    model.stop_training = False
    private_api.forget_restored_epoch(model)
    with interrupts.held_while_training(steps_per_execution) as interruptions:
        callbacks.on_train_begin()
        restored = private_api.restored_epoch(model)  # set by BackupAndRestore
        if restored:
            initial_epoch = restored
            print(f"Resuming from the backup: epoch {restored + 1} of {epochs}."
                  if restored < epochs else
                  f"Resuming from the backup: {'the' if epochs == 1 else f'all {epochs}'} "
                  f"epoch{'' if epochs == 1 else 's'} {'is' if epochs == 1 else 'are'} done.",
                  flush=True)
        # Each pass over ``x`` draws its shuffle and augmentation seeds when its iterator is
        # made: making (and dropping) one per epoch before ``initial_epoch`` (the backup's,
        # or a continued Hyperband trial's) gives epoch e the data of pass e, as in a run
        # that went through every epoch.
        for _ in range(min(initial_epoch, epochs)):
            iter(distributed_train)

        def stop_training() -> bool:
            interruptions.raise_if_pending()
            return model.stop_training

        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callbacks.on_epoch_begin(epoch)
            logs = _run_steps(train_steps, distributed_train, steps,
                              callbacks.on_train_batch_begin, callbacks.on_train_batch_end,
                              stop=stop_training)
            epoch_logs = _numpy(logs)
            if validation_data is not None:
                with averaged_weights(model):
                    val_logs = _evaluate(model, validation_data, callbacks, jit_compile,
                                         steps_per_execution,
                                         stop=interruptions.raise_if_pending)
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            epoch_logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            with interruptions.held():
                callbacks.on_epoch_end(epoch, epoch_logs)
            if stop_training():
                break
        if epochs > initial_epoch or restored:  # restored: the backup holds raw weights
            model.optimizer.finalize_variable_values(model.trainable_weights)  # EMA weights
        callbacks.on_train_end(logs=epoch_logs)
        interruptions.raise_if_pending()  # one that came as training ended stops the run too
    return model.history


def evaluate(model: keras.Model, x: tf.data.Dataset,
             callbacks: keras.callbacks.CallbackList | None = None,
             jit_compile: bool = False, steps_per_execution: int = 1) -> dict[str, float]:
    """The compiled loss and metrics of ``model`` over the batches of ``x``, as
    ``model.evaluate`` with ``return_dict=True``."""
    return _evaluate(model, x, callbacks, jit_compile, steps_per_execution)


def _evaluate(model: keras.Model, x: tf.data.Dataset,
              callbacks: keras.callbacks.CallbackList | None, jit_compile: bool,
              steps_per_execution: int, stop=lambda: False) -> dict[str, float]:
    strategy = tf.distribute.get_strategy()
    _build_state(model, x)
    test_steps = _step_function(model, "test", jit_compile, steps_per_execution)
    callbacks = callbacks or keras.callbacks.CallbackList(model=model)
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = _numpy(_run_steps(test_steps, strategy.experimental_distribute_dataset(x),
                             _cardinality(x), callbacks.on_test_batch_begin,
                             callbacks.on_test_batch_end, stop=stop))
    callbacks.on_test_end(logs)
    return logs


def _run_steps(function, distributed_dataset, steps: int | None, on_batch_begin, on_batch_end,
               stop=lambda: False) -> dict:
    """One pass over ``distributed_dataset``, ``function``'s calls each taking its next
    batches from one iterator, with the batch callbacks around every call; returns the
    logs of the last call (empty if there was no batch)."""
    iterator = iter(distributed_dataset)
    logs, step = {}, 0
    while steps is None or step < steps:
        on_batch_begin(step)
        count, call_logs = function(iterator)
        count = int(count)
        if count == 0:  # the data ended (its length was unknown)
            break
        logs, step = call_logs, step + count
        on_batch_end(step - 1, logs)
        if stop():
            break
    return logs


def _build_state(model: keras.Model, dataset: tf.data.Dataset) -> None:
    """Creates the optimizer, loss and metric variables in cross-replica context.

    Variables must exist before ``strategy.run`` traces a step (a replica may
    not create them); one local batch through Keras's own loss and metric
    computation builds them, then the metrics are reset.
    """
    if _compiled_steps(model):
        return
    x, y = next(iter(dataset.take(1)))
    y_pred = model(x, training=False)
    model.compute_loss(x, y, y_pred, training=False)
    model.compute_metrics(x, y, y_pred, sample_weight=None)
    model.reset_metrics()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


@quiet.made_per_model  # a search's trials, one model after another
def _step_function(model: keras.Model, kind: str, jit_compile: bool, steps_per_execution: int):
    """A function of a distributed dataset's iterator that runs ``model.train_step`` (or
    ``test_step``) on every replica's share of its next batch, up to
    ``steps_per_execution`` times, and returns how many batches it ran and the metric
    results across replicas.

    With one step per call, the batch is taken in Python and the compiled function runs
    one step on it: the path every strategy supports (a data-dependent ``break`` inside
    the compiled loop fails under ``MultiWorkerMirroredStrategy``). With more, the
    batches are taken inside the compiled function (no Python between steps, one call per
    ``steps_per_execution`` steps), on one worker. Made once per model, kind, jit setting
    and steps per call, so validation does not retrace every epoch. The functions reach
    the model through a weak reference: the cache that keeps them must not keep the
    model alive.
    """
    functions = _compiled_steps(model)
    key = (kind, jit_compile, steps_per_execution)
    if key in functions:
        return functions[key]
    strategy = tf.distribute.get_strategy()
    reference = weakref.ref(model)

    def replica_step(batch):
        model = reference()
        return model.train_step(batch) if kind == "train" else model.test_step(batch)

    replica_function = tf.function(replica_step, jit_compile=jit_compile, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def distributed_step(batch):
        strategy.run(replica_function, args=(batch,))
        return _metric_results(reference())

    def one_step(iterator):
        batch = next(iterator, None)
        return (0, {}) if batch is None else (1, distributed_step(batch))

    # An explicit while loop carrying the next batch, as Keras's own loop of several
    # steps: autograph's loop with a break on has_value() fails under a mirrored strategy
    # of several replicas ("You must feed a value for placeholder tensor").
    def more(count, batch):
        return tf.logical_and(count < steps_per_execution, batch.has_value())

    @tf.function(reduce_retracing=True, autograph=False)
    def distributed_steps(iterator):
        def step(count, batch):
            strategy.run(replica_function, args=(batch.get_value(),))
            count += 1
            # No batch taken past the call's last step: the next call starts with it.
            return count, tf.cond(count < steps_per_execution, iterator.get_next_as_optional,
                                  lambda: batch)

        count, _ = tf.while_loop(more, step, [tf.constant(0), iterator.get_next_as_optional()])
        with tf.control_dependencies([count]):
            return count, _metric_results(reference())

    functions[key] = one_step if steps_per_execution == 1 else distributed_steps
    return functions[key]


# model -> (the optimizer it was compiled with,
#           {(kind, jit_compile, steps_per_execution): step function})
_STEP_FUNCTIONS: "weakref.WeakKeyDictionary[keras.Model, tuple]" = weakref.WeakKeyDictionary()


def _compiled_steps(model: keras.Model) -> dict:
    """The step functions made for ``model`` as currently compiled (a new compile, with
    its new optimizer, starts afresh)."""
    optimizer, functions = _STEP_FUNCTIONS.get(model, (None, None))
    if optimizer is None or optimizer() is not model.optimizer:
        functions = {}
        _STEP_FUNCTIONS[model] = (weakref.ref(model.optimizer), functions)
    return functions


def _metric_results(model: keras.Model) -> dict:
    results = {}
    for metric in model.metrics:
        value = metric.result()
        results.update(value if isinstance(value, dict) else {metric.name: value})
    return results


def _numpy(logs: dict) -> dict:
    return {name: float(value) for name, value in logs.items()}


def _cardinality(dataset: tf.data.Dataset) -> int | None:
    count = int(dataset.cardinality())
    return count if count >= 0 else None
