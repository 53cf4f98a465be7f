"""The one training path: ``model.fit``'s contract on ``tf.distribute`` steps.

Keras 3's ``model.fit`` breaks under ``MultiWorkerMirroredStrategy``
(keras-team/keras#20585: it reduces the first distributed batch, and later the
metric scalars, with a multi-worker all-reduce that rejects them). Keras's own
``train_step`` and ``test_step`` run fine inside ``strategy.run``, so this
module keeps them — the compiled loss (loss weights, label smoothing,
regularization, loss scaling), the optimizer (EMA, clipping) and the compiled
metrics — and replaces only the driver: the epoch loop that ``fit`` and
``evaluate`` run. It drives the same Keras callbacks (progress bar, History,
BackupAndRestore, ModelCheckpoint, TensorBoard, CSVLogger, learning-rate
schedules, TerminateOnNaN) in the same order as ``fit``, for every strategy,
the default one included, so a run behaves the same on one CPU, on all local
GPUs or on several machines.
"""

from __future__ import annotations

import weakref

import keras
import tensorflow as tf


def fit(model: keras.Model, train: tf.data.Dataset, validation: tf.data.Dataset | None,
        epochs: int, callbacks: list[keras.callbacks.Callback], verbose: int = 1,
        jit_compile: bool = False) -> keras.callbacks.History:
    """Trains a compiled ``model`` built under ``tf.distribute.get_strategy()``."""
    strategy = tf.distribute.get_strategy()
    _build_state(model, train)
    train_function = _step_function(model, "train", jit_compile)
    distributed_train = strategy.experimental_distribute_dataset(train)
    steps = _cardinality(train)
    callbacks = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, verbose=verbose,
        epochs=epochs, steps=steps, model=model)

    model.stop_training = False
    callbacks.on_train_begin()
    # BackupAndRestore.on_train_begin restores the weights and sets the epoch to
    # resume from, exactly as model.fit reads it.
    initial_epoch = getattr(model, "_initial_epoch", None) or 0
    if initial_epoch:
        print(f"Resuming from the backup: epoch {initial_epoch + 1} of {epochs}.", flush=True)
    epoch_logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        logs = {}
        for step, batch in enumerate(distributed_train):
            callbacks.on_train_batch_begin(step)
            logs = _numpy(train_function(batch))
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if validation is not None:
            val_logs = evaluate(model, validation, callbacks=callbacks, jit_compile=jit_compile)
            epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
        epoch_logs["learning_rate"] = float(
            keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        callbacks.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if epochs > initial_epoch:
        model.optimizer.finalize_variable_values(model.trainable_weights)  # EMA weights
    callbacks.on_train_end(logs=epoch_logs)
    return model.history


def evaluate(model: keras.Model, dataset: tf.data.Dataset,
             callbacks: keras.callbacks.CallbackList | None = None,
             jit_compile: bool = False) -> dict[str, float]:
    """The compiled loss and metrics of ``model`` over ``dataset``, as ``model.evaluate``."""
    strategy = tf.distribute.get_strategy()
    _build_state(model, dataset)
    test_function = _step_function(model, "test", jit_compile)
    callbacks = callbacks or keras.callbacks.CallbackList(model=model)
    model.reset_metrics()
    callbacks.on_test_begin()
    logs = {}
    for step, batch in enumerate(strategy.experimental_distribute_dataset(dataset)):
        callbacks.on_test_batch_begin(step)
        logs = _numpy(test_function(batch))
        callbacks.on_test_batch_end(step, logs)
    callbacks.on_test_end(logs)
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


def _step_function(model: keras.Model, kind: str, jit_compile: bool):
    """Runs ``model.train_step`` or ``test_step`` on every replica's share of a
    distributed batch, then returns the metric results across replicas.

    Made once per model, kind and jit setting, so validation does not retrace
    every epoch.
    """
    functions = _compiled_steps(model)
    if (kind, jit_compile) in functions:
        return functions[kind, jit_compile]
    strategy = tf.distribute.get_strategy()
    step = model.train_step if kind == "train" else model.test_step
    replica_step = tf.function(step, jit_compile=jit_compile, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def distributed_step(batch):
        strategy.run(replica_step, args=(batch,))
        return _metric_results(model)

    functions[kind, jit_compile] = distributed_step
    return distributed_step


_STEP_FUNCTIONS: "weakref.WeakKeyDictionary[keras.Model, tuple]" = weakref.WeakKeyDictionary()


def _compiled_steps(model: keras.Model) -> dict:
    """The step functions made for ``model`` as currently compiled (a new compile, with
    its new optimizer, starts afresh)."""
    optimizer, functions = _STEP_FUNCTIONS.get(model, (None, None))
    if optimizer is not model.optimizer:
        functions = {}
        _STEP_FUNCTIONS[model] = (model.optimizer, functions)
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
