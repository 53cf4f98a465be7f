"""Deterministic image geometry: channels, pad-or-resize to a size, centre crops, canvases.

Every function takes one ``HxWxC`` image or a ``NxHxWxC`` batch of images of one
size (any dtype; sizes may be dynamic) and returns float32 in the source's 0-255
range, except :func:`to_uint8`. The input pipeline applies them image by image,
the exported SavedModel (:mod:`engine.serving`) to whole batches.
"""

from __future__ import annotations

import tensorflow as tf

# Images at most this fraction smaller than the target per side are zero-padded,
# centred, instead of resized: MNIST's 28x28 digits go into LeNet-5's 32x32 input
# with a 2-pixel border, as in LeCun et al. 1998 (section III-A).
PAD_FRACTION = 0.25
# A covering resize keeps the aspect ratio, so a thin image grows without bound: a
# 1,000,000 x 1 PNG of 1 KB covering 32 x 32 was 32 x 32,000,000 floats (4 GB) before its
# crop. Where a crop follows, the image is first cut to its centre at most this many
# times the target's aspect ratio: the crop keeps the same window, and the resize stays
# within this many times the target's area. Images within it are not touched.
MAX_COVER_STRETCH = 4
# AlexNet's 256x256 image around its 224x224 crops (Krizhevsky et al. 2012, section 2).
CANVAS_RATIO = 256 / 224
# ITU-R BT.601 luma of R, G and B, as tf.image.rgb_to_grayscale weighs them.
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


def match_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """``image`` with ``channels`` (1 or 3) channels: alpha dropped, grey <-> RGB.

    RGB pixels become their luma (ITU-R BT.601, :data:`LUMA_WEIGHTS`, those of
    :func:`tf.image.rgb_to_grayscale`, whose ``tensordot`` on an image of unknown size
    makes oneDNN log a false error about uint8 and AVX-512), except grey ones
    (R = G = B), which keep their value exactly: the luma weights sum to 0.9999, and a
    grey image decoded as RGB (image files are decoded with three channels) must come
    back unchanged.
    """
    image = tf.cast(image, tf.float32)
    present = image.shape[-1]
    if present in (2, 4):  # grey + alpha, RGB + alpha
        image, present = image[..., :present - 1], present - 1
    if present == channels:
        return image
    if channels == 1:
        grey = tf.reduce_all(tf.equal(image, image[..., :1]), axis=-1, keepdims=True)
        luma = tf.reduce_sum(image * tf.constant(LUMA_WEIGHTS), axis=-1, keepdims=True)
        return tf.where(grey, image[..., :1], luma)
    return tf.image.grayscale_to_rgb(image)


def fit_to(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """``image`` at ``size``: zero-padded and centred when it is a little smaller
    (at most :data:`PAD_FRACTION` per side), otherwise resized to cover ``size``
    with its aspect ratio kept and centre-cropped (a batch: all its images alike)."""
    fitted = centre_crop(fit_whole(trim_to_cover(image, size), size), size)
    return tf.ensure_shape(fitted, [*image.shape[:-3], *size, image.shape[-1]])


def fit_whole(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """:func:`fit_to` without its crop: ``image`` zero-padded and centred to ``size``
    when it is a little smaller, otherwise resized (aspect ratio kept) to the smallest
    size covering ``size``, whole."""
    height, width = size
    shape = tf.shape(image)
    rows, columns = shape[-3], shape[-2]
    fits = tf.logical_and(
        tf.logical_and(rows <= height, columns <= width),
        tf.logical_and(tf.cast(rows, tf.float32) >= (1 - PAD_FRACTION) * height,
                       tf.cast(columns, tf.float32) >= (1 - PAD_FRACTION) * width))
    image = tf.cast(image, tf.float32)
    return tf.cond(fits, lambda: tf.image.resize_with_crop_or_pad(image, height, width),
                   lambda: resize_to_cover(image, size))


def cover(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Resizes ``image`` (aspect ratio kept) to the smallest size covering ``size``,
    then crops the centre ``size``: a shorter-side resize for square sizes."""
    return centre_crop(resize_to_cover(trim_to_cover(image, size), size), size)


def trim_to_cover(image: tf.Tensor, size) -> tf.Tensor:
    """The centre of ``image`` at most :data:`MAX_COVER_STRETCH` times as wide (or as tall)
    for its height (width) as ``size`` (height, width) is: ``image`` itself unless its
    aspect ratio is that far from the target's."""
    shape = tf.shape(image)
    rows, columns = shape[-3], shape[-2]
    height, width = (float(side) for side in size)

    def at_most(extent, other, ratio):
        limit = tf.cast(tf.math.ceil(MAX_COVER_STRETCH * ratio * tf.cast(other, tf.float32)),
                        tf.int32)
        kept = tf.minimum(extent, tf.maximum(limit, 1))
        return kept + (extent - kept) % 2  # an even cut: the centre stays where it was

    kept_rows, kept_columns = at_most(rows, columns, height / width), at_most(columns, rows,
                                                                             width / height)
    top, left = (rows - kept_rows) // 2, (columns - kept_columns) // 2
    return image[..., top:top + kept_rows, left:left + kept_columns, :]


def resize_to_cover(image: tf.Tensor, size) -> tf.Tensor:
    """``image`` scaled by one factor so that it covers ``size`` (height, width)."""
    shape = tf.cast(tf.shape(image)[-3:-1], tf.float32)
    target = tf.cast(tf.stack(size), tf.float32)
    scale = tf.reduce_max(target / shape)
    new_size = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), tf.cast(target, tf.int32))
    return tf.image.resize(tf.cast(image, tf.float32), new_size, antialias=True)


def centre_crop(image: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """The centre ``size`` window of an image at least that large."""
    height, width = size
    shape = tf.shape(image)
    top, left = (shape[-3] - height) // 2, (shape[-2] - width) // 2
    window = tf.cast(image[..., top:top + height, left:left + width, :], tf.float32)
    return tf.ensure_shape(window, [*image.shape[:-3], height, width, image.shape[-1]])


def corner_and_centre_offsets(canvas: tuple[int, int], size: tuple[int, int]):
    """``(top, left)`` of the four corner windows of ``size`` in an image of ``canvas``
    (height, width), then of the centre one: the five crops of Krizhevsky et al. 2012,
    section 4.1."""
    bottom, right = canvas[0] - size[0], canvas[1] - size[1]
    return [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]


def canvas_size(size: tuple[int, int]) -> tuple[int, int]:
    """The image the crops of a ``size`` input come from: :data:`CANVAS_RATIO` (256/224)
    times larger, rounded to a multiple of 8, so that both 224 and AlexNet's 227 get 256."""
    return tuple(max(side, 8 * round(side * CANVAS_RATIO / 8)) for side in size)


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """Rounds a 0-255 float image to uint8, the compact form that is cached."""
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)
