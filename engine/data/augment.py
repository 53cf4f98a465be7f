"""The papers' training augmentations, each with its evaluation view and its TTA canvas.

A preset splits the work on one image into a deterministic part that runs before
the cache (:meth:`Augmentation.store`: channels and, where the paper fixes one,
the image size) and a random part that runs every epoch (:meth:`Augmentation.train`).
:meth:`Augmentation.evaluate` is the single view used for validation and test, and
:meth:`Augmentation.tta_canvas` the image that ``--tta=10crop`` crops from.
Randomness is stateless: each image receives its own ``[2]`` seed (its own random
integer, for the presets that augment whole batches, :attr:`Augmentation.batched`:
``cifar``, ``cifar_reflect``, ``shift``), so a run is reproducible whatever the
parallelism and the batch size. All outputs are float32 in the 0-255 range (before
normalization, which :mod:`engine.data.preprocessing` applies).
:meth:`~Augmentation.store` and :meth:`~Augmentation.evaluate` also take a batch of
images of one size: the exported SavedModel (:mod:`engine.serving`) applies the
same two steps to whole batches.

- ``none``: the image padded or resized to the input (:func:`geometry.fit_to`);
- ``cifar``: He et al. 2016, section 4.2: 4-pixel zero padding, random crop, flip;
- ``shift``: random translations of up to 2 pixels, no flips: the mild augmentation
  for digits (not mirror-symmetric), which ``lenet5_modern`` trains with;
- ``cifar_reflect``: Zagoruyko and Komodakis 2016, section 4: the same with the
  padding filled by reflections of the image;
- ``alexnet``: Krizhevsky et al. 2012, section 4.1: random crops of the 256x256
  image, flips, PCA colour noise;
- ``zfnet``: Zeiler and Fergus 2014, section 3.1: one of the ten 224x224 crops of the
  256x256 image (corners and centre, with or without flip), no colour noise;
- ``vgg``: Simonyan and Zisserman 2015, section 3.1: scale jittering (shorter side
  S in [256, 512]), random crop, flip, PCA colour noise;
- ``vgg_single_scale``: the same at a fixed S = 256 (Table 3's single-scale training);
- ``resnet``: He et al. 2016, section 3.4: the same with S in [256, 480];
- ``inception``: Szegedy et al. 2015, section 6: crops of 8%-100% of the area with
  aspect ratio 3/4-4/3 resized to the input, flip, photometric distortions;
- ``fb_resnet``: fb.resnet.torch's ImageNet views, which ResNeXt's code trains with:
  the same crops, brightness, contrast and saturation jitter in random order,
  lighting noise, flip.

The 256 image, VGG's [256, 512] and ResNet's [256, 480] are the papers' numbers for a
224 input; they scale with the input (:func:`geometry.canvas_size`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import tensorflow as tf

from engine.data.geometry import (canvas_size, centre_crop, corner_and_centre_offsets, cover,
                                  fit_to, fit_whole, match_channels, resize_to_cover,
                                  to_uint8, trim_to_cover)
from engine.choices import AUGMENTATIONS
from layers.errors import UsageError

CIFAR_PAD = 4  # pixels on each side (He et al. 2016, section 4.2)
SHIFT_PIXELS = 2  # the largest translation of ``shift``, in each direction
PCA_STDDEV = 0.1  # of the Gaussian multiplying each principal component (Krizhevsky et al.)
# Scale jittering: S in [S_min, S_max] = [256, 512] for 224 crops, i.e. 1x and 2x the canvas
# (Simonyan and Zisserman, section 3.1); He et al. 2016, section 3.4: [256, 480].
VGG_SCALES = (1, 2)
VGG_SINGLE_SCALE = (1, 1)  # Table 3's fixed S = 256 (A, A-LRN and B trained only so)
RESNET_SCALES = (1, 480 / 256)
# Szegedy et al. 2015, section 6: "patches of the image whose size is distributed evenly
# between 8% and 100% of the image area with aspect ratio constrained to [3/4, 4/3]".
INCEPTION_AREA = (0.08, 1.0)
INCEPTION_ASPECT_RATIO = (3 / 4, 4 / 3)
INCEPTION_ATTEMPTS = 10  # draws of a crop window before the whole image is taken
# The paper only names "the photometric distortions of Andrew Howard"; these are the
# ranges of TF-slim's inception preprocessing (its distort_color), on 0-1 pixel values,
# applied in one fixed order (TF-slim picks one of four orders per image, or with its
# default fast_mode only brightness and saturation).
BRIGHTNESS_DELTA = 32 / 255
SATURATION_RANGE = (0.5, 1.5)
HUE_DELTA = 0.2
CONTRAST_RANGE = (0.5, 1.5)
# fb.resnet.torch's ImageNet colour augmentation (datasets/imagenet.lua, as ResNeXt's code
# has it), on 0-1 pixel values: ColorJitter's strength (each factor uniform over 1 +- 0.4)
# and the Lighting noise's deviation and fixed eigenpairs (the eigenvectors as columns).
FB_JITTER = 0.4
FB_LIGHTING_STDDEV = 0.1
FB_EIGENVALUES = (0.2175, 0.0188, 0.0045)
FB_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
LUMA = (0.299, 0.587, 0.114)  # the grey of an RGB pixel, as fb's grayscale() weighs it


@dataclasses.dataclass(frozen=True, eq=False)
class Augmentation:
    """``none``: the image padded or resized to the input size; nothing random.

    ``size`` is the input's (height, width), ``channels`` its channel count.
    ``colour_basis`` is the ``C x C`` matrix whose columns are the training set's
    colour eigenvectors scaled by their eigenvalues (0-1 pixel units); presets
    with PCA colour noise need it (:meth:`with_colour_basis`).
    """

    size: tuple[int, int]
    channels: int
    colour_basis: np.ndarray | None = None

    name: ClassVar[str] = "none"
    random: ClassVar[bool] = False  # whether train() differs from evaluate()
    mirrors: ClassVar[bool] = False  # whether train() flips images left to right
    crop_padding: ClassVar[int] = 0  # train()'s padding on each side before its crop
    # Whether train_batch() augments a whole batch of stored images, each from its own
    # random integer; the pipeline then augments after batching.
    batched: ClassVar[bool] = False

    def store(self, image: tf.Tensor) -> tf.Tensor:
        """The deterministic part, before the cache: uint8 at the preset's stored size."""
        return to_uint8(fit_to(match_channels(image, self.channels), self.size))

    def store_whole(self, image: tf.Tensor) -> tf.Tensor:
        """Dense evaluation's stored test image: :meth:`store`'s without its crop, the
        whole image (channels matched) for :func:`engine.data.tta.views` to rescale."""
        return to_uint8(fit_whole(trim_to_cover(match_channels(image, self.channels), self.size),
                                  self.size))

    def train(self, image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """A random training view of a stored image, at the input size."""
        return self.evaluate(image)

    def train_batch(self, images: tf.Tensor, draws: tf.Tensor) -> tf.Tensor:
        """Random training views of a batch of stored images, each from its own uniform
        random int64 in ``draws``; only for :attr:`batched` presets."""
        raise NotImplementedError(f"{self.name!r} augments image by image (train).")

    def evaluate(self, image: tf.Tensor) -> tf.Tensor:
        """The one view of a stored image used for validation and test."""
        return tf.cast(image, tf.float32)

    def tta_canvas(self, image: tf.Tensor) -> tf.Tensor:
        """The image that ten-crop test-time augmentation crops the input size from."""
        return pad(self.evaluate(image), CIFAR_PAD)

    def with_colour_basis(self, colour_basis) -> "Augmentation":
        return dataclasses.replace(self, colour_basis=np.asarray(colour_basis, np.float32))

    def pca_noise(self, seed: tf.Tensor) -> tf.Tensor:
        """Krizhevsky et al.'s colour shift ``[p1..pC] [a1 l1 .. aC lC]^T``, ``a ~ N(0, 0.1)``,
        one value per channel added to every pixel. The paper does not give the pixels'
        units: the eigenpairs are those of 0-1 pixel values (CIFAR-10's largest eigenvalue
        0.15, a shift of about 4 grey levels at one standard deviation; in 0-255 units it
        would be about 1,000 levels). fb.resnet.torch's ImageNet constants (0.2175,
        0.0188, 0.0045) are not comparable: they exceed what 0-1 pixels of ImageNet's
        channel variances allow (``fb_resnet`` takes them all the same, as fb's code
        does). The shift is returned in 0-255 units."""
        if self.colour_basis is None:
            raise UsageError(f"The {self.name!r} augmentation needs the training set's colour "
                             "basis; call with_colour_basis() first.")
        alphas = tf.random.stateless_normal([self.channels], seed, stddev=PCA_STDDEV)
        return 255.0 * tf.linalg.matvec(tf.constant(self.colour_basis), alphas)


class PaddedCropAugmentation(Augmentation):
    """Crops of the input size from the stored image padded by :attr:`crop_padding`
    pixels on each side (zeros, or reflections with ``padding = "REFLECT"``), every
    offset alike, each flipped left to right with probability 1/2 where :attr:`mirrors`.
    Computed on whole batches (:meth:`train_batch`), each image's crop and flip read from
    its own random integer, so that an image's view does not depend on the batch it is
    in: per-image random ops cost more than the crop itself (measured 2026-12-06 on 2
    cores, against ``tf.image.stateless_random_crop`` and ``stateless_random_flip_left_right``
    image by image: a cached MNIST epoch through ``shift`` in 2.7 times less CPU time,
    CIFAR-10 through ``cifar`` in 2.6 times less)."""

    batched = True
    padding = "CONSTANT"  # tf.pad's mode

    def train(self, image, seed):
        draw = tf.random.stateless_uniform([1], seed, minval=None, maxval=None, dtype=tf.int64)
        return self.train_batch(image[tf.newaxis], draw)[0]

    def train_batch(self, images, draws):
        """The views of ``images`` (a batch), image ``i``'s from ``draws[i]``, a uniform
        random int64: its row offset, column offset and flip are its digits in base
        ``2p + 1``, ``2p + 1`` and 2 (their bias from 2**64 not being a multiple of
        ``2 (2p + 1)**2`` is below 1e-17)."""
        offsets = 2 * self.crop_padding + 1
        top = tf.math.floormod(draws, offsets)
        left = tf.math.floormod(tf.math.floordiv(draws, offsets), offsets)
        height, width = self.size
        rows = top[:, tf.newaxis] + tf.range(height, dtype=tf.int64)  # each image's rows
        across = tf.range(width, dtype=tf.int64)
        if self.mirrors:  # a flipped crop reads its columns right to left
            flip = tf.math.floormod(tf.math.floordiv(draws, offsets * offsets), 2) == 1
            across = tf.where(flip[:, tf.newaxis], width - 1 - across, across)
        columns = left[:, tf.newaxis] + across
        padded = pad(images, self.crop_padding, self.padding, cast=False)
        crops = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1),
                          columns, axis=2, batch_dims=1)
        return tf.cast(crops, tf.float32)

    def tta_canvas(self, image):
        """The stored image padded as :meth:`train_batch` pads it: ten-crop's corner crops
        are its largest translations."""
        return pad(self.evaluate(image), self.crop_padding, self.padding)


