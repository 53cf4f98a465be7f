"""The training engine: schedules, weight decay, precision, resume, transfer, flags."""

import dataclasses
import math
import os
import pathlib
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from engine import loop, optimizers, rundir, schedules, training, transfer
from engine.build import Built, build, unsettled_batch_norm
from engine.losses import SmoothedSparseCategoricalCrossentropy
from layers.errors import UsageError
from recipes import TrainingConfig


def tiny_model(name="tiny"):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="tanh", name="hidden")(inputs)
    outputs = recipes.common.classifier(hidden, 2, "softmax")
    return keras.Model(inputs, outputs, name=name)


def tiny_data(batch_size=8, count=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


# --- learning-rate schedules -----------------------------------------------------------

def rates(config, epochs):
    return [schedules.scheduled_learning_rate(config, epoch) for epoch in range(epochs)]


def test_cifar_resnet_step_schedule_divides_by_ten_at_32k_and_48k_iterations():
    config = recipes.get("resnet110").training
    # He et al. 4.2: 0.1, /10 at 32k and 48k iterations of batch 128 on 45k images, an
    # epoch being ceil(45000 / 128) = 352 iterations (the last batch partial).
    assert config.decay_epochs == pytest.approx((32_000 / 352, 48_000 / 352))
    lr = rates(config, config.epochs)
    # Epoch-level: the first epoch that starts at or after 32k (48k) iterations: epoch 91
    # starts at iteration 32,032, epoch 137 at 48,224.
    assert lr[90] == pytest.approx(0.1) and lr[91] == pytest.approx(0.01)
    assert lr[136] == pytest.approx(0.01) and lr[137] == pytest.approx(0.001)
    assert config.epochs == round(64_000 / 352) == 182  # stop at 64k


def test_lenet5_step_rates_are_the_papers():
    lr = rates(recipes.get("lenet5").training, 20)
    assert lr[:2] == [5e-4] * 2 and lr[2:5] == [2e-4] * 3 and lr[5:8] == [1e-4] * 3
    assert lr[8:12] == [5e-5] * 4 and lr[12:] == [1e-5] * 8


def test_googlenet_decreases_four_percent_every_eight_epochs():
    config = recipes.get("googlenet").training
    lr = rates(config, 17)
    assert lr[7] == pytest.approx(config.learning_rate)
    assert lr[8] == pytest.approx(config.learning_rate * 0.96)
    assert lr[16] == pytest.approx(config.learning_rate * 0.96 ** 2)


def test_warmup_then_cosine():
    config = TrainingConfig(learning_rate=0.4, schedule="cosine", warmup_epochs=4, epochs=14)
    lr = rates(config, 14)
    assert lr[:4] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert lr[4] == pytest.approx(0.4) and lr[9] == pytest.approx(0.2)
    assert lr[13] == pytest.approx(0.2 * (1 + math.cos(math.pi * 0.9)))


def test_schedule_callback_sets_the_optimizer_learning_rate():
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, schedule="step",
                            decay_epochs=(1, 2), epochs=3)
    model = tiny_model()
    training.compile_model(model, config)
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
    loop.fit(model, tiny_data(), epochs=3,
             callbacks=[*schedules.learning_rate_callbacks(config), record], verbose=0)
    assert seen == pytest.approx([0.1, 0.01, 0.001])


def plateau_rates(config, logs, epochs=40, start=0, history=None, rate=None):
    """The learning rate after each of ``epochs`` epochs whose end logs are ``logs(epoch)``,
    under ``config``'s plateau schedule; from epoch ``start`` at ``rate``, as a run
    resumed with the ``history.csv`` at ``history`` does."""
    model = tiny_model()
    training.compile_model(model, config)
    if rate is not None:
        model.optimizer.learning_rate = rate
    callbacks = keras.callbacks.CallbackList(
        schedules.learning_rate_callbacks(config, history=history), model=model)
    rates = []
    callbacks.on_train_begin()
    for epoch in range(start, epochs):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, logs(epoch))
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return rates


def test_alexnet_and_vgg_divide_the_rate_by_ten_three_times_watching_validation():
    # Krizhevsky et al. section 5: "reduced three times prior to termination"; Simonyan
    # and Zisserman section 3.1: "In total, the learning rate was decreased 3 times".
    for name in ("alexnet", "vgg16", "zfnet"):
        config = recipes.get(name).training
        stalled = plateau_rates(config, lambda epoch: {"accuracy": epoch / 40,
                                                       "val_accuracy": 0.5})
        drops = sorted(set(stalled), reverse=True)
        assert drops == pytest.approx([0.01, 1e-3, 1e-4, 1e-5]), name
        # Patience 5: the first epoch without improvement is epoch 1; the rate drops
        # after epoch 5, then after every further 5 stalled epochs.
        assert stalled.index(drops[1]) == 5 and stalled.index(drops[2]) == 10
        improving = plateau_rates(config, lambda epoch: {"accuracy": 0.5,
                                                         "val_accuracy": epoch / 40})
        assert improving == pytest.approx([0.01] * 40)


def test_a_resumed_plateau_drops_the_rate_where_the_uninterrupted_run_does(tmp_path):
    config = recipes.get("vgg16").training  # patience 5, watching the validation accuracy
    logs = lambda epoch: {"accuracy": 0.5, "val_accuracy": 0.5}  # noqa: E731
    uninterrupted = plateau_rates(config, logs, epochs=14)
    history = tmp_path / "history.csv"  # the 8 epochs a backup holds
    history.write_text("epoch,learning_rate,val_accuracy\n" + "".join(
        f"{epoch},{uninterrupted[epoch - 1] if epoch else config.learning_rate},0.5\n"
        for epoch in range(8)))
    resumed = plateau_rates(config, logs, epochs=14, start=8, history=str(history),
                            rate=uninterrupted[7])
    assert resumed == pytest.approx(uninterrupted[8:])
    assert uninterrupted[10] < uninterrupted[9]  # a drop after epoch 10, in the resumed part


def test_nin_divides_the_rate_twice_watching_the_training_accuracy():
    # Lin et al. section 4.1: lowered by 10 when "the accuracy on the training set stops
    # improving", once more, "such that the final learning rate is 1% of the initial".
    config = recipes.get("nin").training
    stalled = plateau_rates(config, lambda epoch: {"accuracy": 0.5, "val_accuracy": epoch / 40})
    assert sorted(set(stalled), reverse=True) == pytest.approx([0.1, 0.01, 0.001])
    assert stalled[-1] == pytest.approx(0.01 * config.learning_rate)
    improving = plateau_rates(config, lambda epoch: {"accuracy": epoch / 40,
                                                     "val_accuracy": 0.5})
    assert improving == pytest.approx([0.1] * 40)


def test_resnet110_warms_up_at_a_constant_0_01_for_400_iterations():
    # He et al. section 4.2: "we use 0.01 to warm up the training until the training error
    # is below 80% (about 400 iterations), and then go back to 0.1".
    config = recipes.get("resnet110").training
    assert (config.warmup_learning_rate, config.learning_rate) == (0.01, 0.1)
    steps_per_epoch = math.ceil(45_000 / 128)
    warmup = schedules.Warmup(config).warmup_steps(steps_per_epoch)
    assert abs(warmup - 400) <= 1
    assert rates(config, 3) == pytest.approx([0.01, 0.01, 0.1])  # at each epoch's start
    assert recipes.get("resnet56").training.warmup_learning_rate is None


