"""Residual networks (He et al. 2016) and their descendants, from one builder.

* ``resnet18`` ... ``resnet152``, ``plain18``, ``plain34``: K. He, X. Zhang, S. Ren and
  J. Sun, "Deep residual learning for image recognition", CVPR 2016, Table 1.
* ``resnet20`` ... ``resnet1202``, ``plain20`` ... ``plain110``: the same paper, Sec. 4.2
  (CIFAR-10) and Table 6.
* ``resnet110_sd``: Huang et al., "Deep networks with stochastic depth", ECCV 2016.
* ``wrn28_10``, ``wrn28_10_dropout``: Zagoruyko and Komodakis, "Wide residual networks", BMVC 2016.
* ``resnext50_32x4d``, ``resnext29_8x64d``: Xie et al., "Aggregated residual
  transformations for deep neural networks", CVPR 2017.

Each network is ``stem -> stages of residual blocks -> global average pooling -> fc``;
the papers' tables are the variants' ``blocks`` (blocks per stage), ``filters`` (each
stage's output channels) and, for bottlenecks, ``widths`` (its 3x3 convolutions' channels).
Stage ``s`` is named ``conv{s+2}`` as in Table 1, its blocks ``conv{s+2}_block{i}``.
"""

from __future__ import annotations

import dataclasses
import math

import keras

from layers.checks import check_choice, check_positive_int, check_switch, is_int, is_real
from layers.errors import UsageError
from layers.residual import (BATCH_NORM_MOMENTUM, HE_FANS, SHORTCUTS, STRIDE_PLACEMENTS,
                             TORCH_BATCH_NORM_MOMENTUM, basic_block, bn_relu, bottleneck_block,
                             conv, conv_bn, preact_block)
from recipes.common import apply, classifier, features, scaled
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Choice, SearchSpace, depth_choices, training_space

BLOCKS = ("basic", "bottleneck", "preact")
STEMS = ("imagenet", "cifar")

HE_2016 = "He, Zhang, Ren and Sun, Deep residual learning for image recognition, CVPR"
HUANG_2016 = "Huang, Sun, Liu, Sedra and Weinberger, Deep networks with stochastic depth, ECCV"
ZAGORUYKO_2016 = "Zagoruyko and Komodakis, Wide residual networks, BMVC"
XIE_2017 = ("Xie, Girshick, Dollar, Tu and He, Aggregated residual transformations for deep "
            "neural networks, CVPR")