class CifarAugmentation(PaddedCropAugmentation):
    """He et al. 2016, section 4.2 (after Lee et al.'s DSN): "4 pixels are padded on each
    side, and a 32x32 crop is randomly sampled from the padded image or its horizontal
    flip". The padding is zeros on the raw image, the common reading (the paper pads
    after subtracting the mean, where zero is the mean colour)."""

    name = "cifar"
    random = True
    mirrors = True
    crop_padding = CIFAR_PAD


class CifarReflectAugmentation(CifarAugmentation):
    """Zagoruyko and Komodakis 2016 (wide residual networks), section 4: "take random
    crops from image padded by 4 pixels on each side, filling missing pixels with
    reflections of original image", as their code does (Torch's
    ``SpatialReflectionPadding``: the edge pixel is not repeated, ``tf.pad``'s
    ``REFLECT``); flips as ``cifar``."""

    name = "cifar_reflect"
    padding = "REFLECT"


class ShiftAugmentation(PaddedCropAugmentation):
    """Random translations of up to :data:`SHIFT_PIXELS` pixels in each direction (a
    crop of the zero-padded image), without flips: a mirrored digit is not the same
    class. Not a paper's preset: the mild augmentation commonly used for MNIST, a
    small part of LeCun et al. 1998's distortions (section III-C: translations,
    scaling, squeezing, shearing)."""

    name = "shift"
    random = True
    crop_padding = SHIFT_PIXELS


