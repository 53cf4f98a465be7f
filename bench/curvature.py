"""The diagonal curvature LeCun et al. 1998 estimate for their Levenberg-Marquardt
steps (Appendix C), against the squared gradient that ``engine.optimizers``'s
``sdlm`` keeps: are the two far apart where it matters, next to the damping mu?

Both are per trainable weight, averaged over a batch of patterns, for one network;
``bench/reproduce_lenet5.py`` prints them per layer before it trains, and with
``--curvature=gauss_newton`` trains with the paper's (:class:`HeldCurvatureSDLM`,
:class:`PaperCurvature`). With ``--curvature=connection_squared_gradient`` it trains
with a third estimate between the two: the running squared gradient, summed over the
connections that share a weight as the paper sums its second derivatives
(:class:`ConnectionSquaredGradient`, :class:`ConnectionSquaredGradientSDLM`).
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

from engine import private_api
from engine.optimizers import StochasticDiagonalLevenbergMarquardt
from layers.errors import UsageError


@contextlib.contextmanager
def _linear(layer):
    """``layer`` with its activation removed: its weighted sums."""
    activation = getattr(layer, "activation", None)
    if activation is not None:
        layer.activation = keras.activations.linear
    try:
        yield layer
    finally:
        if activation is not None:
            layer.activation = activation


def _chain(model: keras.Model) -> list:
    """``model``'s layers after its input, each fed by the one before it alone."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0] if len(model.inputs) == 1 else None
    for layer in layers:
        if previous is None or layer.input is not previous:
            raise UsageError(f"Model {model.name!r} is not a chain of its layers (layer "
                             f"{layer.name!r} takes more than the layer before it); the "
                             "Gauss-Newton diagonal here needs one.")
        previous = layer.output
    return layers


def _per_pattern_losses(loss, labels, outputs):
    """``loss``'s value per pattern, where it is a Keras loss that averages the batch."""
    values = loss(labels, outputs)
    if values.shape.rank == 0:
        return values * tf.cast(tf.shape(outputs)[0], values.dtype)
    return values


def gauss_newton_diagonal(model: keras.Model, loss, images, labels) -> dict[str, np.ndarray]:
    """The paper's curvature ``h_kk`` of every trainable weight of ``model`` (by its
    path), averaged over ``images``: second derivatives backpropagated as first ones
    are, dropping the off-diagonal terms and the terms in ``f''`` (Gauss-Newton).
    For a unit ``a = sum_j w_j x_j`` squashed by ``f``: ``h_a = f'(a)^2 h_f(a)``,
    ``h_x_j = sum w_j^2 h_a`` over the units ``x_j`` feeds, and a weight's ``h`` sums
    ``x_j^2 h_a`` over every connection that shares it. At the top, the diagonal of the
    Hessian of ``loss`` (mean over the batch, as Keras's) with respect to the outputs of
    the last layer with weights, negative entries set to zero.

    ``model`` must be a chain: each layer with weights linear in its input and in its
    weights before its ``activation`` (``Conv2D``, ``Dense``, LeNet-5's subsampling and
    partial C3), so that the same layer on ``x^2`` with weights ``w^2`` carries both
    sums (its vector-Jacobian product gives them); layers without weights below the
    last one that has them must only rearrange (``Flatten``).
    """
    layers = _chain(model)
    last = max(index for index, layer in enumerate(layers) if layer.trainable_weights)
    body, head = layers[:last + 1], layers[last + 1:]
    inputs, slopes, x = [], [], images
    for layer in body:
        inputs.append(x)
        if not layer.trainable_weights:
            slopes.append(None)
            x = layer(x)
            continue
        with _linear(layer):
            sums = layer(x)
        with tf.GradientTape() as tape:
            tape.watch(sums)
            x = layer.activation(sums) if getattr(layer, "activation", None) else sums
        slopes.append(tf.square(tape.gradient(x, sums)))
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            outputs = x
            for layer in head:
                outputs = layer(outputs)
            total = tf.reduce_sum(_per_pattern_losses(loss, labels, outputs))
        gradient = inner.gradient(total, x)
    curvature = tf.maximum(tf.linalg.diag_part(outer.batch_jacobian(gradient, x)), 0.0)
    diagonal = {}
    for layer, layer_input, slope in reversed(list(zip(body, inputs, slopes))):
        if slope is None:
            if not isinstance(layer, (keras.layers.Flatten, keras.layers.Reshape)):
                raise UsageError(f"Layer {layer.name!r} ({type(layer).__name__}) has no weights "
                                 "and does more than rearrange its input; the Gauss-Newton "
                                 "diagonal here covers chains of weighted sums only.")
            with tf.GradientTape() as tape:
                tape.watch(layer_input)
                rearranged = layer(layer_input)
            curvature = tape.gradient(rearranged, layer_input, output_gradients=curvature)
            continue
        below, weights = _summed_over_connections(layer, layer_input, slope * curvature)
        for variable, value in zip(layer.trainable_variables, weights):
            diagonal[variable.path] = value.numpy() / len(images)
        curvature = below
    return diagonal


