"""FractalNet (Larsson, Maire and Shakhnarovich, ICLR 2017) for CIFAR.

Sec. 2 and Fig. 1: the expansion rule ``f_1(z) = conv(z)``,
``f_{C+1}(z) = join(f_C(f_C(z)), conv(z))`` gives a block of ``C`` columns; column
``c`` (0 the shallowest) holds ``2**c`` convolutions, so the deepest path of a block
has ``2**(C-1)`` of them and ``B`` blocks have ``B * 2**(C-1)`` layers.  Wherever two
or more columns end at the same depth a :class:`layers.FractalJoin` averages them.
Sec. 4: ``B = 5`` blocks of 64, 128, 256, 512, 512 filters, each followed by 2x2 max
pooling, 3x3 convolutions with batch normalization and ReLU, dropout 0, 0.1, 0.2,
0.3, 0.4 per block, local drop-path 0.15 and global drop-path for half of the batches.

Layout choices taken from the authors' released generator (gustavla/fractalnet),
where the paper leaves them open: each convolution is conv - dropout - BN - ReLU, the
convolution with a bias and the batch normalization without a learned scale or shift
(Caffe's BatchNorm, which its prototxt follows with no Scale layer),
and the last join of a block comes after the pooling (each column is pooled, then
joined), which the paper mentions as a swap made for convenience.  The 1x1x512 map
left after five poolings of a 32x32 input feeds the classifier directly.

``fractalnet`` is the network of the paper's main CIFAR results (Table 1, "FractalNet
(20 layers, 38.6M params)"): C = 3 columns, 20 layers deep.  The layout the paper
describes gives it 33.7M learnable parameters (33,714,314 for 10 classes), not 38.6M;
an independent reimplementation (khanrc/pt.fractalnet) reports the same gap, and
the paper does not say where the other 4.9M come from.  ``fractalnet40`` is Fig. 1's
40-layer layout (C = 4) at the same widths (76.1M learnable parameters).  It is not
Table 1's 40-layer network, listed with 22.9M parameters, fewer than the 20-layer
one's: that network narrowed its columns (the paper's footnote describes widths that
vary across columns and a mix of 1x1 and 3x3 filters, without an exact layout).
"""

from __future__ import annotations

import keras

from layers.checks import is_int, is_real
from layers.errors import UsageError
from layers.regularization import FractalJoin, GlobalDropPath
from recipes.common import apply, classifier, features, flatten
from recipes.registry import Recipe, TrainingConfig, register
from recipes.space import Choice, SearchSpace, depth_choices

LARSSON_2017 = ("Larsson, Maire and Shakhnarovich, FractalNet: ultra-deep neural networks "
                "without residuals, ICLR")
CIFAR_FILTERS = (64, 128, 256, 512, 512)
CIFAR_DROPOUT = (0.0, 0.1, 0.2, 0.3, 0.4)


def fractalnet(input_shape, classes, classifier_activation, name="fractalnet", *, columns=3,
               filters=CIFAR_FILTERS, dropout=CIFAR_DROPOUT, local_drop_path=0.15,
               global_drop_path=0.5, include_top=True, pooling=None):
    """A FractalNet of ``len(filters)`` blocks with ``columns`` columns each.

    ``dropout`` gives each block's dropout rate, ``local_drop_path`` each join's
    drop probability and ``global_drop_path`` the share of mini-batches that
    train a single column (0 turns either off).
    """
    if not is_int(columns) or columns < 1:
        raise UsageError(f"columns must be a positive integer, got {columns!r}.")
    columns = int(columns)
    if (not isinstance(filters, (tuple, list)) or not filters
            or not all(is_int(count) and count > 0 for count in filters)):
        raise UsageError(f"filters must be a non-empty list of positive integers, one per "
                         f"block (the paper's {CIFAR_FILTERS}), got {filters!r}.")
    if (not isinstance(dropout, (tuple, list))
            or not all(is_real(rate) and 0 <= rate < 1 for rate in dropout)):
        raise UsageError(f"dropout must be a list of rates in [0, 1), one per block (the "
                         f"paper's {CIFAR_DROPOUT}), got {dropout!r}.")
    if len(dropout) != len(filters):
        raise UsageError(
            f"dropout needs one rate per block, got {len(dropout)} rates for "
            f"{len(filters)} blocks."
        )
    inputs = keras.Input(shape=input_shape, name="input")
    selection = None
    if global_drop_path:
        selection = GlobalDropPath(columns, global_drop_path, name="global_drop_path")(inputs)
    x = inputs
    for index, (block_filters, rate) in enumerate(zip(filters, dropout)):
        x = fractal_block(x, block_filters, columns=columns, dropout=rate,
                          drop_probability=local_drop_path, selection=selection,
                          name=f"block{index + 1}")
    if not include_top:
        return features(inputs, x, pooling, name)
    x = flatten(x)
    outputs = classifier(x, classes, classifier_activation)
    return keras.Model(inputs, outputs, name=name)


