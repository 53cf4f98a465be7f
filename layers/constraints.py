"""Weight constraints the papers apply after each update."""

from __future__ import annotations

import keras
from keras import ops

import numpy as np

from layers.checks import is_finite_real
from layers.errors import UsageError


@keras.saving.register_keras_serializable(package="convnet_recipes")
class MaxFilterRMS(keras.constraints.Constraint):
    """Renormalizes each filter whose root-mean-square exceeds ``max_rms`` to ``max_rms``.

    Zeiler and Fergus 2014, section 3.1: "we renormalize each filter in the
    convolutional layers whose RMS value exceeds a fixed radius of 10^-1 to this fixed
    radius". A filter is one output channel of a convolution kernel (the last axis of
    ``(height, width, inputs, filters)``): its RMS is ``sqrt(mean(w^2))`` over its
    ``height * width * inputs`` weights. Filters within the radius are left exactly as
    they are (unlike ``keras.constraints.MaxNorm``, whose epsilon shrinks every weight a
    little at every step). Keras applies a variable's constraint after each optimizer
    update.
    """

    def __init__(self, max_rms: float = 0.1):
        # An infinite radius (or one float32 rounds to infinity) made every filter
        # inf / inf = NaN.
        if not (is_finite_real(max_rms) and 0 < max_rms <= float(np.finfo("float32").max)):
            raise UsageError(f"max_rms must be a positive finite number, got {max_rms!r}.")
        self.max_rms = float(max_rms)

    def __call__(self, w):
        axes = tuple(range(len(w.shape) - 1))
        rms = ops.sqrt(ops.mean(ops.square(w), axis=axes, keepdims=True))
        # max_rms / max(rms, max_rms) is exactly 1 for filters within the radius.
        return w * (self.max_rms / ops.maximum(rms, self.max_rms))

    def get_config(self):
        return {"max_rms": self.max_rms}