class AlexNetAugmentation(Augmentation):
    """Krizhevsky et al. 2012: images rescaled so the shorter side is 256 and the central
    256x256 kept (section 2); random 224x224 (here the input size, 227 for AlexNet)
    crops and their horizontal reflections, plus PCA colour noise (section 4.1).
    Evaluation uses the centre crop."""

    name = "alexnet"
    random = True
    mirrors = True

    def store(self, image):
        return to_uint8(cover(match_channels(image, self.channels), canvas_size(self.size)))

    def store_whole(self, image):
        return to_uint8(match_channels(image, self.channels))

    def train(self, image, seed):
        crop_seed, flip_seed, colour_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3))
        crop = tf.image.stateless_random_crop(
            tf.cast(image, tf.float32), [*self.size, self.channels], crop_seed)
        flipped = tf.image.stateless_random_flip_left_right(crop, flip_seed)
        return flipped + self.pca_noise(colour_seed)

    def evaluate(self, image):
        return centre_crop(image, self.size)

    def tta_canvas(self, image):
        return tf.cast(image, tf.float32)


class ZfnetAugmentation(AlexNetAugmentation):
    """Zeiler and Fergus 2014, section 3.1: each image's shorter side resized to 256, the
    central 256x256 kept, "then using 10 different sub-crops of size 224x224 (corners +
    center with(out) horizontal flips)": each epoch trains on one of the ten, drawn at
    random. No colour noise (unlike AlexNet's section 4.1). Evaluation uses the centre
    crop."""

    name = "zfnet"

    def train(self, image, seed):
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        offsets = tf.constant(corner_and_centre_offsets(canvas_size(self.size), self.size))
        top, left = tf.unstack(offsets[tf.random.stateless_uniform(
            [], crop_seed, maxval=len(offsets), dtype=tf.int32)])
        crop = tf.slice(tf.cast(image, tf.float32), [top, left, 0], [*self.size, self.channels])
        return tf.image.stateless_random_flip_left_right(crop, flip_seed)