# A 1.5-epoch constant warm-up at 0.01, then 0.1 dropped at epoch 3.
CONSTANT_WARMUP = TrainingConfig(optimizer="sgd", learning_rate=0.1, warmup_epochs=1.5,
                                 warmup_learning_rate=0.01, schedule="step", decay_epochs=(3,),
                                 epochs=4)


def rates_at_each_call(config, steps_per_execution=1):
    """(batch, learning rate) at the start of every call of the loop's compiled step over
    ``config.epochs`` epochs of 4 steps under ``config``'s schedule."""
    model = tiny_model()
    training.compile_model(model, config)
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(
        (batch, float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))))
    loop.fit(model, tiny_data(batch_size=8, count=32), epochs=config.epochs, verbose=0,
             steps_per_execution=steps_per_execution,
             callbacks=[*schedules.learning_rate_callbacks(config), record])
    return seen


def test_a_constant_warmup_ends_at_its_iteration_not_at_an_epoch():
    # 4 steps per epoch: 6 warm-up steps at 0.01 (constant, not a ramp), then the schedule.
    seen = rates_at_each_call(CONSTANT_WARMUP)
    assert [rate for _, rate in seen] == pytest.approx([0.01] * 6 + [0.1] * 6 + [0.01] * 4)


def test_a_constant_warmup_ends_at_the_first_call_past_its_iteration():
    # Calls of 3 and 1 steps per 4-step epoch; the 6th iteration falls inside epoch 1's first
    # call, so its second call (from iteration 7) is the first at 0.1.
    seen = rates_at_each_call(CONSTANT_WARMUP, steps_per_execution=3)
    assert [batch for batch, _ in seen] == [0, 3] * 4
    assert [rate for _, rate in seen] == pytest.approx([0.01] * 3 + [0.1] * 3 + [0.01] * 2)


def test_a_linear_warmup_ramps_by_step_even_within_one_epoch():
    # 4 steps per epoch, half an epoch of warm-up: 0.05, 0.1, then the constant 0.1.
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, warmup_epochs=0.5, epochs=2)
    seen = [rate for _, rate in rates_at_each_call(config)]
    assert seen == pytest.approx([0.05, 0.1] + [0.1] * 6)


def test_the_cosine_anneals_at_every_step_after_the_warmup():
    # 4 steps per epoch, 1 warm-up epoch (a linear ramp: 0.025 to 0.1 over its 4 steps),
    # then 0.5 * 0.1 * (1 + cos(pi * t / 3)) at t = 0, 1/4, ..., 11/4 epochs.
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, schedule="cosine",
                            warmup_epochs=1, epochs=4)
    seen = [rate for _, rate in rates_at_each_call(config)]
    annealed = [0.05 * (1 + math.cos(math.pi * step / 4 / 3)) for step in range(12)]
    assert seen == pytest.approx([0.025, 0.05, 0.075, 0.1] + annealed)
    assert schedules.rate_after_warmup(config, 2.5) == pytest.approx(annealed[6])


def test_the_cosine_after_a_warmup_starts_at_its_top_and_anneals_over_what_is_left():
    # 4 steps per epoch. A warm-up of 1.5 epochs leaves half an epoch, which the cosine
    # stretched to a whole one: the run ended at 0.85 of the rate, not near zero.
    short = TrainingConfig(optimizer="sgd", learning_rate=0.1, schedule="cosine",
                           warmup_epochs=1.5, epochs=2)
    assert [rate for _, rate in rates_at_each_call(short)][6:] == pytest.approx([0.1, 0.05])
    # 1.55 epochs round to 6 warm-up steps, ending at epoch 1.5: the cosine starts there
    # at its top (the warm-up had set epoch 1's rate, the cosine before its start: 0.088).
    rounded = dataclasses.replace(short, warmup_epochs=1.55, epochs=4)
    seen = [rate for _, rate in rates_at_each_call(rounded)]
    assert seen[5:8] == pytest.approx(
        [0.1, 0.1, 0.05 * (1 + math.cos(math.pi * (1.75 - 1.55) / 2.45))])


def test_a_plateau_on_validation_needs_a_validation_split():
    from layers import UsageError

    with pytest.raises(UsageError, match="watches the validation accuracy, but the run has no "
                                         "validation split"):
        schedules.check_validation(recipes.get("vgg_a").training, 0)
    schedules.check_validation(recipes.get("vgg_a").training, 10)
    schedules.check_validation(recipes.get("nin").training, 0)  # NiN watches training accuracy
    schedules.check_validation(recipes.get("lenet5").training, 0)


def test_unknown_schedule_or_optimizer_is_one_sentence():
    from engine.spec import resolve
    from layers import UsageError

    with pytest.raises(UsageError, match="Unknown schedule 'linear'; accepted: constant"):
        resolve("mlp", TrainingConfig(schedule="linear"))
    with pytest.raises(UsageError, match="Unknown optimizer 'lbfgs'; accepted: sgd"):
        resolve("mlp", TrainingConfig(optimizer="lbfgs"))


# --- the update rule -------------------------------------------------------------------

def test_weight_decay_goes_through_the_momentum_as_krizhevskys_rule():
    lr, momentum, decay = 0.1, 0.9, 0.05
    config = TrainingConfig(optimizer="momentum", learning_rate=lr, momentum=momentum,
                            weight_decay=decay)
    keras.utils.set_random_seed(1)
    model = tiny_model()
    training.compile_model(model, config)
    data = tiny_data(batch_size=32)
    x, y = next(iter(data))
    kernel = model.get_layer("hidden").kernel
    bias = model.get_layer("hidden").bias

    def loss_gradients():
        with tf.GradientTape() as tape:
            loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
            loss = tf.reduce_mean(loss)
        return [g.numpy() for g in tape.gradient(loss, [kernel.value, bias.value])]

    w0, b0 = kernel.numpy(), bias.numpy()
    g0, gb0 = loss_gradients()
    loop.fit(model, data, epochs=1, verbose=0)
    v1 = -decay * lr * w0 - lr * g0  # v <- 0.9 v - wd*lr*w - lr*grad, v0 = 0
    np.testing.assert_allclose(kernel.numpy(), w0 + v1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias.numpy(), b0 - lr * gb0, rtol=1e-5, atol=1e-6)  # no decay
    w1 = kernel.numpy()
    g1, _ = loss_gradients()
    loop.fit(model, data, epochs=1, verbose=0)
    v2 = momentum * v1 - decay * lr * w1 - lr * g1
    np.testing.assert_allclose(kernel.numpy(), w1 + v2, rtol=1e-4, atol=1e-6)