def _summed_over_connections(layer, layer_input, per_unit):
    """For a weighted ``layer`` and a value ``per_unit`` per unit of its weighted sums:
    per input, the sum of ``w^2 per_unit`` over the units it feeds, and per weight, the
    sum of ``x^2 per_unit`` over the connections that share it (the vector-Jacobian
    product of the same layer run on ``x^2`` with weights ``w^2``)."""
    squared_input = tf.square(layer_input)
    squared_weights = [tf.square(variable.value) for variable in layer.trainable_variables]
    with tf.GradientTape() as tape, _linear(layer):
        tape.watch([squared_input, *squared_weights])
        sums, _ = layer.stateless_call(
            squared_weights, [v.value for v in layer.non_trainable_variables], squared_input)
    below, *weights = tape.gradient(sums, [squared_input, *squared_weights],
                                    output_gradients=per_unit)
    return below, weights


def squared_gradient(model: keras.Model, loss, images, labels) -> dict[str, np.ndarray]:
    """The mean over ``images`` of each weight's squared gradient, one pattern at a
    time: what ``sdlm``'s running curvature averages at batch 1."""
    total = {variable.path: 0.0 for variable in model.trainable_variables}
    for index in range(len(images)):
        with tf.GradientTape() as tape:
            value = loss(labels[index:index + 1], model(images[index:index + 1]))
        for variable, gradient in zip(model.trainable_variables,
                                      tape.gradient(value, model.trainable_variables)):
            total[variable.path] = total[variable.path] + np.square(gradient.numpy())
    return {path: value / len(images) for path, value in total.items()}


def compare(model: keras.Model, loss, images, labels) -> list[dict]:
    """One row per trainable weight tensor: the mean of each estimate over its entries."""
    paper = gauss_newton_diagonal(model, loss, images, labels)
    squared = squared_gradient(model, loss, images, labels)
    return [{"weights": path, "gauss_newton": float(paper[path].mean()),
             "squared_gradient": float(squared[path].mean()),
             "ratio": float(squared[path].mean() / max(paper[path].mean(), 1e-30))}
            for path in squared]


class HeldCurvatureSDLM(StochasticDiagonalLevenbergMarquardt):
    """``sdlm`` whose ``h_kk`` is whatever its curvature variables hold (set by
    :class:`PaperCurvature` before each pass), not a running squared gradient."""

    def curvature_estimate(self, gradient, variable):
        return self.curvature(variable)