def fractal_block(x, filters, *, columns, dropout, drop_probability, selection, name):
    """One block of Fig. 1 ending in 2x2 max pooling, built depth step by depth step.

    Column ``c`` convolves at every ``2**(columns-1-c)``-th step; at each step the
    columns that just convolved are joined (if more than one), and the join's
    output feeds all of them.  ``selection`` is the :class:`layers.GlobalDropPath`
    output every join follows, or ``None`` without global drop-path.
    """
    extra = [] if selection is None else [selection]
    depth = 2 ** (columns - 1)
    heads = [x] * columns
    counts = [0] * columns
    for step in range(1, depth + 1):
        ending = [c for c in range(columns) if step % (depth >> c) == 0]
        for c in ending:
            counts[c] += 1
            heads[c] = _conv_unit(heads[c], filters, dropout,
                                  name=f"{name}_col{c + 1}_conv{counts[c]}")
        if step == depth:
            heads = [apply(keras.layers.MaxPooling2D(2, name=f"{name}_col{c + 1}_pool"), head)
                     for c, head in enumerate(heads)]
        if len(ending) > 1:
            join = FractalJoin(drop_probability, columns=ending, name=f"{name}_join{step}")
            joined = join([heads[c] for c in ending], *extra)
            for c in ending:
                heads[c] = joined
    return heads[0]


def _conv_unit(x, filters, dropout, name):
    # The released generator's unit (globals.crox): a convolution with a bias, drawn by
    # Caffe's "xavier" filler, U(+-sqrt(3/fan_in)), its bias 0; then Caffe's BatchNorm,
    # which normalizes only: no Scale layer follows it, so it learns no gamma or beta.
    x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer="lecun_uniform",
                            name=f"{name}_conv")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = keras.layers.BatchNormalization(center=False, scale=False, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


# Sec. 4.1: SGD with momentum 0.9, batch 100, 400 epochs, lr 0.02 divided by 10 each time
# the remaining epochs halve (epochs 200, 300, 350, 375); no weight decay is stated;
# translation + flip augmentation ("C10+").
FRACTALNET_TRAINING = TrainingConfig(
    optimizer="momentum", learning_rate=0.02, momentum=0.9, weight_decay=0.0, batch_size=100,
    epochs=400, schedule="step", decay_factor=0.1, decay_epochs=(200, 300, 350, 375),
    augmentation="cifar")



def fractal_space(columns: int) -> SearchSpace:
    """A search's columns per block (depth 5 * 2**(C-1)) and local drop-path rate (the
    paper reports its CIFAR networks with and without drop-path)."""
    return SearchSpace(architecture={
        "columns": depth_choices(columns, (2, 3, 4)),
        "local_drop_path": Choice((0.0, 0.15, 0.3), default=0.15)})


register(Recipe(
    name="fractalnet", builder=fractalnet, input_shape=(32, 32, 3), classes=10,
    paper=LARSSON_2017, year=2017,
    table="Table 1, FractalNet 20 layers (B = 5, C = 3), Sec. 4 widths",
    training=FRACTALNET_TRAINING, variant=dict(columns=3), search_space=fractal_space(3),
    description="FractalNet, 5 blocks of 3 columns (20 layers deep): the network of the "
                "paper's CIFAR results. The paper reports 38.6M parameters; the layout it "
                "describes has 33.7M (an independent reimplementation finds the same)."))
register(Recipe(
    name="fractalnet40", builder=fractalnet, input_shape=(32, 32, 3), classes=10,
    paper=LARSSON_2017, year=2017, table="Fig. 1 (B = 5, C = 4: 40 layers), Sec. 4 widths",
    training=FRACTALNET_TRAINING, variant=dict(columns=4), search_space=fractal_space(4),
    description="FractalNet, 5 blocks of 4 columns (40 layers deep) at the 20-layer "
                "network's widths, local + global drop-path."))
