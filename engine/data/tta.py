"""Test-time augmentation: several views of each test image whose softmaxes are averaged.

``flip``: the evaluation view and its horizontal reflection. ``10crop``: Krizhevsky
et al. 2012, section 4.1, "extracting five 224x224 patches (the four corner patches
and the center patch) as well as their horizontal reflections (hence ten patches in
all), and averaging the predictions made by the network's softmax layer on the ten
patches". The patches come from the preset's TTA canvas: the 256x256 image for
``alexnet``, ``zfnet``, ``vgg``, ``resnet``, ``inception`` and ``fb_resnet``, the image padded as
the preset trains for ``cifar``, ``cifar_reflect`` (4 pixels, reflected for the latter) and
``shift`` (2 pixels), the 4-pixel padded image for ``none``. ``dense``: Simonyan and Zisserman 2015, section 3.2, the whole
(uncropped) image isotropically rescaled to a smallest side Q, for the network with
its fully connected layers as convolutions (:func:`layers.fully_convolutional`);
"we also augment the test set by horizontal flipping of the images", which applies
to runs that trained on flipped images (every preset but ``none`` and ``shift``).
"""

from __future__ import annotations

import tensorflow as tf

from engine.data.augment import (AlexNetAugmentation, Augmentation,
                                 VggAugmentation, WholeImageAugmentation)
from engine.data.geometry import (canvas_size, corner_and_centre_offsets, resize_to_cover,
                                  trim_to_cover)

VIEWS = {"none": 1, "flip": 2, "10crop": 10, "dense": 2}


def views(augmentation: Augmentation, image: tf.Tensor, mode: str,
          scale: int | None = None) -> tf.Tensor:
    """``[VIEWS[mode], H, W, C]`` float 0-255 views of a stored image (``dense``: at most
    ``VIEWS[mode]`` views of the whole image with its shorter side ``scale``)."""
    if mode == "dense":
        whole = resize_to_cover(trim_to_cover(image, (scale, scale)), (scale, scale))
        if augmentation.mirrors:
            return tf.stack([whole, tf.image.flip_left_right(whole)])
        return whole[None]
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


def dense_scale(augmentation: Augmentation, test_scale: int | None = None) -> int:
    """Q, the shorter side of dense evaluation's test images: ``test_scale`` when given,
    otherwise the scale the preset trains at: the middle of its jittered S, 384 for
    ``vgg``'s [256, 512], as the paper's Table 3 does (368 for ``resnet``'s [256, 480],
    256 for ``vgg_single_scale``'s fixed S);
    256 for ``alexnet``, ``zfnet``, ``inception`` and ``fb_resnet`` (the image their crops come
    from, for a 224 input); the input size otherwise."""
    if test_scale is not None:
        return test_scale
    canvas = min(canvas_size(augmentation.size))
    if isinstance(augmentation, VggAugmentation):
        low, high = augmentation.scales
        return round(canvas * (low + high) / 2)
    if isinstance(augmentation, (AlexNetAugmentation, WholeImageAugmentation)):
        return canvas
    return min(augmentation.size)