def test_weight_decay_of_scope_all_decays_the_biases_and_batch_norms_too():
    # The Torch code of wide ResNets, ResNeXt and stochastic depth: optim.sgd decays the
    # whole flattened parameter vector, batch normalization's gamma and beta included.
    lr, decay = 0.1, 0.05
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="bn", beta_initializer="ones")(x)
    model = keras.Model(inputs, recipes.common.classifier(x, 2, "softmax"))
    training.compile_model(model, TrainingConfig(optimizer="sgd", learning_rate=lr,
                                                 weight_decay=decay, weight_decay_scope="all"))
    x, y = next(iter(tiny_data(batch_size=32)))
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            y, model(x, training=True)))
    before = [v.numpy() for v in variables]
    gradients = [g.numpy() for g in tape.gradient(loss, [v.value for v in variables])]
    model.train_on_batch(x, y)
    for variable, w, g in zip(variables, before, gradients):
        np.testing.assert_allclose(variable.numpy(), w - lr * (g + decay * w), rtol=1e-5,
                                   atol=1e-6, err_msg=variable.path)
    assert {"hidden/bias", "bn/gamma", "bn/beta"} <= {v.path for v in variables}


def test_label_smoothing_equals_keras_on_one_hot_labels():
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], "float32")
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    actual = SmoothedSparseCategoricalCrossentropy(0.1)(y, p)
    np.testing.assert_allclose(float(actual), float(expected), rtol=1e-6)


def test_optimizer_flags_reach_the_keras_optimizer():
    optimizer = optimizers.make_optimizer(TrainingConfig(optimizer="nesterov", momentum=0.8,
                                                       clipnorm=1.5, ema=True))
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    assert optimizer.momentum == 0.8 and optimizer.clipnorm == 1.5 and optimizer.use_ema
    adamw = optimizers.make_optimizer(TrainingConfig(optimizer="adamw", weight_decay=0.01))
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.01


def test_ema_averages_over_about_the_last_epoch():
    # Keras's momentum of 0.99 averages the last hundred or so steps: GoogLeNet's Polyak
    # averaging over 40,000 steps an epoch was next to none. The average, worked by hand
    # from the weights after each step, with momentum 1 - 1/steps.
    steps = 400
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x @ [[1.0], [-2.0], [0.5]])).batch(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05, use_ema=True), "mse")
    kernels = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: kernels.append(
        keras.ops.convert_to_numpy(model.layers[0].kernel).copy()))
    loop.fit(model, data, epochs=1, verbose=0, callbacks=[training.PolyakWindow(), record])
    momentum = 1 - 1 / steps
    assert model.optimizer.ema_momentum == momentum
    average = kernels[0]  # Keras's average starts at the first step's weights
    for kernel in kernels[1:]:
        average = momentum * average + (1 - momentum) * kernel
    model.optimizer.finalize_variable_values(model.trainable_variables)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.layers[0].kernel), average,
                               rtol=1e-4, atol=1e-6)
    assert not np.allclose(average, kernels[-1], atol=1e-3)  # an average, not the last step
    # An epoch of 20 steps averages over about 20, not Keras's 100 (more than a short run).
    short = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    short.compile(keras.optimizers.SGD(0.05, use_ema=True), "mse")
    loop.fit(short, data.take(20), epochs=1, verbose=0, callbacks=[training.PolyakWindow()])
    assert short.optimizer.ema_momentum == pytest.approx(0.95)


