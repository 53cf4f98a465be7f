"""The registry: names, lookup, build with overrides, the classifier head."""

import dataclasses

import numpy as np
import pytest

import recipes


def test_names_are_sorted_and_include_the_default():
    names = recipes.names()
    assert names == sorted(names)
    assert "lenet5_modern" in names


def test_get_returns_metadata_and_training_configuration():
    recipe = recipes.get("lenet5_modern")
    assert recipe.name == "lenet5_modern"
    assert recipe.input_shape == (32, 32, 1)
    assert recipe.classes == 10
    assert recipe.year == 1998 and "LeCun" in recipe.paper
    for field in ("optimizer", "learning_rate", "momentum", "weight_decay", "batch_size",
                  "epochs", "schedule", "augmentation"):
        assert hasattr(recipe.training, field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.training.epochs = 1


def test_unknown_recipe_names_the_close_matches():
    with pytest.raises(ValueError, match=r"Unknown recipe 'lenet5_modrn'.*lenet5_modern"):
        recipes.get("lenet5_modrn")


def test_build_uses_the_paper_shape_and_accepts_overrides():
    model = recipes.build("lenet5_modern")
    assert model.name == "lenet5_modern"
    assert tuple(model.input_shape) == (None, 32, 32, 1)
    assert tuple(model.output_shape) == (None, 10)
    other = recipes.build("lenet5_modern", classes=3, input_shape=(36, 36, 3))
    assert tuple(other.input_shape) == (None, 36, 36, 3)
    assert tuple(other.output_shape) == (None, 3)


def test_head_is_float32_softmax_or_logits():
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 1)).astype("float32")
    probabilities = np.asarray(recipes.build("lenet5_modern")(x))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert recipes.build("lenet5_modern").output.dtype == "float32"
    logits = np.asarray(recipes.build("lenet5_modern", classifier_activation=None)(x))
    assert not np.allclose(logits.sum(axis=1), 1.0)


@pytest.mark.parametrize("classes", [0, True, 10.0, "10"])
def test_build_rejects_bad_classes(classes):
    with pytest.raises(ValueError, match="classes must be a positive integer"):
        recipes.build("lenet5_modern", classes=classes)


def test_build_takes_numpy_integers_and_refuses_an_empty_input_shape():
    assert recipes.build("lenet5_modern", classes=np.int64(7)).output_shape == (None, 7)
    with pytest.raises(ValueError, match=r"input_shape must not be empty; leave it out for "
                                         r"the recipe's \(32, 32, 1\)"):
        recipes.build("lenet5_modern", input_shape=())


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        recipes.register(recipes.get("lenet5_modern"))
