"""engine.tuning.space: a recipe's space as keras-tuner hyperparameters, and a trial's
values as the builder arguments and training configuration it runs with."""

import dataclasses

import keras
import keras_tuner
import pytest

import recipes
from engine import choices
from engine.tuning.space import configuration, describe, hyperparameters
from recipes.space import Boolean, Choice, Float, Int, SearchSpace

SPACE = SearchSpace(
    architecture={"batch_norm": Boolean(default=False), "blocks": Int(1, 4, default=3)},
    training={"learning_rate": Float(1e-4, 1e-2, log=True, default=1e-3),
              "dropout": Float(0.0, 0.7, step=0.1, default=0.5),
              "optimizer": Choice(("adam", "adamw"), default="adam")})


def test_each_range_becomes_its_keras_tuner_hyperparameter():
    hp = keras_tuner.HyperParameters()
    values = hyperparameters(hp, SPACE, fixed={"optimizer": "sgd"})
    assert values == {"batch_norm": False, "blocks": 3, "learning_rate": 1e-3, "dropout": 0.5,
                      "optimizer": "sgd"}
    declared = {entry.name: entry for entry in hp.space}
    assert isinstance(declared["batch_norm"], keras_tuner.engine.hyperparameters.Boolean)
    blocks = declared["blocks"]
    assert (blocks.min_value, blocks.max_value, blocks.step) == (1, 4, 1)
    rate = declared["learning_rate"]
    assert (rate.min_value, rate.max_value, rate.sampling) == (1e-4, 1e-2, "log")
    assert declared["dropout"].step == 0.1 and declared["dropout"].sampling == "linear"
    assert isinstance(declared["optimizer"], keras_tuner.engine.hyperparameters.Fixed)


def test_a_trials_values_are_read_back_and_step_grids_rounded():
    hp = keras_tuner.HyperParameters()
    hyperparameters(hp, SPACE)
    hp.values.update({"dropout": 0.30000000000000004, "blocks": 2, "learning_rate": 5e-3})
    values = hyperparameters(hp, SPACE)
    assert values["dropout"] == 0.3 and values["blocks"] == 2 and values["learning_rate"] == 5e-3


def test_a_trials_configuration():
    training = recipes.TrainingConfig(optimizer="adam", learning_rate=1e-3, dropout=0.5)
    variant, config = configuration(SPACE, training, {
        "batch_norm": True, "blocks": 2, "learning_rate": 4e-3, "dropout": 0.2,
        "optimizer": "adamw"})
    assert variant == {"batch_norm": True, "blocks": 2}
    assert (config.learning_rate, config.dropout, config.optimizer) == (4e-3, 0.2, "adamw")
    assert config.epochs == training.epochs  # the search's horizon, untouched


def test_a_searched_learning_rate_scales_a_papers_step_rates():
    recipe = recipes.get("lenet5")  # Section III-B: 5e-4, 2e-4, 1e-4, 5e-5, 1e-5
    values = hyperparameters(keras_tuner.HyperParameters(), recipe.search_space)
    _, config = configuration(recipe.search_space, recipe.training,
                              {**values, "learning_rate": 1e-3})
    assert config.step_rates == pytest.approx((1e-3, 4e-4, 2e-4, 1e-4, 2e-5))
    _, paper = configuration(recipe.search_space, recipe.training, values)
    assert paper == recipe.training  # the defaults are the paper's configuration


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipes_space_is_a_keras_tuner_space(name):
    recipe = recipes.get(name)
    hp = keras_tuner.HyperParameters()
    values = hyperparameters(hp, recipe.search_space)
    assert [entry.name for entry in hp.space] == list(recipe.search_space.entries)
    variant, config = configuration(recipe.search_space, recipe.training, values)
    assert config.optimizer in choices.OPTIMIZERS
    for _ in range(5):  # random points of the space make valid configurations too
        sample = {entry.name: entry.random_sample() for entry in hp.space}
        configuration(recipe.search_space, recipe.training, sample)


