"""LeNet-5 as published (LeCun et al. 1998, Fig. 2, Section II-B) and the modern variant."""

import keras
import numpy as np
import pytest

import recipes
from recipes.lenet import LENET5_LEARNING_RATES

# Section II-B: trainable parameters per layer as the paper counts them.
PAPER_PARAMETERS = {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164,
                    "rbf": 0}
# Fig. 2: C1 6@28x28, S2 6@14x14, C3 16@10x10, S4 16@5x5, C5 120, F6 84, OUTPUT 10.
FIG_2_SHAPES = {"c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16),
                "c5": (1, 1, 120), "f6": (84,), "rbf": (10,)}


@pytest.fixture(scope="module")
def lenet5():
    return recipes.build("lenet5")


@pytest.mark.parametrize("layer, count", PAPER_PARAMETERS.items())
def test_trainable_parameters_per_layer_are_the_papers(lenet5, layer, count):
    weights = lenet5.get_layer(layer).trainable_weights
    assert sum(int(np.prod(w.shape)) for w in weights) == count


def test_the_whole_network_has_60000_parameters_none_of_them_fixed(lenet5):
    assert lenet5.count_params() == 60_000
    assert not lenet5.non_trainable_weights


@pytest.mark.parametrize("layer, shape", FIG_2_SHAPES.items())
def test_output_shapes_follow_fig_2(lenet5, layer, shape):
    assert tuple(lenet5.get_layer(layer).output.shape) == (None, *shape)


def test_layers_squash_with_the_scaled_tanh(lenet5):
    for name in ("c1", "s2", "c3", "s4", "c5", "f6"):
        assert lenet5.get_layer(name).activation.__name__ == "scaled_tanh"


def test_predictions_are_a_softmax_over_the_negated_rbf_penalties(lenet5):
    inputs = np.random.default_rng(0).uniform(-0.1, 1.175, size=(3, 32, 32, 1)).astype("float32")
    probe = keras.Model(lenet5.input, [lenet5.get_layer("rbf").output, lenet5.output])
    penalties, probabilities = (keras.ops.convert_to_numpy(t) for t in probe(inputs))
    assert (penalties >= 0).all()
    logits = -penalties
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(-1, keepdims=True),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(probabilities.argmax(-1), penalties.argmin(-1))
    assert probe.outputs[1].dtype == "float32"


def test_without_activation_the_model_returns_the_negated_penalties():
    model = recipes.build("lenet5", classifier_activation=None)
    inputs = np.zeros((1, 32, 32, 1), dtype="float32")
    rbf = keras.Model(model.input, model.get_layer("rbf").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(inputs)),
                               -keras.ops.convert_to_numpy(rbf(inputs)), rtol=1e-6)


def test_other_class_counts_use_seeded_random_codes():
    model = recipes.build("lenet5", classes=26)
    assert tuple(model.output_shape) == (None, 26)
    assert model.get_layer("rbf").get_config()["codes"] == "random"
    assert recipes.build("lenet5").get_layer("rbf").get_config()["codes"] == "digits"


def test_mnist_sized_input_is_too_small_for_c5():
    with pytest.raises(ValueError, match=r"'c5' does not fit its input: height \(4 - 5 \+ 0\)"):
        recipes.build("lenet5", input_shape=(28, 28, 1))


def test_training_configuration_follows_section_iii():
    recipe = recipes.get("lenet5")
    assert (recipe.input_shape, recipe.classes, recipe.year) == ((32, 32, 1), 10, 1998)
    training = recipe.training
    assert LENET5_LEARNING_RATES == ((0, 5e-4), (2, 2e-4), (5, 1e-4), (8, 5e-5), (12, 1e-5))
    assert (training.optimizer, training.batch_size, training.epochs) == ("sdlm", 1, 20)
    assert training.learning_rate == 5e-4
    assert training.schedule == "step" and training.decay_epochs == (2, 5, 8, 12)
    assert training.step_rates == (5e-4, 2e-4, 1e-4, 5e-5, 1e-5)
    assert training.augmentation == "none" and training.weight_decay == 0
    # Section II-B: background -0.1, foreground 1.175; Section III-A: all 60,000 images train.
    assert (training.normalization, training.validation_fraction) == ("lenet", 0.0)
    modern = recipes.get("lenet5_modern").training
    assert (modern.normalization, modern.validation_fraction) == ("per_channel", 0.1)


def test_lenet5_learns_a_small_learnable_problem():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    prototypes = rng.choice([-0.1, 1.175], size=(10, 32, 32, 1)).astype("float32")
    labels = np.repeat(np.arange(10), 10)
    images = prototypes[labels] + rng.normal(0, 0.3, size=(100, 32, 32, 1)).astype("float32")
    model = recipes.build("lenet5")
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(images, labels, batch_size=10, epochs=5, verbose=0)
    assert history.history["loss"][0] > 1.5
    assert history.history["loss"][-1] < 0.2
    assert model.evaluate(images, labels, verbose=0)[1] == 1.0


def test_lenet5_round_trips(lenet5, round_trip):
    inputs = np.random.default_rng(1).normal(size=(2, 32, 32, 1)).astype("float32")
    round_trip(lenet5, inputs, atol=1e-6)


def test_lenet5_modern_keeps_full_c3_and_a_dense_head():
    model = recipes.build("lenet5_modern")
    # c1 156 + c3 16 * (6 * 25 + 1) + c5 48,120 + f6 10,164 + logits 84 * 10 + 10
    assert model.count_params() == 156 + 2_416 + 48_120 + 10_164 + 850
    assert isinstance(model.get_layer("s2"), keras.layers.MaxPooling2D)


def test_lenet5_runs_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = recipes.build("lenet5")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("c3").compute_dtype == "float16"
    assert model.get_layer("c3").kernel.dtype == "float32"
    outputs = keras.ops.convert_to_numpy(model(np.ones((2, 32, 32, 1), dtype="float32")))
    assert outputs.dtype == np.float32
    np.testing.assert_allclose(outputs.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_lenet5s_penalties_keep_float32s_ranking_under_mixed_precision(policy):
    # 84 squared distances sum to 80-600, where bfloat16 steps by 0.5 to 4: computed in
    # it, the classes' scores tied or swapped (every class at 0.1, argmax off on most).
    images = np.random.default_rng(0).normal(size=(64, 32, 32, 1)).astype("float32")
    exact = recipes.build("lenet5")
    keras.mixed_precision.set_global_policy(policy)
    try:
        mixed = recipes.build("lenet5")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(exact.get_weights())
    assert mixed.get_layer("c3").compute_dtype != "float32"
    assert {mixed.get_layer(name).compute_dtype for name in ("rbf", "logits")} == {"float32"}
    ours = keras.ops.convert_to_numpy(mixed(images))
    reference = keras.ops.convert_to_numpy(exact(images))
    np.testing.assert_array_equal(ours.argmax(-1), reference.argmax(-1))
    np.testing.assert_allclose(ours, reference, atol=2e-4)