def _averaging_regression(seed: int = 0):
    """A linear model under SGD with --ema's averaging, its initial weights drawn from
    ``seed``, and 60 examples of a linear target in batches of 4."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, x @ [[1.0], [-2.0], [0.5]])).batch(4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.set_weights([rng.normal(size=(3, 1)).astype("float32"), np.zeros(1, "float32")])
    model.compile(keras.optimizers.SGD(0.05, use_ema=True), "mse")
    return model, data


def test_validation_scores_the_averaged_weights_and_leaves_training_unchanged():
    # Each epoch's validation scores the weights an --ema run keeps (the averages), and
    # the training goes on from its own weights, bit for bit: the same weights as a run
    # that never validated.
    validated, data = _averaging_regression()
    last = []  # the weights training ended at, before fit put the averages in place
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: last.__setitem__(slice(None), validated.get_weights()))
    history = loop.fit(validated, data, validation_data=data, epochs=3, verbose=0,
                       callbacks=[training.PolyakWindow(), record])
    unvalidated, _ = _averaging_regression()
    loop.fit(unvalidated, data, epochs=3, verbose=0, callbacks=[training.PolyakWindow()])
    for kept, other in zip(validated.get_weights(), unvalidated.get_weights()):
        np.testing.assert_array_equal(kept, other)
    # After fit the model holds the last epoch's averages, which its validation scored.
    averaged = loop.evaluate(validated, data)["loss"]
    assert history.history["val_loss"][-1] == pytest.approx(averaged, rel=1e-6)
    validated.set_weights(last)
    assert loop.evaluate(validated, data)["loss"] != pytest.approx(averaged, rel=1e-3)


def test_the_best_checkpoint_holds_the_averaged_weights(tmp_path):
    model, data = _averaging_regression()
    path = str(tmp_path / "best.weights.h5")
    loop.fit(model, data, validation_data=data, epochs=1, verbose=0,
             callbacks=[training.PolyakWindow(), training.BestCheckpoint(
                 path, monitor="val_loss", save_best_only=True, save_weights_only=True)])
    saved, _ = _averaging_regression(seed=1)
    saved.optimizer.build(saved.trainable_variables)
    saved.load_weights(path)
    for averaged, loaded in zip(model.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(averaged, loaded)  # fit ended holding the averages


def test_ema_momentum_reaches_the_optimizer_a_loss_scale_wraps():
    # Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, whose own
    # ema_momentum nothing reads: the inner optimizer's kept Keras's 0.99.
    model, data = _averaging_regression()
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.05, use_ema=True)),
                  "mse")
    loop.fit(model, data, epochs=1, verbose=0, callbacks=[training.PolyakWindow()])
    assert model.optimizer.inner_optimizer.ema_momentum == pytest.approx(1 - 1 / 15)


def test_dropout_flag_sets_every_dropout_layer():
    training_config = dataclasses.replace(recipes.get("alexnet").training, dropout=0.2)
    built = build(recipes.get("alexnet").name, 5, (67, 67, 3), training_config)
    rates_ = [layer.rate for layer in built.model.layers
              if isinstance(layer, keras.layers.Dropout)]
    assert rates_ == [0.2, 0.2]


def test_dropout_flag_leaves_googlenets_auxiliary_heads_at_the_papers_rate():
    # Section 5: the auxiliary classifiers drop 70%; --dropout (and the recipe's 40%)
    # is the main network's.
    training_config = dataclasses.replace(recipes.get("googlenet").training, dropout=0.1)
    built = build("googlenet", 3, (224, 224, 3), training_config)
    rates_ = {layer.name: layer.rate for layer in built.trained.layers
              if isinstance(layer, keras.layers.Dropout)}
    assert rates_ == {"dropout": 0.1, "aux1_dropout": 0.7, "aux2_dropout": 0.7}
    assert len(built.trained.outputs) == 3 and len(built.model.outputs) == 1


def normalized_model(momentum=0.99, trainable=True):
    inputs = keras.Input((4,))
    normalized = keras.layers.BatchNormalization(momentum=momentum, name="bn")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="fc")(normalized))
    model.get_layer("bn").trainable = trainable
    return model


def test_a_run_too_short_for_its_batch_statistics_is_warned_with_the_steps_it_needs():
    # resnet20 --epochs=1 on the digits: 11 steps leave 0.99^11 = 90% of the starting
    # statistics, and the run tested at 0.11 (10 epochs: 0.28, training accuracy 0.98);
    # 459 steps leave 0.99^459 = 0.99%.
    model = normalized_model()
    assert unsettled_batch_norm(Built(model, model), "resnet20", 1, 11) == (
        "resnet20's batch normalizations keep 89.5% of their starting statistics after this "
        "run's 11 steps (moving averages of momentum 0.99): its validation and test accuracy, "
        "which read those statistics, may stay near chance while its training accuracy "
        "rises; train for 459 steps or more (--epochs=42).")
    assert unsettled_batch_norm(Built(model, model), "resnet20", 41, 11) is not None
    assert unsettled_batch_norm(Built(model, model), "resnet20", 42, 11) is None
    torch = normalized_model(momentum=0.9)  # 0.9^44 = 0.97%
    assert "train for 44 steps or more (--epochs=4)" in unsettled_batch_norm(
        Built(torch, torch), "wrn28_10", 3, 11)
    assert unsettled_batch_norm(Built(torch, torch), "wrn28_10", 4, 11) is None


@pytest.mark.parametrize("case", ["pretrained", "frozen", "none"])
def test_batch_statistics_that_do_not_start_afresh_are_not_warned_of(case):
    model = tiny_model() if case == "none" else normalized_model(trainable=case != "frozen")
    built = Built(model, model, pretrained_layers=("bn",) if case == "pretrained" else ())
    assert unsettled_batch_norm(built, "recipe", 1, 1) is None


# --- precision -------------------------------------------------------------------------

def test_bfloat16_trains_and_keeps_the_softmax_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = recipes.build("lenet5_modern", classes=3)
        training.compile_model(model, TrainingConfig(optimizer="adam", learning_rate=1e-3))
        images = np.random.default_rng(0).normal(size=(16, 32, 32, 1)).astype("float32")
        labels = np.arange(16) % 3
        history = loop.fit(model, tf.data.Dataset.from_tensor_slices((images, labels)).batch(8),
                           epochs=2, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.get_layer("c1").compute_dtype == "bfloat16"
    assert model.get_layer("c1").kernel.dtype == "float32"
    assert model.get_layer("predictions").compute_dtype == "float32"
    assert model.output.dtype == "float32"
    assert np.isfinite(history.history["loss"]).all()


# --- resume ----------------------------------------------------------------------------

class StopAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_at_the_right_epoch(tmp_path, capsys):
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=4)
    keras.utils.set_random_seed(0)
    model = tiny_model()
    training.compile_model(model, config)
    callbacks = training.run_callbacks(config, str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=4,
                 callbacks=[*callbacks, StopAtEpoch(1)], verbose=0)
    interrupted = [w.copy() for w in model.get_weights()]

    model = tiny_model()
    training.compile_model(model, config)
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=4,
             callbacks=[*training.run_callbacks(config, str(tmp_path)), record], verbose=0)
    assert "Resuming from the backup: epoch 3 of 4." in capsys.readouterr().out
    assert seen == [2, 3]
    assert (tmp_path / "history.csv").read_text().count("\n") == 5  # header + 4 epochs
    assert not all(np.array_equal(a, b) for a, b in zip(interrupted, model.get_weights()))


def final_weights_uninterrupted_and_resumed(tmp_path, make_model, make_data,
                                            damage=lambda backup_dir: None):
    """The weights after 4 epochs, uninterrupted and interrupted after epoch 1 (two
    epochs backed up), ``damage`` done to its backup folder, then resumed by a new model
    (as a new process makes it)."""
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=4)
    final = {}
    for name, interrupt in (("uninterrupted", None), ("resumed", 1)):
        keras.utils.set_random_seed(0)
        model = make_model()
        training.compile_model(model, config)
        callbacks = training.run_callbacks(config, str(tmp_path / name))
        if interrupt is not None:
            with pytest.raises(KeyboardInterrupt):
                loop.fit(model, make_data(), epochs=4, verbose=0,
                         callbacks=[*callbacks, StopAtEpoch(interrupt)])
            damage(tmp_path / name / training.BACKUP_DIR)
            keras.utils.set_random_seed(0)
            model = make_model()
            training.compile_model(model, config)
            callbacks = training.run_callbacks(config, str(tmp_path / name))
        loop.fit(model, make_data(), epochs=4, callbacks=callbacks, verbose=0)
        final[name] = model.get_weights()
    return final["uninterrupted"], final["resumed"]


def test_a_resumed_run_sees_the_shuffles_of_an_uninterrupted_one(tmp_path):
    # Batches reshuffled every epoch (as the training pipeline does): the resumed epochs
    # must draw the orders the uninterrupted run draws, not the first epoch's again.
    def shuffled():
        return tiny_data(batch_size=4).unbatch().shuffle(
            32, seed=3, reshuffle_each_iteration=True).batch(4)

    for uninterrupted, resumed in zip(*final_weights_uninterrupted_and_resumed(
            tmp_path, tiny_model, shuffled)):
        np.testing.assert_array_equal(uninterrupted, resumed)


def name_one_epoch(backup_dir):  # killed after epoch 2's weights, before its metadata
    (backup_dir / training.METADATA_FILE).write_text('{"epoch": 1, "batch": 0}')


def truncate_last_weights(backup_dir):  # epoch 2's weights broken on disk
    path = backup_dir / training.WEIGHTS_FILE.format(epochs=2)
    path.write_bytes(path.read_bytes()[:300])


def truncate_metadata(backup_dir):
    (backup_dir / training.METADATA_FILE).write_text("")


def as_keras_kept_it(backup_dir):  # a backup written before epochs had files of their own
    (backup_dir / training.WEIGHTS_FILE.format(epochs=2)).rename(
        backup_dir / training.LEGACY_WEIGHTS_FILE)
    (backup_dir / training.WEIGHTS_FILE.format(epochs=1)).unlink()


@pytest.mark.parametrize("damage, restored", [(name_one_epoch, 1), (truncate_last_weights, 1),
                                              (truncate_metadata, 2), (as_keras_kept_it, 2)])
def test_a_damaged_backup_resumes_from_a_whole_epoch_as_an_uninterrupted_run_ends(
        tmp_path, damage, restored):
    # Keras overwrote one latest.weights.h5 in place: a kill while it was written left a
    # run that could not resume, and one between the weights and the metadata trained
    # an epoch twice without a word.
    def record_restore(backup_dir):
        damage(backup_dir)
        assert training.restorable(str(backup_dir))[0] == restored

    for uninterrupted, resumed in zip(*final_weights_uninterrupted_and_resumed(
            tmp_path, tiny_model, tiny_data, record_restore)):
        np.testing.assert_array_equal(uninterrupted, resumed)
    rows = (tmp_path / "resumed" / training.HISTORY_FILE).read_text().split()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2", "3"]


def test_weights_without_metadata_are_no_backed_up_epoch(tmp_path):
    # Killed after the first epoch's weights, before the metadata that names them.
    model = tiny_model()
    model.save_weights(tmp_path / training.WEIGHTS_FILE.format(epochs=1))
    assert training.restorable(str(tmp_path)) == (0, None)
    rundir.write_json(str(tmp_path / training.METADATA_FILE), {"epoch": 1, "batch": 0})
    assert training.restorable(str(tmp_path))[0] == 1


def test_an_unreadable_backup_is_refused_not_taken_for_a_fault_and_started_afresh(
        tmp_path, monkeypatch):
    # Weights the run may not read fell back like broken ones, to no epoch: the run
    # trained again from epoch 1 and then removed the backup.
    model = tiny_model()
    weights = tmp_path / training.WEIGHTS_FILE.format(epochs=1)
    model.save_weights(weights)
    rundir.write_json(str(tmp_path / training.METADATA_FILE), {"epoch": 1, "batch": 0})
    access = os.access
    monkeypatch.setattr(training.os, "access", lambda path, mode: (
        str(path) != str(weights) and access(path, mode)))  # as chmod 000 does, but for root
    with pytest.raises(UsageError, match=rf"^The backup in {tmp_path} cannot be read "
                                         rf"\({weights.name}: permission denied\); fix its "
                                         "permissions to resume the run, pass --overwrite"):
        training.restorable(str(tmp_path))


def test_a_resumed_run_draws_the_dropout_masks_of_an_uninterrupted_one(tmp_path):
    def with_dropout():
        inputs = keras.Input((4,))
        hidden = keras.layers.Dropout(0.5)(keras.layers.Dense(3, name="hidden")(inputs))
        return keras.Model(inputs, recipes.common.classifier(hidden, 2, "softmax"))

    model = with_dropout()
    assert len(training.random_states(model)) == 1  # Dropout's, which weights leave out
    for uninterrupted, resumed in zip(*final_weights_uninterrupted_and_resumed(
            tmp_path, with_dropout, tiny_data)):
        np.testing.assert_array_equal(uninterrupted, resumed)


def test_the_backup_is_saved_after_the_epochs_history_row(tmp_path, monkeypatch):
    # A kill while epoch 1's records are written: the backup still says one epoch.
    write_row = training.HistoryLogger.on_epoch_end

    def killed_at_epoch_1(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt
        write_row(self, epoch, logs)

    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3)
    model = tiny_model()
    training.compile_model(model, config)
    with monkeypatch.context() as patch:
        patch.setattr(training.HistoryLogger, "on_epoch_end", killed_at_epoch_1)
        with pytest.raises(KeyboardInterrupt):
            loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=3,
                     callbacks=training.run_callbacks(config, str(tmp_path)), verbose=0)
    assert training.backed_up_epochs(str(tmp_path / "backup")) == 1
    model = tiny_model()
    training.compile_model(model, config)
    loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=3,
             callbacks=training.run_callbacks(config, str(tmp_path)), verbose=0)
    rows = (tmp_path / training.HISTORY_FILE).read_text().split()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2"]


def test_the_best_checkpoint_is_of_an_epoch_the_backup_holds(tmp_path):
    # A kill after an epoch's best checkpoint, before its backup: the resume trained the
    # epoch again and, were it no better, kept the weights of an epoch the records dropped.
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3)
    callbacks = training.run_callbacks(config, str(tmp_path))
    # The checkpoint is committed last, after the backup's saver (the one before it).
    assert isinstance(callbacks[-1], training.CommitBest)
    assert isinstance(callbacks[-2], keras.callbacks.LambdaCallback)
    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    partial = str(tmp_path / training.BEST_WEIGHTS_PARTIAL)
    for epoch in (1, 2, 3):  # each better than the one before, as save_best_only writes
        pathlib.Path(partial.format(epoch=epoch)).write_text(f"epoch {epoch}")
    (tmp_path / "checkpoints" / training.LEGACY_BEST_PARTIAL).write_text("of no known epoch")
    best = tmp_path / training.BEST_WEIGHTS
    commit = training.CommitBest(partial, str(best), backed_up=2)
    commit.on_train_begin()
    assert best.read_text() == "epoch 2"  # epoch 3 is trained again: its file goes
    assert sorted(path.name for path in (tmp_path / "checkpoints").iterdir()) == [best.name]
    pathlib.Path(partial.format(epoch=3)).write_text("epoch 3 again")
    commit.on_epoch_end(1)  # nothing better in epoch 2
    assert best.read_text() == "epoch 2"
    commit.on_epoch_end(2)
    assert best.read_text() == "epoch 3 again"


def test_nan_loss_stops_training():
    model = tiny_model()
    training.compile_model(model, TrainingConfig(optimizer="sgd", learning_rate=0.1))
    x = np.full((8, 4), np.nan, "float32")
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(8, "int64"))).batch(4)
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    loop.fit(model, data, epochs=5, callbacks=[keras.callbacks.TerminateOnNaN(), record], verbose=0)
    assert seen == [0] and model.stop_training


# --- transfer learning -----------------------------------------------------------------

def pretrained_and_new():
    keras.utils.set_random_seed(3)
    source = tiny_model("source")
    target = tiny_model("target")
    copied = transfer.copy_pretrained_weights(source, target)
    return source, target, copied


def test_pretrained_weights_are_copied_except_the_head():
    source, target, copied = pretrained_and_new()
    assert [layer.name for layer in copied] == ["hidden"]
    np.testing.assert_array_equal(target.get_layer("hidden").kernel.numpy(),
                                  source.get_layer("hidden").kernel.numpy())
    assert not np.array_equal(target.get_layer("logits").kernel.numpy(),
                              source.get_layer("logits").kernel.numpy())


def test_feature_extractor_freezes_all_but_the_head():
    _, model, copied = pretrained_and_new()
    transfer.freeze(model, copied)
    training.compile_model(model, TrainingConfig(optimizer="sgd", learning_rate=0.5))
    hidden, head = model.get_layer("hidden").kernel.numpy(), model.get_layer("logits").kernel.numpy()
    loop.fit(model, tiny_data(), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.get_layer("hidden").kernel.numpy(), hidden)
    assert not np.array_equal(model.get_layer("logits").kernel.numpy(), head)


def test_finetuning_moves_pretrained_layers_at_a_tenth_of_the_rate():
    config = TrainingConfig(optimizer="sgd", learning_rate=0.5)
    deltas = {}
    for slow in (False, True):
        _, model, copied = pretrained_and_new()
        training.compile_model(model, config, slow_layers=copied if slow else ())
        before = {name: model.get_layer(name).kernel.numpy() for name in ("hidden", "logits")}
        loop.fit(model, tiny_data(batch_size=32), epochs=1, verbose=0)
        deltas[slow] = {name: model.get_layer(name).kernel.numpy() - before[name]
                        for name in before}
    # atol: float32 weights near 1 resolve their deltas to about 6e-8.
    np.testing.assert_allclose(deltas[True]["hidden"], 0.1 * deltas[False]["hidden"], atol=1e-7)
    np.testing.assert_allclose(deltas[True]["logits"], deltas[False]["logits"], rtol=1e-5)


def test_adamw_decays_the_kernels_only_as_the_l2_of_the_other_optimizers_does():
    # keras.optimizers.AdamW decays every variable: biases and BatchNorm's gamma and beta
    # moved by -lr * wd * w as the kernels did.
    def normalized_model():
        inputs = keras.Input((4,))
        x = keras.layers.Dense(3, name="hidden")(inputs)
        x = keras.layers.BatchNormalization(name="bn", beta_initializer="ones")(x)
        return keras.Model(inputs, recipes.common.classifier(x, 2, "softmax"))

    weights, steps = None, {}
    for optimizer, scope in (("adam", "kernels"), ("adamw", "kernels"), ("adamw", "all")):
        model = normalized_model()
        weights = weights or [np.full_like(w, 0.5) for w in model.get_weights()]
        model.set_weights(weights)
        training.compile_model(model, TrainingConfig(  # Adam's without its L2: the step alone
            optimizer=optimizer, learning_rate=0.01, weight_decay_scope=scope,
            weight_decay=0.5 if optimizer == "adamw" else 0.0))
        before = {v.path: v.numpy() for v in model.trainable_variables}
        loop.fit(model, tiny_data(batch_size=32), epochs=1, verbose=0)
        steps[optimizer, scope] = {v.path: v.numpy() - before[v.path]
                                   for v in model.trainable_variables}
    for scope in ("kernels", "all"):
        decay = {name: steps["adamw", scope][name] - steps["adam", "kernels"][name]
                 for name in steps["adam", "kernels"]}
        for name, difference in decay.items():
            expected = -0.01 * 0.5 * 0.5 if name.endswith("kernel") or scope == "all" else 0.0
            np.testing.assert_allclose(difference, expected, atol=1e-6, err_msg=name)
    assert {"hidden/kernel", "hidden/bias", "bn/gamma", "bn/beta"} <= set(decay)


def test_finetuning_decays_pretrained_layers_at_the_slower_rate_too():
    config = TrainingConfig(optimizer="adamw", learning_rate=0.5, weight_decay=0.01)
    _, model, copied = pretrained_and_new()
    training.compile_model(model, config, slow_layers=copied, slow_multiplier=0.0)
    hidden = model.get_layer("hidden").kernel.numpy()
    loop.fit(model, tiny_data(batch_size=32), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_layer("hidden").kernel.numpy(), hidden)


def test_init_from_a_missing_run_is_one_sentence(tmp_path):
    with pytest.raises(ValueError, match="neither a run directory holding model.keras"):
        transfer.load_pretrained(str(tmp_path))
    (tmp_path / rundir.RUN_FILE).write_text("{}")  # a run begun, interrupted before its end
    with pytest.raises(ValueError, match=r"nor a \.keras file: its run has not finished; run its "
                                         r"command again \(its --model_dir\) to finish it"):
        transfer.load_pretrained(str(tmp_path))


def test_init_from_a_network_whose_weights_are_not_finite_is_refused(tmp_path):
    # Its NaN were copied, hidden by a ReLU: the run scored 0.10, saved and exported them.
    from layers.errors import RunFailure

    model = tiny_model()
    model.get_layer("hidden").kernel.assign(np.full((4, 3), np.nan, "float32"))
    model.save(tmp_path / "nan.keras")
    with pytest.raises(RunFailure, match=r"holds weights that are not finite numbers \(NaN or "
                                         r"infinite\) in 1 of its 4 weight tensors \(the first: "
                                         r"hidden/kernel\)"):
        transfer.load_pretrained(str(tmp_path / "nan.keras"))


def test_the_epoch_timer_tells_the_validations_share_of_each_epoch():
    # images_per_second divided the training images by whole epochs, their validation
    # included; the sleep marks the validation (it lies inside it).
    class SlowValidation(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            time.sleep(0.2)

    model = tiny_model()
    training.compile_model(model, TrainingConfig(optimizer="sgd", learning_rate=0.1))
    history = loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=2, verbose=0,
                       callbacks=[training.EpochTimer(), SlowValidation()]).history
    for epoch, validation in zip(history["epoch_seconds"], history["validation_seconds"]):
        assert epoch > validation >= 0.2
    history = loop.fit(model, tiny_data(), epochs=1, verbose=0,
                       callbacks=[training.EpochTimer()]).history
    assert history["validation_seconds"] == [0.0]


def test_the_history_of_a_continued_hyperband_trial_resumes_from_its_first_epoch(tmp_path):
    # Such a trial records from its initial epoch (rows 1, 2): its resume was refused as a
    # history that lacked an epoch, and the trial failed.
    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n1,0.5\n2,0.4\n3,0.3\n")
    training.keep_history_rows(str(history), 3)
    assert history.read_text().splitlines() == ["epoch,loss", "1,0.5", "2,0.4"]
    training.keep_history_rows(str(tmp_path / "none.csv"), 0)  # no epoch backed up
    with pytest.raises(UsageError, match=r"records 2 of the 3 epochs"):
        history.write_text("epoch,loss\n0,0.5\n2,0.4\n")
        training.keep_history_rows(str(history), 3)


def interrupt_after(config, run_dir, epochs):
    """A tiny run in ``run_dir`` stopped by a Ctrl-C once ``epochs`` epochs are backed up."""
    model = tiny_model()
    training.compile_model(model, config)
    with pytest.raises(KeyboardInterrupt):
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=config.epochs,
                 verbose=0, callbacks=[*training.run_callbacks(config, str(run_dir)),
                                       StopAtEpoch(epochs - 1)])


@pytest.mark.parametrize("kept", [None, 1])
def test_a_resume_whose_history_lacks_backed_up_epochs_is_refused(tmp_path, kept):
    # Without history.csv it resumed silently: the plateau's count and the best
    # checkpoint's score to beat started afresh, and the report counted 1 of 3 epochs.
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=4)
    interrupt_after(config, tmp_path, epochs=2)
    history = tmp_path / "history.csv"
    if kept is None:
        history.unlink()
    else:
        history.write_text("".join(history.read_text().splitlines(keepends=True)[:1 + kept]))
    with pytest.raises(UsageError, match=rf"history.csv records {kept or 0} of the 2 epochs the "
                                         r"backup beside it resumes from .*; put the file back, "
                                         r"or pass --overwrite to start afresh\.$"):
        training.run_callbacks(config, str(tmp_path))


@pytest.mark.parametrize("damage", ["random_states", "layers"])
def test_a_backup_that_does_not_load_is_one_sentence(tmp_path, damage):
    # A truncated random-state file was zipfile's traceback; a recipe whose layers changed
    # since the interruption, Keras's ("objects that could not be loaded").
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=3)
    interrupt_after(config, tmp_path, epochs=1)
    if damage == "random_states":
        states = tmp_path / "backup" / "random_states_1.npz"
        states.write_bytes(states.read_bytes()[:10])
        model = tiny_model()
    else:
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(5, activation="tanh", name="hidden")(inputs)
        model = keras.Model(inputs, recipes.common.classifier(hidden, 2, "softmax"))
    training.compile_model(model, config)
    with pytest.raises(UsageError, match=r"^The backup of epoch 1 in .*backup does not load into "
                                         r"this run's network \(\w+: .*\): it is damaged, or the "
                                         r"recipe's layers changed since the run started;"):
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=3, verbose=0,
                 callbacks=training.run_callbacks(config, str(tmp_path)))


def test_an_epochs_time_leaves_out_its_best_checkpoints_write(tmp_path, monkeypatch):
    # The checkpoint was written before the timer read the clock: a VGG-16's 0.5 GB of
    # weights counted as training time in the epochs that improved.
    written = []
    clock = types.SimpleNamespace(perf_counter=lambda: time.perf_counter() + 1000 * len(written))
    monkeypatch.setattr(training, "time", clock)
    save = training.BestCheckpoint._save_model
    monkeypatch.setattr(training.BestCheckpoint, "_save_model",
                        lambda self, **args: (written.append(1), save(self, **args)))
    model = tiny_model()
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=1)
    training.compile_model(model, config)
    history = loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=1, verbose=0,
                       callbacks=training.run_callbacks(config, str(tmp_path))).history
    assert written and history["epoch_seconds"][0] < 1000


def test_a_best_checkpoint_that_fails_to_write_leaves_no_part_of_it(tmp_path, monkeypatch):
    # A full disk left the half-written file, holding the space the message asked to free.
    def fill_disk(self, filepath, **args):
        with open(filepath, "wb") as file:
            file.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", fill_disk)
    model = tiny_model()
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=1)
    training.compile_model(model, config)
    with pytest.raises(OSError, match="No space left"):
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=1, verbose=0,
                 callbacks=training.run_callbacks(config, str(tmp_path)))
    assert not os.listdir(tmp_path / training.CHECKPOINT_DIR)


def test_history_records_the_learning_rate_of_every_epoch(tmp_path):
    from engine.report import read_history

    config = TrainingConfig(optimizer="sgd", learning_rate=0.2, schedule="step",
                            decay_epochs=(2,), decay_factor=0.5, epochs=3)
    model = tiny_model()
    training.compile_model(model, config)
    loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=3,
             callbacks=training.run_callbacks(config, str(tmp_path)), verbose=0)
    history = read_history(str(tmp_path / training.HISTORY_FILE))
    assert history["learning_rate"] == pytest.approx([0.2, 0.2, 0.1])
    assert len(history["val_accuracy"]) == 3


def test_googlenet_trains_with_auxiliary_losses_weighted_point_three():
    config = dataclasses.replace(recipes.get("googlenet").training, weight_decay=0.0,
                                 dropout=0.0, ema=False, optimizer="sgd")
    assert recipes.get("googlenet").training.auxiliary_loss_weight == 0.3
    keras.utils.set_random_seed(0)
    model = recipes.build("googlenet", classes=3, aux_heads=True)
    training.compile_model(model, config)
    images = np.random.default_rng(0).normal(size=(2, 224, 224, 3)).astype("float32")
    data = training.one_target_per_head(
        model, tf.data.Dataset.from_tensor_slices((images, np.array([0, 2]))).batch(2))
    logs = loop.evaluate(model, data)
    assert training.accuracy_key(model) == "predictions_accuracy" and "predictions_accuracy" in logs
    expected = (logs["predictions_loss"]
                + 0.3 * (logs["aux1_predictions_loss"] + logs["aux2_predictions_loss"]))
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)


def test_a_finished_run_started_again_starts_a_fresh_history(tmp_path):
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, epochs=2)
    for _ in range(2):
        model = tiny_model()
        training.compile_model(model, config)
        loop.fit(model, tiny_data(), validation_data=tiny_data(), epochs=2,
                 callbacks=training.run_callbacks(config, str(tmp_path)), verbose=0)
    assert (tmp_path / training.HISTORY_FILE).read_text().count("\n") == 3  # header + 2 epochs


def test_xla_compiled_steps_train_like_the_plain_ones():
    results = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(5)
        model = tiny_model()
        training.compile_model(model, TrainingConfig(optimizer="momentum", learning_rate=0.1))
        loop.fit(model, tiny_data(), epochs=2, verbose=0, jit_compile=jit_compile)
        results.append(model.get_weights())
    for plain, compiled in zip(*results):
        np.testing.assert_allclose(compiled, plain, rtol=1e-4, atol=1e-6)


def test_float16_training_scales_the_loss_and_keeps_float32_weights():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = tiny_model()
        training.compile_model(model, TrainingConfig(optimizer="momentum", learning_rate=0.1))
        history = loop.fit(model, tiny_data(), epochs=2, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.get_layer("hidden").compute_dtype == "float16"
    assert model.get_layer("hidden").kernel.dtype == "float32"
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("config, unreached", [
    (TrainingConfig(schedule="step", decay_epochs=(2, 4), epochs=5), ()),
    (TrainingConfig(schedule="step", decay_epochs=(2, 5), epochs=5), (5,)),
    # 4.5 acts from epoch 5, the sixth: a run of 5 epochs (0 to 4) never gets there.
    (TrainingConfig(schedule="step", decay_epochs=(2, 4.5), epochs=5), (4.5,)),
    (TrainingConfig(schedule="step", decay_epochs=(2, 4.5), epochs=6), ()),
    (TrainingConfig(schedule="exponential", decay_every=4, epochs=5), ()),
    (TrainingConfig(schedule="exponential", decay_every=5, epochs=5), (5,)),
    (TrainingConfig(schedule="cosine", epochs=1), ()),
])
def test_unreached_drops_are_the_ones_the_schedule_never_applies(config, unreached):
    assert schedules.unreached_drops(config) == unreached
    lr = rates(config, config.epochs)
    drops_applied = sum(later < earlier for earlier, later in zip(lr, lr[1:]))
    if config.schedule == "step":
        assert drops_applied == len(config.decay_epochs) - len(unreached)
    elif config.schedule == "exponential":
        assert (drops_applied == 0) == bool(unreached)


def test_a_recipes_drops_past_a_short_run_are_a_warning_and_given_ones_refused():
    config = dataclasses.replace(recipes.get("resnet20").training, epochs=10)
    with pytest.raises(UsageError, match=r"^--decay_epochs=90.9091,136.364 drops the rate after "
                       r"90.91 and 136.4 epochs, but the run stops after --epochs=10; raise "
                       r"--epochs or leave those drops out\.$"):
        schedules.check_drops_reached(config, {"epochs", "decay_epochs"}, "resnet20")
    assert schedules.check_drops_reached(config, {"epochs"}, "resnet20") == [
        "resnet20's step schedule drops the rate after 90.91 and 136.4 epochs, past "
        "--epochs=10: this run does not reach those drops."]
    exponential = TrainingConfig(schedule="exponential", decay_every=5, epochs=5)
    with pytest.raises(UsageError, match="--decay_every=5 drops the rate every 5 epochs, but the "
                       "run stops after --epochs=5, before the first drop"):
        schedules.check_drops_reached(exponential, {"decay_every"}, "lenet5_modern")


def test_a_linear_warmup_past_a_drop_is_refused_given_and_a_warning_otherwise():
    # The ramp climbed to the undropped rate through the dropped epochs (0.1 where the
    # schedule said 0.01), then fell as it ended, with no word.
    config = TrainingConfig(schedule="step", learning_rate=0.1, decay_epochs=(1, 3), epochs=4,
                            warmup_epochs=1.5)
    with pytest.raises(UsageError, match=r"^--warmup_epochs=1.5 ramps up for longer than the "
                       r"schedule's first drop: the rate would climb to 0.1 past the drop at "
                       r"epoch 1 \(--decay_epochs\), then fall as the warm-up ends; shorten "
                       r"--warmup_epochs or drop later \(--decay_epochs\)\.$"):
        schedules.check_drops_reached(config, {"warmup_epochs"}, "resnet20")
    warnings = schedules.check_drops_reached(config, {"epochs"}, "resnet20")
    assert warnings[0].startswith("resnet20's warm-up of 1.5 epochs ramps up past its first drop")
    exponential = TrainingConfig(schedule="exponential", decay_every=1, epochs=4,
                                 warmup_epochs=2)
    with pytest.raises(UsageError, match=r"past the drop at epoch 1 \(--decay_every\)"):
        schedules.check_drops_reached(exponential, {"decay_every"}, "lenet5_modern")
    # A drop at the warm-up's end, or a constant warm-up rate (ResNet-110's), is fine.
    schedules.check_drops_reached(dataclasses.replace(config, warmup_epochs=1.0),
                                  {"warmup_epochs"}, "resnet20")
    schedules.check_drops_reached(dataclasses.replace(config, warmup_learning_rate=0.01),
                                  {"warmup_epochs"}, "resnet20")
    # No recipe's own configuration ramps past its drops.
    for name in recipes.names():
        assert schedules.drops_in_warmup(recipes.get(name).training) == (), name


def test_a_warmup_longer_than_the_run_is_refused_given_and_a_warning_from_the_recipe():
    config = TrainingConfig(schedule="cosine", epochs=1, warmup_epochs=1.5)
    with pytest.raises(UsageError, match=r"^--warmup_epochs=1.5 lasts longer than the run "
                       r"\(--epochs=1\): the rate would never reach the learning rate nor the "
                       r"schedule begin; raise --epochs or shorten --warmup_epochs\.$"):
        schedules.check_drops_reached(config, {"epochs", "warmup_epochs"}, "lenet5_modern")
    resnet110 = dataclasses.replace(recipes.get("resnet110").training, epochs=1)
    warnings = schedules.check_drops_reached(resnet110, {"epochs"}, "resnet110")
    assert warnings[0].startswith("resnet110's warm-up lasts")
    # A warm-up as long as the run leaves the cosine schedule no step; a constant rate
    # is reached at the last step: accepted.
    with pytest.raises(UsageError, match=r"^--warmup_epochs=1 lasts as long as the run \(--epochs=1\): "
                       r"the cosine schedule would never begin; raise --epochs or shorten "
                       r"--warmup_epochs\.$"):
        schedules.check_drops_reached(dataclasses.replace(config, warmup_epochs=1.0),
                                     {"epochs", "warmup_epochs"}, "lenet5_modern")
    schedules.check_drops_reached(
        dataclasses.replace(config, warmup_epochs=1.0, schedule="constant"),
        {"epochs", "warmup_epochs"}, "lenet5_modern")
    # ResNet-110's constant 0.01 for the whole run: the rate never reaches 0.1.
    constant_warmup = dataclasses.replace(recipes.get("resnet110").training, schedule="constant",
                                          warmup_epochs=2.0, epochs=2)
    with pytest.raises(UsageError, match=r"^--warmup_epochs=2 lasts as long as the run "
                       r"\(--epochs=2\): the rate would stay at the warm-up rate 0.01, never at "
                       r"the learning rate; raise --epochs"):
        schedules.check_drops_reached(constant_warmup, {"schedule", "warmup_epochs", "epochs"},
                                      "resnet110")


def test_a_learning_rate_flag_scales_a_papers_step_rates(mode_args):
    # LeNet-5's listed rates replaced --learning_rate after the first epoch: 0.001 trained
    # at the paper's 5e-4 throughout while report.json said 0.001, and a warm-up to 0.01
    # dropped straight back to 5e-4.
    from engine import cli

    lenet = cli.run_spec(mode_args(recipe="lenet5", learning_rate=0.001,
                                   model_dir="unused")).training
    assert lenet.step_rates == pytest.approx((1e-3, 4e-4, 2e-4, 1e-4, 2e-5))
    assert rates(lenet, 20)[:3] == pytest.approx([1e-3, 1e-3, 4e-4])
    warm = cli.run_spec(mode_args(recipe="lenet5", learning_rate=0.01, warmup_epochs=1.0,
                                  model_dir="unused")).training
    assert rates(warm, 3) == pytest.approx([0.01, 0.01, 0.004])  # the warm-up, then pass 2
    assert cli.run_spec(mode_args(recipe="lenet5", model_dir="unused")).training \
        == recipes.get("lenet5").training
    # ResNet-110's warm-up at a tenth of the rate stayed at 0.01: ten times --learning_rate=0.001.
    resnet110 = cli.run_spec(mode_args(recipe="resnet110", learning_rate=0.001,
                                       model_dir="unused")).training
    assert resnet110.warmup_learning_rate == pytest.approx(1e-4)
    assert rates(resnet110, 3) == pytest.approx([1e-4, 1e-4, 1e-3])


def test_the_decay_flags_reach_the_schedule(mode_args):
    from engine import cli

    lenet = cli.run_spec(mode_args(recipe="lenet5", decay_epochs=["4", "8"],
                                   decay_factor=0.5, model_dir="unused")).training
    # The drops given replace LeNet-5's per-stage rates from the paper.
    assert (lenet.decay_epochs, lenet.decay_factor, lenet.step_rates) == ((4.0, 8.0), 0.5, ())
    assert rates(lenet, 10) == pytest.approx([5e-4] * 4 + [2.5e-4] * 4 + [1.25e-4] * 2)
    exponential = cli.run_spec(mode_args(schedule="exponential", decay_every=2.0,
                                         decay_factor=0.5, model_dir="unused")).training
    assert rates(exponential, 5) == pytest.approx(
        [exponential.learning_rate * 0.5 ** (epoch // 2) for epoch in range(5)])
    wide = cli.run_spec(mode_args(recipe="wrn28_10", weight_decay_scope="kernels",
                                  model_dir="unused")).training
    assert (wide.weight_decay, wide.weight_decay_scope) == (5e-4, "kernels")  # "all" its own


def test_the_fit_check_before_a_folder_is_read_leaves_the_runs_initial_weights():
    # Its throwaway network drew from the seeded generators: a folder run's weights
    # differed from those the same --seed gave without the check.
    from engine.build import check_fits_before_reading
    from engine.session import session

    kernels = []
    for check in (False, True):
        with session(seed=3):
            if check:
                check_fits_before_reading("lenet5_modern", (32, 32, 1), "folder:/images", 3)
            kernels.append(recipes.build("lenet5_modern").get_layer("c1").kernel.numpy())
    np.testing.assert_array_equal(*kernels)
    with pytest.raises(UsageError, match="Layer 'c1' does not fit its input"):
        check_fits_before_reading("lenet5", (1, 1, 1), "folder:/images", 3)
