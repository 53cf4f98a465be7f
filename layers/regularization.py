"""Regularizers that drop whole paths of a network: stochastic depth and drop-path.

* :class:`StochasticDepth`: G. Huang, Y. Sun, Z. Liu, D. Sedra and K. Weinberger,
  "Deep networks with stochastic depth", ECCV 2016, Eq. (2) and Sec. 3.
* :class:`FractalJoin` and :class:`GlobalDropPath`: G. Larsson, M. Maire and
  G. Shakhnarovich, "FractalNet: ultra-deep neural networks without residuals",
  ICLR 2017, Sec. 3 and Fig. 2.

Randomness is drawn once per mini-batch, as in both papers' code; at inference
the layers are deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
from keras import ops

from layers.checks import is_int, is_real
from layers.errors import UsageError

STOCHASTIC_DEPTH_MODES = ("batch", "row")


@keras.saving.register_keras_serializable(package="convnet_recipes")
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch with probability ``1 - survival_probability`` (Huang et al.).

    Applied to the branch ``f(x)`` before it is added to the shortcut: at training
    time it passes ``b * f(x)`` with ``b ~ Bernoulli(p)``, so a dropped block is
    the identity; at test time it passes ``p * f(x)``, the branch's expected
    contribution (Eq. (2) and Sec. 3, "Stochastic depth during testing").
    ``mode="batch"`` draws one ``b`` per mini-batch, as the paper does;
    ``mode="row"`` draws one per example (torchvision's "row" mode).
    """

    def __init__(self, survival_probability: float = 0.5, mode: str = "batch",
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not (is_real(survival_probability) and 0 < survival_probability <= 1):
            raise UsageError(
                f"survival_probability must be in (0, 1], got {survival_probability!r}."
            )
        if mode not in STOCHASTIC_DEPTH_MODES:
            raise UsageError(
                f"mode must be 'batch' or 'row', got {mode!r}."
            )
        self.survival_probability = float(survival_probability)
        self.mode = mode
        self.seed = checked_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs * self.survival_probability
        if self.survival_probability == 1:
            return inputs
        rank = len(inputs.shape)
        shape = (1,) * rank if self.mode == "batch" else (ops.shape(inputs)[0],) + (1,) * (rank - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator)
        return inputs * ops.cast(draw < self.survival_probability, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "survival_probability": self.survival_probability,
                "mode": self.mode, "seed": self.seed}


@keras.saving.register_keras_serializable(package="convnet_recipes")
class FractalJoin(keras.layers.Layer):
    """FractalNet's join: the element-wise mean of its inputs, with drop-path.

    Called on a list of same-shaped tensors.  At training time *local*
    drop-path drops each input with probability ``drop_probability`` and
    averages the survivors; if every input was dropped one of them, drawn
    uniformly, is kept, so a join never goes dark (Sec. 3.1).

    *Global* drop-path keeps one column for the whole network.  Pass the
    output of :class:`GlobalDropPath` as the second argument and give
    ``columns``, the column each input comes from: in a global batch the join
    passes the input of the selected column alone.  A join that the selected
    column does not reach passes the mean of all its inputs: its output only
    feeds paths that a later join drops, and this keeps every batch
    normalization on those paths seeing real activations.  At test time the
    join is the plain mean.
    """

    def __init__(self, drop_probability: float = 0.15, columns=None, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not (is_real(drop_probability) and 0 <= drop_probability <= 1):
            raise UsageError(f"drop_probability must be in [0, 1], got {drop_probability!r}.")
        if columns is not None:
            columns = list(columns) if isinstance(columns, Iterable) else columns
            if (not isinstance(columns, list) or not columns
                    or not all(is_int(c) and c >= 0 for c in columns)
                    or len(set(columns)) != len(columns)):
                raise UsageError(
                    f"columns must be distinct non-negative column indices, one per input, "
                    f"got {columns!r}."
                )
            columns = [int(c) for c in columns]
        self.drop_probability = float(drop_probability)
        self.columns = columns
        self.seed = checked_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, inputs_shape, global_column_shape=None):
        if (not isinstance(inputs_shape, (list, tuple)) or len(inputs_shape) < 2
                or not all(isinstance(shape, (list, tuple)) for shape in inputs_shape)):
            raise UsageError(f"FractalJoin {self.name!r} joins a list of at least two tensors.")
        first = tuple(inputs_shape[0])
        for shape in inputs_shape[1:]:
            if len(shape) != len(first) or any(
                    a is not None and b is not None and a != b for a, b in zip(first, shape)):
                raise UsageError(
                    f"FractalJoin {self.name!r} averages tensors of one shape, got shapes "
                    f"{', '.join(str(tuple(shape)) for shape in inputs_shape)}.")
        if self.columns is not None and len(self.columns) != len(inputs_shape):
            raise UsageError(
                f"FractalJoin {self.name!r} has columns={self.columns} for "
                f"{len(inputs_shape)} inputs; give one column per input."
            )
        if global_column_shape is not None:
            if self.columns is None:
                raise UsageError(
                    f"FractalJoin {self.name!r} needs columns= to follow global drop-path."
                )
            if global_column_shape[-1] is not None and max(self.columns) >= global_column_shape[-1]:
                raise UsageError(
                    f"FractalJoin {self.name!r} has columns={self.columns} but global drop-path "
                    f"selects among {global_column_shape[-1]} columns."
                )

    def call(self, inputs, global_column=None, training=False):
        stacked = ops.stack(inputs, axis=0)
        if not training:
            return ops.mean(stacked, axis=0)
        count = len(inputs)
        weights = self._local_mask(count, stacked.dtype)[None, :]
        if global_column is not None:
            weights = self._global_mask(weights, ops.cast(global_column, stacked.dtype))
        weights = weights / ops.sum(weights, axis=-1, keepdims=True)
        weights = ops.reshape(ops.transpose(weights), (count, -1) + (1,) * (len(stacked.shape) - 2))
        return ops.sum(stacked * weights, axis=0)

    def _local_mask(self, count, dtype):
        keep = ops.cast(keras.random.uniform((count,), seed=self.seed_generator)
                        >= self.drop_probability, dtype)
        rescue = ops.one_hot(keras.random.randint((), 0, count, seed=self.seed_generator),
                             count, dtype=dtype)
        return ops.where(ops.sum(keep) > 0, keep, rescue)

    def _global_mask(self, local, global_column):
        selected = ops.take(global_column, self.columns, axis=-1)
        is_global = ops.sum(global_column, axis=-1, keepdims=True) > 0
        reached = ops.sum(selected, axis=-1, keepdims=True) > 0
        global_weights = ops.where(reached, selected, ops.ones_like(selected))
        return ops.where(is_global, global_weights, local)

    def compute_output_shape(self, inputs_shape, global_column_shape=None):
        return inputs_shape[0]

    def get_config(self):
        return {**super().get_config(), "drop_probability": self.drop_probability,
                "columns": self.columns, "seed": self.seed}


@keras.saving.register_keras_serializable(package="convnet_recipes")
class GlobalDropPath(keras.layers.Layer):
    """Draws, once per mini-batch, whether FractalNet trains one column only, and which.

    Larsson et al. alternate local and global sampling per mini-batch, half of
    each by default (Sec. 3.1, Fig. 2).  Called on any batch (the network's
    input), it returns a ``(batch, columns)`` tensor: with probability
    ``probability`` at training time every row is the one-hot code of a column
    drawn uniformly (a global batch); otherwise, and always at test time, it is
    all zeros (local drop-path).  Feed it to every :class:`FractalJoin`.
    """

    def __init__(self, columns: int, probability: float = 0.5, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        if not is_int(columns) or columns < 1:
            raise UsageError(f"columns must be a positive integer, got {columns!r}.")
        if not (is_real(probability) and 0 <= probability <= 1):
            raise UsageError(f"probability must be in [0, 1], got {probability!r}.")
        self.columns = int(columns)
        self.probability = float(probability)
        self.seed = checked_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=False):
        shape = (ops.shape(inputs)[0], self.columns)
        if not training:
            return ops.zeros(shape, dtype=self.compute_dtype)
        column = keras.random.randint((), 0, self.columns, seed=self.seed_generator)
        is_global = keras.random.uniform((), seed=self.seed_generator) < self.probability
        row = ops.one_hot(column, self.columns, dtype=self.compute_dtype)
        row = row * ops.cast(is_global, self.compute_dtype)
        return ops.broadcast_to(row[None, :], shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.columns)

    def get_config(self):
        return {**super().get_config(), "columns": self.columns,
                "probability": self.probability, "seed": self.seed}


def checked_seed(seed) -> int | None:
    """``seed`` as the Python int Keras's ``SeedGenerator`` takes (a NumPy integer too), or
    None; anything else is a usage error."""
    if seed is not None and not is_int(seed):
        raise UsageError(f"seed must be None or an integer, got {seed!r}.")
    return None if seed is None else int(seed)
