"""Convolution arithmetic along one spatial axis: output size, padding, receptive field.

The lecture notes' rule for a W-wide input, an F-wide filter, stride S and P
zeros on each side is ``W2 = (W - F + 2P)/S + 1``.  A dilation D spreads the
filter to ``(F - 1)*D + 1`` inputs.  TensorFlow (and Keras) semantics decide
what happens when the division is not exact: "VALID" drops the right-most
columns (bottom-most rows) that a window cannot reach, and "SAME" gives
``ceil(W/S)`` outputs by padding evenly, the odd extra zero going right/bottom.

Every function takes one axis; apply it to height and width separately.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from layers.checks import check_positive_int, is_int
from layers.errors import InputTooSmall, UsageError

PADDING_MODES = ("valid", "same")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding="valid",
                     dilation: int = 1, strict: bool = False) -> int:
    """The number of outputs of a convolution or pooling along one axis.

    ``padding`` is ``"valid"``, ``"same"``, an int P (P zeros on each side, as
    the papers' tables say "pad 2") or a ``(before, after)`` pair (explicit
    asymmetric padding, see :class:`layers.PaddedConv2D`).

    A window that does not fit the (padded) input even once raises
    ``ValueError``.  With ``strict=True`` so does a configuration whose
    windows do not tile the padded input exactly, i.e. one where TensorFlow
    would silently drop the last rows or columns; the message shows the
    arithmetic, e.g. ``(7 - 3 + 0)/3 + 1 = 2.33``.
    """
    before, after = resolve_padding(size, kernel, stride, padding, dilation)
    reach = size + before + after - effective_kernel(kernel, dilation)
    if reach < 0:
        raise UsageError(
            f"A window of {_window(kernel, dilation)} does not fit an input of size {size}: "
            f"{conv_formula(size, kernel, stride, padding, dilation)} < 1."
        )
    if strict and reach % stride:
        raise UsageError(
            f"A window of {_window(kernel, dilation)} at stride {stride} does not tile an input "
            f"of size {size} exactly: {conv_formula(size, kernel, stride, padding, dilation)}; "
            f"change the padding, the stride or the input size."
        )
    return reach // stride + 1


def layer_output_size(layer_name: str, size: int | None, kernel: int, stride: int = 1,
                      padding="valid", dilation: int = 1, axis: int = 0) -> int | None:
    """:func:`conv_output_size` of layer ``layer_name``'s window along ``axis`` (0:
    height, 1: width; an unknown ``size`` gives None): a window that does not fit is
    a usage error naming the layer and showing the arithmetic, e.g. ``Layer 'pool5'
    does not fit its input: height (1 - 2 + 0)/2 + 1 = 0.5 < 1``."""
    if size is None:
        return None
    try:
        return conv_output_size(size, kernel, stride, padding, dilation)
    except ValueError:
        raise InputTooSmall(
            f"Layer {layer_name!r} does not fit its input: {('height', 'width')[axis]} "
            f"{conv_formula(size, kernel, stride, padding, dilation)} < 1") from None


def conv_formula(size: int, kernel: int, stride: int = 1, padding="valid",
                 dilation: int = 1) -> str:
    """The notes' output-size arithmetic written out, e.g. ``"(7 - 3 + 0)/3 + 1 = 2.33"``.

    The kernel term is the dilated kernel ``(kernel - 1)*dilation + 1`` and the
    padding term the total number of zeros added; an exact result prints as an
    integer (``"(32 - 5 + 4)/1 + 1 = 32"``), an inexact one with two decimals.
    """
    before, after = resolve_padding(size, kernel, stride, padding, dilation)
    span = effective_kernel(kernel, dilation)
    value = (size - span + before + after) / stride + 1
    shown = f"{value:.0f}" if value.is_integer() else f"{value:.2f}"
    return f"({size} - {span} + {before + after})/{stride} + 1 = {shown}"


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "SAME" zeros ``(before, after)`` for one axis.

    SAME produces ``ceil(size/stride)`` outputs; the zeros needed for that are
    split evenly and, when their number is odd, the extra one goes after
    (right or bottom).  Input width 13, filter 6, stride 5 gives ``(1, 2)``.
    """
    check_positive_int("size", size)
    check_positive_int("kernel", kernel)
    check_positive_int("stride", stride)
    outputs = math.ceil(size / stride)
    total = max((outputs - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def resolve_padding(size: int, kernel: int, stride: int = 1, padding="valid",
                    dilation: int = 1) -> tuple[int, int]:
    """The ``(before, after)`` zeros that ``padding`` adds along one axis."""
    check_positive_int("size", size)
    check_positive_int("kernel", kernel)
    check_positive_int("stride", stride)
    check_positive_int("dilation", dilation)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in PADDING_MODES:
            raise UsageError(
                f"padding must be 'valid', 'same', an int >= 0 or a (before, after) pair, "
                f"got {padding!r}."
            )
        return same_padding(size, kernel, stride, dilation) if mode == "same" else (0, 0)
    if is_int(padding) and padding >= 0:
        return int(padding), int(padding)
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(is_int(p) and p >= 0 for p in padding)):
        return int(padding[0]), int(padding[1])
    raise UsageError(
        f"padding must be 'valid', 'same', an int >= 0 or a (before, after) pair of ints >= 0, "
        f"got {padding!r}."
    )


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The number of inputs a dilated kernel spans: ``(kernel - 1)*dilation + 1``."""
    check_positive_int("kernel", kernel)
    check_positive_int("dilation", dilation)
    return (kernel - 1) * dilation + 1


def grow_receptive_field(receptive_field: int, jump: int, kernel: int, stride: int = 1,
                         dilation: int = 1) -> tuple[int, int]:
    """One layer's update of ``(receptive field, jump)`` along one axis.

    ``jump`` is the distance, in input pixels, between two neighbouring
    positions of the layer's input; a layer widens the receptive field by
    ``(effective kernel - 1) * jump`` and multiplies the jump by its stride.
    Start from ``(1, 1)`` at the network's input; a per-layer summary keeps
    the pair and calls this once per window layer (convolution or pooling).
    """
    check_positive_int("receptive_field", receptive_field)
    check_positive_int("jump", jump)
    check_positive_int("stride", stride)
    return receptive_field + (effective_kernel(kernel, dilation) - 1) * jump, jump * stride


def receptive_field(layers: Iterable[Sequence[int]]) -> int:
    """The receptive field, along one axis, of a stack of window layers.

    Each item is ``(kernel, stride)`` or ``(kernel, stride, dilation)``, first
    layer first.  Two stacked 3x3 convolutions see 5x5 and three see 7x7
    (Simonyan & Zisserman 2015, Section 2.3); a 3x3 convolution with
    dilation 2 sees 5x5.
    """
    field, jump = 1, 1
    for layer in layers:
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise UsageError(
                f"Each layer must be (kernel, stride) or (kernel, stride, dilation), got {layer!r}."
            )
        field, jump = grow_receptive_field(field, jump, *layer)
    return field


def _window(kernel: int, dilation: int) -> str:
    return f"size {kernel}" + (f" dilated by {dilation}" if dilation != 1 else "")