class WholeImageAugmentation(Augmentation):
    """The presets that crop at random scales keep the whole image (channels matched);
    their evaluation view is the centre crop of the image rescaled to the canvas
    (shorter side 256 for a 224 input)."""

    random = True
    mirrors = True

    def store(self, image):
        if image.dtype == tf.uint8 and image.shape[-1] == self.channels:
            return image  # as stored already (through float32 and back: 7x an identity map)
        return to_uint8(match_channels(image, self.channels))

    store_whole = store  # the stored image is the whole image

    def evaluate(self, image):
        return centre_crop(self.tta_canvas(image), self.size)

    def tta_canvas(self, image):
        return cover(image, canvas_size(self.size))


class VggAugmentation(WholeImageAugmentation):
    """Simonyan and Zisserman 2015, section 3.1: the image isotropically rescaled so its
    shorter side is S, S drawn per image from [256, 512] (multi-scale training), a random
    224x224 crop, a random horizontal flip and Krizhevsky's RGB colour shift. Evaluation
    uses the centre crop of the image rescaled to 256 (the common single-crop reading;
    the paper evaluates densely at Q = 384)."""

    name = "vgg"
    scales = VGG_SCALES  # [S_min, S_max] as multiples of the canvas side (256 for 224)

    def train(self, image, seed):
        scale_seed, crop_seed, flip_seed, colour_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4))
        shorter_side = self.shorter_side(scale_seed)
        # A strip's rescale cut to its centre first, as cover() does (a 1x40000 PNG took 9 GB).
        rescaled = resize_to_cover(trim_to_cover(image, self.size), (shorter_side, shorter_side))
        crop = tf.image.stateless_random_crop(rescaled, [*self.size, self.channels], crop_seed)
        flipped = tf.image.stateless_random_flip_left_right(crop, flip_seed)
        return flipped + self.pca_noise(colour_seed)

    def shorter_side(self, seed: tf.Tensor) -> tf.Tensor:
        """S, uniform over the integers of [S_min, S_max] (256 and 512 for a 224 input)."""
        smallest = min(canvas_size(self.size))
        low, high = (round(scale * smallest) for scale in self.scales)
        return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1,
                                           dtype=tf.int32)


