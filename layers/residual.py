"""Residual blocks: He et al.'s basic and bottleneck blocks, their shortcuts, and the
pre-activation block of wide ResNets.

K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition",
CVPR 2016: Fig. 2 (the block ``y = F(x) + x`` followed by ReLU), Fig. 5 (basic block
left, bottleneck right), Sec. 3.3 (shortcut options A, B, C), Sec. 3.4 (batch
normalization after every convolution, He initialization), Table 1.

The blocks are functions over Keras layers; the only custom layer is
:class:`ZeroPadShortcut` (option A), which Keras lacks.  Layer names follow
``keras.applications.ResNet50``: ``{name}_1_conv``, ``{name}_1_bn``,
``{name}_1_relu``, ..., ``{name}_0_conv`` for a projection shortcut, ``{name}_add``
and ``{name}_out``, so a ``conv2_block1`` reads like row ``conv2_x`` of Table 1.
"""

from __future__ import annotations

import keras

from layers.checks import check_choice, check_positive_int, is_real
from layers.conv import PaddedConv2D
from layers.errors import UsageError
from layers.regularization import StochasticDepth

SHORTCUTS = ("A", "B", "C")
STRIDE_PLACEMENTS = ("1x1", "3x3")
# He et al.'s variance 2/n over a kernel's inputs (the forward form, the paper's Caffe
# "msra" filler) or its outputs (the backward form, Torch code: n = kW * kH * nOutputPlane).
HE_FANS = ("fan_in", "fan_out")
# The epsilon of the paper's Caffe model and of torchvision (Keras defaults to 1e-3).
BATCH_NORM_EPSILON = 1e-5
# The weight of the old value in a batch normalization's moving averages: Keras's 0.99 by
# default; Torch's nn.SpatialBatchNormalization (momentum 0.1 of the new batch) is 0.9.
BATCH_NORM_MOMENTUM = 0.99
TORCH_BATCH_NORM_MOMENTUM = 0.9


def he_normal(fan: str = "fan_in"):
    """He et al. (ICCV 2015)'s initialization, N(0, 2/n), untruncated as in the paper; n is
    ``fan``: the kernel's inputs (k * k * in / groups) or its outputs (k * k * out)."""
    check_choice("he_fan", fan, HE_FANS)
    return keras.initializers.VarianceScaling(2.0, mode=fan, distribution="untruncated_normal")


def conv(x, filters: int, kernel_size: int, *, name: str, strides: int = 1, groups: int = 1,
         use_bias: bool = False, fan: str = "fan_in"):
    """A He-initialized ``{name}_conv`` convolution (:func:`he_normal` of ``fan``) that
    keeps the size at stride 1.

    A strided k x k convolution pads (k - 1)/2 zeros on every side, as Caffe and
    Torch do, instead of Keras's "same" (which puts the odd zero at the bottom
    right), so its windows sit where the papers' models put them.  Convolutions
    are bias-free by default: the batch normalization that follows has the bias.
    """
    kernel_size, strides = (check_positive_int(argument, value) for argument, value
                            in (("kernel_size", kernel_size), ("strides", strides)))
    if strides > 1 and kernel_size > 1:
        layer = PaddedConv2D(filters, kernel_size, strides=strides,
                             padding=(kernel_size - 1) // 2, groups=groups, use_bias=use_bias,
                             kernel_initializer=he_normal(fan), name=f"{name}_conv")
    else:
        layer = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                                    groups=groups, use_bias=use_bias,
                                    kernel_initializer=he_normal(fan), name=f"{name}_conv")
    return layer(x)


def batch_norm(x, *, name: str, momentum: float = BATCH_NORM_MOMENTUM):
    """The ``{name}_bn`` batch normalization every convolution of a ResNet is followed by,
    its moving averages of ``momentum``."""
    return keras.layers.BatchNormalization(momentum=momentum, epsilon=BATCH_NORM_EPSILON,
                                           name=f"{name}_bn")(x)


def conv_bn(x, filters: int, kernel_size: int, *, name: str, strides: int = 1, groups: int = 1,
            activation: str | None = "relu", use_bias: bool = False, fan: str = "fan_in",
            momentum: float = BATCH_NORM_MOMENTUM):
    """:func:`conv` then :func:`batch_norm` (of ``momentum``), then ``{name}_relu`` unless
    ``activation=None``."""
    x = batch_norm(conv(x, filters, kernel_size, name=name, strides=strides, groups=groups,
                        use_bias=use_bias, fan=fan), name=name, momentum=momentum)
    if activation is None:
        return x
    return keras.layers.Activation(activation, name=f"{name}_{activation}")(x)