def resnet(input_shape, classes, classifier_activation, name="resnet", *, blocks, filters,
           block="basic", widths=None, groups=1, stem="imagenet", stem_filters=64,
           shortcut="B", stride_on="1x1", final_survival_probability=1.0, dropout=0.0,
           conv_bias=False, he_fan="fan_in", bn_momentum=BATCH_NORM_MOMENTUM,
           width_multiplier=1.0, include_top=True, pooling=None):
    """A residual network: ``stem``, then one stage per entry of ``blocks``.

    ``stem="imagenet"`` is Table 1's conv1 (7x7/2, pad 3) and 3x3/2 max pool;
    ``stem="cifar"`` a single 3x3 convolution (Sec. 4.2).  Stage ``s`` stacks
    ``blocks[s]`` blocks with ``filters[s]`` output channels; the first block of
    every stage but the first has stride 2.  ``block`` is ``"basic"``,
    ``"bottleneck"`` (3x3 width ``widths[s]``, ``groups`` groups, stride on the
    ``stride_on`` convolution) or ``"preact"`` (the wide ResNet block, with
    ``dropout`` between its convolutions and a final BN-ReLU before pooling).
    ``shortcut`` is option "A", "B" or "C" of Sec. 3.3, or ``None`` for a plain
    network.  ``final_survival_probability`` below 1 adds stochastic depth with
    Huang et al.'s linear decay, ``p_l = 1 - l/L (1 - p_L)`` for block ``l`` of
    ``L``.  ``conv_bias=True`` gives every convolution a bias, the layout of
    ``keras.applications.ResNet50`` (the paper's Caffe model has none).  ``he_fan`` is
    the n of every convolution's He initialization N(0, 2/n): ``"fan_in"``, the
    paper's (k * k * inputs per group), or ``"fan_out"`` (k * k * outputs), the Torch
    code of wide ResNets and ResNeXt. ``bn_momentum`` is the weight of the old value in
    every batch normalization's moving averages: Keras's 0.99 (the paper's Caffe averages
    are not Keras's: they divide by the sum of their weights), or the authors' Torch code's
    0.9 (momentum 0.1 of the new batch) for stochastic depth, wide ResNets and ResNeXt.

    For a search: ``blocks`` may be one int, the same number of blocks in every
    stage (the CIFAR networks' n); ``width_multiplier`` scales every stage's
    channels (``filters`` and ``widths``, the latter rounded to a multiple of ``groups``):
    the wide ResNets' k, the stem keeping ``stem_filters`` as theirs does.
    """
    if is_int(blocks):
        blocks = (blocks,) * len(filters)
    _check_stages(blocks, filters)
    filters = tuple(scaled(width, width_multiplier) for width in filters)
    if widths is not None:  # the widths given are kept (and checked against groups)
        widths = tuple(scaled(width, width_multiplier, 1 if width_multiplier == 1 else groups)
                       for width in widths)
    _check_variant(blocks, filters, block, widths, stem, shortcut, stride_on, dropout,
                   final_survival_probability, he_fan)
    conv_bias = check_switch("conv_bias", conv_bias)
    stem_filters = check_positive_int("stem_filters", stem_filters)
    _check_read(block, widths=widths, groups=groups, stride_on=stride_on, conv_bias=conv_bias,
                final_survival_probability=final_survival_probability)
    if not (is_real(bn_momentum) and 0 <= bn_momentum < 1):
        raise UsageError(f"bn_momentum must be in [0, 1), got {bn_momentum!r}.")
    inputs = keras.Input(shape=input_shape, name="input")
    x = _stem(inputs, stem, stem_filters, block, conv_bias, he_fan, bn_momentum)
    total, index = sum(blocks), 0
    for stage, (count, stage_filters) in enumerate(zip(blocks, filters)):
        for position in range(count):
            index += 1
            options = dict(strides=2 if stage > 0 and position == 0 else 1, fan=he_fan,
                           momentum=bn_momentum, name=f"conv{stage + 2}_block{position + 1}")
            survival = 1 - index / total * (1 - final_survival_probability)
            if block == "basic":
                x = basic_block(x, stage_filters, shortcut=shortcut, use_bias=conv_bias,
                                survival_probability=survival, **options)
            elif block == "bottleneck":
                x = bottleneck_block(x, widths[stage], stage_filters, shortcut=shortcut,
                                     stride_on=stride_on, groups=groups, use_bias=conv_bias,
                                     survival_probability=survival, **options)
            else:
                x = preact_block(x, stage_filters, dropout=dropout, **options)
    if block == "preact":
        x = bn_relu(x, name="post", momentum=bn_momentum)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _stem(x, stem, stem_filters, block, conv_bias, fan, momentum):
    if stem == "imagenet":
        x = conv_bn(x, stem_filters, 7, strides=2, use_bias=conv_bias, fan=fan,
                    momentum=momentum, name="conv1")
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
        return apply(keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool"), x)
    if block == "preact":  # the first block's pre-activation normalizes conv1's output
        return conv(x, stem_filters, 3, fan=fan, name="conv1")
    return conv_bn(x, stem_filters, 3, use_bias=conv_bias, fan=fan, momentum=momentum,
                   name="conv1")


def _check_variant(blocks, filters, block, widths, stem, shortcut, stride_on, dropout,
                   final_survival_probability, he_fan):
    check_choice("block", block, BLOCKS)
    check_choice("stem", stem, STEMS)
    check_choice("shortcut", shortcut, SHORTCUTS + (None,))
    check_choice("stride_on", stride_on, STRIDE_PLACEMENTS)
    check_choice("he_fan", he_fan, HE_FANS)
    if block == "bottleneck" and (widths is None or len(widths) != len(blocks)):
        raise UsageError(f"Bottleneck blocks need one width per stage, got widths={widths!r}.")
    if block == "preact" and shortcut != "B":
        raise UsageError(f"Pre-activation blocks use option B shortcuts, got {shortcut!r}.")
    if dropout and block != "preact":
        raise UsageError(f"dropout is a variant of the 'preact' block only, got block={block!r}.")
    if not is_real(final_survival_probability) or not 0 < final_survival_probability <= 1:
        raise UsageError(f"final_survival_probability must be in (0, 1], "
                         f"got {final_survival_probability!r}.")


# The arguments each block reads beyond blocks and filters, and their values when unread.
READ_BY = {"widths": (("bottleneck",), None), "groups": (("bottleneck",), 1),
           "stride_on": (("bottleneck",), "1x1"), "conv_bias": (("basic", "bottleneck"), False),
           "final_survival_probability": (("basic", "bottleneck"), 1.0)}


def _check_stages(blocks, filters):
    """``blocks`` and ``filters``: one positive integer per stage each (blocks may be one
    int, given for every stage)."""
    if not all(isinstance(value, (tuple, list)) and value
               and all(is_int(entry) and entry > 0 for entry in value)
               for value in (blocks, filters)) or len(blocks) != len(filters):
        raise UsageError(
            f"blocks and filters need one positive entry per stage, got blocks={blocks!r} "
            f"and filters={filters!r}."
        )


def _check_read(block, **arguments):
    """Refuses an argument that ``block`` does not read, given a value it would ignore."""
    for argument, value in arguments.items():
        blocks, unread = READ_BY[argument]
        if block not in blocks and value != unread:
            raise UsageError(
                f"{argument} is read by {' and '.join(map(repr, blocks))} blocks only, got "
                f"{argument}={value!r} with block={block!r}.")


# ---- He et al. 2016, Table 1: ImageNet ------------------------------------------------------
# Blocks per stage conv2_x .. conv5_x.  The 3x3 convolutions have 64, 128, 256, 512
# filters; a bottleneck's last 1x1 has four times as many.
IMAGENET_BLOCKS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                   50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
                   152: ("bottleneck", (3, 8, 36, 3))}