class VggSingleScaleAugmentation(VggAugmentation):
    """Simonyan and Zisserman 2015, section 3.1 and Table 3: single-scale training, S
    fixed at 256 (for a 224 input), as configurations A, A-LRN and B were trained; the
    rest as ``vgg``. Dense evaluation at Q = S = 256, as Table 3 tests a fixed S."""

    name = "vgg_single_scale"
    scales = VGG_SINGLE_SCALE


class ResnetAugmentation(VggAugmentation):
    """He et al. 2016, section 3.4: "The image is resized with its shorter side randomly
    sampled in [256, 480] for scale augmentation. A 224x224 crop is randomly sampled
    from an image or its horizontal flip ... The standard color augmentation in [21]
    is used": VGG's preset with S in [256, 480] (not VGG's [256, 512]). Evaluation uses
    the centre crop of the image at 256 (the paper evaluates 10 crops, and fully
    convolutionally at several scales)."""

    name = "resnet"
    scales = RESNET_SCALES


class InceptionAugmentation(WholeImageAugmentation):
    """Szegedy et al. 2015, section 6: a crop of 8%-100% of the image area with aspect
    ratio in [3/4, 4/3], resized to the input (bilinear; the paper also varies the
    interpolation), a random flip and photometric distortions (random brightness,
    saturation, hue and contrast, in that order, clipped to the pixel range).
    Evaluation uses the centre crop of the image rescaled to 8/7 of the input."""

    name = "inception"

    def train(self, image, seed):
        box_seed, flip_seed, colour_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3))
        begin, extent = self.crop_window(tf.shape(image), box_seed)
        crop = tf.slice(tf.cast(image, tf.float32), begin, extent)
        resized = tf.image.resize(crop, self.size, antialias=True)
        flipped = tf.image.stateless_random_flip_left_right(resized, flip_seed)
        return 255.0 * self.photometric(flipped / 255.0, colour_seed)

    def crop_window(self, shape: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(begin, size)`` of a random window of an image of ``shape``: its area uniform
        over 8%-100% of the image's ("distributed evenly"), its aspect ratio (width over
        height) log-uniform over [3/4, 4/3] (as likely w/h as h/w, torchvision's
        ``RandomResizedCrop`` reading), its place uniform; the first of
        :data:`INCEPTION_ATTEMPTS` draws that fits the image, else the whole image (only
        very elongated images get there), so that on a square image the largest windows
        come with ratios near 1 (a mean area of 0.48 of the image). TensorFlow's
        ``sample_distorted_bounding_box`` draws the height uniformly instead, which crowds
        the areas towards 8% (a mean of 0.40; 26% of the windows under a fifth of the
        image, against 15% here and 13% for areas uniform on [0.08, 1])."""
        begin, extent, _ = self.window_draw(shape, seed)
        return begin, extent

    def window_draw(self, shape: tf.Tensor, seed: tf.Tensor):
        """:meth:`crop_window`'s ``(begin, size)`` and whether one of the draws fit."""
        area_seed, ratio_seed, top_seed, left_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 4))
        height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
        areas = height * width * tf.random.stateless_uniform(
            [INCEPTION_ATTEMPTS], area_seed, *INCEPTION_AREA)
        ratios = self.aspect_ratios(ratio_seed)
        widths, heights = tf.round(tf.sqrt(areas * ratios)), tf.round(tf.sqrt(areas / ratios))
        fits = (widths >= 1) & (heights >= 1) & (widths <= width) & (heights <= height)
        first = tf.argmax(tf.cast(fits, tf.int32))  # the first that fits, where one does
        found = tf.reduce_any(fits)
        crop_height = tf.cast(tf.where(found, heights[first], height), tf.int32)
        crop_width = tf.cast(tf.where(found, widths[first], width), tf.int32)
        top = tf.random.stateless_uniform([], top_seed, maxval=shape[0] - crop_height + 1,
                                          dtype=tf.int32)
        left = tf.random.stateless_uniform([], left_seed, maxval=shape[1] - crop_width + 1,
                                           dtype=tf.int32)
        return tf.stack([top, left, 0]), tf.stack([crop_height, crop_width, -1]), found

    def aspect_ratios(self, seed: tf.Tensor) -> tf.Tensor:
        """The windows' ratios of width over height, one per attempt: log-uniform."""
        return tf.exp(tf.random.stateless_uniform(
            [INCEPTION_ATTEMPTS], seed, *np.log(INCEPTION_ASPECT_RATIO)))

    def photometric(self, image, seed):
        """Random brightness, saturation, hue, contrast on 0-1 pixels; the colour ones
        only for RGB inputs."""
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
        image = tf.image.stateless_random_brightness(image, BRIGHTNESS_DELTA, seeds[0])
        if self.channels == 3:
            image = tf.image.stateless_random_saturation(image, *SATURATION_RANGE, seeds[1])
            image = tf.image.stateless_random_hue(image, HUE_DELTA, seeds[2])
        image = tf.image.stateless_random_contrast(image, *CONTRAST_RANGE, seeds[3])
        return tf.clip_by_value(image, 0.0, 1.0)


