"""Pieces every recipe builder shares: the classifier head and the input-size guard."""

from __future__ import annotations

import keras


def classifier(x, classes: int, classifier_activation: str | None, **dense_kwargs):
    """The final affine layer ``logits`` and its activation ``predictions``.

    The activation runs in float32 so that softmax stays exact under mixed
    precision; with ``classifier_activation=None`` the model returns logits.
    """
    x = keras.layers.Dense(classes, name="logits", **dense_kwargs)(x)
    return keras.layers.Activation(classifier_activation or "linear", dtype="float32",
                                   name="predictions")(x)


def apply(layer: keras.layers.Layer, x):
    """Calls ``layer`` on ``x`` after checking that a window layer fits its input.

    Convolutions and poolings whose window does not fit raise a ``ValueError``
    that names the layer and shows the conv arithmetic, instead of Keras's
    negative-dimension error deep inside the graph.
    """
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if window is not None and len(x.shape) == 4:
        strides = getattr(layer, "strides", 1) or window
        dilation = getattr(layer, "dilation_rate", 1)
        padding = getattr(layer, "padding", "valid")
        for axis, size in enumerate(x.shape[1:3]):
            _check_axis(layer.name, size, _at(window, axis), _at(strides, axis),
                        _at(dilation, axis), padding, axis)
    return layer(x)


def _at(value, axis):
    return value[axis] if isinstance(value, (tuple, list)) else value


def _check_axis(layer_name, size, kernel, stride, dilation, padding, axis):
    if size is None or padding == "same" or not isinstance(padding, str):
        return
    effective = (kernel - 1) * dilation + 1
    if size >= effective:
        return
    dim = "height" if axis == 0 else "width"
    raise ValueError(
        f"Layer {layer_name!r} does not fit its input: {dim} ({size} - {effective} + 0)/{stride} + 1 "
        f"= {(size - effective) / stride + 1:.2f} < 1; use a larger input_shape."
    )