IMAGENET_WIDTHS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4
IMAGENET_TRAIN_IMAGES = 1_281_167

# Sec. 3.4: SGD, batch 256, lr 0.1 "divided by 10 when the error plateaus", weight decay
# 1e-4 (the lecture slide's 1e-5 is a typo), momentum 0.9, 60e4 iterations
# (60e4 * 256 / 1,281,167 = 119.9 epochs), no dropout. The paper does not count its
# drops or say which error: three drops of the validation accuracy (AlexNet's count,
# as fb.resnet.torch's steps at epochs 30, 60 and 90), after 5 epochs without
# improvement (plateau_patience=5, our choice). Scale augmentation:
# the shorter side in [256, 480], a 224x224 crop or its flip and the standard colour
# augmentation ("resnet"), "with the per-pixel mean subtracted" ("mean_image").
IMAGENET_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.1, momentum=0.9, weight_decay=1e-4,
    batch_size=256, epochs=round(600_000 * 256 / IMAGENET_TRAIN_IMAGES), schedule="plateau",
    decay_factor=0.1, plateau_monitor="validation", plateau_patience=5, plateau_drops=3,
    augmentation="resnet", normalization="mean_image")


# What a search varies besides the training (recipes.space) in the networks whose stages
# differ in depth: the width.
WIDTH_SPACE = SearchSpace(architecture={
    "width_multiplier": Choice((0.5, 1.0), default=1.0)})