class PaperCurvature(keras.callbacks.Callback):
    """Before every pass, sets ``HeldCurvatureSDLM``'s curvatures of ``network`` to the
    Gauss-Newton diagonal on the next ``patterns`` training images (Appendix C: "on 500
    samples", once per pass); with ``every``, also after each ``every`` updates within
    a pass (at the first call of the training step that starts past that count)."""

    def __init__(self, network: keras.Model, batches, patterns: int, every: int = 0):
        super().__init__()
        if every < 0:
            raise UsageError(f"every must be 0 (once per pass) or a positive number of "
                             f"updates, got {every}.")
        self.network, self.every = network, every
        self.samples = iter(batches.unbatch().batch(patterns).repeat())

    def on_epoch_begin(self, epoch, logs=None):
        self.estimated_for = 0
        self.estimate()

    def on_train_batch_begin(self, batch, logs=None):
        if self.every and batch // self.every > self.estimated_for:
            self.estimated_for = batch // self.every
            self.estimate()

    def estimate(self):
        images, labels = next(self.samples)
        diagonal = gauss_newton_diagonal(self.network, self.network.loss, images, labels)
        for variable in self.network.trainable_variables:
            self.network.optimizer.curvature(variable).assign(diagonal[variable.path])


class ConnectionSquaredGradientSDLM(StochasticDiagonalLevenbergMarquardt):
    """``sdlm`` whose running ``h_kk`` averages each weight's squared gradient summed
    over the connections that share it, ``sum (x_j delta_i)^2`` (:meth:`record`, called
    by :class:`ConnectionSquaredGradient` before each update), rather than the square
    of their sum, ``(sum x_j delta_i)^2``: the empirical-Fisher counterpart of the
    paper's per-connection Gauss-Newton sum (Appendix C), which grows with the number
    of connections a weight has where the square of the sum grows with its square."""

    def record(self, variable, connection_squares):
        curvature = self.curvature(variable)
        curvature.assign(self.curvature_decay * curvature
                         + (1.0 - self.curvature_decay) * connection_squares)

    def curvature_estimate(self, gradient, variable):
        steps = keras.ops.cast(self.iterations + 1, variable.dtype)
        return self.curvature(variable) / (1.0 - keras.ops.power(self.curvature_decay, steps))


class ConnectionSquaredGradient(keras.Model):
    """Trains the chain ``network`` (weights shared with it) with
    :class:`ConnectionSquaredGradientSDLM`: each step records, per weighted layer, the
    squared gradient of each connection, ``x_j^2 delta_i^2`` with ``delta_i`` the loss's
    gradient at the unit's weighted sum, summed over the connections of each weight
    (one pattern at batch 1), then updates."""

    def __init__(self, network: keras.Model, **kwargs):
        super().__init__(name=f"{network.name}_connection_squared_gradient", **kwargs)
        self.network = network
        layers = _chain(network)
        last = max(index for index, layer in enumerate(layers) if layer.trainable_weights)
        self.body, self.head = layers[:last + 1], layers[last + 1:]

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def train_step(self, data):
        images, labels = data[0], data[1]
        with tf.GradientTape() as tape:
            x, units = images, []
            for layer in self.body:
                if not layer.trainable_weights:
                    x = layer(x)
                    continue
                with _linear(layer):
                    sums = layer(x)
                units.append((layer, x, sums))
                x = layer.activation(sums) if getattr(layer, "activation", None) else sums
            outputs = x
            for layer in self.head:
                outputs = layer(outputs)
            loss = self.compute_loss(x=images, y=labels, y_pred=outputs, training=True)
        variables = self.trainable_variables
        if not self.optimizer.built:  # Keras's fit builds it at the first update
            self.optimizer.build(variables)
        gradients = tape.gradient(loss, [*variables, *(sums for _, _, sums in units)])
        for (layer, layer_input, _), delta in zip(units, gradients[len(variables):]):
            _, squares = _summed_over_connections(layer, layer_input, tf.square(delta))
            for variable, square in zip(layer.trainable_variables, squares):
                self.optimizer.record(variable, square)
        self.optimizer.apply_gradients(zip(gradients[:len(variables)], variables))
        private_api.track_loss(self, loss)
        return self.compute_metrics(images, labels, outputs, sample_weight=None)
