"""Pieces every recipe builder shares: the classifier head, the headless network of
``include_top=False`` and the input-size guard."""

from __future__ import annotations

import math

import keras

from layers import layer_output_size
from layers.checks import is_real
from layers.errors import UsageError


def classifier(x, classes: int, classifier_activation: str | None, prefix: str = "",
               **dense_kwargs):
    """The final affine layer ``logits`` and its activation ``predictions``.

    The activation runs in float32 so that softmax stays exact under mixed
    precision; with ``classifier_activation=None`` the model returns logits.
    ``prefix`` names the layers of an extra head (GoogLeNet's ``aux1_logits``).
    """
    x = keras.layers.Dense(classes, name=f"{prefix}logits", **dense_kwargs)(x)
    return predictions(x, classifier_activation, prefix)


# keras.applications' ``pooling`` of a headless network, and the layer each adds.
POOLINGS = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}


def features(inputs, x, pooling: str | None, name: str) -> keras.Model:
    """keras.applications' ``include_top=False``: the network up to its classifier, the
    last feature maps ``x``, or their global average (``pooling="avg"``, layer
    ``avg_pool``) or maximum (``"max"``, ``max_pool``), one vector per image."""
    if pooling is not None:
        x = POOLINGS[pooling](name=f"{pooling}_pool")(x)
    return keras.Model(inputs, x, name=name)


def flatten(x, name: str = "flatten", has_features: bool = True):
    """``Flatten`` in front of fully connected layers, which need its length: feature
    maps of open height or width (an ``input_shape`` with None) are a :class:`UsageError`
    saying so, not Keras's error about a kernel of shape (None, units);
    ``has_features``: the network has feature maps before it, which ``include_top=False``
    keeps (an MLP flattens its input)."""
    if any(size is None for size in x.shape[1:]):
        flattened, remedy = (
            ("feature maps", "give the height and width in input_shape, or build with "
                             "include_top=False")
            if has_features else ("its input", "give every size in input_shape"))
        raise UsageError(
            f"Layer {name!r} flattens {flattened} of open size {tuple(x.shape[1:])} into "
            f"fully connected layers, which need a fixed input size: {remedy}.")
    return keras.layers.Flatten(name=name)(x)


def predictions(logits, classifier_activation: str | None, prefix: str = ""):
    """The float32 activation ``predictions`` for heads whose logits come from no
    Dense layer (global average pooling in NiN, a 1x1 conv in AlphaGo)."""
    return keras.layers.Activation(classifier_activation or "linear", dtype="float32",
                                   name=f"{prefix}predictions")(logits)


def apply(layer: keras.layers.Layer, x):
    """Calls ``layer`` on ``x`` after checking that a window layer fits its input.

    Convolutions and poolings whose window does not fit raise a :class:`UsageError`
    that names the layer and shows the conv arithmetic of
    :func:`layers.conv_formula`, instead of Keras's negative-dimension error
    deep inside the graph.
    """
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if window is not None and len(x.shape) == 4:
        strides = getattr(layer, "strides", 1) or window
        dilation = getattr(layer, "dilation_rate", 1)
        # PaddedConv2D adds (top, bottom, left, right) zeros before a "valid" conv.
        zeros = getattr(layer, "explicit_padding", None)
        for axis, size in enumerate(x.shape[1:3]):
            padding = zeros[2 * axis:2 * axis + 2] if zeros else getattr(layer, "padding", "valid")
            layer_output_size(layer.name, size, _at(window, axis), _at(strides, axis),
                              padding, _at(dilation, axis), axis)
    return layer(x)


def _at(value, axis):
    return value[axis] if isinstance(value, (tuple, list)) else value


def scaled(channels: int, width_multiplier: float, divisor: int = 1) -> int:
    """``channels`` times ``width_multiplier``, rounded to the nearest multiple of
    ``divisor`` (a grouped convolution's groups) and at least ``divisor``: the width of
    a layer in a network made uniformly narrower or wider (``width_multiplier`` of the
    builders that take one; 1 is the paper's network)."""
    if not (is_real(width_multiplier) and math.isfinite(width_multiplier)
            and width_multiplier > 0):
        raise UsageError(f"width_multiplier must be a positive number, got "
                         f"{width_multiplier!r}.")
    return max(divisor, round(channels * width_multiplier / divisor) * divisor)


def rate(argument: str, value) -> float:
    """``value`` of a builder's dropout rate: a number in [0, 1)."""
    if not (is_real(value) and 0 <= value < 1):
        raise UsageError(f"{argument} must be in [0, 1), got {value!r}.")
    return value
