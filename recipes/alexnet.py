"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and ZFNet (Zeiler and Fergus, 2014).

A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, Figure 2 and sections 3-5.
M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional
Networks", ECCV 2014, Figure 3, section 3.1 and Table 2.

Each network is a table of convolutional layers (:data:`ARCHITECTURES`) and one
builder. Layers are named as in the lecture table: ``conv1``..``conv5``,
``pool1``..``pool3``, ``norm1``, ``norm2``, ``fc6``, ``fc7`` and ``logits`` (FC8).

* ``alexnet``: the lecture notes' single-tower table, which puts each response
  normalization *after* its max pooling (POOL1 then NORM1); the paper's order
  (normalization, then pooling: section 3.5) is ``alexnet_grouped``'s, together with
  the paper's two towers.
* ``alexnet_grouped``: Figure 2 as published, two towers, normalization before pooling.
* ``zfnet``: Zeiler and Fergus's Figure 3 as published (conv3-5 of 384, 384, 256 maps:
  62,357,608 parameters at 224x224x3 and 1000 classes).
* ``zfnet_wide``: the lecture notes' ZFNet, Table 2's variant with layers 3, 4, 5 of 512,
  1024, 512 maps (107,627,624 parameters).
"""

from __future__ import annotations

import dataclasses

import keras

from layers import LocalResponseNormalization, MaxFilterRMS, PaddedConv2D
from layers.errors import UsageError
from layers.checks import check_switch
from recipes.common import apply, classifier, features, flatten, rate, scaled
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Boolean, Choice, SearchSpace


@dataclasses.dataclass(frozen=True)
class ConvLayer:
    """One row of a table: a ReLU convolution and what follows it.

    ``padding`` is the zeros on every side ("pad 2"); ``groups`` splits it into
    towers; ``bias`` is its initial bias. ``pool`` is the padding of the 3x3/2 max
    pool that follows it ("valid", or "same" where the paper's sizes round up) or
    None; ``norm`` adds local response normalization.
    """

    filters: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    bias: float = 0.0
    pool: str | None = None
    norm: bool = False


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A network of the family: its conv table, where LRN sits, the FC biases and, where
    the paper renormalizes large conv filters, the RMS radius it keeps them within."""

    convs: tuple[ConvLayer, ...]
    norm_before_pool: bool
    fc_bias: float
    max_filter_rms: float | None = None


FC_UNITS = 4096

# The lecture table (a single tower): CONV1 96 11x11/4 pad 0 -> 55x55x96, POOL1 3x3/2
# -> 27x27x96, NORM1, CONV2 256 5x5 pad 2 -> 27x27x256, POOL2 -> 13x13x256, NORM2,
# CONV3 384, CONV4 384, CONV5 256 3x3 pad 1 -> 13x13, POOL3 -> 6x6x256. Biases as in
# section 5: 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere.
ALEXNET = Architecture(
    convs=(
        ConvLayer(96, 11, stride=4, pool="valid", norm=True),
        ConvLayer(256, 5, padding=2, bias=1.0, pool="valid", norm=True),
        ConvLayer(384, 3, padding=1),
        ConvLayer(384, 3, padding=1, bias=1.0),
        ConvLayer(256, 3, padding=1, bias=1.0, pool="valid"),
    ),
    norm_before_pool=False,
    fc_bias=1.0,
)

# The paper's two-GPU layout (section 3.5, Figure 2): conv2, conv4 and conv5 see only
# the kernel maps of their own tower (groups=2: CONV2's filters are 5x5x48), and the
# response normalization comes before the pooling (section 3.5: "Max-pooling layers
# follow both response-normalization layers").
ALEXNET_GROUPED = Architecture(
    convs=(
        ConvLayer(96, 11, stride=4, pool="valid", norm=True),
        ConvLayer(256, 5, padding=2, groups=2, bias=1.0, pool="valid", norm=True),
        ConvLayer(384, 3, padding=1),
        ConvLayer(384, 3, padding=1, groups=2, bias=1.0),
        ConvLayer(256, 3, padding=1, groups=2, bias=1.0, pool="valid"),
    ),
    norm_before_pool=True,
    fc_bias=1.0,
)

# Zeiler and Fergus, Figure 3: 224x224x3 -> conv1 96 7x7/2 -> 110x110 -> pool 3x3/2
# -> 55x55 -> norm -> conv2 256 5x5/2 -> 26x26 -> pool -> 13x13 -> norm -> conv3 384,
# conv4 384, conv5 256, 3x3 pad 1 -> 13x13 -> pool -> 6x6x256 -> fc6, fc7 4096 ->
# 1000. 110 needs one zero on each side of conv1 and 55 and 13 need the pools to
# round up ("same"), as Caffe's pooling does; Figure 3's caption orders each stage
# ReLU, pool, contrast normalization. Section 3.1: all weights N(0, 0.01), biases 0,
# and conv filters whose RMS exceeds 0.1 renormalized to 0.1.
ZFNET_FILTER_RMS = 0.1


def _zfnet(widths: tuple[int, int, int]) -> Architecture:
    conv3, conv4, conv5 = widths
    return Architecture(
        convs=(
            ConvLayer(96, 7, stride=2, padding=1, pool="same", norm=True),
            ConvLayer(256, 5, stride=2, pool="same", norm=True),
            ConvLayer(conv3, 3, padding=1),
            ConvLayer(conv4, 3, padding=1),
            ConvLayer(conv5, 3, padding=1, pool="valid"),
        ),
        norm_before_pool=False,
        fc_bias=0.0,
        max_filter_rms=ZFNET_FILTER_RMS,
    )


ZFNET = _zfnet((384, 384, 256))
# Table 2, "1 convnet as per Fig. 3 but with layers 3,4,5: 512,1024,512 maps": the
# paper's best single model, and the ZFNet of the lecture notes.
ZFNET_WIDE = _zfnet((512, 1024, 512))

ARCHITECTURES = {"alexnet": ALEXNET, "alexnet_grouped": ALEXNET_GROUPED, "zfnet": ZFNET,
                 "zfnet_wide": ZFNET_WIDE}


def paper_weights() -> keras.initializers.Initializer:
    """N(0, 0.01), both papers' weights, one initializer per layer: Keras fixes an
    unseeded initializer's seed when it is made, so one shared by every layer started
    them all from the same numbers (conv3's kernel began as conv4's)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.01)


def alexnet(input_shape, classes, classifier_activation, name="alexnet",
            architecture="alexnet", dropout=0.5, lrn=True, width_multiplier=1.0,
            include_top=True, pooling=None):
    """AlexNet or ZFNet from its table in :data:`ARCHITECTURES`.

    ReLU after every convolution and hidden FC layer, overlapping 3x3/2 max pools,
    local response normalization with the paper's n=5, k=2, alpha=1e-4, beta=0.75
    (ZFNet's "contrast normalization across feature maps" is read as the same
    layer), FC 4096-4096-classes with ``dropout`` after fc6 and fc7. Weights start
    from N(0, 0.01) (both papers); biases as each table says. ZFNet's convolutions
    keep each filter's RMS within 0.1 (:class:`layers.MaxFilterRMS`, applied after
    every update).

    AlexNet's input is 227x227, not the paper's 224x224: only 227 gives the 55x55
    maps of Figure 2 with an 11x11/4 unpadded conv1 (the common reading, used by
    the lecture table and Caffe). In the two-tower layout, normalization runs over
    all 96 (256) channels rather than within each tower, as in Caffe's reference
    model; only the channels at the tower boundary differ.

    Variants for a search (the defaults are the papers' networks): ``lrn=False``
    leaves the response normalization out (section 3.3 reports it lowers the top-1
    error by 1.4%); ``width_multiplier`` scales every convolution's filters (to a
    multiple of the towers) and the FC layers' units.
    """
    if architecture not in ARCHITECTURES:
        raise UsageError(f"Unknown architecture {architecture!r}; accepted: "
                         f"{', '.join(ARCHITECTURES)}.")
    dropout = rate("dropout", dropout)
    lrn = check_switch("lrn", lrn)
    table = ARCHITECTURES[architecture]
    constraint = MaxFilterRMS(table.max_filter_rms) if table.max_filter_rms else None
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    pools = 0
    towers = max(conv.groups for conv in table.convs)  # every width splits into the towers
    for index, conv in enumerate(table.convs, start=1):
        x = apply(PaddedConv2D(scaled(conv.filters, width_multiplier, towers), conv.kernel,
                               strides=conv.stride, padding=conv.padding, groups=conv.groups,
                               activation="relu", kernel_initializer=paper_weights(),
                               kernel_constraint=constraint,
                               bias_initializer=keras.initializers.Constant(conv.bias),
                               name=f"conv{index}"), x)
        if conv.pool:
            pools += 1
            pool = keras.layers.MaxPooling2D(3, strides=2, padding=conv.pool, name=f"pool{pools}")
            norm = LocalResponseNormalization(name=f"norm{pools}") if conv.norm and lrn \
                else None
            for layer in ((norm, pool) if table.norm_before_pool else (pool, norm)):
                if layer is not None:
                    x = apply(layer, x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    for layer in (6, 7):
        x = keras.layers.Dense(scaled(FC_UNITS, width_multiplier), activation="relu",
                               kernel_initializer=paper_weights(),
                               bias_initializer=keras.initializers.Constant(table.fc_bias),
                               name=f"fc{layer}")(x)
        x = keras.layers.Dropout(dropout, name=f"drop{layer}")(x)
    outputs = classifier(x, classes, classifier_activation, kernel_initializer=paper_weights())
    return keras.Model(inputs, outputs, name=name)


# What a search varies besides the training (recipes.space): LRN on or off and the width.
ALEXNET_SPACE = SearchSpace(architecture={
    "lrn": Boolean(default=True), "width_multiplier": Choice((0.25, 0.5, 1.0), default=1.0)})

KRIZHEVSKY = ("Krizhevsky, Sutskever and Hinton, ImageNet Classification with Deep "
              "Convolutional Neural Networks, NIPS 2012")

# Section 5: batch 128, momentum 0.9, weight decay 5e-4, learning rate 0.01 divided by
# 10 "when the validation error rate stopped improving with the current learning rate",
# "reduced three times prior to termination" (plateau_drops=3), about 90 epochs. The
# paper decided by hand; "stopped improving" is read as 5 epochs without a better
# validation accuracy (plateau_patience=5, our choice). Section 4: random 224x224
# crops (227 here), flips and PCA colour noise ("alexnet"); section 2: the mean image
# of the training set subtracted from each image ("mean_image").
ALEXNET_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.01, momentum=0.9, weight_decay=5e-4,
    batch_size=128, epochs=90, schedule="plateau", decay_factor=0.1,
    plateau_monitor="validation", plateau_patience=5, plateau_drops=3,
    augmentation="alexnet", normalization="mean_image", dropout=0.5,
)

register(Recipe(
    name="alexnet",
    builder=alexnet,
    input_shape=(227, 227, 3),
    classes=1000,
    paper=KRIZHEVSKY,
    year=2012,
    table="Figure 2 as a single tower (the lecture notes' AlexNet table: pool, then norm)",
    training=ALEXNET_TRAINING,
    variant={"architecture": "alexnet"},
    search_space=ALEXNET_SPACE,
    description="AlexNet as one tower (the lectures' table): 5 conv + 3 FC layers, LRN "
                "after each of the first two max pools; the paper's order, LRN before "
                "pooling, is alexnet_grouped's.",
))

register(Recipe(
    name="alexnet_grouped",
    builder=alexnet,
    input_shape=(227, 227, 3),
    classes=1000,
    paper=KRIZHEVSKY,
    year=2012,
    table="Figure 2 and section 3.5: two towers (grouped conv2, conv4, conv5), norm then pool",
    training=ALEXNET_TRAINING,
    variant={"architecture": "alexnet_grouped"},
    search_space=ALEXNET_SPACE,
    description="AlexNet as published: the two-GPU layout with grouped convolutions and "
                "LRN before max pooling (section 3.5).",
))

ZEILER_FERGUS = ("Zeiler and Fergus, Visualizing and Understanding Convolutional Networks, "
                 "ECCV 2014")

# Section 3.1: mini-batch 128, learning rate 1e-2 "annealed throughout training manually
# when the validation error plateaus", momentum 0.9, dropout 0.5 in fc6 and fc7, 70
# epochs; the 256x256 centre of each image with the per-pixel mean subtracted
# ("mean_image") and its ten 224x224 corner and centre crops with(out) flips ("zfnet":
# no colour noise). No weight decay is stated. The paper does not count its drops:
# three, as AlexNet's section 5 which it replicates (plateau_drops=3), after 5 epochs
# without a better validation accuracy (plateau_patience=5, our choice).
ZFNET_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.01, momentum=0.9, batch_size=128, epochs=70,
    schedule="plateau", decay_factor=0.1, plateau_monitor="validation", plateau_patience=5,
    plateau_drops=3, augmentation="zfnet", normalization="mean_image", dropout=0.5)

register(Recipe(
    name="zfnet",
    builder=alexnet,
    input_shape=(224, 224, 3),
    classes=1000,
    paper=ZEILER_FERGUS,
    year=2014,
    table="Figure 3 (conv3-5 of 384, 384, 256 maps), section 3.1",
    training=ZFNET_TRAINING,
    variant={"architecture": "zfnet"},
    search_space=ALEXNET_SPACE,
    description="ZFNet as published: AlexNet with a 7x7/2 conv1 and a 5x5/2 conv2, conv "
                "filters renormalized to RMS 0.1.",
))

register(Recipe(
    name="zfnet_wide",
    builder=alexnet,
    input_shape=(224, 224, 3),
    classes=1000,
    paper=ZEILER_FERGUS,
    year=2014,
    table="Table 2: Figure 3 with layers 3, 4, 5 of 512, 1024, 512 maps (the lectures' ZFNet)",
    training=ZFNET_TRAINING,
    variant={"architecture": "zfnet_wide"},
    search_space=ALEXNET_SPACE,
    description="The lectures' ZFNet: Table 2's widened variant of Figure 3 (conv3-5 of "
                "512, 1024, 512 maps).",
))
