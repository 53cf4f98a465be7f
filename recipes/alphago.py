"""AlphaGo's supervised-learning policy network (Silver et al., 2016).

D. Silver et al., "Mastering the game of Go with deep neural networks and tree
search", Nature 529, 484-489 (2016), Methods, "Neural network architecture": the
input is a 19x19x48 stack of feature planes; the first hidden layer zero pads it to
23x23 and convolves k 5x5 filters (stride 1, ReLU); hidden layers 2 to 12 zero pad
to 21x21 and convolve k 3x3 filters (ReLU); the final layer convolves one 1x1
filter "with a different bias for each position" and applies a softmax over the
361 points. The match version used k = 192; Fig. 2b and Extended Data Table 3 also
train k = 128, 256 and 384.
"""

from __future__ import annotations

import keras

from layers import PaddedConv2D, PositionBias
from layers.checks import is_int
from layers.errors import UsageError
from recipes.common import apply, features, predictions
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Choice, SearchSpace

HIDDEN_LAYERS = 12
# (kernel, zero padding) of hidden layer 1 and of hidden layers 2 to 12.
FIRST_LAYER = (5, 2)
OTHER_LAYERS = (3, 1)
FILTERS = (128, 192, 256, 384)

# Methods, "Supervised learning of policy networks": 29.4 million KGS positions, one
# million of them held out for testing.
KGS_TRAINING_POSITIONS = 28_400_000
MINIBATCH = 16


def alphago_policy(input_shape, classes, classifier_activation, name="alphago_policy",
                   filters=192, include_top=True, pooling=None):
    """The 13-layer policy network with ``filters`` (the paper's k) per hidden layer.

    Layers ``conv1``..``conv12`` (ReLU), ``conv13`` (1x1, one filter, no shared
    bias), ``position_bias`` (one bias per board point), ``logits`` (the flattened
    board) and ``predictions``. ``classes`` must equal the number of board points.
    Without the top, the size-preserving convolutions take a board of any size.
    The paper does not say how the weights were initialized: Keras's Glorot default.
    """
    if not is_int(filters) or filters < 1:
        raise UsageError(f"filters (k) must be a positive integer, got {filters!r}; the "
                         f"paper trains k in {FILTERS}.")
    filters = int(filters)
    if len(input_shape) != 3:
        raise UsageError(f"input_shape must be (rows, columns, planes), got {input_shape!r}.")
    if include_top:
        if input_shape[0] is None or input_shape[1] is None:
            raise UsageError(f"input_shape must have known rows and columns with the top (one "
                             f"bias and one move per board point), got {input_shape!r}; "
                             f"include_top=False takes any board size.")
        points = input_shape[0] * input_shape[1]
        if classes != points:
            raise UsageError(f"classes must be the number of board points, {input_shape[0]}x"
                             f"{input_shape[1]} = {points}, got {classes!r}: the policy has "
                             f"one move per point.")
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for index in range(1, HIDDEN_LAYERS + 1):
        kernel, padding = FIRST_LAYER if index == 1 else OTHER_LAYERS
        x = apply(PaddedConv2D(filters, kernel, padding=padding, activation="relu",
                               name=f"conv{index}"), x)
    if not include_top:
        return features(inputs, x, pooling, name)
    x = keras.layers.Conv2D(1, 1, use_bias=False, name=f"conv{HIDDEN_LAYERS + 1}")(x)
    x = PositionBias(name="position_bias")(x)
    x = keras.layers.Flatten(name="logits")(x)
    return keras.Model(inputs, predictions(x, classifier_activation), name=name)


# Methods: asynchronous SGD without momentum, step size 0.003 halved every 80 million
# steps, minibatch 16, 340 million steps; here converted to epochs of the KGS training
# set (80e6 * 16 / 28.4e6 = 45.1 epochs per halving, 191.5 epochs in all). The paper
# also samples one of the 8 board symmetries per position, which no augmentation
# here does ("none"). The epochs count every training position: the paper holds out
# only its 1 million test positions, no validation split.
ALPHAGO_TRAINING = TrainingConfig(
    optimizer="sgd", learning_rate=0.003, momentum=0.0, batch_size=MINIBATCH,
    epochs=round(340e6 * MINIBATCH / KGS_TRAINING_POSITIONS), schedule="exponential",
    decay_factor=0.5, decay_every=80e6 * MINIBATCH / KGS_TRAINING_POSITIONS,
    validation_fraction=0.0,
)

for _filters in FILTERS:
    register(Recipe(
        name="alphago_policy" if _filters == 192 else f"alphago_policy_k{_filters}",
        builder=alphago_policy,
        input_shape=(19, 19, 48),
        classes=19 * 19,
        paper="Silver et al., Mastering the game of Go with deep neural networks and tree "
              "search, Nature 529",
        year=2016,
        table="Methods, Neural network architecture; Extended Data Table 3 (k)",
        training=ALPHAGO_TRAINING,
        variant={"filters": _filters},
        # A search tries the paper's other k (Fig. 2b, Extended Data Table 3).
        search_space=SearchSpace(architecture={"filters": Choice(FILTERS, default=_filters)}),
        description=f"AlphaGo's SL policy network, 13 layers, k = {_filters} filters"
                    + (" (the match version)." if _filters == 192 else "."),
        head=("conv13", "position_bias"),  # the 1x1 convolution and the per-point biases
        one_class_per_point=True,
    ))
