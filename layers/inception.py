"""The Inception module with dimension reductions (Szegedy et al., 2015, Figure 2(b)).

C. Szegedy et al., "Going deeper with convolutions", CVPR 2015, Section 4:
four parallel branches over the same input, concatenated along the channels:

* a 1x1 convolution (``#1x1``);
* a 1x1 reduction (``#3x3 reduce``) then a 3x3 convolution (``#3x3``);
* a 1x1 reduction (``#5x5 reduce``) then a 5x5 convolution (``#5x5``);
* a 3x3 max pooling at stride 1 then a 1x1 projection (``pool proj``).

Every convolution, reductions and projection included, is followed by a ReLU
("All the convolutions, including those inside the Inception modules, use
rectified linear activation"), and every branch keeps the spatial size ("same"
padding), so the output has ``#1x1 + #3x3 + #5x5 + pool proj`` channels.
The module is a function over Keras layers: it adds one named layer per
operation, so summaries and weight copies see each convolution.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from layers.checks import is_int
from layers.errors import UsageError
from layers.initializers import per_layer


class InceptionFilters(NamedTuple):
    """The filter counts of one module, in the column order of Table 1."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def output_channels(self) -> int:
        """The depth of the concatenated output: ``#1x1 + #3x3 + #5x5 + pool proj``."""
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


def inception_module(x, filters: InceptionFilters, name: str, **conv_kwargs):
    """Applies one Inception module to ``x`` and returns the concatenated output.

    ``filters`` is a row of Table 1 (e.g. inception (3a) is
    ``InceptionFilters(64, 96, 128, 16, 32, 32)``, 28x28x192 -> 28x28x256).
    The layers are named after the reference model's blobs with ``_`` for
    ``/``: ``{name}_1x1``, ``{name}_3x3_reduce``, ``{name}_3x3``,
    ``{name}_5x5_reduce``, ``{name}_5x5``, ``{name}_pool``, ``{name}_pool_proj``
    and the concatenation ``{name}``.  ``conv_kwargs`` (initializers,
    regularizers) go to every convolution, each initializer as a copy of its own.
    """
    filters = _check_filters(filters)
    fixed = sorted({"padding", "activation", "strides", "data_format"} & set(conv_kwargs))
    if fixed:
        raise UsageError(f"inception_module fixes {', '.join(fixed)} (every convolution is "
                         f"'same'-padded at stride 1 on channels-last maps and followed by a "
                         f"ReLU, as in Fig. 2(b), so that the branches concatenate); remove "
                         f"{', '.join(fixed)} from its keyword arguments.")

    def conv(tensor, count, size, suffix):
        layer = keras.layers.Conv2D(count, size, padding="same", activation="relu",
                                    name=f"{name}_{suffix}", **per_layer(conv_kwargs))
        return layer(tensor)

    branch_1x1 = conv(x, filters.n1x1, 1, "1x1")
    branch_3x3 = conv(conv(x, filters.n3x3_reduce, 1, "3x3_reduce"), filters.n3x3, 3, "3x3")
    branch_5x5 = conv(conv(x, filters.n5x5_reduce, 1, "5x5_reduce"), filters.n5x5, 5, "5x5")
    pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch_pool = conv(pooled, filters.pool_proj, 1, "pool_proj")
    return keras.layers.Concatenate(axis=-1, name=name)(
        [branch_1x1, branch_3x3, branch_5x5, branch_pool])


def _check_filters(filters) -> InceptionFilters:
    if not isinstance(filters, (tuple, list)) or len(filters) != len(InceptionFilters._fields):
        raise UsageError(
            f"filters must be the six counts ({', '.join(InceptionFilters._fields)}), "
            f"got {filters!r}.")
    for field, count in zip(InceptionFilters._fields, filters):
        if not is_int(count) or count < 1:
            raise UsageError(f"Inception filter count {field} must be a positive integer, "
                             f"got {count!r}.")
    return InceptionFilters(*(int(count) for count in filters))
