"""AlphaGo's policy network (Silver et al., Nature 2016, Methods)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import recipes
from layers import PositionBias


def policy_parameters(k):
    """Counted by hand from Methods: conv1 48->k 5x5, 11 convs k->k 3x3 (with biases),
    a 1x1 conv k->1 without shared bias, and one bias per board point."""
    return (48 * 25 * k + k) + 11 * (k * 9 * k + k) + k * 1 + 361


@pytest.mark.parametrize("name, k", [("alphago_policy_k128", 128), ("alphago_policy", 192),
                                     ("alphago_policy_k256", 256), ("alphago_policy_k384", 384)])
def test_parameters_for_each_k(name, k):
    model = recipes.build(name)
    assert model.count_params() == policy_parameters(k)
    assert recipes.get(name).variant["filters"] == k


def test_k192_match_version_layer_by_layer():
    model = recipes.build("alphago_policy")
    assert model.count_params() == policy_parameters(192) == 3_882_793
    assert tuple(model.get_layer("conv1").kernel.shape) == (5, 5, 48, 192)
    for index in range(1, 13):  # "zero pads ... then convolves": the board stays 19x19
        assert tuple(model.get_layer(f"conv{index}").output.shape[1:]) == (19, 19, 192)
    for index in range(2, 13):
        assert tuple(model.get_layer(f"conv{index}").kernel.shape) == (3, 3, 192, 192)
    final = model.get_layer("conv13")
    assert tuple(final.kernel.shape) == (1, 1, 192, 1) and not final.use_bias
    assert isinstance(model.get_layer("position_bias"), PositionBias)
    assert tuple(model.get_layer("position_bias").bias.shape) == (19, 19, 1)
    assert tuple(model.output.shape[1:]) == (361,)


def test_on_a_smaller_board_the_moves_are_its_points():
    """A 9x9 board (--mode=summary --image_size=9) has 81 moves and 81 position biases;
    the convolutions keep their weights."""
    model = recipes.build("alphago_policy", input_shape=(9, 9, 48))
    assert tuple(model.output.shape[1:]) == (81,)
    assert model.count_params() == policy_parameters(192) - 361 + 81
    assert recipes.get("alphago_policy").classes_at((9, 9, 48)) == 81
    assert recipes.get("resnet20").classes_at((64, 64, 3)) == 10


def test_one_bias_per_point_in_row_major_move_order():
    model = recipes.build("alphago_policy", filters=4)
    model.get_layer("conv13").kernel.assign(np.zeros((1, 1, 4, 1), "float32"))
    bias = np.random.default_rng(0).normal(size=(19, 19, 1)).astype("float32")
    model.get_layer("position_bias").bias.assign(bias)
    planes = np.random.default_rng(1).uniform(size=(2, 19, 19, 48)).astype("float32")
    moves = keras.ops.convert_to_numpy(model(planes, training=False))
    expected = np.exp(bias.ravel()) / np.exp(bias.ravel()).sum()
    np.testing.assert_allclose(moves, np.stack([expected, expected]), rtol=1e-5, atol=1e-7)


def test_softmax_over_361_moves_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = recipes.build("alphago_policy", filters=8)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("position_bias").compute_dtype == "float16"
    planes = np.random.default_rng(2).uniform(size=(2, 19, 19, 48)).astype("float32")
    moves = keras.ops.convert_to_numpy(model(planes, training=False))
    assert moves.dtype == np.float32 and moves.shape == (2, 361)
    np.testing.assert_allclose(moves.sum(axis=1), 1.0, rtol=1e-3)


def test_paper_training_configuration():
    training = recipes.get("alphago_policy").training
    assert (training.optimizer, training.learning_rate, training.momentum) == ("sgd", 0.003, 0.0)
    assert training.batch_size == 16
    assert (training.schedule, training.decay_factor) == ("exponential", 0.5)
    # 80 million steps of 16 positions per halving, over 28.4 million training positions.
    assert training.decay_every == pytest.approx(80e6 * 16 / 28.4e6)
    # Epochs of all 28.4 million: none held out for validation, which would have cut the
    # run to 307 million steps, halving every 72 million.
    trained = 28.4e6 * (1 - training.validation_fraction)
    assert training.epochs * trained / 16 == pytest.approx(340e6, rel=0.01)
    assert training.decay_every * trained / 16 == pytest.approx(80e6)


def test_round_trip(round_trip):
    model = recipes.build("alphago_policy", filters=4)
    planes = np.random.default_rng(3).uniform(size=(2, 19, 19, 48)).astype("float32")
    round_trip(model, planes)


@pytest.mark.parametrize("options, message", [
    ({"filters": 0}, "filters"),
    ({"filters": 19.2}, "filters"),
    ({"classes": 10}, "361"),
    ({"input_shape": (9, 9, 48), "classes": 361}, "81"),
])
def test_nonsense_arguments_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        recipes.build("alphago_policy", **options)