def _imagenet_variant(depth):
    block, blocks = IMAGENET_BLOCKS[depth]
    if block == "basic":
        return dict(block=block, blocks=blocks, filters=IMAGENET_WIDTHS)
    return dict(block=block, blocks=blocks, widths=IMAGENET_WIDTHS,
                filters=tuple(BOTTLENECK_EXPANSION * w for w in IMAGENET_WIDTHS))


def _imagenet_description(depth):
    if IMAGENET_BLOCKS[depth][0] == "basic":
        # Table 2 compares the 18- and 34-layer nets with their plain twins under option A
        # (no extra parameters); Tables 3 to 5 report ResNet-34 B, torchvision's layout.
        return (f"ResNet-{depth} v1, basic blocks, option B shortcuts (those of Table 3's "
                f"ResNet-34 B, and torchvision's; Table 2's comparison with plain{depth} used "
                f"option A: shortcut='A').")
    return (f"ResNet-{depth} v1 (stride on the bottleneck's first 1x1 as the Caffe model), "
            f"option B shortcuts.")


for _depth in IMAGENET_BLOCKS:
    register(Recipe(
        name=f"resnet{_depth}", builder=resnet, input_shape=(224, 224, 3), classes=1000,
        paper=HE_2016, year=2016, table=f"Table 1, {_depth}-layer",
        training=IMAGENET_TRAINING, variant=_imagenet_variant(_depth),
        search_space=WIDTH_SPACE,
        description=_imagenet_description(_depth)))

for _depth in (18, 34):
    register(Recipe(
        name=f"plain{_depth}", builder=resnet, input_shape=(224, 224, 3), classes=1000,
        paper=HE_2016, year=2016, table=f"Table 1, {_depth}-layer, plain (Fig. 3 middle)",
        training=IMAGENET_TRAINING, variant={**_imagenet_variant(_depth), "shortcut": None},
        search_space=WIDTH_SPACE,
        description=f"ResNet-{_depth} without its shortcuts (Sec. 4.1, plain networks)."))

register(Recipe(
    name="resnet50_v1_5", builder=resnet, input_shape=(224, 224, 3), classes=1000,
    paper=HE_2016, year=2016, table="Table 1, 50-layer, stride on the 3x3 (torchvision)",
    training=IMAGENET_TRAINING, variant={**_imagenet_variant(50), "stride_on": "3x3"},
    search_space=WIDTH_SPACE,
    description="ResNet-50 \"v1.5\": torchvision's stride placement, same parameters."))


# ---- He et al. 2016, Sec. 4.2: CIFAR-10 -----------------------------------------------------
# 6n + 2 layers: conv1, three stages of n basic blocks with 16, 32, 64 filters, fc.
CIFAR_FILTERS = (16, 32, 64)
CIFAR_RESNET_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_PLAIN_DEPTHS = (20, 32, 44, 56, 110)
CIFAR_TRAIN_IMAGES = 45_000  # the paper trains on a 45k/5k train/val split
CIFAR_BATCH = 128


def _cifar_epochs(iterations):
    """Iterations of batch 128 as epochs of 45k images, each of ceil(45000/128) = 352
    iterations (the last batch partial), e.g. 32k -> 90.9: a drop acts from the first
    whole epoch at or past it (iteration 32,032)."""
    return iterations / math.ceil(CIFAR_TRAIN_IMAGES / CIFAR_BATCH)


# Sec. 4.2: batch 128, lr 0.1 divided by 10 at 32k and 48k iterations (epochs 90.9 and
# 136.4), stop at 64k (181.8 epochs, so 182), weight decay 1e-4, momentum 0.9, 4-pixel padding
# + random 32x32 crop + horizontal flip, "32x32 images, with the per-pixel mean
# subtracted" ("mean_image").
CIFAR_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.1, momentum=0.9, weight_decay=1e-4,
    batch_size=CIFAR_BATCH, epochs=round(_cifar_epochs(64_000)), schedule="step",
    decay_factor=0.1, decay_epochs=(_cifar_epochs(32_000), _cifar_epochs(48_000)),
    augmentation="cifar", normalization="mean_image")
