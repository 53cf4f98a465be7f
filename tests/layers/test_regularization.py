"""Stochastic depth (Huang et al. 2016) and FractalNet's drop-path (Larsson et al. 2017)."""

import numpy as np
import pytest
import keras

from layers import FractalJoin, GlobalDropPath, StochasticDepth

DRAWS = 400


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def ones(*shape):
    return np.ones(shape, "float32")


# ---- StochasticDepth ------------------------------------------------------------------------

def test_stochastic_depth_scales_by_survival_probability_at_test_time():
    """Sec. 3: at test time the branch is weighted by its survival probability."""
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(numpy(StochasticDepth(0.7)(x)), 0.7 * x, rtol=1e-6)


def test_stochastic_depth_drops_the_whole_batch_with_probability_1_minus_p():
    layer = StochasticDepth(0.7, seed=1)
    kept = []
    for _ in range(DRAWS):
        output = numpy(layer(ones(3, 2, 2, 1), training=True))
        assert np.all(output == output.flat[0]) and output.flat[0] in (0, 1)
        kept.append(output.flat[0])
    # Binomial(400, 0.7) has a standard deviation of 0.023 in the kept fraction.
    assert np.mean(kept) == pytest.approx(0.7, abs=0.08)


def test_stochastic_depth_row_mode_draws_per_example():
    output = numpy(StochasticDepth(0.7, mode="row", seed=2)(ones(DRAWS, 2, 2, 1), training=True))
    per_row = output.reshape(DRAWS, -1)
    assert np.all(per_row == per_row[:, :1]) and set(np.unique(per_row)) <= {0.0, 1.0}
    assert per_row[:, 0].mean() == pytest.approx(0.7, abs=0.08)


def test_stochastic_depth_with_survival_one_is_the_identity():
    x = ones(2, 3)
    np.testing.assert_array_equal(numpy(StochasticDepth(1.0)(x, training=True)), x)


@pytest.mark.parametrize("kwargs, message", [
    (dict(survival_probability=0.0), r"survival_probability must be in \(0, 1\]"),
    (dict(survival_probability=1.5), r"survival_probability must be in \(0, 1\]"),
    (dict(survival_probability="0.5"), r"survival_probability must be in \(0, 1\], got '0.5'"),
    (dict(survival_probability=0.5, mode="sample"), "mode must be 'batch' or 'row'"),
])
def test_stochastic_depth_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StochasticDepth(**kwargs)


def test_stochastic_depth_config_round_trip():
    layer = StochasticDepth(0.6, mode="row", seed=3)
    clone = StochasticDepth.from_config(layer.get_config())
    assert (clone.survival_probability, clone.mode, clone.seed) == (0.6, "row", 3)


# ---- FractalJoin ----------------------------------------------------------------------------

# Inputs of constant value 1, 2 and 4: the mean of every non-empty subset is different,
# so the output tells which inputs survived.
VALUES = (1.0, 2.0, 4.0)
SUBSET_MEANS = {round(np.mean([VALUES[i] for i in subset]), 5): subset
                for subset in [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]}


def branches(batch=2):
    return [np.full((batch, 2, 2, 1), value, "float32") for value in VALUES]


def survivors(output):
    return SUBSET_MEANS[round(float(output.flat[0]), 5)]


def test_fractal_join_is_the_mean_at_test_time():
    output = numpy(FractalJoin(0.15)(branches()))
    np.testing.assert_allclose(output, np.full((2, 2, 2, 1), np.mean(VALUES)))


def test_fractal_join_local_drop_path_frequency():
    """Sec. 3.1: each input is dropped with probability p, but never all of them.

    With p = 0.5 and three inputs, all three are dropped 1/8 of the time and one
    is then restored, so an input is dropped with probability 1/2 - 1/24.
    """
    join = FractalJoin(0.5, seed=4)
    dropped = np.zeros(3)
    for _ in range(DRAWS):
        output = numpy(join(branches(), training=True))
        assert np.all(output == output.flat[0])
        dropped += [i not in survivors(output) for i in range(3)]
    np.testing.assert_allclose(dropped / DRAWS, 0.5 - 1 / 24, atol=0.08)


def test_fractal_join_keeps_exactly_one_input_when_all_are_dropped():
    join = FractalJoin(1.0, seed=5)
    kept = [survivors(numpy(join(branches(), training=True))) for _ in range(90)]
    assert all(len(subset) == 1 for subset in kept)
    assert {subset[0] for subset in kept} == {0, 1, 2}


def test_fractal_join_global_drop_path_passes_the_selected_column():
    join = FractalJoin(0.15, columns=[1, 2, 3])
    selected = np.array([[0, 0, 1, 0], [0, 0, 0, 1]], "float32")  # per example: column 2, 3
    output = numpy(join(branches(), selected, training=True))
    np.testing.assert_array_equal(output[0], VALUES[1])
    np.testing.assert_array_equal(output[1], VALUES[2])


def test_fractal_join_not_reached_by_the_global_column_averages_all_inputs():
    join = FractalJoin(0.15, columns=[1, 2, 3])
    selected = np.array([[1, 0, 0, 0]] * 2, "float32")
    output = numpy(join(branches(), selected, training=True))
    np.testing.assert_allclose(output, np.mean(VALUES), rtol=1e-6)


