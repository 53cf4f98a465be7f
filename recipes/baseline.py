"""The lectures' baselines: a multilayer perceptron with dropout and the generic convnet.

``mlp`` is the fully connected network of the lectures' dropout section (adapted
from Dive into Deep Learning, section 5.6): flatten, two hidden ReLU layers of 256
units, each followed by dropout 0.5, and a softmax over the classes.

``convnet`` is the pattern the lectures' summary gives for early architectures,
``[(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K, SOFTMAX``, with N, M, K and the widths as
arguments.
"""

from __future__ import annotations

import random
from typing import Sequence

import keras

from layers.checks import check_positive_int, check_switch, is_int
from layers.errors import UsageError
from layers.initializers import fresh
from recipes.common import apply, classifier, features, flatten, rate
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Choice, Int, SearchSpace


def mlp(input_shape, classes, classifier_activation, name="mlp", hidden_units=(256, 256),
        activation="relu", dropout=0.5, kernel_initializer="glorot_uniform"):
    """Flatten, then ``Dense(units, activation)`` and ``Dropout(dropout)`` per entry of
    ``hidden_units`` (layers ``hidden1``, ``dropout1``, ...), then the classifier.

    D2L's concise dropout MLP keeps the framework's default initialization; Keras's
    is Glorot uniform. The lectures' activation-statistics experiment (10 tanh or
    ReLU layers of 500 units) is ``hidden_units=(500,) * 10, dropout=0.0`` with the
    ``activation`` and ``kernel_initializer`` under study.
    """
    hidden_units = _positive_ints("hidden_units", hidden_units, length=None)
    dropout = rate("dropout", dropout)
    _check_identifier("activation", activation, keras.activations.get, "'relu' or 'tanh'")
    _check_identifier("kernel_initializer", kernel_initializer, keras.initializers.get,
                      "'glorot_uniform' or 'he_normal'")
    inputs = keras.Input(shape=input_shape, name="input")
    x = flatten(inputs, has_features=False)
    for index, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"hidden{index}",
                               kernel_initializer=fresh(kernel_initializer))(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{index}")(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _check_identifier(argument: str, value, get, examples: str) -> None:
    """Refuses ``value`` where Keras's ``get`` (of activations, of initializers) does not
    know it, naming ``argument``. Python's random state is put back: an unseeded
    initializer draws its seed from it when made, which would shift every layer's
    weights after a seed was set (``keras.utils.set_random_seed``)."""
    state = random.getstate()
    try:
        get(value)
    except (ValueError, TypeError):
        raise UsageError(f"{argument} must be what Keras takes there, such as {examples}; "
                         f"got {value!r}.") from None
    finally:
        random.setstate(state)


def convnet(input_shape, classes, classifier_activation, name="convnet", convs_per_block=2,
            blocks=3, fc_layers=1, filters=(32, 64, 128), fc_units=256, kernel_size=3,
            pool=True, growth=1, include_top=True, pooling=None):
    """``[(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K, SOFTMAX`` from the lectures' summary.

    ``convs_per_block`` is N, ``blocks`` is M and ``fc_layers`` is K (K = 0 puts the
    classifier right after the last block). ``filters`` gives each block's width
    (M ints, or one int: the first block's, each later block ``growth`` times the
    one before, so 32 with growth 2 is 32, 64, 128), ``fc_units`` each FC layer's
    (one int or K ints). Convolutions are ``kernel_size`` x ``kernel_size``, stride
    1, with "same" padding; ``pool`` ends every block with a 2x2/2 max pool.
    """
    convs_per_block = check_positive_int("convs_per_block (N)", convs_per_block)
    blocks = check_positive_int("blocks (M)", blocks)
    if not is_int(fc_layers) or fc_layers < 0:
        raise UsageError(f"fc_layers (K) must be a non-negative integer, got {fc_layers!r}.")
    kernel_size = check_positive_int("kernel_size", kernel_size)
    if is_int(filters):
        filters = tuple(filters * check_positive_int("growth", growth) ** block
                        for block in range(blocks))
    elif growth != 1:
        raise UsageError(f"growth multiplies the first block's width given as one int "
                         f"(filters=32, growth=2 is 32, 64, 128); filters={filters!r} gives "
                         f"every block's, so growth={growth!r} would be ignored.")
    filters = _positive_ints("filters", filters, length=blocks, per=f"one per block, M = {blocks}")
    fc_units = _positive_ints("fc_units", fc_units, length=fc_layers,
                              per=f"one per FC layer, K = {fc_layers}")
    pool = check_switch("pool", pool)
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for block, width in enumerate(filters, start=1):
        for index in range(1, convs_per_block + 1):
            x = apply(keras.layers.Conv2D(width, kernel_size, padding="same", activation="relu",
                                          name=f"block{block}_conv{index}"), x)
        if pool:
            x = apply(keras.layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool"), x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    for index, units in enumerate(fc_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{index}")(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def _positive_ints(argument, values, length, per=""):
    """``values`` as a tuple of positive ints; an int is repeated ``length`` times.

    ``length=None`` accepts any non-empty sequence and no bare int.
    """
    if is_int(values) and length is not None:
        values = (values,) * length
    expected = ("a non-empty sequence of positive integers" if length is None
                else f"one positive integer or {length} of them ({per})")
    if (not isinstance(values, Sequence) or isinstance(values, str)
            or (length is None and not values) or (length is not None and len(values) != length)
            or not all(is_int(v) and v > 0 for v in values)):
        raise UsageError(f"{argument} must be {expected}, got {values!r}.")
    return tuple(int(value) for value in values)


register(Recipe(
    name="mlp",
    builder=mlp,
    input_shape=(28, 28, 1),
    classes=10,
    paper="Zhang, Lipton, Li and Smola, Dive into Deep Learning, Cambridge University Press",
    year=2023,
    table="Section 5.6 (Dropout): 784-256-256-10, dropout 0.5 after each hidden layer",
    # D2L 5.6 trains on Fashion-MNIST with plain minibatch SGD, lr 0.1, batch 256,
    # 10 epochs. Two departures, the engine's defaults: D2L scales the pixels to [0, 1]
    # (ToTensor) where the inputs are standardized per channel here, and it trains on
    # all 60,000 images, validating on the test split, where 10% are held out here.
    training=TrainingConfig(optimizer="sgd", learning_rate=0.1, momentum=0.0, batch_size=256,
                            epochs=10, dropout=0.5),
    description="The lectures' fully connected baseline: two hidden ReLU layers with dropout.",
    any_input_rank=True,
))

register(Recipe(
    name="convnet",
    builder=convnet,
    input_shape=(32, 32, 3),
    classes=10,
    paper="Li, Karpathy and Johnson, CS231n: Convolutional Neural Networks for Visual "
          "Recognition, Stanford lecture notes",
    year=2016,
    table="ConvNet architectures summary, [(CONV-RELU)*N-POOL?]*M-(FC-RELU)*K, SOFTMAX: "
          "N=2, M=3, K=1",
    # Not a paper's recipe: Adam with lr 1e-3, the lectures' recommended default,
    # on CIFAR-10 with the usual crop-and-flip augmentation.
    training=TrainingConfig(optimizer="adam", learning_rate=1e-3, batch_size=128, epochs=30,
                            augmentation="cifar"),
    variant={"convs_per_block": 2, "blocks": 3, "fc_layers": 1, "filters": (32, 64, 128),
             "fc_units": 256},
    # A search varies N, M, K and the widths (the first block's, then doubling or not);
    # 32 with growth 2 is the default's (32, 64, 128).
    search_space=SearchSpace(architecture={
        "convs_per_block": Int(1, 3, default=2), "blocks": Int(1, 4, default=3),
        "fc_layers": Int(0, 2, default=1), "filters": Choice((16, 32, 64), default=32),
        "growth": Choice((1, 2), default=2), "fc_units": Choice((128, 256, 512), default=256)},
        # One block has no later block to grow into; no FC layer has no units.
        conditions={"growth": ("blocks", (2, 3, 4)), "fc_units": ("fc_layers", (1, 2))}),
    description="The generic early convnet of the lectures' summary.",
))
