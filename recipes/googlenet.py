"""GoogLeNet, Inception v1 (Szegedy et al., 2015).

C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan,
V. Vanhoucke and A. Rabinovich, "Going deeper with convolutions", CVPR 2015,
Table 1 (the network), Figure 3 (where the LRNs and the auxiliary classifiers
sit) and Section 5 (the auxiliary classifiers), Section 6 (training).

The nine Inception modules are :data:`INCEPTION_MODULES`, a copy of Table 1's
filter columns; a 3x3/2 max pool follows stages 3 and 4.  The paper gives only
output sizes, not paddings: "same" reproduces them (224 -> 112 -> 56 -> 28 ->
14 -> 7); conv1 pads 3 zeros on each side as the reference Caffe model
(BVLC's bvlc_googlenet) does, and at these sizes a "same" 3x3/2 max pool is
exactly Caffe's ceil-mode pooling (one extra row and column, bottom and right).
LRN (after pool1 and after conv2, Figure 3) uses the reference model's
parameters, the paper giving none: Caffe ``local_size=5, alpha=1e-4, beta=0.75``.
Table 1's "params" column does not follow from its own filter columns in places
(conv1: 9.4K from 7x7x3x64, the table 2.7K; 4c 510K, the table 463K; 5b 1,444K,
the table 1,388K): the network is built from the filter columns, which its "ops"
column agrees with (conv1 apart).
"""

from __future__ import annotations

import keras

from layers import InceptionFilters, LocalResponseNormalization, PaddedConv2D, inception_module
from layers.errors import UsageError
from layers.checks import check_switch
from recipes.common import apply, classifier, features, flatten, rate
from recipes.registry import Recipe, TrainingConfig, register

# Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) per module, by stage.
INCEPTION_MODULES = {
    3: {"3a": InceptionFilters(64, 96, 128, 16, 32, 32),
        "3b": InceptionFilters(128, 128, 192, 32, 96, 64)},
    4: {"4a": InceptionFilters(192, 96, 208, 16, 48, 64),
        "4b": InceptionFilters(160, 112, 224, 24, 64, 64),
        "4c": InceptionFilters(128, 128, 256, 24, 64, 64),
        "4d": InceptionFilters(112, 144, 288, 32, 64, 64),
        "4e": InceptionFilters(256, 160, 320, 32, 128, 128)},
    5: {"5a": InceptionFilters(256, 160, 320, 32, 128, 128),
        "5b": InceptionFilters(384, 192, 384, 48, 128, 128)},
}
DROPOUT = 0.4  # Table 1, "dropout (40%)"

# Section 5: the auxiliary classifiers on top of (4a) and (4d), their loss weighted by 0.3.
AUXILIARY_HEADS = {"4a": "aux1", "4d": "aux2"}
AUX_POOL = (5, 3)  # average pooling 5x5, stride 3: 14x14 -> 4x4
AUX_CONV_FILTERS = 128
AUX_FC_UNITS = 1024
AUX_DROPOUT = 0.7
AUX_LOSS_WEIGHT = 0.3


