"""LeNet-5's own building blocks (LeCun, Bottou, Bengio and Haffner, 1998).

Y. LeCun et al., "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998, Section II-B and Appendix A:

* :func:`scaled_tanh`, the squashing function ``f(a) = 1.7159 tanh(2a/3)``;
* :class:`FanInUniform`, the initialization ``U(-2.4/F, 2.4/F)``, F the fan-in;
* :class:`TrainableSubsampling`, layers S2 and S4: the sum of a 2x2 window
  times a trainable coefficient plus a trainable bias, then the squashing;
* :class:`PartialConnectionConv2D`, layer C3: each output map convolves only
  the input maps that Table I (:data:`LENET5_C3_CONNECTIONS`) connects it to;
* :class:`EuclideanRBF`, the OUTPUT layer: the squared distance from the
  input to a fixed +-1 code per class (:data:`DIGIT_BITMAPS` for digits).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from layers.arithmetic import layer_output_size
from layers.checks import is_finite_real, is_int
from layers.errors import UsageError

SQUASHING_AMPLITUDE = 1.7159
SQUASHING_SLOPE = 2.0 / 3.0
INITIALIZATION_SCALE = 2.4

# Table I: the S2 maps (rows of the table) that each C3 map (column) combines.
# Maps 0-5 take 3 contiguous S2 maps, 6-11 take 4 contiguous ones, 12-14 take 4
# discontinuous ones and map 15 takes all 6: 60 connections of 5x5 weights,
# 60 * 25 + 16 biases = 1,516 trainable parameters.
LENET5_C3_CONNECTIONS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# The RBF codes of the ten digits: 7x12 bitmaps, '#' = +1 and '.' = -1. The paper
# draws its codes from stylized 7x12 images of the ASCII characters (Fig. 3) but
# does not publish them as data; these are drawn in the same spirit, the glyph in
# the top ten rows and the two descender rows blank.
DIGIT_BITMAPS = (
    ("..###..", ".##.##.", "##...##", "##...##", "##...##", "##...##", "##...##", "##...##",
     ".##.##.", "..###..", ".......", "......."),
    ("...##..", "..###..", ".####..", "...##..", "...##..", "...##..", "...##..", "...##..",
     "...##..", ".######", ".......", "......."),
    (".#####.", "##...##", ".....##", ".....##", "....##.", "...##..", "..##...", ".##....",
     "##.....", "#######", ".......", "......."),
    (".#####.", "##...##", ".....##", ".....##", "..####.", ".....##", ".....##", ".....##",
     "##...##", ".#####.", ".......", "......."),
    ("....##.", "...###.", "..####.", ".##.##.", "##..##.", "#######", "....##.", "....##.",
     "....##.", "....##.", ".......", "......."),
    ("#######", "##.....", "##.....", "######.", ".....##", ".....##", ".....##", ".....##",
     "##...##", ".#####.", ".......", "......."),
    ("..####.", ".##....", "##.....", "##.....", "######.", "##...##", "##...##", "##...##",
     "##...##", ".#####.", ".......", "......."),
    ("#######", ".....##", "....##.", "....##.", "...##..", "...##..", "..##...", "..##...",
     ".##....", ".##....", ".......", "......."),
    (".#####.", "##...##", "##...##", "##...##", ".#####.", "##...##", "##...##", "##...##",
     "##...##", ".#####.", ".......", "......."),
    (".#####.", "##...##", "##...##", "##...##", ".######", ".....##", ".....##", ".....##",
     "....##.", ".####..", ".......", "......."),
)
RBF_CODE_KINDS = ("digits", "random")


@keras.saving.register_keras_serializable(package="convnet_recipes")
def scaled_tanh(x):
    """LeNet-5's squashing function ``f(a) = A tanh(S a)``, A = 1.7159, S = 2/3.

    Appendix A: with these constants ``f(1) = 1`` and ``f(-1) = -1``, the second
    derivative is largest at +-1 and the gain is close to 1 over the normal
    operating range.  Usable wherever Keras takes an activation.
    """
    return SQUASHING_AMPLITUDE * ops.tanh(SQUASHING_SLOPE * x)


@keras.saving.register_keras_serializable(package="convnet_recipes")
class FanInUniform(keras.initializers.Initializer):
    """LeNet-5's initialization: ``U(-scale/F, scale/F)`` with ``scale = 2.4``.

    Appendix A: "weights were initialized with random values uniformly
    distributed between -2.4/F_i and 2.4/F_i where F_i is the number of inputs
    (fan-in) of the unit".  F is ``fan_in`` when given (an int, or one int per
    entry of the last axis), otherwise the product of every axis but the last
    (the outputs): 25 for C1's ``(5, 5, 1, 6)`` kernel, 120 for F6's ``(120, 84)``.
    An int ``seed`` makes the draw reproducible.
    """

    def __init__(self, scale: float = INITIALIZATION_SCALE, fan_in=None, seed=None):
        if not (is_finite_real(scale) and scale > 0):
            raise UsageError(f"scale must be a number > 0, got {scale!r}.")
        if fan_in is not None and not _is_positive_int(fan_in) and not (
                isinstance(fan_in, (list, tuple)) and fan_in
                and all(_is_positive_int(f) for f in fan_in)):
            raise UsageError(f"fan_in must be None, a positive integer or a non-empty list of "
                             f"positive integers (one per output), got {fan_in!r}.")
        if seed is not None and not is_int(seed):
            raise UsageError(f"seed must be None or an integer, got {seed!r}.")
        self.scale = float(scale)
        self.fan_in = list(fan_in) if isinstance(fan_in, (list, tuple)) else fan_in
        self.seed = None if seed is None else int(seed)  # Keras's random ops take a Python int

    def __call__(self, shape, dtype=None):
        fan_in = self.fan_in
        if fan_in is None:
            if len(shape) < 2:
                raise UsageError(f"FanInUniform needs fan_in for a shape of rank < 2, got "
                                 f"shape {tuple(shape)}.")
            fan_in = int(np.prod(shape[:-1]))
        elif isinstance(fan_in, list) and len(fan_in) != shape[-1]:
            raise UsageError(f"FanInUniform got {len(fan_in)} fan-ins for a last axis of "
                             f"{shape[-1]} entries (shape {tuple(shape)}).")
        limit = self.scale / np.asarray(fan_in, dtype="float32")
        unit = keras.random.uniform(shape, -1.0, 1.0, dtype=dtype, seed=self.seed)
        return unit * ops.cast(limit, unit.dtype)

    def get_config(self):
        return {"scale": self.scale, "fan_in": self.fan_in, "seed": self.seed}


@keras.saving.register_keras_serializable(package="convnet_recipes")
class TrainableSubsampling(keras.layers.Layer):
    """LeNet-5's subsampling layers S2 and S4 (Section II-B).

    "The four inputs to a unit in S2 are added, then multiplied by a trainable
    coefficient, and added to a trainable bias.  The result is passed through a
    sigmoidal function."  Windows are ``pool_size`` x ``pool_size`` and do not
    overlap (stride = ``pool_size``, "valid"), so a 28x28 map becomes 14x14.
    Each map has one coefficient and one bias: 2 parameters per map (S2: 12,
    S4: 32).  ``activation`` defaults to :func:`scaled_tanh`, the paper's
    squashing function; the coefficient starts as ``U(-2.4/F, 2.4/F)`` with F
    the window area when ``coefficient_initializer`` is None (Appendix A).
    """

    def __init__(self, pool_size: int = 2, activation=scaled_tanh,
                 coefficient_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not _is_positive_int(pool_size):
            raise UsageError(f"pool_size must be a positive integer (the side of the "
                             f"non-overlapping window), got {pool_size!r}.")
        self.pool_size = (int(pool_size), int(pool_size))
        self.strides = self.pool_size
        self.padding = "valid"
        self.activation = keras.activations.get(activation)
        self.coefficient_initializer = (
            None if coefficient_initializer is None
            else keras.initializers.get(coefficient_initializer))
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        maps = _known_channels(self, input_shape)
        self.compute_output_shape(input_shape)  # a window larger than the maps: UsageError
        window = self.pool_size[0] * self.pool_size[1]
        self.coefficient = self.add_weight(
            name="coefficient", shape=(maps,),
            initializer=self.coefficient_initializer or FanInUniform(fan_in=window))
        self.bias = self.add_weight(name="bias", shape=(maps,), initializer=self.bias_initializer)

    def call(self, inputs):
        window = self.pool_size[0] * self.pool_size[1]
        sums = ops.average_pool(inputs, self.pool_size, self.strides, padding="valid",
                                data_format="channels_last") * window
        return self.activation(sums * self.coefficient + self.bias)

    def compute_output_shape(self, input_shape):
        batch, height, width, maps = input_shape
        size = self.pool_size[0]
        return (batch, layer_output_size(self.name, height, size, size),
                layer_output_size(self.name, width, size, size, axis=1), maps)

    def macs(self, input_shape) -> int:
        """Multiply-adds per image for ``recipes.summarize``: one (the coefficient) per
        output; the window sums are additions."""
        return int(np.prod(self.compute_output_shape(input_shape)[1:]))

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size[0],
            "activation": keras.activations.serialize(self.activation),
            "coefficient_initializer": (
                None if self.coefficient_initializer is None
                else keras.initializers.serialize(self.coefficient_initializer)),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="convnet_recipes")
class PartialConnectionConv2D(keras.layers.Layer):
    """A "valid" stride-1 convolution whose output maps each see only some input maps.

    LeNet-5's C3 (Section II-B, Table I): "Why not connect every S2 feature map
    to every C3 feature map? ... a non-complete connection scheme keeps the
    number of connections within reasonable bounds [and] forces a break of
    symmetry in the network."  ``connections[j]`` lists the input maps that
    output map ``j`` combines; there are ``len(connections)`` output maps.
    Only the connected 5x5 kernels are weights: with Table I
    (:data:`LENET5_C3_CONNECTIONS`) 60 * 25 + 16 = 1,516 parameters, not the
    2,416 of a full convolution.

    The kernel is stored as ``(kh, kw, total connections)``, the connections of
    output map 0 first, and scattered into a full ``(kh, kw, in, out)`` kernel
    with zeros elsewhere for a single convolution.  With
    ``kernel_initializer=None`` each output map's weights start as
    ``U(-2.4/F, 2.4/F)`` with its own fan-in ``F = kh * kw * len(connections[j])``
    (Appendix A); a Keras initializer is called once on the stored shape.
    """

    def __init__(self, connections, kernel_size, activation=None, kernel_initializer=None,
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.connections = _check_connections(connections)
        self.filters = len(self.connections)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.strides = (1, 1)
        self.padding = "valid"
        self.dilation_rate = (1, 1)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = (
            None if kernel_initializer is None else keras.initializers.get(kernel_initializer))
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        maps = _known_channels(self, input_shape)
        for output_map, inputs in enumerate(self.connections):
            missing = [m for m in inputs if m >= maps]
            if missing:
                raise UsageError(
                    f"Layer {self.name!r}: connections[{output_map}] = {list(inputs)} names input "
                    f"map(s) {missing}, but the input has {maps} maps (0 to {maps - 1}).")
        self.compute_output_shape(input_shape)  # a window larger than the maps: UsageError
        columns = [(i, j) for j, inputs in enumerate(self.connections) for i in inputs]
        # selector[c, i, j] = 1 where stored column c connects input map i to output map j.
        self._selector = np.zeros((len(columns), maps, self.filters), dtype="float32")
        for column, (i, j) in enumerate(columns):
            self._selector[column, i, j] = 1.0
        kh, kw = self.kernel_size
        fan_ins = [kh * kw * len(self.connections[j]) for _, j in columns]
        self.kernel = self.add_weight(
            name="kernel", shape=(kh, kw, len(columns)),
            initializer=self.kernel_initializer or FanInUniform(fan_in=fan_ins))
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=self.bias_initializer)

    def call(self, inputs):
        selector = ops.convert_to_tensor(self._selector, dtype=self.compute_dtype)
        kernel = ops.einsum("hwc,cio->hwio", self.kernel, selector)
        outputs = ops.conv(inputs, kernel, strides=1, padding="valid",
                           data_format="channels_last") + self.bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        kh, kw = self.kernel_size
        return (batch, layer_output_size(self.name, height, kh),
                layer_output_size(self.name, width, kw, axis=1), self.filters)

    def macs(self, input_shape) -> int:
        """Multiply-adds per image for ``recipes.summarize``: the connected kernels only,
        ``positions * kh * kw * connections`` (C3: 10*10*25*60 = 150,000)."""
        _, height, width, _ = self.compute_output_shape(input_shape)
        connections = sum(len(inputs) for inputs in self.connections)
        return height * width * int(np.prod(self.kernel_size)) * connections

    def get_config(self):
        return {
            **super().get_config(),
            "connections": [list(inputs) for inputs in self.connections],
            "kernel_size": list(self.kernel_size),
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": (
                None if self.kernel_initializer is None
                else keras.initializers.serialize(self.kernel_initializer)),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="convnet_recipes")
class EuclideanRBF(keras.layers.Layer):
    """LeNet-5's OUTPUT layer: one Euclidean radial basis function unit per class.

    Section II-B, OUTPUT layer: ``y_i = sum_j (x_j - w_ij)^2``, the squared
    distance between the input (F6's 84 units) and the fixed code ``w_i`` of
    class ``i``; the *lower* the output, the better the match.  The codes are
    not trainable (the paper keeps them fixed) and are not weights: they are
    rebuilt from the config, so they add nothing to ``count_params()``.

    ``codes="digits"`` uses :data:`DIGIT_BITMAPS`, the paper's scheme of
    stylized 7x12 character images (needs ``units=10`` and an 84-wide input);
    ``codes="random"`` draws each code entry from {-1, +1} with
    ``numpy.random.RandomState(seed)`` (whose stream NumPy keeps stable across
    versions), for any number of classes and input width.

    The sum runs in float32 whatever the compute dtype, and is cast to it: under a
    16-bit policy the penalties (80 to 600 for LeNet-5) keep only 2 to 3 significant
    digits, so LeNet-5 builds this layer and its head with ``dtype="float32"``.
    """

    def __init__(self, units: int, codes: str = "digits", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not _is_positive_int(units):
            raise UsageError(f"units (the number of classes) must be a positive integer, "
                             f"got {units!r}.")
        if codes not in RBF_CODE_KINDS:
            raise UsageError(f"codes must be one of {', '.join(RBF_CODE_KINDS)}, got {codes!r}.")
        if codes == "digits" and units != len(DIGIT_BITMAPS):
            raise UsageError(f"codes='digits' has one code per digit, so units must be "
                             f"{len(DIGIT_BITMAPS)}, got {units!r}; use codes='random'.")
        if not is_int(seed) or not 0 <= seed < 2**32:  # NumPy's seeds
            raise UsageError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}.")
        self.units = int(units)
        self.codes = codes
        self.seed = int(seed)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None:
            raise UsageError(f"Layer {self.name!r} needs a known input width, got input shape "
                             f"{tuple(input_shape)}.")
        self.code_vectors = rbf_codes(self.units, width, self.codes, self.seed)

    def call(self, inputs):
        codes = ops.convert_to_tensor(self.code_vectors, dtype="float32")
        distances = ops.square(ops.expand_dims(ops.cast(inputs, "float32"), -2) - codes)
        return ops.cast(ops.sum(distances, axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def macs(self, input_shape) -> int:
        """Multiply-adds per image for ``recipes.summarize``: one squared difference
        accumulated per (class, input) pair, 10 * 84 = 840 for LeNet-5."""
        return int(np.prod(input_shape[1:])) * self.units

    def get_config(self):
        return {**super().get_config(), "units": self.units, "codes": self.codes,
                "seed": self.seed}


def rbf_codes(units: int, width: int, codes: str = "digits", seed: int = 0) -> np.ndarray:
    """The ``(units, width)`` +-1 code matrix of :class:`EuclideanRBF`."""
    if codes == "digits":
        size = len(DIGIT_BITMAPS[0]) * len(DIGIT_BITMAPS[0][0])
        if width != size or units != len(DIGIT_BITMAPS):
            raise UsageError(f"codes='digits' needs {len(DIGIT_BITMAPS)} units over a "
                             f"{size}-wide input (7x12 bitmaps), got {units} units over {width}.")
        return np.array([[1.0 if pixel == "#" else -1.0 for row in bitmap for pixel in row]
                         for bitmap in DIGIT_BITMAPS], dtype="float32")
    bits = np.random.RandomState(seed).randint(0, 2, size=(units, width))
    return (2.0 * bits - 1.0).astype("float32")


def _check_connections(connections) -> tuple[tuple[int, ...], ...]:
    if not isinstance(connections, (list, tuple)) or not connections:
        raise UsageError(f"connections must be a non-empty list with, for each output map, the "
                         f"input maps it reads, got {connections!r}.")
    for output_map, inputs in enumerate(connections):
        if (not isinstance(inputs, (list, tuple)) or not inputs
                or not all(is_int(m) and m >= 0 for m in inputs)):
            raise UsageError(f"connections[{output_map}] must be a non-empty list of input map "
                             f"indices >= 0, got {inputs!r}.")
        if len(set(inputs)) != len(inputs):
            raise UsageError(f"connections[{output_map}] names an input map twice: "
                             f"{list(inputs)!r}.")
    return tuple(tuple(int(m) for m in inputs) for inputs in connections)


def _check_kernel_size(kernel_size) -> tuple[int, int]:
    if _is_positive_int(kernel_size):
        return int(kernel_size), int(kernel_size)
    if (isinstance(kernel_size, (list, tuple)) and len(kernel_size) == 2
            and all(_is_positive_int(k) for k in kernel_size)):
        return int(kernel_size[0]), int(kernel_size[1])
    raise UsageError(f"kernel_size must be a positive integer or a pair of them, "
                     f"got {kernel_size!r}.")


def _known_channels(layer, input_shape) -> int:
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise UsageError(f"Layer {layer.name!r} needs (batch, height, width, maps) inputs with a "
                         f"known number of maps, got input shape {tuple(input_shape)}.")
    return int(input_shape[-1])


def _is_positive_int(value) -> bool:
    return is_int(value) and value >= 1
