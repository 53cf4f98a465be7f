"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998).

Y. LeCun et al., "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998, Fig. 2: INPUT 32x32 -> C1 6@28x28 -> S2 6@14x14 ->
C3 16@10x10 -> S4 16@5x5 -> C5 120 -> F6 84 -> OUTPUT 10.
"""

from __future__ import annotations

import keras

from recipes.common import apply, classifier
from recipes.registry import Recipe, TrainingConfig, register

# (name, filters, kernel) of the convolutional stages in Fig. 2; C5 is a 5x5 conv
# over the 5x5 maps of S4, i.e. fully connected to them.
LENET5_CONVS = (("c1", 6, 5), ("c3", 16, 5), ("c5", 120, 5))
LENET5_F6_UNITS = 84


def lenet5_modern(input_shape, classes, classifier_activation, name="lenet5_modern"):
    """The "modern LeNet-like" network of the lectures: Fig. 2's layout with ReLU,
    2x2 max pooling instead of trainable subsampling, full C3 connections and a
    softmax output instead of the Euclidean RBF layer."""
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for index, (layer_name, filters, kernel) in enumerate(LENET5_CONVS):
        x = apply(keras.layers.Conv2D(filters, kernel, activation="relu", name=layer_name), x)
        if index < len(LENET5_CONVS) - 1:
            x = apply(keras.layers.MaxPooling2D(2, name=f"s{2 * index + 2}"), x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(LENET5_F6_UNITS, activation="relu", name="f6")(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


register(Recipe(
    name="lenet5_modern",
    builder=lenet5_modern,
    input_shape=(32, 32, 1),
    classes=10,
    paper="LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE",
    year=1998,
    table="Fig. 2 (modern variant: ReLU, max pooling, softmax)",
    # Not the paper's recipe (see `lenet5`): Adam is the common modern choice.
    training=TrainingConfig(optimizer="adam", learning_rate=1e-3, batch_size=32, epochs=30),
    description="LeNet-5's layout with ReLU, max pooling and a softmax head.",
))