def googlenet(input_shape, classes, classifier_activation, name="googlenet", aux_heads=False,
              dropout=DROPOUT, include_top=True, pooling=None):
    """GoogLeNet as Table 1 lists it; ``aux_heads=True`` adds Section 5's two helpers.

    conv1 7x7/2 (64) -> pool1 3x3/2 -> norm1 -> conv2_3x3_reduce 1x1 (64) ->
    conv2_3x3 3x3 (192) -> norm2 -> pool2 3x3/2 -> inception 3a, 3b -> pool3 ->
    4a..4e -> pool4 -> 5a, 5b -> pool5 7x7/1 average -> ``dropout`` (40%) -> logits.
    Every convolution has a ReLU; weights start Glorot-uniform, Keras's default (the
    paper does not say; the BVLC reference model's "xavier" filler is
    U(-sqrt(3/fan_in), sqrt(3/fan_in)), Keras's LeCun-uniform, with biases at 0.2).

    The inference model (the default) has one output.  With ``aux_heads=True``
    it has three, main first: ``[predictions, aux1_predictions,
    aux2_predictions]``, the auxiliary classifiers on (4a) and (4d) (5x5/3
    average pool, 1x1 conv 128, FC 1024, 70% dropout, linear + softmax); train
    it with ``loss_weights=[1, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT]`` (0.3, as the
    paper).  Its layers carry the inference model's names, so
    ``keras.Model(model.input, model.outputs[0])`` is the inference network with
    the trained weights, and each layer of one takes the weights of the layer of its
    name in the other (``layer.set_weights(other.get_layer(layer.name).get_weights())``;
    Keras 3's ``load_weights`` needs the saved model's structure, not only its names).
    """
    dropout = rate("dropout", dropout)
    aux_heads = check_switch("aux_heads", aux_heads)
    inputs = keras.Input(shape=input_shape, name="input")
    x = apply(PaddedConv2D(64, 7, strides=2, padding=3, activation="relu", name="conv1"), inputs)
    x = _max_pool(x, "pool1")
    x = LocalResponseNormalization.from_caffe(local_size=5, alpha=1e-4, beta=0.75, name="norm1")(x)
    x = apply(keras.layers.Conv2D(64, 1, activation="relu", name="conv2_3x3_reduce"), x)
    x = apply(keras.layers.Conv2D(192, 3, padding="same", activation="relu", name="conv2_3x3"), x)
    x = LocalResponseNormalization.from_caffe(local_size=5, alpha=1e-4, beta=0.75, name="norm2")(x)
    x = _max_pool(x, "pool2")
    auxiliary_outputs = []
    last_stage = max(INCEPTION_MODULES)
    for stage, modules in INCEPTION_MODULES.items():
        for module, filters in modules.items():
            x = inception_module(x, filters, name=f"inception_{module}")
            if aux_heads and include_top and module in AUXILIARY_HEADS:
                auxiliary_outputs.append(_auxiliary_classifier(
                    x, classes, classifier_activation, AUXILIARY_HEADS[module]))
        if stage != last_stage:
            x = _max_pool(x, f"pool{stage}")
    if not include_top:  # pool5, the 7x7 average, is pooling="avg" at 224x224
        return features(inputs, x, pooling, name)
    x = apply(keras.layers.AveragePooling2D(7, strides=1, name="pool5"), x)
    x = flatten(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, [outputs, *auxiliary_outputs] if aux_heads else outputs, name=name)


def _max_pool(x, name):
    return apply(keras.layers.MaxPooling2D(3, strides=2, padding="same", name=name), x)


def _auxiliary_classifier(x, classes, classifier_activation, name):
    """Section 5's auxiliary classifier on an Inception module's output."""
    size, stride = AUX_POOL
    x = apply(keras.layers.AveragePooling2D(size, strides=stride, name=f"{name}_pool"), x)
    x = apply(keras.layers.Conv2D(AUX_CONV_FILTERS, 1, activation="relu", name=f"{name}_conv"), x)
    x = flatten(x, f"{name}_flatten")
    x = keras.layers.Dense(AUX_FC_UNITS, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(AUX_DROPOUT, name=f"{name}_dropout")(x)
    return classifier(x, classes, classifier_activation, prefix=f"{name}_")


register(Recipe(
    name="googlenet",
    builder=googlenet,
    input_shape=(224, 224, 3),
    classes=1000,
    paper="Szegedy et al., Going deeper with convolutions, CVPR",
    year=2015,
    table="Table 1 (GoogLeNet), Figure 3; auxiliary classifiers of Section 5",
    # Section 6: "asynchronous stochastic gradient descent with 0.9 momentum, fixed
    # learning rate schedule (decreasing the learning rate by 4% every 8 epochs)" and
    # Polyak averaging for the final model (read as a moving average over about the last
    # epoch: engine.training.PolyakWindow); patches of 8%-100% of the image with aspect
    # ratios in [3/4, 4/3] plus photometric distortions ("inception" augmentation).
    # The paper gives no initial rate, batch size, weight decay or length: those are the
    # reference Caffe solver's (base_lr 0.01, batch 32, weight_decay 2e-4, gamma 0.96
    # every 320,000 iterations = 8 epochs, 10M iterations = 250 epochs). Inputs: "RGB
    # color channels with mean subtraction" (section 5), unscaled, as the Caffe model's
    # mean_value 104/117/123.
    training=TrainingConfig(
        optimizer="momentum",
        learning_rate=0.01,
        momentum=0.9,
        weight_decay=2e-4,
        batch_size=32,
        epochs=250,
        schedule="exponential",
        decay_factor=0.96,
        decay_every=8,
        augmentation="inception",
        normalization="mean_rgb",
        dropout=DROPOUT,
        ema=True,
        auxiliary_loss_weight=AUX_LOSS_WEIGHT,
    ),
    variant={"aux_heads": False},
    description="Inception v1: nine Inception modules, LRN, 40% dropout; "
                "aux_heads=True adds the two auxiliary classifiers for training.",
))