def test_fractal_join_all_zero_selection_means_local_drop_path():
    join = FractalJoin(0.0, columns=[0, 1, 2])
    output = numpy(join(branches(), np.zeros((2, 3), "float32"), training=True))
    np.testing.assert_allclose(output, np.mean(VALUES), rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(drop_probability=-0.1), r"drop_probability must be in \[0, 1\]"),
    (dict(drop_probability=None), r"drop_probability must be in \[0, 1\], got None"),
    (dict(drop_probability=0.15, columns=[0, 0]), "distinct non-negative"),
    (dict(drop_probability=0.15, columns=[-1, 0]), "distinct non-negative"),
    (dict(drop_probability=0.15, columns=[]), "distinct non-negative"),
    (dict(drop_probability=0.15, columns=5), "distinct non-negative"),  # was a TypeError
])
def test_fractal_join_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FractalJoin(**kwargs)


@pytest.mark.parametrize("columns", [range(2), np.arange(2), (0, 1)])
def test_fractal_join_takes_any_sequence_of_columns(columns):
    assert FractalJoin(columns=columns).get_config()["columns"] == [0, 1]


def test_fractal_join_checks_its_inputs_against_its_columns():
    x = keras.Input((2, 2, 1))
    with pytest.raises(ValueError, match="at least two tensors"):
        FractalJoin()([x])
    with pytest.raises(ValueError, match="one column per input"):
        FractalJoin(columns=[0, 1, 2])([x, x])
    selection = keras.Input((2,))
    with pytest.raises(ValueError, match="needs columns="):
        FractalJoin()([x, x], selection)
    with pytest.raises(ValueError, match="selects among 2 columns"):
        FractalJoin(columns=[1, 2])([x, x], selection)



def test_fractal_join_refuses_a_single_tensor_and_inputs_of_different_shapes():
    x = keras.Input((2, 2, 1))
    with pytest.raises(ValueError, match="joins a list of at least two tensors"):
        FractalJoin()(x)
    with pytest.raises(ValueError, match=r"FractalJoin 'join' averages tensors of one shape, "
                                         r"got shapes \(None, 2, 2, 1\), \(None, 2, 2, 3\)\."):
        FractalJoin(name="join")([x, keras.Input((2, 2, 3))])
    with pytest.raises(ValueError, match="averages tensors of one shape"):
        FractalJoin()([x, keras.Input((4, 4, 1))])
    assert FractalJoin()([x, keras.Input((None, 2, 1))]).shape == (None, 2, 2, 1)

def test_fractal_join_config_round_trip():
    clone = FractalJoin.from_config(FractalJoin(0.2, columns=[2, 3], seed=7).get_config())
    assert (clone.drop_probability, clone.columns, clone.seed) == (0.2, [2, 3], 7)


# ---- GlobalDropPath -------------------------------------------------------------------------

def test_global_drop_path_selects_nothing_at_test_time():
    np.testing.assert_array_equal(numpy(GlobalDropPath(4)(ones(3, 2))), np.zeros((3, 4)))


def test_global_drop_path_selects_one_column_for_half_the_batches():
    layer = GlobalDropPath(4, probability=0.5, seed=6)
    chosen = []
    for _ in range(DRAWS):
        rows = numpy(layer(ones(3, 2), training=True))
        assert np.all(rows == rows[0]) and rows[0].sum() in (0, 1)
        chosen.append(int(rows[0].argmax()) if rows[0].sum() else None)
    columns = [c for c in chosen if c is not None]
    assert len(columns) / DRAWS == pytest.approx(0.5, abs=0.08)
    assert set(columns) == {0, 1, 2, 3}


@pytest.mark.parametrize("kwargs, message", [
    (dict(columns=0), "columns must be a positive integer"),
    (dict(columns=3, probability=2.0), r"probability must be in \[0, 1\]"),
    (dict(columns=3, probability="0.1"), r"probability must be in \[0, 1\]"),
])
def test_global_drop_path_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GlobalDropPath(**kwargs)


# ---- In a model ------------------------------------------------------------------------------

def drop_path_model():
    inputs = keras.Input((4, 4, 3))
    selection = GlobalDropPath(2, name="global")(inputs)
    deep = keras.layers.Conv2D(3, 3, padding="same")(inputs)
    shallow = keras.layers.Conv2D(3, 1)(inputs)
    joined = FractalJoin(0.15, columns=[0, 1], name="join")([shallow, deep], selection)
    residual = StochasticDepth(0.5, name="drop")(joined)
    return keras.Model(inputs, keras.layers.Add()([inputs, residual]))


def test_drop_path_layers_round_trip(round_trip):
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 3)).astype("float32")
    round_trip(drop_path_model(), x)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_drop_path_layers_under_mixed_precision(mixed_precision):
    model = drop_path_model()
    x = np.random.default_rng(2).standard_normal((2, 4, 4, 3)).astype("float32")
    for training in (False, True):
        output = model(x, training=training)
        assert output.dtype == "float16" and np.isfinite(numpy(output)).all()


@pytest.mark.parametrize("make", [lambda seed: StochasticDepth(0.5, seed=seed),
                                  lambda seed: FractalJoin(seed=seed),
                                  lambda seed: GlobalDropPath(2, seed=seed)])
def test_drop_path_layers_take_numpy_integer_seeds_and_refuse_others(make):
    layer = make(np.int64(3))
    assert layer.seed == 3 and type(layer.get_config()["seed"]) is int
    clone = type(layer).from_config(layer.get_config())
    assert clone.seed == 3
    with pytest.raises(ValueError, match=r"^seed must be None or an integer, got '3'\.$"):
        make("3")
