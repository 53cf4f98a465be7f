"""MaxFilterRMS: ZFNet's renormalization of conv filters whose RMS exceeds 0.1."""

import keras
import numpy as np
import pytest

from layers import MaxFilterRMS, PaddedConv2D


def filter_rms(kernel):
    return np.sqrt(np.mean(np.square(kernel), axis=(0, 1, 2)))


def test_filters_above_the_radius_are_scaled_to_it_and_the_others_kept_exactly():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 6)).astype("float32")
    kernel[..., :3] *= 0.01  # RMS about 0.01: within the radius
    constrained = keras.ops.convert_to_numpy(MaxFilterRMS(0.1)(kernel))
    np.testing.assert_array_equal(constrained[..., :3], kernel[..., :3])
    np.testing.assert_allclose(filter_rms(constrained[..., 3:]), 0.1, rtol=1e-6)
    # Renormalized, not clipped: each large filter keeps its direction.
    np.testing.assert_allclose(constrained[..., 3:] / kernel[..., 3:],
                               np.broadcast_to(0.1 / filter_rms(kernel[..., 3:]), (3, 3, 4, 3)),
                               rtol=1e-5)


def test_the_constraint_is_applied_after_every_update():
    conv = PaddedConv2D(2, 3, padding=1, kernel_constraint=MaxFilterRMS(0.1),
                        kernel_initializer=keras.initializers.Constant(0.5))
    model = keras.Sequential([keras.Input((5, 5, 1)), conv, keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    model.train_on_batch(np.ones((2, 5, 5, 1), "float32"), np.zeros((2, 2), "float32"))
    np.testing.assert_allclose(filter_rms(keras.ops.convert_to_numpy(conv.kernel)), 0.1,
                               rtol=1e-5)


def test_round_trips_through_keras_files(tmp_path):
    conv = PaddedConv2D(3, 3, kernel_constraint=MaxFilterRMS(0.25), name="conv")
    model = keras.Sequential([keras.Input((6, 6, 2)), conv])
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    constraint = reloaded.get_layer("conv").kernel_constraint
    assert isinstance(constraint, MaxFilterRMS) and constraint.max_rms == 0.25


@pytest.mark.parametrize("radius", [0, -0.1, float("inf"), 1e39, float("nan")])
def test_a_radius_must_be_positive_and_finite_in_float32(radius):
    # An infinite radius (1e39 is one in float32) turned every filter into NaN.
    with pytest.raises(ValueError, match=r"max_rms must be a positive finite number, got "):
        MaxFilterRMS(radius)