# Sec. 4.2, ResNet-110: "we use 0.01 to warm up the training until the training error is
# below 80% (about 400 iterations), and then go back to 0.1": a constant 0.01 for 400
# iterations (1.14 epochs of 45k images; the error criterion itself is not watched).
RESNET110_WARMUP_ITERATIONS = 400
RESNET110_TRAINING = dataclasses.replace(
    CIFAR_TRAINING, warmup_epochs=_cifar_epochs(RESNET110_WARMUP_ITERATIONS),
    warmup_learning_rate=0.01)


def _cifar_variant(depth, **extra):
    n = (depth - 2) // 6
    return {**dict(block="basic", blocks=(n, n, n), filters=CIFAR_FILTERS, stem="cifar",
                   stem_filters=CIFAR_FILTERS[0], shortcut="A"), **extra}


def _cifar_space(n, **extra):
    """A search of a CIFAR network: n blocks per stage (6n + 2 layers) and wider stages
    (option A's zero-padded shortcuts cannot narrow below the stem's 16 channels)."""
    return SearchSpace(architecture={
        "blocks": depth_choices(n, (3, 5, 9, 18)),
        "width_multiplier": Choice((1.0, 2.0, 4.0), default=1.0), **extra})


for _depth in CIFAR_RESNET_DEPTHS:
    register(Recipe(
        name=f"resnet{_depth}", builder=resnet, input_shape=(32, 32, 3), classes=10,
        paper=HE_2016, year=2016, table=f"Sec. 4.2 and Table 6, {_depth} layers (n = "
                                        f"{(_depth - 2) // 6})",
        training=RESNET110_TRAINING if _depth == 110 else CIFAR_TRAINING,
        variant=_cifar_variant(_depth), search_space=_cifar_space((_depth - 2) // 6),
        description=f"CIFAR-10 ResNet-{_depth}, option A shortcuts"
                    + ("; lr 0.01 for the first 400 iterations, then 0.1." if _depth == 110
                       else ".")))

for _depth in CIFAR_PLAIN_DEPTHS:
    register(Recipe(
        name=f"plain{_depth}", builder=resnet, input_shape=(32, 32, 3), classes=10,
        paper=HE_2016, year=2016, table=f"Sec. 4.2 and Fig. 6 left, plain-{_depth}",
        training=CIFAR_TRAINING, variant=_cifar_variant(_depth, shortcut=None),
        search_space=_cifar_space((_depth - 2) // 6),
        description=f"CIFAR-10 plain-{_depth}: ResNet-{_depth} without shortcuts."))


# ---- The Torch recipes: stochastic depth, wide ResNets, ResNeXt ----------------------------
# Their authors' code trains with Torch's optim.sgd, which keeps the learning rate outside its
# velocity (v = m v + g; w -= lr v), where Keras's SGD keeps it inside (v = m v - lr g; w += v),
# as Caffe and Sutskever et al. do. The two take the same steps while the rate holds; after a
# drop, Keras's velocity still carries the old rate for some tens of steps (under a constant
# gradient, Nesterov's first step after WRN's x0.2 drop moves 0.85 of the step before it,
# Torch's 0.2). Their batch normalizations average with Torch's momentum (bn_momentum=0.9).

# ---- Huang et al. 2016: stochastic depth on ResNet-110 --------------------------------------
# Sec. 4 and the authors' code: 500 epochs, batch 128, lr 0.1 divided by 10 at epochs 250
# and 375, Nesterov momentum 0.9 (dampening 0), weight decay 1e-4 on every parameter
# (Torch's optim.sgd over the flattened parameters: batch norms and biases too),
# translation + flip, the per-pixel mean subtracted (their cifar-dataset.lua also divides
# by one scalar std, which conv1's batch normalization absorbs).
# Their Torch shortcut averages 2x2 windows where the paper's option A subsamples; we keep
# He et al.'s option A so that resnet110_sd is resnet110 plus stochastic depth.
register(Recipe(
    name="resnet110_sd", builder=resnet, input_shape=(32, 32, 3), classes=10,
    paper=HUANG_2016, year=2016, table="Sec. 4, CIFAR-10, ResNet-110 with linear decay (Fig. 2)",
    training=TrainingConfig(optimizer="nesterov", learning_rate=0.1, momentum=0.9,
                            weight_decay=1e-4, weight_decay_scope="all", batch_size=128,
                            epochs=500, schedule="step", decay_factor=0.1,
                            decay_epochs=(250, 375), augmentation="cifar",
                            normalization="mean_image"),
    variant=_cifar_variant(110, final_survival_probability=0.5,
                           bn_momentum=TORCH_BATCH_NORM_MOMENTUM),
    # p_L: the paper's 0.5 and others of the range its analysis varies.
    search_space=_cifar_space(18, final_survival_probability=Choice((0.2, 0.5, 0.8, 1.0),
                                                                    default=0.5)),
    description="ResNet-110 with stochastic depth, survival 1 -> p_L = 0.5 linearly."))


# ---- Zagoruyko & Komodakis 2016: WRN-28-10 --------------------------------------------------
# Table 1: depth 6N + 4 = 28 (N = 4 blocks per stage), widths 16k, 32k, 64k for k = 10.
# Sec. 4: SGD with Nesterov momentum 0.9, lr 0.1 multiplied by 0.2 at epochs 60, 120
# and 160 of 200, weight decay 5e-4 (on every parameter, batch norms too, as the authors'
# Torch and PyTorch code: optim.sgd and SGD over all parameters), batch 128, flips and
# random crops "from image
# padded by 4 pixels on each side, filling missing pixels with reflections of original
# image" ("cifar_reflect": reflections without repeating the edge, as the authors'
# code); per-channel mean/std normalization, as their code ("per_channel"); all 50,000
# training images, as their code trains on the whole training set (validation_fraction=0:
# 391 steps an epoch, not 45,000 images' 352).
WRN_TRAINING = TrainingConfig(
    optimizer="nesterov", learning_rate=0.1, momentum=0.9, weight_decay=5e-4,
    weight_decay_scope="all", batch_size=128, epochs=200, schedule="step", decay_factor=0.2,
    decay_epochs=(60, 120, 160),
    augmentation="cifar_reflect", validation_fraction=0.0)
# The authors' MSRinit draws each convolution from N(0, 2/n), n = kW * kH * nOutputPlane.
WRN28_10 = dict(block="preact", blocks=(4, 4, 4), filters=(160, 320, 640), stem="cifar",
                stem_filters=16, he_fan="fan_out", bn_momentum=TORCH_BATCH_NORM_MOMENTUM)

# A search: depth 6N + 4 with N = 2, 4, 6 (WRN-16, -28, -40) and k = 2, 4, 8, 10 (widths
# the paper trains) as multipliers of k = 10's widths.
WRN_SPACE = SearchSpace(architecture={
    "blocks": depth_choices(4, (2, 4, 6)),
    "width_multiplier": Choice((0.2, 0.4, 0.8, 1.0), default=1.0)})

register(Recipe(
    name="wrn28_10", builder=resnet, input_shape=(32, 32, 3), classes=10,
    paper=ZAGORUYKO_2016, year=2016, table="Table 1, WRN-28-10 (N = 4, k = 10)",
    training=WRN_TRAINING, variant=WRN28_10, search_space=WRN_SPACE,
    description="Wide ResNet 28-10, pre-activation basic blocks, no dropout."))
WRN_DROPOUT = 0.3  # the wide-dropout block's rate (Fig. 1d), between its convolutions
# A builder argument here; searched, as every paper's rate is, as the training entry
# that sets the network's Dropout layers (the paper's rate its default).
WRN_DROPOUT_SPACE = SearchSpace(architecture=WRN_SPACE.architecture, training=training_space(
    dataclasses.replace(WRN_TRAINING, dropout=WRN_DROPOUT), dropout=True))
register(Recipe(
    name="wrn28_10_dropout", builder=resnet, input_shape=(32, 32, 3), classes=10,
    paper=ZAGORUYKO_2016, year=2016, table="Table 1, WRN-28-10, wide-dropout block (Fig. 1d)",
    training=WRN_TRAINING, variant={**WRN28_10, "dropout": WRN_DROPOUT},
    search_space=WRN_DROPOUT_SPACE,
    description="Wide ResNet 28-10 with dropout 0.3 between the convolutions of a block."))


# ---- Xie et al. 2017: ResNeXt --------------------------------------------------------------
# Table 1, ResNeXt-50 (32x4d): ResNet-50's stages with 3x3 widths 128, 256, 512, 1024 in
# 32 groups; the stride is on the 3x3 and each convolution is drawn from N(0, 2/n) with
# n = kW * kH * nOutputPlane, its outputs (the authors' fb.resnet.torch code: for the
# grouped 3x3, sqrt(32) times smaller a deviation than the paper's fan-in reading).  Sec. 4 and
# the code: batch 256, lr 0.1 divided by 10 every 30 epochs of 100, weight decay 1e-4 on
# every parameter (fb.resnet.torch's optim.sgd: batch norms too), Nesterov momentum 0.9,
# scale and aspect-ratio augmentation as Inception, with the code's colour jitter and
# lighting noise (its datasets/imagenet.lua: the fb_resnet preset).
register(Recipe(
    name="resnext50_32x4d", builder=resnet, input_shape=(224, 224, 3), classes=1000,
    paper=XIE_2017, year=2017, table="Table 1, ResNeXt-50 (32x4d)",
    training=TrainingConfig(optimizer="nesterov", learning_rate=0.1, momentum=0.9,
                            weight_decay=1e-4, weight_decay_scope="all", batch_size=256,
                            epochs=100, schedule="step", decay_factor=0.1,
                            decay_epochs=(30, 60, 90), augmentation="fb_resnet"),
    variant=dict(block="bottleneck", blocks=(3, 4, 6, 3), widths=(128, 256, 512, 1024),
                 filters=(256, 512, 1024, 2048), groups=32, stride_on="3x3", he_fan="fan_out",
                 bn_momentum=TORCH_BATCH_NORM_MOMENTUM),
    search_space=WIDTH_SPACE,
    description="ResNeXt-50, cardinality 32, bottleneck width 4 per group."))

# Sec. 5.3: conv1 3x3 with 64 filters, three stages of 3 bottlenecks (29 layers) with
# widths 512, 1024, 2048 in 8 groups of 64 and outputs 256, 512, 1024.  Batch 128, lr 0.1
# divided by 10 at epochs 150 and 225 of 300, weight decay 5e-4 (on every parameter in the
# code), momentum 0.9 (Nesterov in the code), translation + flip, "on the 50k training
# set" (validation_fraction=0).
# The paper's CIFAR runs used pre-activation bottlenecks; we build the original ones,
# which the authors' code defaults to and its README reports as more accurate (same
# parameter count up to batch norms).
register(Recipe(
    name="resnext29_8x64d", builder=resnet, input_shape=(32, 32, 3), classes=10,
    paper=XIE_2017, year=2017, table="Sec. 5.3 and Table 7, ResNeXt-29 (8x64d)",
    training=TrainingConfig(optimizer="nesterov", learning_rate=0.1, momentum=0.9,
                            weight_decay=5e-4, weight_decay_scope="all", batch_size=128,
                            epochs=300, schedule="step", decay_factor=0.1,
                            decay_epochs=(150, 225), augmentation="cifar",
                            validation_fraction=0.0),
    variant=dict(block="bottleneck", blocks=(3, 3, 3), widths=(512, 1024, 2048),
                 filters=(256, 512, 1024), groups=8, stride_on="3x3", stem="cifar",
                 stem_filters=64, he_fan="fan_out", bn_momentum=TORCH_BATCH_NORM_MOMENTUM),
    search_space=WIDTH_SPACE,
    description="CIFAR ResNeXt-29, cardinality 8, bottleneck width 64 per group."))
