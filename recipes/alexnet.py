"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012) and ZFNet (Zeiler and Fergus, 2014).

A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, Figure 2 and sections 3-5.
M. D. Zeiler and R. Fergus, "Visualizing and Understanding Convolutional
Networks", ECCV 2014, Figure 3 and Table 2.

Each network is a table of convolutional layers (:data:`ARCHITECTURES`) and one
builder. Layers are named as in the lecture table: ``conv1``..``conv5``,
``pool1``..``pool3``, ``norm1``, ``norm2``, ``fc6``, ``fc7`` and ``logits`` (FC8).
"""

from __future__ import annotations

import dataclasses

import keras

from layers import LocalResponseNormalization, PaddedConv2D
from layers.errors import UsageError
from recipes.common import apply, classifier, scaled
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
    """A network of the family: its conv table, where LRN sits and the FC biases."""

    convs: tuple[ConvLayer, ...]
    norm_before_pool: bool
    fc_bias: float


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

# Zeiler and Fergus, Figure 3 with Table 2's best single model (layers 3, 4, 5 of
# 512, 1024, 512 maps): 224x224x3 -> conv1 96 7x7/2 -> 110x110 -> pool 3x3/2 -> 55x55
# -> norm -> conv2 256 5x5/2 -> 26x26 -> pool -> 13x13 -> norm -> conv3-5 3x3 pad 1
# -> 13x13 -> pool -> 6x6. 110 needs one zero on each side of conv1 and 55 and 13
# need the pools to round up ("same"), as Caffe's pooling does. Section 3: all
# weights N(0, 0.01), biases 0.
ZFNET = Architecture(
    convs=(
        ConvLayer(96, 7, stride=2, padding=1, pool="same", norm=True),
        ConvLayer(256, 5, stride=2, pool="same", norm=True),
        ConvLayer(512, 3, padding=1),
        ConvLayer(1024, 3, padding=1),
        ConvLayer(512, 3, padding=1, pool="valid"),
    ),
    norm_before_pool=False,
    fc_bias=0.0,
)

ARCHITECTURES = {"alexnet": ALEXNET, "alexnet_grouped": ALEXNET_GROUPED, "zfnet": ZFNET}


def alexnet(input_shape, classes, classifier_activation, name="alexnet",
            architecture="alexnet", dropout=0.5, lrn=True, width_multiplier=1.0):
    """AlexNet or ZFNet from its table in :data:`ARCHITECTURES`.

    ReLU after every convolution and hidden FC layer, overlapping 3x3/2 max pools,
    local response normalization with the paper's n=5, k=2, alpha=1e-4, beta=0.75
    (ZFNet's "contrast normalization across feature maps" is read as the same
    layer), FC 4096-4096-classes with ``dropout`` after fc6 and fc7. Weights start
    from N(0, 0.01) (both papers); biases as each table says.

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
    if not 0 <= dropout < 1:
        raise UsageError(f"dropout must be in [0, 1), got {dropout!r}.")
    table = ARCHITECTURES[architecture]
    weights = keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    pools = 0
    towers = max(conv.groups for conv in table.convs)  # every width splits into the towers
    for index, conv in enumerate(table.convs, start=1):
        x = apply(PaddedConv2D(scaled(conv.filters, width_multiplier, towers), conv.kernel,
                               strides=conv.stride, padding=conv.padding, groups=conv.groups,
                               activation="relu", kernel_initializer=weights,
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
    x = keras.layers.Flatten(name="flatten")(x)
    for layer in (6, 7):
        x = keras.layers.Dense(scaled(FC_UNITS, width_multiplier), activation="relu",
                               kernel_initializer=weights,
                               bias_initializer=keras.initializers.Constant(table.fc_bias),
                               name=f"fc{layer}")(x)
        x = keras.layers.Dropout(dropout, name=f"drop{layer}")(x)
    outputs = classifier(x, classes, classifier_activation, kernel_initializer=weights)
    return keras.Model(inputs, outputs, name=name)


# What a search varies besides the training (recipes.space): LRN on or off and the width.
ALEXNET_SPACE = SearchSpace(architecture={
    "lrn": Boolean(default=True), "width_multiplier": Choice((0.25, 0.5, 1.0), default=1.0)})

KRIZHEVSKY = ("Krizhevsky, Sutskever and Hinton, ImageNet Classification with Deep "
              "Convolutional Neural Networks, NIPS 2012")

# Section 5: batch 128, momentum 0.9, weight decay 5e-4, learning rate 0.01 divided by
# 10 when the validation error stopped improving (three times), about 90 epochs;
# section 4: random 224x224 crops (227 here), flips and PCA colour noise ("alexnet");
# section 2: the mean image of the training set subtracted from each image.
ALEXNET_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.01, momentum=0.9, weight_decay=5e-4,
    batch_size=128, epochs=90, schedule="plateau", decay_factor=0.1,
    augmentation="alexnet", normalization="mean_image", dropout=0.5,
)

register(Recipe(
    name="alexnet",
    builder=alexnet,
    input_shape=(227, 227, 3),
    classes=1000,
    paper=KRIZHEVSKY,
    year=2012,
    table="Figure 2 as a single tower (the lecture notes' AlexNet table)",
    training=ALEXNET_TRAINING,
    variant={"architecture": "alexnet"},
    search_space=ALEXNET_SPACE,
    description="AlexNet as one tower: 5 conv + 3 FC layers, LRN, overlapping pooling.",
))

register(Recipe(
    name="alexnet_grouped",
    builder=alexnet,
    input_shape=(227, 227, 3),
    classes=1000,
    paper=KRIZHEVSKY,
    year=2012,
    table="Figure 2 and section 3.5: two towers (grouped conv2, conv4, conv5)",
    training=ALEXNET_TRAINING,
    variant={"architecture": "alexnet_grouped"},
    search_space=ALEXNET_SPACE,
    description="AlexNet's original two-GPU layout with grouped convolutions.",
))

register(Recipe(
    name="zfnet",
    builder=alexnet,
    input_shape=(224, 224, 3),
    classes=1000,
    paper="Zeiler and Fergus, Visualizing and Understanding Convolutional Networks, ECCV 2014",
    year=2014,
    table="Figure 3 with Table 2's layers 3, 4, 5 of 512, 1024, 512 maps",
    # Section 3: mini-batch 128, learning rate 1e-2 annealed by hand when the
    # validation error plateaus, momentum 0.9, dropout 0.5 in fc6 and fc7, 70 epochs,
    # 224x224 crops and flips of 256x256 images with the per-pixel mean subtracted;
    # no weight decay is stated. The paper's renormalization of conv filters whose
    # RMS exceeds 0.1 is not modelled.
    training=TrainingConfig(optimizer="momentum", learning_rate=0.01, momentum=0.9,
                            batch_size=128, epochs=70, schedule="plateau", decay_factor=0.1,
                            augmentation="alexnet", normalization="mean_image", dropout=0.5),
    variant={"architecture": "zfnet"},
    search_space=ALEXNET_SPACE,
    description="AlexNet with a 7x7/2 conv1, a strided conv2 and wider conv3-5.",
))
