"""Convolution as one matrix multiplication: im2col.

The lectures (CS189, "Convolutional Neural Networks", the Conv2D slides) lay every
receptive field of the input out as a column, ``X_col``, and every filter as a row,
``W_row``; the convolution is then the single product ``W_row @ X_col``, one row
per filter and one column per output position, reshaped back into maps. Their
example: a 5x5x3 input and 32 filters of 3x3 at stride 1 give ``X_col`` 27x9
(3*3*3 weights per window, 3x3 output positions) and ``W_row`` 32x27, so
``W_row @ X_col`` is 32x9: 32 maps of 3x3.

A column stacks its window's values in the order of the Keras kernel
``(kernel_height, kernel_width, in_channels, filters)`` flattened row by row:
row, then column, then channel. Output positions go row by row. These are
Keras's (and TensorFlow's) convolution semantics: cross-correlation, "SAME"
padding with the odd extra zero after (:func:`layers.same_padding`).
"""

from __future__ import annotations

import keras
from keras import ops

from layers.arithmetic import conv_output_size, resolve_padding
from layers.checks import check_pair
from layers.errors import UsageError


def im2col(x, kernel, strides=1, padding="valid"):
    """``X_col``: every ``kernel``-sized window of ``x`` as a column.

    ``x`` is one ``(H, W, C)`` image or a batch ``(N, H, W, C)``; ``kernel`` the
    window size (an int or ``(height, width)``), ``strides`` an int or a pair, and
    ``padding`` ``"valid"``, ``"same"``, an int P (P zeros on each side) or
    ``((top, bottom), (left, right))``. Returns ``(kh*kw*C, H_out*W_out)``, or
    ``(N, kh*kw*C, H_out*W_out)`` for a batch.
    """
    batched = len(x.shape) == 4
    if len(x.shape) not in (3, 4):
        raise UsageError(f"im2col takes an (H, W, C) image or an (N, H, W, C) batch, got shape "
                         f"{tuple(x.shape)}.")
    x = x if batched else ops.expand_dims(x, 0)
    (kernel_h, kernel_w), (stride_h, stride_w) = check_pair("kernel", kernel), check_pair("strides", strides)
    channels = x.shape[-1]
    zeros, (out_h, out_w) = _geometry(x.shape, (kernel_h, kernel_w), (stride_h, stride_w),
                                      padding)
    x = ops.pad(x, [[0, 0], *zeros, [0, 0]])
    # One strided slice per kernel offset (i, j): the (i, j) entry of every window.
    offsets = [x[:, i:i + stride_h * (out_h - 1) + 1:stride_h,
                 j:j + stride_w * (out_w - 1) + 1:stride_w, :]
               for i in range(kernel_h) for j in range(kernel_w)]
    windows = ops.stack(offsets, axis=3)  # (N, out_h, out_w, kh*kw, C)
    rows = ops.reshape(windows, (-1, out_h * out_w, kernel_h * kernel_w * channels))
    columns = ops.transpose(rows, (0, 2, 1))
    return columns if batched else columns[0]


def kernel_rows(kernel):
    """``W_row``: a Keras ``(kh, kw, in_channels, filters)`` kernel as one row per
    filter, ``(filters, kh*kw*in_channels)``, in :func:`im2col`'s column order."""
    if len(kernel.shape) != 4:
        raise UsageError(f"kernel_rows takes a (kernel_height, kernel_width, in_channels, "
                         f"filters) kernel, got shape {tuple(kernel.shape)}.")
    return ops.transpose(ops.reshape(kernel, (-1, kernel.shape[-1])))


def conv_as_matmul(x, kernel, bias=None, strides=1, padding="valid"):
    """The convolution of ``x`` with ``kernel`` computed as ``W_row @ X_col``.

    ``x`` is ``(H, W, C)`` or ``(N, H, W, C)``, ``kernel`` a Keras Conv2D kernel
    ``(kh, kw, C, filters)`` and ``bias`` (optional) ``(filters,)``; ``strides`` and
    ``padding`` as in :func:`im2col`. Returns the maps ``(H_out, W_out, filters)``
    (with a leading batch axis for a batch): what ``keras.layers.Conv2D`` with the
    same weights, strides and padding gives, before its activation. It is computed in
    the image's float dtype; an integer image (the lectures' examples) in the kernel's,
    or Keras's float type where both are integers.
    """
    x, kernel = ops.convert_to_tensor(x), ops.convert_to_tensor(kernel)
    image_dtype, kernel_dtype = (keras.backend.standardize_dtype(tensor.dtype)
                                 for tensor in (x, kernel))
    if "float" in image_dtype:
        dtype = image_dtype
    else:
        dtype = kernel_dtype if "float" in kernel_dtype else keras.config.floatx()
    x, kernel = ops.cast(x, dtype), ops.cast(kernel, dtype)
    if len(x.shape) not in (3, 4):
        raise UsageError(f"conv_as_matmul takes an (H, W, C) image or an (N, H, W, C) batch, "
                         f"got shape {tuple(x.shape)}.")
    if len(kernel.shape) != 4 or kernel.shape[2] != x.shape[-1]:
        raise UsageError(f"The kernel {tuple(kernel.shape)} does not fit the input "
                         f"{tuple(x.shape)}: it needs (kh, kw, {x.shape[-1]}, filters).")
    window = tuple(kernel.shape[:2])
    _, (out_h, out_w) = _geometry(x.shape, window, check_pair("strides", strides), padding)
    product = ops.matmul(kernel_rows(kernel), im2col(x, window, strides, padding))
    maps = ops.swapaxes(product, -1, -2)  # (..., out_h*out_w, filters)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
        if tuple(bias.shape) != (kernel.shape[-1],):
            raise UsageError(f"The bias {tuple(bias.shape)} does not fit the kernel "
                             f"{tuple(kernel.shape)}: it needs one value per filter, "
                             f"({kernel.shape[-1]},).")
        maps = maps + ops.cast(bias, dtype)
    batch = (-1,) if len(x.shape) == 4 else ()  # -1: a symbolic batch has no size yet
    return ops.reshape(maps, (*batch, out_h, out_w, kernel.shape[-1]))


def _geometry(shape, kernel, strides, padding):
    """The ``((top, bottom), (left, right))`` zeros and the ``(height, width)`` of the
    output of a window ``kernel`` at ``strides`` over an input of ``shape``."""
    if (isinstance(padding, (tuple, list)) and len(padding) == 2
            and all(isinstance(side, (tuple, list)) for side in padding)):
        per_axis = tuple(tuple(side) for side in padding)
    else:
        per_axis = padding, padding
    zeros = tuple(resolve_padding(size, window, stride, pad) for size, window, stride, pad
                  in zip(shape[-3:-1], kernel, strides, per_axis))
    sizes = tuple(conv_output_size(size, window, stride, pad) for size, window, stride, pad
                  in zip(shape[-3:-1], kernel, strides, zeros))
    return zeros, sizes

