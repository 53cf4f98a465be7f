"""The set-up phase sets the process up for a run and puts it back afterwards."""

import keras
import tensorflow as tf

from engine import private_api
from engine.session import session


def test_session_restores_the_dtype_policy_and_op_determinism():
    before = keras.config.dtype_policy().name
    with session("none", seed=1, deterministic=True, precision="mixed_bfloat16") as strategy:
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        assert private_api.op_determinism()
        assert tf.distribute.get_strategy() is strategy
        layer = keras.layers.Dense(2)
    assert keras.config.dtype_policy().name == before == "float32"
    assert not private_api.op_determinism()
    assert layer.compute_dtype == "bfloat16"  # what was built keeps its policy


def test_session_seeds_the_run():
    draws = []
    for _ in range(2):
        with session(seed=7):
            draws.append(keras.random.uniform((3,)).numpy().tolist())
    assert draws[0] == draws[1]


def test_a_search_takes_the_session_without_the_strategys_scope():
    # keras-tuner clears the Keras session before each trial, which drops an entered
    # MirroredStrategy scope and makes leaving it fail: a search enters it per trial.
    with session("mirrored", scope=False) as strategy:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
        assert not tf.distribute.has_strategy()
        keras.backend.clear_session()
        with strategy.scope():
            assert tf.distribute.get_strategy() is strategy
    assert keras.config.dtype_policy().name == "float32"