def bn_relu(x, *, name: str, momentum: float = BATCH_NORM_MOMENTUM):
    """Batch normalization (of ``momentum``) then ReLU (``{name}_bn``, ``{name}_relu``): a
    pre-activation."""
    return keras.layers.Activation("relu", name=f"{name}_relu")(
        batch_norm(x, name=name, momentum=momentum))


def shortcut_branch(x, filters: int, *, name: str, strides: int = 1, option: str = "B",
                    use_bias: bool = False, fan: str = "fan_in",
                    momentum: float = BATCH_NORM_MOMENTUM):
    """The shortcut of a block whose residual branch outputs ``filters`` channels at ``strides``.

    Sec. 3.3: option A is the identity, subsampled and padded with zero channels
    where the shape changes (:class:`ZeroPadShortcut`, parameter-free); option B
    projects (1x1 conv + BN, ``{name}_0_conv``/``{name}_0_bn``) only where the
    shape changes; option C projects always. ``momentum`` is the projection's batch
    normalization's.
    """
    check_choice("shortcut", option, SHORTCUTS)
    changes = strides != 1 or x.shape[-1] != filters
    if option == "C" or (option == "B" and changes):
        return conv_bn(x, filters, 1, strides=strides, activation=None, use_bias=use_bias,
                       fan=fan, momentum=momentum, name=f"{name}_0")
    if option == "A" and changes:
        return ZeroPadShortcut(filters, strides, name=f"{name}_0_pad")(x)
    return x


def basic_block(x, filters: int, *, name: str, strides: int = 1, shortcut: str | None = "B",
                survival_probability: float = 1.0, use_bias: bool = False, fan: str = "fan_in",
                momentum: float = BATCH_NORM_MOMENTUM):
    """Fig. 5 left: 3x3 conv (stride ``strides``) - BN - ReLU - 3x3 conv - BN, + shortcut, ReLU.

    ``shortcut`` is an option of :func:`shortcut_branch` or ``None`` for the plain
    network of Fig. 3 (middle), which has no shortcut at all.  A
    ``survival_probability`` below 1 drops the residual branch at training time
    (:class:`layers.StochasticDepth`, Huang et al. 2016). ``fan`` is that of every
    convolution's :func:`he_normal`, ``momentum`` that of every batch normalization.
    """
    check_positive_int("filters", filters)
    strides = _check_block(strides, survival_probability)
    identity = _identity(x, filters, name, strides, shortcut, use_bias, fan, momentum)
    y = conv_bn(x, filters, 3, strides=strides, use_bias=use_bias, fan=fan, momentum=momentum,
                name=f"{name}_1")
    y = conv_bn(y, filters, 3, activation=None, use_bias=use_bias, fan=fan, momentum=momentum,
                name=f"{name}_2")
    return _merge(y, identity, name, survival_probability)


def bottleneck_block(x, width: int, filters: int, *, name: str, strides: int = 1,
                     shortcut: str | None = "B", stride_on: str = "1x1", groups: int = 1,
                     survival_probability: float = 1.0, use_bias: bool = False,
                     fan: str = "fan_in", momentum: float = BATCH_NORM_MOMENTUM):
    """Fig. 5 right: 1x1 conv (``width``) - 3x3 conv (``width``) - 1x1 conv (``filters``).

    Table 1 writes ResNet-50's conv2_x block as ``width=64, filters=256``.
    ``stride_on="1x1"`` strides the first 1x1 convolution, as the paper's Caffe
    model (v1) does; ``"3x3"`` strides the 3x3 one, as torchvision ("v1.5") and
    ResNeXt do.  ``groups`` splits the 3x3 convolution into that many groups
    (Xie et al. 2017's cardinality, Fig. 3(c)).  ``shortcut``,
    ``survival_probability``, ``fan`` and ``momentum`` are as in :func:`basic_block`.
    """
    check_positive_int("width", width)
    check_positive_int("filters", filters)
    check_positive_int("groups", groups)
    strides = _check_block(strides, survival_probability)
    check_choice("stride_on", stride_on, STRIDE_PLACEMENTS)
    if width % groups:
        raise UsageError(
            f"width must be a multiple of groups so the 3x3 convolution splits evenly, "
            f"got width={width!r} and groups={groups!r}."
        )
    first, middle = (strides, 1) if stride_on == "1x1" else (1, strides)
    identity = _identity(x, filters, name, strides, shortcut, use_bias, fan, momentum)
    y = conv_bn(x, width, 1, strides=first, use_bias=use_bias, fan=fan, momentum=momentum,
                name=f"{name}_1")
    y = conv_bn(y, width, 3, strides=middle, groups=groups, use_bias=use_bias, fan=fan,
                momentum=momentum, name=f"{name}_2")
    y = conv_bn(y, filters, 1, activation=None, use_bias=use_bias, fan=fan, momentum=momentum,
                name=f"{name}_3")
    return _merge(y, identity, name, survival_probability)


