"""The optimizers the training configurations name (:func:`make_optimizer`): Keras's,
and the one the papers use that Keras lacks, LeNet-5's stochastic diagonal
Levenberg-Marquardt; and the weights an averaging optimizer keeps (``--ema``:
:func:`averaged_weights`)."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import ops

from engine import private_api
from recipes import TrainingConfig

# LeCun et al. 1998, Section III-B: "mu was set to 0.02"; the curvature is
# re-estimated "on 500 samples" before each pass, so the running average spans
# about 500 patterns.
SDLM_DAMPING = 0.02
SDLM_CURVATURE_PATTERNS = 500


@keras.saving.register_keras_serializable(package="convnet_recipes")
class StochasticDiagonalLevenbergMarquardt(keras.optimizers.Optimizer):
    """The stochastic diagonal Levenberg-Marquardt method of LeCun et al. 1998
    (Appendix C, used for LeNet-5 in Section III-B): each parameter ``w_k`` steps by
    ``eta / (mu + h_kk)`` times its gradient, ``h_kk`` a running estimate of the
    diagonal of the Gauss-Newton curvature and ``mu`` (``damping``, 0.02) keeping the
    step bounded where the curvature is small: at most ``eta / mu`` times the gradient,
    50 times the global rate ``eta``.

    ``h_kk`` is the running average of the squared gradient (the outer-product, or
    empirical Fisher, approximation of the Gauss-Newton diagonal), each step weighing
    ``1 - curvature_decay``; the default ``1 - 1/500`` spans the 500 patterns on which
    the paper estimates it, and it is divided by ``1 - curvature_decay ** t`` after
    ``t`` steps (as Adam's second moment) so that the first steps, like the paper's
    after its estimate before the first pass, see the mean over the patterns so far
    rather than a curvature near zero. The paper backpropagates Gauss-Newton second
    derivatives instead (Appendix C), summed over the connections that share a weight,
    which Keras's automatic differentiation does not give per parameter; the squared
    gradient squares that sum, overstating the curvature of shared convolution weights:
    on LeNet-5 at initialization (``bench/reproduce_lenet5.py`` prints both, per weight
    tensor) it is 2 to 14 times the paper's estimate for C1 to S4, but every kernel's
    stays under 1e-3, a twentieth of ``mu``, so their steps are ``eta / mu`` times the
    gradient either way on average; the biases of C3 (0.012 against 0.0014 under the MAP
    criterion), C5 and F6 are where the two differ. Held for a pass, as the paper holds
    it, the Gauss-Newton estimate does not train LeNet-5 at the paper's rates (``--curvature=
    gauss_newton`` there: chance after 2 passes, the weights of C1 to S4 running away):
    the running squared gradient rises with each large gradient and damps that very
    step. The price comes after the first pass: there the squared gradient of C1 to S4
    is 70 to 55,000 times the paper's estimate (C1's kernel 448 against 0.086), so those
    layers all but stop learning while C5 and F6 go on. Summed over the connections
    instead, ``sum (x_j delta_i)^2``, the same running average keeps them learning and
    trains LeNet-5 to 0.93% to 1.35% test error under the MAP criterion (fifteen seeds,
    mean 1.11%; ``bench/reproduce_lenet5.py --curvature=connection_squared_gradient``), but it needs
    each layer's ``delta`` from the backward pass, which an optimizer never sees. The
    step's form, its damping and its global rates are the paper's.
    """

    def __init__(self, learning_rate=5e-4, damping=SDLM_DAMPING,
                 curvature_decay=1.0 - 1.0 / SDLM_CURVATURE_PATTERNS, name="sdlm", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if damping <= 0:
            raise ValueError(f"The damping mu must be positive (it bounds the step), got {damping}.")
        if not 0.0 <= curvature_decay < 1.0:
            raise ValueError("The curvature decay must be in [0, 1) (the running average's "
                             f"weight on its past), got {curvature_decay}.")
        self.damping = damping
        self.curvature_decay = curvature_decay

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._curvatures = self.add_optimizer_variables(variables, "curvature")

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        estimate = self.curvature_estimate(gradient, variable)
        self.assign_sub(variable, ops.divide(ops.multiply(learning_rate, gradient),
                                             ops.add(self.damping, estimate)))

    def curvature_estimate(self, gradient, variable):
        """``h_kk`` for this step of ``variable``: the running squared gradient, updated
        with ``gradient``, bias-corrected."""
        curvature = self.curvature(variable)
        self.assign(curvature, ops.add(ops.multiply(self.curvature_decay, curvature),
                                       ops.multiply(1.0 - self.curvature_decay,
                                                    ops.square(gradient))))
        steps = ops.cast(self.iterations + 1, variable.dtype)
        return ops.divide(curvature, 1.0 - ops.power(self.curvature_decay, steps))

    def curvature(self, variable):
        """The optimizer variable holding ``variable``'s curvature."""
        return self._curvatures[private_api.variable_index(self, variable)]

    def get_config(self):
        return {**super().get_config(), "damping": self.damping,
                "curvature_decay": self.curvature_decay}


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """The optimizer named by ``config.optimizer`` at ``config.learning_rate``.

    Weight decay is not the optimizers' decoupled form (except for ``adamw``,
    whose point it is): see :func:`engine.training.apply_weight_decay`.
    """
    common = {"learning_rate": config.learning_rate, "clipnorm": config.clipnorm,
              "use_ema": config.ema}
    momentum = config.momentum
    factories = {  # keyed by engine.choices.OPTIMIZERS
        "sgd": lambda: keras.optimizers.SGD(**common),
        "momentum": lambda: keras.optimizers.SGD(momentum=momentum, **common),
        "nesterov": lambda: keras.optimizers.SGD(momentum=momentum, nesterov=True, **common),
        "adagrad": lambda: keras.optimizers.Adagrad(**common),
        "rmsprop": lambda: keras.optimizers.RMSprop(momentum=momentum, **common),
        "adam": lambda: keras.optimizers.Adam(**common),
        "adamw": lambda: keras.optimizers.AdamW(weight_decay=config.weight_decay, **common),
        "sdlm": lambda: StochasticDiagonalLevenbergMarquardt(**common),
    }
    return factories[config.optimizer]()


def averaging_optimizer(model: keras.Model) -> keras.optimizers.Optimizer | None:
    """The optimizer that keeps ``model``'s moving averages (``use_ema``): the compiled
    one, or the one a ``LossScaleOptimizer`` (``mixed_float16``) wraps; None without."""
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    return optimizer if optimizer is not None and optimizer.use_ema else None


@contextlib.contextmanager
def averaged_weights(model: keras.Model):
    """``model`` holds its optimizer's moving averages of its trainable weights inside
    the block, and its own weights again, bit for bit, after it (copies, where Keras's
    ``SwapEMAWeights`` swaps by sums and differences). Without averaging, nothing changes."""
    optimizer = averaging_optimizer(model)
    if optimizer is None or not optimizer.built:
        yield
        return
    weights = model.trainable_weights
    kept = [np.array(ops.convert_to_numpy(weight)) for weight in weights]
    optimizer.finalize_variable_values(weights)
    try:
        yield
    finally:
        for weight, value in zip(weights, kept):
            weight.assign(value)
