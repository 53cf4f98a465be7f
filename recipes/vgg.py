"""VGG networks A, A-LRN, B, C, D and E (Simonyan and Zisserman, 2014).

K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015 (arXiv:1409.1556), Table 1 (configurations) and
Table 2 (parameters: 133M, 133M, 133M, 134M, 138M, 144M).

Layer names follow the authors' released Caffe models rather than
``keras.applications``: ``conv{stage}_{index}``, ``pool{stage}``, ``fc6``, ``fc7``
and ``logits`` (the paper's FC-1000). Configurations D and E have the same layer
order and weight shapes as ``keras.applications.VGG16`` and ``VGG19``, so weights
copy across layer by layer.

Initialization (section 3.1). ``vgg_a`` ... ``vgg_e`` follow the paper: weights from
a normal distribution with zero mean and "10^-2 variance", biases zero. The paper's
"variance" is read as the standard deviation 0.01, AlexNet's (the common reading:
He et al. 2015, section 2.2, describe VGG's deep nets failing to converge with this
std). Net A trains from it; the deeper nets were initialized from a trained net A,
"the first four convolutional layers and the last three fully-connected layers"
(:data:`NET_A_LAYERS`, copied by name: Caffe's way), the intermediate layers random,
all at the normal learning rate: ``--init_from=RUN_OF_VGG_A --transfer=vgg_shallow``.
``vgg11``, ``vgg13``, ``vgg16``, ``vgg19`` are the same networks with the paper's
later note: "it is possible to initialise the weights without pre-training by using
the random initialisation procedure of Glorot & Bengio" (Keras's Glorot uniform,
biases zero), so they train from scratch.
"""

from __future__ import annotations

import dataclasses

import keras

from layers import LocalResponseNormalization
from layers.errors import UsageError
from layers.checks import check_switch
from recipes.common import apply, classifier, features, flatten, rate, scaled
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Boolean, Choice, SearchSpace

# Channels of the convolutions in each of the five stages (Table 1 rows).
STAGE_WIDTHS = (64, 128, 256, 512, 512)

