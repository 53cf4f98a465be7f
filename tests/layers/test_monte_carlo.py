"""Monte Carlo dropout: dropout that stays on at test time."""

import keras
import numpy as np

from layers import MonteCarloDropout, with_dropout_at_test_time


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_monte_carlo_dropout_drops_and_rescales_at_inference():
    x = np.ones((100, 100), np.float32)
    out = numpy(MonteCarloDropout(0.25, seed=1)(x, training=False))
    assert set(np.unique(out)) == {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.02


def test_monte_carlo_dropout_round_trips(round_trip):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, MonteCarloDropout(0.5, seed=2, name="mc")(inputs))
    # A fixed rate 0 makes the outputs comparable; the config is checked for the rest.
    config = model.get_layer("mc").get_config()
    assert MonteCarloDropout.from_config(config).get_config() == config
    still = keras.Model(inputs, MonteCarloDropout(0.0, name="mc0")(inputs))
    round_trip(still, np.arange(12, dtype=np.float32).reshape(2, 6))


def test_only_the_dropout_layers_change_batch_normalization_stays_in_inference():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((50,))
    x = keras.layers.BatchNormalization(name="bn")(inputs)
    outputs = keras.layers.Dropout(0.5, name="drop")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("bn").set_weights([np.full(50, 2.0), np.full(50, 1.0),
                                       np.full(50, 3.0), np.full(50, 4.0)])
    stochastic = with_dropout_at_test_time(model)
    assert stochastic.get_layer("bn") is model.get_layer("bn")  # shared weights
    assert isinstance(stochastic.get_layer("drop"), MonteCarloDropout)
    assert stochastic.get_layer("drop").rate == 0.5
    x = np.full((1, 50), 5.0, np.float32)
    expected = numpy(model(x))  # BN with its moving statistics: 2 (5 - 3) / sqrt(4) + 1 = 3
    np.testing.assert_allclose(expected, 3.0, rtol=1e-3)
    out = numpy(stochastic(x))  # one example: batch statistics would give 1 everywhere
    kept = out != 0
    assert 0 < kept.sum() < 50
    np.testing.assert_allclose(out[kept], 2 * expected[kept], rtol=1e-6)


def test_spatial_dropout_is_left_as_it_is():
    # SpatialDropout2D subclasses Dropout in Keras 3: it drops whole maps, and turning it
    # into element-wise Monte Carlo dropout would sample another network.
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.SpatialDropout2D(0.2, name="spatial")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dropout(0.5, name="drop")(x)
    stochastic = with_dropout_at_test_time(keras.Model(inputs, outputs))
    assert type(stochastic.get_layer("spatial")) is keras.layers.SpatialDropout2D
    assert type(stochastic.get_layer("drop")) is MonteCarloDropout
