"""Convolutions as the papers' tables write them: "pad 2", and NxN factorized into 1xN + Nx1."""

from __future__ import annotations

import keras

from layers.arithmetic import PADDING_MODES, layer_output_size
from layers.checks import check_pair, check_positive_int, check_switch, is_int, python_ints
from layers.errors import UsageError
from layers.initializers import per_layer


@keras.saving.register_keras_serializable(package="convnet_recipes")
class PaddedConv2D(keras.layers.Conv2D):
    """A ``keras.layers.Conv2D`` whose ``padding`` also takes the papers' explicit zeros.

    ``padding`` is ``"valid"``, ``"same"`` (TensorFlow semantics, as in
    Conv2D), an int P (P zeros on every side: AlexNet's "CONV2: 256 5x5
    filters at stride 1, pad 2" is ``PaddedConv2D(256, 5, padding=2)``) or
    ``(top, bottom, left, right)``.  Explicit zeros are added with
    ``keras.ops.pad`` before a "valid" convolution, so the output size is the
    lecture notes' ``(W - F + 2P)/S + 1``.  Every other Conv2D argument
    (``strides``, ``dilation_rate``, ``groups`` for AlexNet's two towers and
    ResNeXt, ``data_format``, ...) passes through unchanged.

    ``explicit_padding`` holds the resolved ``(top, bottom, left, right)``
    (``None`` for "valid"/"same"); ``padding`` is then the "valid" that the
    underlying convolution uses, while ``get_config`` keeps the argument as given.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", **kwargs):
        explicit = explicit_padding(padding)
        kernel_size, strides = python_ints(kernel_size), python_ints(strides)
        if "dilation_rate" in kwargs:
            kwargs["dilation_rate"] = python_ints(kwargs["dilation_rate"])
        super().__init__(filters, kernel_size, strides=strides,
                         padding="valid" if explicit else padding, **kwargs)
        self.explicit_padding = explicit
        self._padding_argument = list(padding) if isinstance(padding, (tuple, list)) else padding

    def build(self, input_shape):
        for axis, (index, kernel, stride, dilation) in enumerate(zip(
                self._spatial_axes(), self.kernel_size, self.strides, self.dilation_rate)):
            padding = self._pairs()[axis] if self.explicit_padding else self.padding
            layer_output_size(self.name, input_shape[index], kernel, stride, padding, dilation,
                              axis)
        super().build(input_shape)

    def call(self, inputs):
        if self.explicit_padding is not None:
            inputs = keras.ops.pad(inputs, self._pad_width())
        return super().call(inputs)

    def compute_output_shape(self, input_shape):
        if self.explicit_padding is not None:
            input_shape = list(input_shape)
            for axis, (before, after) in zip(self._spatial_axes(), self._pairs()):
                if input_shape[axis] is not None:
                    input_shape[axis] += before + after
        return super().compute_output_shape(tuple(input_shape))

    def get_config(self):
        return {**super().get_config(), "padding": self._padding_argument}

    def _spatial_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def _pairs(self):
        top, bottom, left, right = self.explicit_padding
        return (top, bottom), (left, right)

    def _pad_width(self):
        width = [(0, 0)] * 4
        for axis, pair in zip(self._spatial_axes(), self._pairs()):
            width[axis] = pair
        return width


def explicit_padding(padding) -> tuple[int, int, int, int] | None:
    """``PaddedConv2D``'s ``padding`` as ``(top, bottom, left, right)``; ``None`` for a mode."""
    if isinstance(padding, str) and padding.lower() in PADDING_MODES:
        return None
    if is_int(padding) and padding >= 0:
        return (int(padding),) * 4
    if (isinstance(padding, (tuple, list)) and len(padding) == 4
            and all(is_int(p) and p >= 0 for p in padding)):
        return tuple(int(p) for p in padding)
    raise UsageError(
        f"padding must be 'valid', 'same', an int >= 0 or (top, bottom, left, right) "
        f"ints >= 0, got {padding!r}."
    )


def factorized_conv(x, filters: int, kernel_size: int, name: str, *,
                    intermediate_filters: int | None = None, column_first: bool = False,
                    conv=None, **conv_kwargs):
    """An NxN convolution factorized into a 1xN and an Nx1 convolution.

    Szegedy et al., "Rethinking the Inception Architecture for Computer
    Vision", CVPR 2016, Section 3.2 and Fig. 6: the pair keeps the NxN
    receptive field with ``2N`` instead of ``N^2`` weights per channel pair
    (for N = 3 it is 33% cheaper).  By default the 1xN comes first, as in
    Fig. 6; ``column_first=True`` puts the Nx1 first.  The layers
    are named ``{name}_1x{N}`` and ``{name}_{N}x1``; the first one has
    ``intermediate_filters`` outputs (default ``filters``).

    ``conv(x, filters, kernel_size, name=..., **conv_kwargs) -> x`` builds each
    half; the default is a :class:`PaddedConv2D` with ``conv_kwargs`` (e.g.
    ``padding="same", activation="relu"``).  Pass your own to put batch
    normalization after each half, as Inception-v3 does.  ``conv_kwargs`` are the
    NxN's: explicit zeros and strides go to the half that convolves along their
    axis, so the pair's output has the NxN's size.
    """
    if not is_int(kernel_size) or kernel_size < 2:
        raise UsageError(
            f"kernel_size must be an int >= 2 (the N of NxN), got {kernel_size!r}."
        )
    if intermediate_filters is not None:
        intermediate_filters = check_positive_int("intermediate_filters", intermediate_filters)
    column_first = check_switch("column_first", column_first)
    conv = conv or _padded_conv
    row, column = (1, kernel_size), (kernel_size, 1)
    first, second = (column, row) if column_first else (row, column)
    x = conv(x, intermediate_filters or filters, first, name=_factor_name(name, first),
             **per_layer(_half_kwargs(first, conv_kwargs)))
    return conv(x, filters, second, name=_factor_name(name, second),
                **per_layer(_half_kwargs(second, conv_kwargs)))


def _factor_name(name, kernel_size):
    return f"{name}_{kernel_size[0]}x{kernel_size[1]}"


def _half_kwargs(kernel_size, conv_kwargs):
    """``conv_kwargs`` for the half of shape ``kernel_size`` (1xN or Nx1): the NxN's
    explicit zeros and strides along the axis the half convolves, none along the other,
    so that the pair's output has the NxN's size."""
    kwargs = dict(conv_kwargs)
    along_height = kernel_size[0] > 1
    explicit = explicit_padding(kwargs.get("padding", "valid"))
    if explicit is not None:
        top, bottom, left, right = explicit
        kwargs["padding"] = (top, bottom, 0, 0) if along_height else (0, 0, left, right)
    if "strides" in kwargs:
        strides = kwargs["strides"]
        height, width = check_pair("strides", strides)
        kwargs["strides"] = (height, 1) if along_height else (1, width)
    return kwargs


def _padded_conv(x, filters, kernel_size, name, **conv_kwargs):
    return PaddedConv2D(filters, kernel_size, name=name, **conv_kwargs)(x)
