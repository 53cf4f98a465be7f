"""The lectures' activation-statistics experiment reproduces its qualitative results."""

import pathlib

import numpy as np
import pytest

from engine.initialization import (
    ACTIVATIONS,
    DEPTH,
    EXAMPLES,
    INITIALIZATIONS,
    WIDTH,
    format_statistics,
    hidden_activations,
    layer_statistics,
    run_experiment,
)


@pytest.fixture(scope="module")
def stds():
    """``stds(init, activation)``: the std of hidden layers 1..10, each setting run once."""
    cache = {}

    def compute(init, activation):
        if (init, activation) not in cache:
            _, activations = hidden_activations(init, activation, seed=0)
            cache[init, activation] = [std for _, std in layer_statistics(activations)]
        return cache[init, activation]

    return compute


def test_the_network_is_ten_layers_of_500_units():
    inputs, activations = hidden_activations("xavier", "tanh", seed=0)
    assert inputs.shape == (EXAMPLES, WIDTH) == (1000, 500)
    assert len(activations) == DEPTH == 10
    assert all(layer.shape == (1000, 500) for layer in activations)
    assert abs(inputs.mean()) < 0.01 and abs(inputs.std() - 1) < 0.01  # unit Gaussian


def test_small_weights_make_tanh_activations_collapse(stds):
    std = stds("normal_0.01", "tanh")
    # The lecture: 0.213081, 0.047551, 0.010630, ... 0.000000 ("all activations become zero").
    assert std[0] == pytest.approx(0.213, abs=0.01)
    assert std[1] == pytest.approx(0.0476, abs=0.003)
    assert std[9] < 1e-4
    assert all(later < earlier for earlier, later in zip(std, std[1:]))


def test_unit_weights_saturate_tanh(stds):
    assert all(std > 0.97 for std in stds("normal_1", "tanh"))  # the lecture: 0.98 everywhere
    _, activations = hidden_activations("normal_1", "tanh", seed=0)
    assert np.mean(np.abs(activations[-1]) > 0.99) > 0.9  # almost all at -1 or +1


def test_xavier_keeps_tanh_reasonable_but_not_relu(stds):
    tanh = stds("xavier", "tanh")
    assert tanh[0] == pytest.approx(0.628, abs=0.02)  # the lecture: 0.627953 ... 0.228008
    assert tanh[9] == pytest.approx(0.228, abs=0.03)
    relu = stds("xavier", "relu")
    assert relu[9] < 0.1 * relu[0]  # each ReLU layer halves the variance


def test_he_keeps_relu_activations_steady(stds):
    std = stds("he", "relu")
    assert std[0] == pytest.approx(0.825, abs=0.02)
    assert std[0] / 2 < std[9] < 2 * std[0]


def test_the_experiment_is_seeded():
    first = hidden_activations("he", "relu", seed=3)
    second = hidden_activations("he", "relu", seed=3)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1][-1], second[1][-1])


def test_text_follows_the_lecture_printout():
    inputs = np.array([[1.0, -1.0]])
    text = format_statistics(inputs, [np.array([[0.5, 0.5]]), np.array([[0.0, 2.0]])])
    assert text.splitlines() == [
        "input layer had mean 0.000000 and std 1.000000",
        "hidden layer 1 had mean 0.500000 and std 0.000000",
        "hidden layer 2 had mean 1.000000 and std 1.000000",
    ]


def test_run_experiment_writes_text_and_histograms(tmp_path):
    text, png = run_experiment("he", "relu", str(tmp_path))
    assert png == str(tmp_path / "activations_he_relu.png")
    assert pathlib.Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "activations_he_relu.txt").read_text() == text + "\n"
    assert "hidden layer 10 had mean" in text


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="Unknown initialization 'zeros'"):
        hidden_activations("zeros", "tanh")
    with pytest.raises(ValueError, match="Unknown activation 'sigmoid'"):
        hidden_activations("he", "sigmoid")
    with pytest.raises(ValueError, match="'lenet5_modern' cannot build"):
        hidden_activations("he", "relu", recipe="lenet5_modern")


def test_train_py_flags_list_the_experiments_settings():
    import train

    assert train.FLAGS["init"].parser.enum_values == list(INITIALIZATIONS)
    assert train.FLAGS["activation"].parser.enum_values == list(ACTIVATIONS)


def test_train_py_runs_the_experiment(tmp_path, train_here):
    result = train_here("--recipe=mlp", "--mode=activations", "--init=xavier",
                        "--activation=tanh", f"--model_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hidden layer 10 had mean" in result.stdout
    assert (tmp_path / "activations_xavier_tanh.png").is_file()


def test_a_model_dir_under_home_is_written_there(tmp_path, monkeypatch, mode_args):
    # --model_dir=~/acts made a folder named ~ in the current folder (training expands it).
    from engine import modes

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    modes.run("activations", mode_args(model_dir="~/acts", init="he", activation="relu"))
    assert (tmp_path / "home" / "acts" / "activations_he_relu.png").is_file()
    assert not (tmp_path / "~").exists()


def test_values_above_a_histograms_span_are_counted_in_its_title_not_piled_in_its_last_bin():
    # Clipped into the last bin, He's ReLU layers (5% above 3 std of layer 1) drew a spike
    # there that read as an explosion.
    from matplotlib.figure import Figure

    from engine.initialization import histogram

    axes = Figure().add_subplot()
    told = histogram(axes, np.array([0.5, 1.0, 2.0, 5.0, 7.0, 9.0, 0.0, 0.0]), 0.0, 2.0)
    assert [patch.get_height() for patch in axes.patches][-1] == 1  # the 2.0 alone
    assert sum(patch.get_height() for patch in axes.patches) == 5
    assert told == "\n37.5% > 2"
    assert histogram(Figure().add_subplot(), np.array([-1.0, 0.0, 1.0]), -1.0, 1.0) == ""