class FbResnetAugmentation(InceptionAugmentation):
    """fb.resnet.torch's ImageNet training views (Gross and Wilber's Torch code,
    ``datasets/imagenet.lua`` and ``datasets/transforms.lua``), which Xie et al.'s ResNeXt
    code trains with:

    - ``RandomSizedCrop``: Inception's crop, its area uniform over 8%-100%, its aspect
      ratio uniform over [3/4, 4/3], then width and height swapped with probability 1/2;
      resized bicubically; where none of 10 draws fits, the shorter side scaled to the
      input and the centre cropped (bilinearly here);
    - ``ColorJitter``: brightness, contrast and saturation, in random order, each
      ``alpha * image + (1 - alpha) * other`` with ``alpha`` uniform over [0.6, 1.4] and
      ``other`` black, the image's mean grey or each pixel's grey (0.299 R + 0.587 G +
      0.114 B);
    - ``Lighting``: Krizhevsky's colour shift with fb's fixed ImageNet eigenpairs on 0-1
      pixels, ``alpha ~ N(0, 0.1)`` per component;
    - a flip with probability 1/2. Nothing is clipped, as there.

    Grey inputs get brightness and contrast (saturation leaves a grey image as it is; the
    eigenpairs are RGB's, so no lighting). Evaluation as ``inception``: the centre crop
    of the image at 256 (fb's ``Scale(256)``, ``CenterCrop(224)``, bicubic there,
    bilinear here)."""

    name = "fb_resnet"

    def train(self, image, seed):
        box_seed, flip_seed, colour_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3))
        begin, extent, found = self.window_draw(tf.shape(image), box_seed)
        pixels = tf.cast(image, tf.float32)
        view = tf.cond(found,
                       lambda: tf.ensure_shape(
                           tf.image.resize(tf.slice(pixels, begin, extent), self.size,
                                           method="bicubic"), [*self.size, self.channels]),
                       lambda: cover(pixels, self.size))
        flipped = tf.image.stateless_random_flip_left_right(view, flip_seed)
        return 255.0 * self.photometric(flipped / 255.0, colour_seed)

    def aspect_ratios(self, seed):
        ratio_seed, swap_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        ratios = tf.random.stateless_uniform([INCEPTION_ATTEMPTS], ratio_seed,
                                             *INCEPTION_ASPECT_RATIO)
        swapped = tf.random.stateless_uniform([INCEPTION_ATTEMPTS], swap_seed) < 0.5
        return tf.where(swapped, 1.0 / ratios, ratios)

    def photometric(self, image, seed):
        """ColorJitter, then Lighting, on 0-1 pixels."""
        order_seed, factor_seed, lighting_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3))
        factors = tf.random.stateless_uniform([3], factor_seed, 1 - FB_JITTER, 1 + FB_JITTER)
        jitters = (brightness, contrast, saturation)
        order = tf.argsort(tf.random.stateless_uniform([len(jitters)], order_seed))
        for step in range(len(jitters)):
            image = tf.switch_case(order[step], [
                lambda jitter=jitter, index=index, image=image: jitter(image, factors[index])
                for index, jitter in enumerate(jitters)])
        if self.channels != 3:
            return image
        alphas = tf.random.stateless_normal([3], lighting_seed, stddev=FB_LIGHTING_STDDEV)
        shift = tf.linalg.matvec(tf.constant(FB_EIGENVECTORS),
                                 alphas * tf.constant(FB_EIGENVALUES))
        return image + shift