def preact_block(x, filters: int, *, name: str, strides: int = 1, dropout: float = 0.0,
                 fan: str = "fan_in", momentum: float = BATCH_NORM_MOMENTUM):
    """The wide ResNet block, Zagoruyko & Komodakis 2016, Fig. 1(d) ("wide-dropout").

    BN - ReLU - 3x3 conv (stride ``strides``) - BN - ReLU - [dropout] - 3x3 conv,
    added to the shortcut with no activation after the sum (the pre-activation
    block of He et al., "Identity mappings in deep residual networks", ECCV 2016).
    Where the shape changes the shortcut is a 1x1 convolution of the
    pre-activated input, as in the authors' code; elsewhere it is the identity.
    ``fan`` and ``momentum`` are as in :func:`basic_block`.
    """
    check_positive_int("filters", filters)
    strides = _check_block(strides)
    if not (is_real(dropout) and 0 <= dropout < 1):
        raise UsageError(f"dropout must be in [0, 1), got {dropout!r}.")
    activated = bn_relu(x, name=f"{name}_preact", momentum=momentum)
    identity = x
    if strides != 1 or x.shape[-1] != filters:
        identity = conv(activated, filters, 1, strides=strides, fan=fan, name=f"{name}_0")
    y = conv(activated, filters, 3, strides=strides, fan=fan, name=f"{name}_1")
    y = bn_relu(y, name=f"{name}_1", momentum=momentum)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = conv(y, filters, 3, fan=fan, name=f"{name}_2")
    return keras.layers.Add(name=f"{name}_add")([identity, y])


def _check_block(strides, survival_probability: float = 1.0) -> int:
    """A block's ``strides`` (a positive integer, returned as Python's, which Keras's
    layers require) and ``survival_probability`` (in (0, 1])."""
    strides = check_positive_int("strides", strides)
    if not (is_real(survival_probability) and 0 < survival_probability <= 1):
        raise UsageError(f"survival_probability must be in (0, 1], got "
                         f"{survival_probability!r}.")
    return strides


def _identity(x, filters, name, strides, shortcut, use_bias, fan, momentum):
    if shortcut is None:
        return None
    return shortcut_branch(x, filters, strides=strides, option=shortcut, use_bias=use_bias,
                           fan=fan, momentum=momentum, name=name)


def _merge(residual, identity, name, survival_probability):
    """``relu(identity + residual)``, the residual dropped at random for stochastic depth."""
    if identity is not None:
        if survival_probability < 1:
            residual = StochasticDepth(survival_probability, name=f"{name}_drop")(residual)
        residual = keras.layers.Add(name=f"{name}_add")([identity, residual])
    elif survival_probability < 1:
        raise UsageError("Stochastic depth needs a shortcut to fall back on; got shortcut=None.")
    return keras.layers.Activation("relu", name=f"{name}_out")(residual)


@keras.saving.register_keras_serializable(package="convnet_recipes")
class ZeroPadShortcut(keras.layers.Layer):
    """Option A of He et al. 2016 (Sec. 3.3): the identity, with zeros for the new channels.

    Keeps every ``strides``-th row and column (the subsampling of a stride-2
    shortcut) and appends ``filters - C`` all-zero channels after the input's
    ``C``, as fb.resnet.torch's option A does.  It has no parameters, so a
    ResNet with option A shortcuts has as many parameters as its plain twin.
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("filters", filters)
        check_positive_int("strides", strides)
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise UsageError(
                f"ZeroPadShortcut {self.name!r} takes (batch, height, width, channels) maps, "
                f"got input shape {tuple(input_shape)}.")
        channels = input_shape[-1]
        if channels is not None and channels > self.filters:
            raise UsageError(
                f"ZeroPadShortcut {self.name!r} can only add channels: its input has "
                f"{channels} channels, more than filters={self.filters}."
            )

    def call(self, inputs):
        step = self.strides
        x = inputs[:, ::step, ::step, :]
        extra = self.filters - inputs.shape[-1]
        return keras.ops.pad(x, [(0, 0), (0, 0), (0, 0), (0, extra)])

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, _subsampled(height, self.strides), _subsampled(width, self.strides),
                self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def _subsampled(size, step):
    return None if size is None else -(-size // step)
