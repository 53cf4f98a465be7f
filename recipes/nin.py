"""Network in Network (Lin, Chen and Yan, 2013), CIFAR-10 configuration.

M. Lin, Q. Chen and S. Yan, "Network In Network", ICLR 2014 (arXiv:1312.4400),
section 4.2 and Figure 2: three stacked mlpconv layers (a convolution followed by
two 1x1 convolutions, "cccp" layers, each with ReLU), spatial max pooling and
dropout after the first two, and global average pooling over the last one's maps,
one per class, as the classifier: no fully connected layer.

The paper gives no filter counts; these are the authors' released CIFAR-10 model
(192-160-96 / 192-192-192 / 192-192-classes, 5x5, 5x5 and 3x3 convolutions), the
one commonly used. That model average-pools after the second block; the paper says
max pooling, which is what this recipe does. Its 3x3/2 pools round up (32 -> 16 -> 8),
which "same" padding reproduces. The paper's global contrast normalization and ZCA
whitening (section 4.2, "as was used by Goodfellow et al." for maxout) are the input
pipeline's ``gcn_zca`` normalization, fitted on the training split and stored with
the run. The paper gives no initialization (the released model's Caffe file draws
Gaussians of hand-set widths per layer): the convolutions keep Keras's Glorot-uniform.
"""

from __future__ import annotations

import keras

from layers.errors import UsageError
from recipes.common import apply, features, predictions, rate, scaled
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Choice, SearchSpace

# One mlpconv block per row: (kernel of the spatial conv, widths of the conv and its
# two 1x1 "cccp" layers); None is the number of classes. The spatial convs have
# stride 1 and pad 2 (5x5) or 1 (3x3), i.e. "same" padding.
MLPCONV_BLOCKS = (
    (5, (192, 160, 96)),
    (5, (192, 192, 192)),
    (3, (192, 192, None)),
)


def nin(input_shape, classes, classifier_activation, name="nin", dropout=0.5,
        width_multiplier=1.0, include_top=True, pooling=None):
    """Network in Network on CIFAR-10 (Lin et al., 2013, section 4.2).

    Layers ``conv{b}``, ``cccp{2b-1}``, ``cccp{2b}`` for block b; ``pool1``,
    ``dropout1``, ``pool2``, ``dropout2`` between blocks; the global average pool
    over the last block's ``classes`` maps is ``logits``. ``width_multiplier``
    scales every width but the classes (a search's variant; 1 is the paper's).
    Without its top (``include_top=False``) the network ends at ``cccp5``: ``cccp6``,
    one map per class, is its classifier.
    """
    dropout = rate("dropout", dropout)
    inputs = keras.Input(shape=input_shape, name="input")
    x = inputs
    for block, (kernel, widths) in enumerate(MLPCONV_BLOCKS, start=1):
        conv_filters, *cccp_filters = (classes if width is None else scaled(width, width_multiplier)
                                       for width in widths)
        x = apply(keras.layers.Conv2D(conv_filters, kernel, padding="same", activation="relu",
                                      name=f"conv{block}"), x)
        for offset, filters in enumerate(cccp_filters, start=1):
            if widths[offset] is None and not include_top:
                return features(inputs, x, pooling, name)
            x = keras.layers.Conv2D(filters, 1, activation="relu",
                                    name=f"cccp{2 * block - 2 + offset}")(x)
        if block < len(MLPCONV_BLOCKS):
            x = apply(keras.layers.MaxPooling2D(3, strides=2, padding="same",
                                                name=f"pool{block}"), x)
            x = keras.layers.Dropout(dropout, name=f"dropout{block}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, predictions(x, classifier_activation), name=name)


register(Recipe(
    name="nin",
    builder=nin,
    input_shape=(32, 32, 3),
    classes=10,
    paper="Lin, Chen and Yan, Network In Network, ICLR 2014",
    year=2014,
    table="Section 4.2 (CIFAR-10), Figure 2; filter counts of the authors' released model",
    # Section 4.1: mini-batches of 128 and Krizhevsky et al.'s procedure (momentum,
    # weight decay), the learning rate "lowered by a scale of 10" when "the accuracy on
    # the training set stops improving", and once more, "such that the final learning
    # rate is 1% of the initial value": two drops watching the training accuracy
    # (plateau_monitor="training", plateau_drops=2), after 5 epochs without a better
    # training accuracy (plateau_patience=5, our choice). The paper gives no learning
    # rate, weight decay or epoch count: 0.1, 1e-4 and 120 are our choice (common in
    # reproductions). Section 4.2: global contrast normalization and ZCA whitening
    # ("gcn_zca"); its best CIFAR-10 result (8.81%) adds translation and horizontal
    # flipping ("cifar").
    training=TrainingConfig(optimizer="momentum", learning_rate=0.1, momentum=0.9,
                            weight_decay=1e-4, batch_size=128, epochs=120, schedule="plateau",
                            decay_factor=0.1, plateau_monitor="training", plateau_patience=5,
                            plateau_drops=2, augmentation="cifar", normalization="gcn_zca",
                            dropout=0.5),
    description="Three mlpconv blocks and global average pooling instead of FC layers.",
    head=("cccp6",),  # the 1x1 convolution to one map per class; "logits" only averages
    search_space=SearchSpace(architecture={
        "width_multiplier": Choice((0.5, 1.0, 1.5), default=1.0)}),
))
