"""Test-time augmentation: several views of each test image whose softmaxes are averaged.

``flip``: the evaluation view and its horizontal reflection. ``10crop``: Krizhevsky
et al. 2012, section 4.1, "extracting five 224x224 patches (the four corner patches
and the center patch) as well as their horizontal reflections (hence ten patches in
all), and averaging the predictions made by the network's softmax layer on the ten
patches". The patches come from the preset's TTA canvas: the 256x256 image for
``alexnet``, ``vgg`` and ``inception``, the 4-pixel zero-padded image for ``cifar``
and ``none``.
"""

from __future__ import annotations

import tensorflow as tf

from engine.data.augment import Augmentation
from engine.data.geometry import corner_and_centre_offsets

VIEWS = {"none": 1, "flip": 2, "10crop": 10}


def views(augmentation: Augmentation, image: tf.Tensor, mode: str) -> tf.Tensor:
    """``[VIEWS[mode], H, W, C]`` float 0-255 views of a stored image."""
    if mode == "10crop":
        return ten_crops(augmentation.tta_canvas(image), augmentation.size)
    view = augmentation.evaluate(image)
    if mode == "flip":
        return tf.stack([view, tf.image.flip_left_right(view)])
    return view[None]


def ten_crops(canvas: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """The four corner crops and the centre crop of ``canvas`` at ``size``, then their
    horizontal reflections: ``[10, height, width, C]``."""
    height, width = size
    offsets = corner_and_centre_offsets(tf.unstack(tf.shape(canvas)[:2]), size)
    crops = tf.stack([canvas[top:top + height, left:left + width] for top, left in offsets])
    crops = tf.ensure_shape(crops, [5, height, width, canvas.shape[-1]])
    return tf.concat([crops, tf.image.flip_left_right(crops)], axis=0)