def blend(image: tf.Tensor, other: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """fb.resnet.torch's ``blend``: ``factor * image + (1 - factor) * other``."""
    return factor * image + (1 - factor) * other


def grey(image: tf.Tensor) -> tf.Tensor:
    """Each pixel's grey, one channel: :data:`LUMA`'s weights for RGB; a grey image itself."""
    if image.shape[-1] != 3:
        return image
    return tf.reduce_sum(image * tf.constant(LUMA), axis=-1, keepdims=True)


def brightness(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """fb.resnet.torch's ``Brightness``: a blend with black."""
    return blend(image, tf.zeros_like(image), factor)


def contrast(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """fb.resnet.torch's ``Contrast``: a blend with the image's mean grey."""
    return blend(image, tf.reduce_mean(grey(image)), factor)


def saturation(image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """fb.resnet.torch's ``Saturation``: a blend with each pixel's grey."""
    return blend(image, grey(image), factor)


PRESETS = {preset.name: preset for preset in (
    Augmentation, CifarAugmentation, CifarReflectAugmentation, ShiftAugmentation,
    AlexNetAugmentation,
    ZfnetAugmentation, VggAugmentation, VggSingleScaleAugmentation, ResnetAugmentation,
    InceptionAugmentation, FbResnetAugmentation)}


def make_augmentation(name: str, input_shape) -> Augmentation:
    """The preset called ``name`` for a recipe input of ``input_shape`` (H, W, C)."""
    height, width, channels = input_shape
    check_fits(name, (height, width))
    return PRESETS[name](size=(height, width), channels=channels)


def check_fits(name: str, size: tuple[int, int]) -> None:
    """Refuses a preset that cannot pad an image of ``size`` (height, width): a
    reflection of ``p`` pixels needs more than ``p`` of them (``tf.pad``'s ``REFLECT``
    failed in the middle of the first epoch)."""
    preset = PRESETS[name]
    if getattr(preset, "padding", None) == "REFLECT" and min(size) <= preset.crop_padding:
        raise UsageError(
            f"--augment={name} pads {preset.crop_padding} pixels on each side with "
            f"reflections of the image, which needs an image larger than that, got "
            f"{size[0]}x{size[1]}; use a larger --image_size, or --augment=cifar, which pads "
            "with zeros.")


def pad(image: tf.Tensor, pixels: int, mode: str = "CONSTANT", cast: bool = True) -> tf.Tensor:
    """``image`` (or a batch of images) with ``pixels`` zeros (or, with
    ``mode="REFLECT"``, reflections) on each side, as float32 unless not ``cast``."""
    batch = [[0, 0]] * (len(image.shape) - 3)
    padded = tf.pad(image, [*batch, [pixels, pixels], [pixels, pixels], [0, 0]], mode=mode)
    return tf.cast(padded, tf.float32) if cast else padded

