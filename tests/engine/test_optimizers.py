"""The stochastic diagonal Levenberg-Marquardt optimizer (LeCun et al. 1998, Appendix C)."""

import numpy as np
import pytest

import keras
from engine import optimizers
from engine.optimizers import StochasticDiagonalLevenbergMarquardt
from recipes import TrainingConfig


def steps_by_hand(gradients, eta, mu, decay):
    """Each step: h <- decay h + (1 - decay) g^2, debiased over the steps so far;
    w <- w - eta g / (mu + h)."""
    weight, curvature, trajectory = 1.0, 0.0, []
    for step, gradient in enumerate(gradients, start=1):
        curvature = decay * curvature + (1 - decay) * gradient ** 2
        weight -= eta * gradient / (mu + curvature / (1 - decay ** step))
        trajectory.append(weight)
    return trajectory


def test_each_step_is_eta_over_mu_plus_the_curvature_estimate():
    variable = keras.Variable(np.ones(1, "float32"))
    optimizer = StochasticDiagonalLevenbergMarquardt(learning_rate=5e-4, damping=0.02,
                                                     curvature_decay=0.9)
    gradients = [0.5, -2.0, 0.1, 3.0]
    trajectory = []
    for gradient in gradients:
        optimizer.apply_gradients([(np.array([gradient], "float32"), variable)])
        trajectory.append(float(variable.numpy()[0]))
    np.testing.assert_allclose(trajectory, steps_by_hand(gradients, 5e-4, 0.02, 0.9),
                               rtol=1e-5)


def test_where_the_curvature_is_negligible_the_step_is_eta_over_mu():
    # The first step's estimate is g^2 itself; for a tiny gradient mu dominates.
    variable = keras.Variable(np.zeros(1, "float32"))
    optimizer = StochasticDiagonalLevenbergMarquardt(learning_rate=5e-4)
    optimizer.apply_gradients([(np.array([1e-4], "float32"), variable)])
    assert float(variable.numpy()[0]) == pytest.approx(-5e-4 / 0.02 * 1e-4, rel=1e-3)


def test_the_papers_damping_and_a_curvature_spanning_500_patterns_are_the_defaults():
    optimizer = optimizers.make_optimizer(TrainingConfig(optimizer="sdlm", learning_rate=2e-4))
    assert isinstance(optimizer, StochasticDiagonalLevenbergMarquardt)
    assert optimizer.damping == 0.02 and optimizer.curvature_decay == pytest.approx(1 - 1 / 500)
    assert float(optimizer.learning_rate) == pytest.approx(2e-4)


def test_a_model_compiled_with_it_round_trips_through_a_keras_file(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=StochasticDiagonalLevenbergMarquardt(damping=0.05),
                  loss="mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(loaded.optimizer, StochasticDiagonalLevenbergMarquardt)
    assert loaded.optimizer.damping == 0.05
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(saved), np.asarray(restored))


def test_bad_settings_are_one_sentence():
    with pytest.raises(ValueError, match="damping mu must be positive"):
        StochasticDiagonalLevenbergMarquardt(damping=0)
    with pytest.raises(ValueError, match=r"curvature decay must be in \[0, 1\)"):
        StochasticDiagonalLevenbergMarquardt(curvature_decay=1.0)