# Table 1: the kernel size of every convolution, stage by stage ("conv3-64" is a
# 3x3 conv; C's extra "conv1-256/512" layers are 1x1). Every stage ends in a 2x2/2
# max pool and every convolution has stride 1 and "same" padding (pad 1 for 3x3).
CONFIGURATIONS = {
    "A": ((3,), (3,), (3, 3), (3, 3), (3, 3)),
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
    "D": ((3, 3), (3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    "E": ((3, 3), (3, 3), (3, 3, 3, 3), (3, 3, 3, 3), (3, 3, 3, 3)),
}
FC_UNITS = 4096

# Section 3.1: net A's "first four convolutional layers and the last three
# fully-connected layers", which initialize the deeper nets' layers of the same name.
NET_A_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "fc6", "fc7", "logits")
# Section 3.1: "we sampled the weights from a normal distribution with the zero mean
# and 10^-2 variance", read as std 0.01 (see the module docstring); or Glorot's.
VGG_INITIALIZATIONS = ("normal", "glorot")


def vgg(input_shape, classes, classifier_activation, name="vgg", configuration="D",
        lrn=False, dropout=0.5, initialization="normal", width_multiplier=1.0,
        include_top=True, pooling=None):
    """VGG configuration ``configuration`` of Table 1 (Simonyan and Zisserman, 2014).

    ``lrn=True`` adds the A-LRN column's local response normalization ``norm1``
    after ``conv1_1``, with Krizhevsky et al.'s parameters as section 2.1 says.
    ``dropout`` is the rate after ``fc6`` and ``fc7`` (section 3.1: 0.5).
    ``initialization`` draws every weight from N(0, 0.01) (``"normal"``, section 3.1)
    or Glorot's uniform distribution (``"glorot"``, the paper's later note); biases
    start at zero either way.
    ``width_multiplier`` scales every convolution's channels and the FC layers' units
    (1, the paper's, keeps ``keras.applications``' weight shapes).
    """
    if configuration not in CONFIGURATIONS:
        raise UsageError(f"Unknown VGG configuration {configuration!r}; accepted: "
                         f"{', '.join(CONFIGURATIONS)} (Table 1 columns).")
    dropout = rate("dropout", dropout)
    lrn = check_switch("lrn", lrn)
    if initialization not in VGG_INITIALIZATIONS:
        raise UsageError(f"Unknown VGG initialization {initialization!r}; accepted: "
                         f"{', '.join(VGG_INITIALIZATIONS)}.")

    def weights():  # one initializer per layer, so that each draws its own weights
        return (keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
                if initialization == "normal" else keras.initializers.GlorotUniform())

    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for stage, (width, kernels) in enumerate(zip(STAGE_WIDTHS, CONFIGURATIONS[configuration]),
                                             start=1):
        for index, kernel in enumerate(kernels, start=1):
            x = apply(keras.layers.Conv2D(scaled(width, width_multiplier), kernel,
                                          padding="same", activation="relu",
                                          kernel_initializer=weights(),
                                          name=f"conv{stage}_{index}"), x)
            if lrn and stage == 1 and index == 1:
                x = LocalResponseNormalization(name="norm1")(x)
        x = apply(keras.layers.MaxPooling2D(2, strides=2, name=f"pool{stage}"), x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    for layer in (6, 7):
        x = keras.layers.Dense(scaled(FC_UNITS, width_multiplier), activation="relu",
                               kernel_initializer=weights(),
                               name=f"fc{layer}")(x)
        x = keras.layers.Dropout(dropout, name=f"drop{layer}")(x)
    outputs = classifier(x, classes, classifier_activation, kernel_initializer=weights())
    return keras.Model(inputs, outputs, name=name)


# Section 3.1: mini-batch 256, momentum 0.9, weight decay 5e-4, dropout 0.5 on the
# first two FC layers, learning rate 1e-2 "decreased by a factor of 10 when the
# validation set accuracy stopped improving. In total, the learning rate was decreased
# 3 times" (plateau_drops=3; "stopped improving" read as 5 epochs without a better
# validation accuracy, plateau_patience=5, our choice), 370K iterations = 74 epochs;
# random 224x224 crops of images rescaled to S in [256, 512], horizontal flips and RGB
# colour shift ("vgg"): Table 3's multi-scale training of C, D and E (which the paper
# fine-tuned from a model trained at S = 384; here from the start). A, A-LRN and B were
# trained at S = 256 only ("vgg_single_scale", VGG_SINGLE_SCALE_TRAINING). Section 2.1:
# "The only preprocessing we do is subtracting the mean RGB value, computed on the
# training set, from each pixel" ("mean_rgb").
VGG_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.01, momentum=0.9, weight_decay=5e-4,
    batch_size=256, epochs=74, schedule="plateau", decay_factor=0.1,
    plateau_monitor="validation", plateau_patience=5, plateau_drops=3,
    augmentation="vgg", normalization="mean_rgb", dropout=0.5,
)
VGG_SINGLE_SCALE_TRAINING = dataclasses.replace(VGG_TRAINING, augmentation="vgg_single_scale")
SINGLE_SCALE_CONFIGURATIONS = ("A", "B")  # Table 3: trained at S = 256 only

# (registry name, Table 1 column, LRN after conv1_1, weight layers, initialization)
VGG_RECIPES = (
    ("vgg_a", "A", False, 11, "normal"),
    ("vgg_a_lrn", "A", True, 11, "normal"),
    ("vgg_b", "B", False, 13, "normal"),
    ("vgg_c", "C", False, 16, "normal"),
    ("vgg_d", "D", False, 16, "normal"),
    ("vgg_e", "E", False, 19, "normal"),
    ("vgg11", "A", False, 11, "glorot"),
    ("vgg13", "B", False, 13, "glorot"),
    ("vgg16", "D", False, 16, "glorot"),
    ("vgg19", "E", False, 19, "glorot"),
)


def _initialization_note(configuration: str, initialization: str) -> str:
    if initialization == "glorot":
        return "Glorot initialization (section 3.1's note): trains from scratch"
    if configuration == "A":
        return "N(0, 0.01) initialization (section 3.1)"
    return ("N(0, 0.01) initialization; section 3.1 starts it from a trained net A "
            "(--init_from=RUN --transfer=vgg_shallow)")


def vgg_space(configuration: str, lrn: bool) -> SearchSpace:
    """What a search of a VGG recipe varies besides the training: the depth (Table 1's
    columns), the width and, for configuration A's recipes, the A-LRN column's
    normalization, only where a trial's configuration is A (no other column has it)."""
    if configuration != "A":
        return SearchSpace(architecture={
            "configuration": Choice(tuple(CONFIGURATIONS), default=configuration),
            "width_multiplier": Choice((0.25, 0.5, 1.0), default=1.0)})
    return SearchSpace(architecture={
        "configuration": Choice(tuple(CONFIGURATIONS), default=configuration),
        "width_multiplier": Choice((0.25, 0.5, 1.0), default=1.0),
        "lrn": Boolean(default=lrn)},
        conditions={"lrn": ("configuration", ("A",))}, inactive={"lrn": False})


for _name, _configuration, _lrn, _depth, _initialization in VGG_RECIPES:
    _column = f"{_configuration}-LRN" if _lrn else _configuration
    register(Recipe(
        name=_name,
        builder=vgg,
        input_shape=(224, 224, 3),
        classes=1000,
        paper="Simonyan and Zisserman, Very Deep Convolutional Networks for Large-Scale "
              "Image Recognition, ICLR 2015",
        year=2015,
        table=f"Table 1, column {_column}; Table 2",
        training=(VGG_SINGLE_SCALE_TRAINING if _configuration in SINGLE_SCALE_CONFIGURATIONS
                  else VGG_TRAINING),
        variant={"configuration": _configuration, "lrn": _lrn,
                 "initialization": _initialization},
        search_space=vgg_space(_configuration, _lrn),
        description=f"VGG configuration {_column}: {_depth} weight layers, 3x3 convolutions, "
                    f"{_initialization_note(_configuration, _initialization)}.",
    ))
