"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998).

Y. LeCun et al., "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998, Fig. 2: INPUT 32x32 -> C1 6@28x28 -> S2 6@14x14 ->
C3 16@10x10 -> S4 16@5x5 -> C5 120 -> F6 84 -> OUTPUT 10.

``lenet5`` is the network as published (Section II-B, Table I, Appendix A);
``lenet5_modern`` the lectures' ReLU / max-pooling / softmax variant.
"""

from __future__ import annotations

import keras

from layers import (LENET5_C3_CONNECTIONS, EuclideanRBF, FanInUniform, PartialConnectionConv2D,
                    TrainableSubsampling, scaled_tanh)
from layers.checks import check_switch
from recipes.common import apply, classifier, features, flatten, predictions, scaled
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Boolean, Choice, SearchSpace

# (name, filters, kernel) of the convolutional stages in Fig. 2; C5 is a 5x5 conv
# over the 5x5 maps of S4, i.e. fully connected to them.
LENET5_CONVS = (("c1", 6, 5), ("c3", 16, 5), ("c5", 120, 5))
LENET5_F6_UNITS = 84
LENET5_PAPER = "LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE"

# Section III-B: "The values of the global learning rate eta ... was decreased using
# the following schedule: 0.0005 for the first two passes, 0.0002 for the next three,
# 0.0001 for the next three, 0.00005 for the next 4, and 0.00001 thereafter."
# (first epoch, eta) pairs.
LENET5_LEARNING_RATES = ((0, 5e-4), (2, 2e-4), (5, 1e-4), (8, 5e-5), (12, 1e-5))


def lenet5(input_shape, classes, classifier_activation, name="lenet5", include_top=True,
           pooling=None):
    """LeNet-5 as published: LeCun et al. 1998, Section II-B, Fig. 2 and Table I.

    C1 (6 5x5 convolutions), S2 and S4 (:class:`layers.TrainableSubsampling`),
    C3 (16 5x5 convolutions wired by Table I, :class:`layers.PartialConnectionConv2D`),
    C5 (120 5x5 convolutions) and F6 (84 units) all squash with
    ``f(a) = 1.7159 tanh(2a/3)`` ("units in layers up to F6" pass their weighted
    sum through it; the common reading applies it to C1, C3 and C5 too) and start
    from ``U(-2.4/F, 2.4/F)`` (Appendix A; biases start at zero, the paper being
    silent on them).  Trainable parameters, as the paper counts them: C1 156,
    S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164, OUTPUT none (60,000 in all).

    OUTPUT (layer ``rbf``, :class:`layers.EuclideanRBF`) gives one penalty per
    class, the squared Euclidean distance between F6 and the class's fixed
    +-1 code: the stylized 7x12 digit bitmaps for 10 classes, seeded random
    codes otherwise.  Lower is better, so the head negates the penalties
    (``logits = -rbf``, a ``Rescaling(-1)``) and applies
    ``classifier_activation`` (``predictions``): with the default softmax the
    model returns class probabilities like every recipe, ``argmax`` picks the
    nearest code, and the usual cross-entropy on it is
    ``y_D + log(sum_i exp(-y_i))``, the paper's MAP criterion (Section II-C)
    without the constant "rubbish class" term ``exp(-j)`` (its ``j -> inf``
    limit).  The penalties themselves are ``model.get_layer("rbf").output``;
    ``rbf`` and ``logits`` run in float32 under mixed precision.

    Inputs are expected normalized as in the paper (Section II-B: background
    -0.1, foreground 1.175), the input pipeline's ``lenet`` normalization, which
    the recipe selects.
    """
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for index, (layer_name, filters, kernel) in enumerate(LENET5_CONVS):
        if layer_name == "c3":
            conv = PartialConnectionConv2D(LENET5_C3_CONNECTIONS, kernel,
                                           activation=scaled_tanh, name=layer_name)
        else:
            conv = keras.layers.Conv2D(filters, kernel, activation=scaled_tanh,
                                       kernel_initializer=FanInUniform(), name=layer_name)
        x = apply(conv, x)
        if index < len(LENET5_CONVS) - 1:
            x = apply(TrainableSubsampling(2, activation=scaled_tanh,
                                           name=f"s{2 * index + 2}"), x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    x = keras.layers.Dense(LENET5_F6_UNITS, activation=scaled_tanh,
                           kernel_initializer=FanInUniform(), name="f6")(x)
    codes = "digits" if classes == 10 else "random"
    # Penalties of 84 squared distances (about 80 to 600) differ by less than a 16-bit
    # float resolves there (0.5 to 4 in bfloat16): the head runs in float32.
    penalties = EuclideanRBF(classes, codes=codes, name="rbf", dtype="float32")(x)
    logits = keras.layers.Rescaling(-1.0, name="logits", dtype="float32")(penalties)
    return keras.Model(inputs, predictions(logits, classifier_activation), name=name)


def lenet5_modern(input_shape, classes, classifier_activation, name="lenet5_modern",
                  batch_norm=False, width_multiplier=1.0, include_top=True, pooling=None):
    """The "modern LeNet-like" network of the lectures: Fig. 2's layout with ReLU,
    2x2 max pooling instead of trainable subsampling, full C3 connections and a
    softmax output instead of the Euclidean RBF layer.

    Variants for a search (the defaults are the lectures' network):
    ``batch_norm=True`` puts batch normalization (Ioffe and Szegedy, 2015) between
    each of C1, C3, C5, F6 and its ReLU (``c1_bn``, ``c1_relu``, ...), the layer then
    having no bias (BN's offset replaces it); ``width_multiplier`` scales the
    channels of C1, C3, C5 and the units of F6 (:func:`recipes.common.scaled`).
    """
    batch_norm = check_switch("batch_norm", batch_norm)
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for index, (layer_name, filters, kernel) in enumerate(LENET5_CONVS):
        x = apply(keras.layers.Conv2D(scaled(filters, width_multiplier), kernel,
                                      **_activation_unless(batch_norm), name=layer_name), x)
        x = _normalized_relu(x, layer_name) if batch_norm else x
        if index < len(LENET5_CONVS) - 1:
            x = apply(keras.layers.MaxPooling2D(2, name=f"s{2 * index + 2}"), x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    x = keras.layers.Dense(scaled(LENET5_F6_UNITS, width_multiplier),
                           **_activation_unless(batch_norm), name="f6")(x)
    x = _normalized_relu(x, "f6") if batch_norm else x
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _activation_unless(batch_norm):
    """A ReLU layer's arguments, or a bias-free linear layer's when batch norm follows."""
    return {"activation": None, "use_bias": False} if batch_norm else {"activation": "relu"}


def _normalized_relu(x, layer_name):
    x = keras.layers.BatchNormalization(name=f"{layer_name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{layer_name}_relu")(x)


register(Recipe(
    name="lenet5_modern",
    builder=lenet5_modern,
    input_shape=(32, 32, 1),
    classes=10,
    paper=LENET5_PAPER,
    year=1998,
    table="Fig. 2 (modern variant: ReLU, max pooling, softmax)",
    # Not the paper's recipe (see `lenet5`): a short modern one, chosen for the time to
    # 99% on MNIST (bench/time_to_accuracy.py, README "Performance"). Adam at 5e-3
    # annealed to zero by a cosine over 5 epochs of 64-image batches (MNIST: 54,000 / 64
    # = 844 steps an epoch, 4,220 in all; the embedded digits: 1,293 / 64 = 21), with
    # random shifts of up to 2 pixels ("shift"): without them the network overfits
    # MNIST within 4 epochs (training accuracy 0.995, validation 0.989).
    training=TrainingConfig(optimizer="adam", learning_rate=5e-3, batch_size=64, epochs=5,
                            schedule="cosine", augmentation="shift"),
    description="LeNet-5's layout with ReLU, max pooling and a softmax head.",
    search_space=SearchSpace(architecture={
        "batch_norm": Boolean(default=False),
        "width_multiplier": Choice((0.5, 1.0, 2.0), default=1.0)}),
))

register(Recipe(
    name="lenet5",
    builder=lenet5,
    input_shape=(32, 32, 1),
    classes=10,
    paper=LENET5_PAPER,
    year=1998,
    table="Fig. 2, Table I (C3 connections), Section II-B, Appendix A",
    # Section III-B: 20 passes over the 60,000 MNIST images, one update per pattern,
    # with the stochastic diagonal Levenberg-Marquardt method (Appendix C: parameter k
    # steps by eta / (mu + h_kk) times its gradient, h_kk a running diagonal curvature
    # estimate, mu = 0.02): the "sdlm" optimizer (engine.optimizers), batch 1, with
    # the paper's global rates eta, whose step schedule takes them
    # exactly (LENET5_LEARNING_RATES). No distortions (the paper's distorted-data run
    # is a separate experiment). Section II-B: inputs scaled so that the background is
    # -0.1 and the foreground 1.175 ("lenet"). Section III-A: the training set is all
    # 60,000 MNIST images, so nothing is held out for validation (validation_fraction=0).
    training=TrainingConfig(
        optimizer="sdlm",
        learning_rate=LENET5_LEARNING_RATES[0][1],
        batch_size=1,
        epochs=20,
        schedule="step",
        decay_epochs=tuple(float(epoch) for epoch, _ in LENET5_LEARNING_RATES[1:]),
        step_rates=tuple(rate for _, rate in LENET5_LEARNING_RATES),
        augmentation="none",
        normalization="lenet",
        validation_fraction=0.0,
    ),
    description="LeNet-5 as published: scaled tanh, trainable subsampling, Table I's C3, "
                "Euclidean RBF output.",
    # The RBF's class codes are fixed (not trained): F6, which maps the features into
    # the codes' space, is the trainable part of the classifier.
    head=("f6", "rbf"),
))
