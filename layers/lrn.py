"""Local response normalization across channels (Krizhevsky et al., 2012, Section 3.3)."""

from __future__ import annotations

import keras
from keras import ops

from layers.checks import is_finite_real, is_int
from layers.errors import UsageError


@keras.saving.register_keras_serializable(package="convnet_recipes")
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's "brightness normalization" across neighbouring channels.

    Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep
    Convolutional Neural Networks", NIPS 2012, Section 3.3::

        b[i] = a[i] / (k + alpha * sum(a[j]**2 for j in i - n//2 .. i + n//2)) ** beta

    at every position, the sum running over the ``n`` channels around channel
    ``i`` that exist (zeros beyond the first and last channel).  The defaults
    are the paper's ``n=5, k=2, alpha=1e-4, beta=0.75``; ``size`` is ``n`` and
    must be odd so the window is centred.

    How the parameters map to the other conventions:

    ============  ===========================================  ==========================
    this layer    ``tf.nn.local_response_normalization``       Caffe ``LRN`` (ACROSS_CHANNELS)
    ============  ===========================================  ==========================
    ``size``      ``2 * depth_radius + 1``                     ``local_size``
    ``k``         ``bias``                                     ``k`` (default 1)
    ``alpha``     ``alpha``                                    ``alpha / local_size``
    ``beta``      ``beta``                                     ``beta``
    ============  ===========================================  ==========================

    Caffe divides its ``alpha`` by ``local_size``: the paper's layer is
    Caffe's ``local_size=5, alpha=5e-4, k=2``, and a prototxt's ``alpha=1e-4``
    with ``local_size=5`` is ``alpha=2e-5`` here; :meth:`from_caffe` converts.
    TensorFlow's defaults (``depth_radius=5, bias=1, alpha=1, beta=0.5``) are
    not AlexNet's.

    The square sum and the division run in float32 whatever the compute dtype,
    so activations above 256 do not overflow float16 under mixed precision;
    the result is cast back to the compute dtype.  ``axis`` is the channel
    axis (-1 for channels_last).
    """

    def __init__(self, size: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75,
                 axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if not is_int(size) or size < 1 or size % 2 == 0:
            raise UsageError(f"size (n, the number of channels summed) must be an odd "
                             f"positive integer, got {size!r}.")
        if not (is_finite_real(k) and k > 0):
            raise UsageError(f"k must be a number > 0, got {k!r}.")
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not (is_finite_real(value) and value >= 0):
                raise UsageError(f"{name} must be a number >= 0, got {value!r}.")
        if not is_int(axis):
            raise UsageError(f"axis must be an integer (the channel axis), got {axis!r}.")
        self.size = int(size)
        self.k = float(k)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.axis = int(axis)

    @classmethod
    def from_caffe(cls, local_size: int = 5, alpha: float = 1.0, beta: float = 0.75,
                   k: float = 1.0, **kwargs) -> "LocalResponseNormalization":
        """The layer a Caffe ``LRN`` with these ``lrn_param`` values computes.

        The defaults are Caffe's; Caffe's ``alpha`` is divided by ``local_size``.
        """
        layer = cls(size=local_size, k=k, alpha=alpha, beta=beta, **kwargs)
        layer.alpha /= layer.size
        return layer

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise UsageError(f"axis {self.axis} is out of range for inputs of rank {rank}.")
        if input_shape[self.axis] is None:
            raise UsageError("LocalResponseNormalization needs a known number of channels, "
                             f"got input shape {tuple(input_shape)}.")

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        rank = len(x.shape)
        axis = self.axis % rank
        channels = x.shape[axis]
        radius = self.size // 2
        pad_width = [(0, 0)] * rank
        pad_width[axis] = (radius, radius)
        squares = ops.pad(ops.square(x), pad_width)
        window = [slice(None)] * rank
        square_sum = 0.0
        for offset in range(self.size):
            window[axis] = slice(offset, offset + channels)
            square_sum = square_sum + squares[tuple(window)]
        scale = ops.power(self.k + self.alpha * square_sum, self.beta)
        return ops.cast(x / scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "k": self.k, "alpha": self.alpha,
                "beta": self.beta, "axis": self.axis}