def test_describe_records_ranges_and_fixed_values():
    described = describe(SPACE, fixed={"optimizer": "sgd"})
    assert described["learning_rate"] == {"kind": "float", "min_value": 1e-4,
                                          "max_value": 1e-2, "log": True, "step": None,
                                          "default": 1e-3}
    assert described["batch_norm"] == {"kind": "boolean", "default": False}
    assert described["optimizer"] == {"kind": "fixed", "value": "sgd"}


def test_a_rate_the_paper_sets_in_the_builder_is_searched_from_it():
    """wrn28_10_dropout's 0.3 is a builder argument, not a training one: its space still
    has the dropout entry (README: where the paper sets a rate), the paper's the default."""
    import keras

    from engine.build import build

    recipe = recipes.get("wrn28_10_dropout")
    entry = recipe.search_space.training["dropout"]
    assert (entry.min_value, entry.max_value, entry.step, entry.default) == (0.0, 0.7, 0.1, 0.3)
    values = {name: entry.default for name, entry in recipe.search_space.entries.items()}
    variant, config = configuration(recipe.search_space, recipe.training,
                                    {**values, "blocks": 2, "width_multiplier": 0.2})
    model = build("wrn28_10_dropout", 10, (32, 32, 3), config, variant=variant).model
    rates = {layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == {0.3}


# A second block is what growth widens: with one block the growth changes nothing.
GROWING = SearchSpace(architecture={"blocks": Int(1, 2, default=2),
                                    "growth": Choice((1, 2), default=2)},
                      training={}, conditions={"growth": ("blocks", (2,))})


def test_an_entry_whose_condition_fails_is_left_out_of_the_trial():
    hp = keras_tuner.HyperParameters()
    assert hyperparameters(hp, GROWING) == {"blocks": 2, "growth": 2}
    hp.values["blocks"] = 1
    values = hyperparameters(hp, GROWING)
    assert values == {"blocks": 1}
    variant, _ = configuration(GROWING, recipes.TrainingConfig(), values)
    assert variant == {"blocks": 1}  # the builder keeps its own growth
    assert describe(GROWING)["growth"]["active_when"] == {"blocks": [2]}


@pytest.mark.parametrize("name", ["vgg_a_lrn", "vgg11"])
def test_vgg_searches_lrn_only_in_configuration_a(name):
    # Table 1 has LRN in its A-LRN column only; lrn was varied with every configuration,
    # and vgg_a_lrn's own lrn=True came back where it was left out: E-LRN networks.
    recipe = recipes.get(name)
    space = recipe.search_space
    hp = keras_tuner.HyperParameters()
    hyperparameters(hp, space)
    hp.values.update(configuration="E", width_multiplier=0.25)
    variant, _ = configuration(space, recipe.training, hyperparameters(hp, space))
    assert variant == {"configuration": "E", "width_multiplier": 0.25, "lrn": False}
    model = recipes.build(name, classes=10, input_shape=(32, 32, 3), **variant)
    assert not any(layer.name.startswith("norm") for layer in model.layers)
    hp.values.update(configuration="A", lrn=True)
    variant, _ = configuration(space, recipe.training, hyperparameters(hp, space))
    assert variant["lrn"] is True
    assert describe(space)["lrn"]["active_when"] == {"configuration": ["A"]}
    assert describe(space)["lrn"]["inactive_value"] is False
    keras.backend.clear_session()


def test_plain_sgd_papers_try_nesterov_only_with_a_momentum():
    # At momentum 0 Nesterov's SGD is plain SGD: a quarter of mlp's and AlphaGo's trials
    # in that plane repeated another's (bit-identical weights).
    recipe = recipes.get("mlp")
    space = recipe.search_space
    assert list(space.training).index("momentum") < list(space.training).index("optimizer")
    hp = keras_tuner.HyperParameters()
    hyperparameters(hp, space)
    hp.values.update(momentum=0.0, optimizer="nesterov")
    values = hyperparameters(hp, space)
    assert "optimizer" not in values
    _, training = configuration(space, recipe.training, values)
    assert (training.optimizer, training.momentum) == ("sgd", 0.0)
    hp.values.update(momentum=0.9)
    _, training = configuration(space, recipe.training, hyperparameters(hp, space))
    assert (training.optimizer, training.momentum) == ("nesterov", 0.9)
    # An optimizer the command line fixes holds at every momentum, and is so recorded.
    fixed = hyperparameters(keras_tuner.HyperParameters(), space, {"optimizer": "adam"})
    assert fixed["optimizer"] == "adam" and fixed["momentum"] == 0.0
    assert "active_when" not in describe(space, {"optimizer": "adam"})["optimizer"]
    # A momentum fixed outside the range (0.5) trained plain SGD, the flag ignored.
    at_half = hyperparameters(keras_tuner.HyperParameters(), space, {"momentum": 0.5})
    _, training = configuration(space, recipe.training, at_half)
    assert (training.optimizer, training.momentum) == ("momentum", 0.5)
    assert "active_when" not in describe(space, {"momentum": 0.5})["optimizer"]
    # At 0, plain SGD, as the range's own 0.
    at_zero = hyperparameters(keras_tuner.HyperParameters(), space, {"momentum": 0.0})
    assert "optimizer" not in at_zero


def test_an_inactive_value_needs_a_condition():
    with pytest.raises(ValueError, match=r"\['growth'\] have a value for when their condition "
                                         r"fails but no condition"):
        SearchSpace(architecture=GROWING.architecture, training={}, inactive={"growth": 1})


def test_a_search_does_not_try_a_trial_that_differs_only_in_an_inactive_entry(tmp_path):
    """keras-tuner's random oracle counts distinct active values: (1), (2, 1) and (2, 2),
    three points, where without the condition there are four."""
    def distinct_trials(space, project):
        hp = keras_tuner.HyperParameters()
        hyperparameters(hp, space)
        oracle = keras_tuner.oracles.RandomSearchOracle(
            objective=keras_tuner.Objective("score", "max"), max_trials=20,
            hyperparameters=hp, seed=1)
        oracle._set_project_dir(str(tmp_path), project)  # as a tuner sets it
        proposed = []
        while (trial := oracle.create_trial("tuner0")).status == "RUNNING":
            proposed.append(dict(trial.hyperparameters.values))
            oracle.update_trial(trial.trial_id, {"score": 0.5})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
        return proposed

    # How many points a random search reaches before 20 draws in a row hit points tried
    # depends on the seed; which points it may propose does not.
    with_condition = distinct_trials(GROWING, "conditional")
    assert set(map(str, with_condition)) <= {"{'blocks': 1}", "{'blocks': 2, 'growth': 1}",
                                             "{'blocks': 2, 'growth': 2}"}
    assert len(set(map(str, with_condition))) == len(with_condition) >= 2
    plain = distinct_trials(dataclasses.replace(GROWING, conditions={}), "plain")
    # Without the condition a point is one block of either growth, two trials that build
    # the same network.
    assert len(set(map(str, plain))) == len(plain) >= 2
    assert all("growth" in values for values in plain)


def test_convnets_growth_and_fc_units_apply_only_where_they_change_the_network():
    space = recipes.get("convnet").search_space
    hp = keras_tuner.HyperParameters()
    hyperparameters(hp, space)
    hp.values.update({"blocks": 1, "fc_layers": 0})
    values = hyperparameters(hp, space)
    assert "growth" not in values and "fc_units" not in values
    variant, _ = configuration(space, recipes.get("convnet").training, values)
    one_block = recipes.build("convnet", **variant)
    for growth, fc_units in ((1, 128), (2, 512)):  # what the trial left out changes nothing
        assert recipes.build("convnet", **variant, growth=growth,
                             fc_units=fc_units).count_params() == one_block.count_params()
