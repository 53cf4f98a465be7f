"""Phase one of every run: set the process up, and put it back afterwards.

A run's strategy, seeds, op determinism and Keras dtype policy are process-wide
state. :func:`session` sets them for the duration of a ``with`` block, inside the
strategy's scope, and restores the dtype policy and op determinism on the way out,
so a process that runs two modes (a test suite, a notebook, keras-tuner trials) is
not left in ``mixed_bfloat16``.

A keras-tuner search clears the Keras session before every trial, which also drops
a strategy scope entered around it (and leaves ``MirroredStrategy``'s scope unable
to exit): a search takes the session with ``scope=False`` and enters the scope
around each trial's build and fit.
"""

from __future__ import annotations

import contextlib

import keras

from engine import distribute, private_api


@contextlib.contextmanager
def session(distribute_mode: str = "none", seed: int = 42, deterministic: bool = False,
            precision: str = "float32", scope: bool = True):
    """Yields the ``tf.distribute`` strategy of ``distribute_mode`` with its scope
    entered (unless ``scope`` is False), the seeds set from ``seed``, op determinism
    on if ``deterministic`` and the dtype policy ``precision``."""
    policy = keras.config.dtype_policy()
    determinism = private_api.op_determinism()
    strategy = distribute.make_strategy(distribute_mode)
    try:
        keras.utils.set_random_seed(seed)
        if deterministic:
            private_api.set_op_determinism(True)
        keras.config.set_dtype_policy(precision)
        with strategy.scope() if scope else contextlib.nullcontext():
            yield strategy
    finally:
        keras.config.set_dtype_policy(policy)
        private_api.set_op_determinism(determinism)

