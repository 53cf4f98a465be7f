"""Search spaces as data: every recipe declares one around its paper, and the builder
arguments a search varies build the networks they say (hand-counted parameters)."""

from __future__ import annotations

import inspect

import keras
import pytest

import recipes
from engine import choices
from layers import LocalResponseNormalization
from recipes.space import Boolean, Choice, Float, Int, SearchSpace, training_space


def paper_value(recipe, name):
    """The value a recipe builds or trains with when a search does not vary ``name``."""
    if name in recipe.search_space.training:
        value = getattr(recipe.training, name)
        # a rate the builder sets where the training leaves it (wrn28_10_dropout's dropout)
        return recipe.variant.get(name) if value is None else value
    if name in recipe.variant:
        return recipe.variant[name]
    return inspect.signature(recipe.builder).parameters[name].default


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipe_searches_around_its_paper(name):
    recipe = recipes.get(name)
    space = recipe.search_space
    assert {"learning_rate", "batch_size", "weight_decay", "optimizer",
            "label_smoothing"} <= set(space.training)
    for entry_name, entry in space.entries.items():
        expected = paper_value(recipe, entry_name)
        if (entry_name, recipe.training.optimizer) == ("optimizer", "sgd"):
            # plain SGD is the momentum optimizer at the paper's momentum 0
            assert (entry.default, space.training["momentum"].default) == ("momentum", 0.0)
        elif (name, entry_name) in {("convnet", "filters"), ("convnet", "growth")}:
            continue  # 32 doubling per block is the default's (32, 64, 128): below
        elif isinstance(expected, tuple):  # blocks per stage: one int for every stage
            assert (entry.default,) * len(expected) == expected, (name, entry_name)
        else:
            assert entry.default == expected, (name, entry_name)
        if entry_name == "optimizer":
            assert set(entry.values) <= set(choices.OPTIMIZERS)
    rate = recipe.training.learning_rate
    learning_rate = space.training["learning_rate"]
    assert learning_rate.log and learning_rate.min_value == pytest.approx(rate / 10)
    assert learning_rate.max_value == pytest.approx(rate * 10)


def test_training_space_from_a_papers_configuration():
    space = training_space(recipes.TrainingConfig(optimizer="momentum", learning_rate=0.01,
                                                  weight_decay=5e-4, batch_size=128,
                                                  dropout=0.5), dropout=True)
    assert space["learning_rate"] == Float(1e-3, 0.1, log=True, default=0.01)
    assert space["batch_size"] == Choice((64, 128, 256), default=128)
    assert space["weight_decay"] == Float(5e-5, 5e-3, log=True, default=5e-4)
    assert space["optimizer"] == Choice(("momentum", "nesterov"), default="momentum")
    assert space["label_smoothing"] == Choice((0.0, 0.1), default=0.0)
    assert space["dropout"] == Float(0.0, 0.7, step=0.1, default=0.5)
    no_decay = training_space(recipes.TrainingConfig(optimizer="adam", batch_size=1))
    assert no_decay["weight_decay"] == Choice((0.0, 1e-4, 5e-4), default=0.0)
    assert no_decay["batch_size"] == Choice((1, 2), default=1)
    assert "dropout" not in no_decay and "momentum" not in no_decay


def test_a_recipe_without_training_ranges_gets_its_papers_neighbourhood():
    recipe = recipes.get("googlenet")
    assert dict(recipe.search_space.training) == training_space(recipe.training, dropout=True)


@pytest.mark.parametrize("entry, message", [
    (lambda: Choice(()), "distinct values"),
    (lambda: Choice((1, 1)), "distinct values"),
    (lambda: Choice((1, 2), default=3), "default must be one of"),
    (lambda: Int(1, 3, default=5), "within"),
    (lambda: Int(0, 8, step=4, default=2), "grid"),
    (lambda: Float(0.0, 1.0, log=True), "min_value > 0"),
    (lambda: Float(0.1, 1.0, log=True, step=0.1), "log-scale or on a step grid"),
    (lambda: SearchSpace(architecture={"x": (1, 2)}), "must be a Choice"),
    (lambda: SearchSpace(architecture={"dropout": Boolean()},
                         training={"dropout": Float(0.0, 0.5)}), "unique"),
    (lambda: SearchSpace(architecture={"growth": Choice((1, 2))}, training={},
                         conditions={"growth": ("blocks", (2,))}), "does not have"),
    (lambda: SearchSpace(architecture={"width": Float(0.5, 1.0), "growth": Choice((1, 2))},
                         conditions={"growth": ("width", (1.0,))}), "only on a Choice, Int"),
    (lambda: SearchSpace(architecture={"growth": Choice((1, 2)), "blocks": Int(1, 4)},
                         conditions={"growth": ("blocks", (2,))}), "must come before it"),
    (lambda: SearchSpace(architecture={"blocks": Int(1, 4), "growth": Choice((1, 2))},
                         conditions={"growth": ("blocks", (5,))}), "within its range"),
    (lambda: SearchSpace(architecture={"blocks": Int(1, 4), "growth": Choice((1, 2)),
                                       "width": Choice((1, 2))},
                         conditions={"growth": ("blocks", (2,)), "width": ("growth", (2,))}),
     "no condition itself"),
])
def test_malformed_ranges_are_refused(entry, message):
    with pytest.raises(ValueError, match=message):
        entry()


def test_a_space_must_name_builder_arguments_and_training_fields():
    base = recipes.get("lenet5_modern")
    with pytest.raises(ValueError, match="'depth' is not an argument of lenet5_modern"):
        recipes.Recipe(**{**vars(base), "name": "x",
                          "search_space": SearchSpace(architecture={"depth": Int(1, 2)})})
    with pytest.raises(ValueError, match="'warmup' is not a TrainingConfig field"):
        recipes.Recipe(**{**vars(base), "name": "x",
                          "search_space": SearchSpace(training={"warmup": Int(0, 2)})})


# --- the builder arguments a search varies --------------------------------------------------

def conv(kernel, channels_in, filters, bias=True):
    return kernel * kernel * channels_in * filters + (filters if bias else 0)


def dense(inputs, units, bias=True):
    return inputs * units + (units if bias else 0)


def test_lenet5_modern_width_multiplier_scales_every_layer():
    model = recipes.build("lenet5_modern", width_multiplier=2.0)
    # C1 12, C3 24, C5 240 maps, F6 168 units; C5 sees 5x5 maps, so it is 5x5x24.
    expected = (conv(5, 1, 12) + conv(5, 12, 32) + conv(5, 32, 240) + dense(240, 168)
                + dense(168, 10))
    assert model.count_params() == expected
    assert recipes.build("lenet5_modern").count_params() == 61_706


def test_lenet5_modern_batch_norm_sits_between_each_layer_and_its_relu():
    model = recipes.build("lenet5_modern", batch_norm=True)
    names = [layer.name for layer in model.layers]
    for layer in ("c1", "c3", "c5", "f6"):
        position = names.index(layer)
        assert names[position + 1:position + 3] == [f"{layer}_bn", f"{layer}_relu"]
        assert not model.get_layer(layer).use_bias
        assert model.get_layer(layer).activation is keras.activations.linear
    batch_norm = 4 * (6 + 16 + 120 + 84)  # gamma, beta, moving mean and variance
    expected = (conv(5, 1, 6, False) + conv(5, 6, 16, False) + conv(5, 16, 120, False)
                + dense(120, 84, False) + dense(84, 10) + batch_norm)
    assert model.count_params() == expected


def test_alexnet_without_lrn_and_narrower():
    model = recipes.build("alexnet", lrn=False, width_multiplier=0.25)
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    widths = [model.get_layer(f"conv{index}").filters for index in range(1, 6)]
    assert widths == [24, 64, 96, 96, 64]
    assert model.get_layer("fc6").units == model.get_layer("fc7").units == 1024
    expected = (conv(11, 3, 24) + conv(5, 24, 64) + conv(3, 64, 96) + conv(3, 96, 96)
                + conv(3, 96, 64) + dense(6 * 6 * 64, 1024) + dense(1024, 1024)
                + dense(1024, 1000))
    assert model.count_params() == expected


def test_grouped_alexnet_widths_stay_multiples_of_its_towers():
    model = recipes.build("alexnet_grouped", width_multiplier=0.3)
    for index in range(1, 6):
        assert model.get_layer(f"conv{index}").filters % 2 == 0


def test_vgg_width_multiplier_and_configuration(tmp_path):
    model = recipes.build("vgg_a", input_shape=(32, 32, 3), classes=10,
                          configuration="B", width_multiplier=0.25, lrn=True)
    widths = [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert widths == [16, 16, 32, 32, 64, 64, 128, 128, 128, 128]  # Table 1, column B
    assert isinstance(model.get_layer("norm1"), LocalResponseNormalization)
    assert model.get_layer("fc6").units == 1024


def test_nin_width_multiplier_keeps_one_map_per_class():
    model = recipes.build("nin", width_multiplier=0.5)
    assert [model.get_layer(name).filters for name in ("conv1", "cccp1", "cccp2", "conv3",
                                                       "cccp5", "cccp6")] == [96, 80, 48, 96,
                                                                              96, 10]


def test_resnet_blocks_as_one_int_and_a_width_multiplier():
    deeper = recipes.build("resnet20", blocks=5)  # n = 5: ResNet-32
    assert deeper.count_params() == recipes.build("resnet32").count_params() == 466_426
    wide = recipes.build("wrn28_10", blocks=2, width_multiplier=0.4)  # WRN-16-4
    convs = [layer for layer in wide.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.filters for layer in convs if layer.name.endswith("_2_conv")} == {64, 128, 256}
    assert wide.get_layer("conv1_conv").filters == 16
    assert len([layer for layer in convs if layer.name.endswith("_1_conv")]) == 3 * 2
    # WRN-16-4: "2.7M" parameters in Zagoruyko and Komodakis's tables (2,752,506 here, as
    # WRN-28-10's 36,497,146 is their "36.5M").
    assert 2.7e6 <= wide.count_params() < 2.8e6


def test_resnext_width_multiplier_keeps_whole_groups():
    model = recipes.build("resnext29_8x64d", width_multiplier=0.5)
    layer = model.get_layer("conv2_block1_2_conv")
    assert (layer.filters, layer.groups) == (256, 8)


def test_convnet_first_width_and_growth():
    assert recipes.build("convnet", filters=32, growth=2).count_params() == \
        recipes.build("convnet").count_params()
    model = recipes.build("convnet", blocks=2, filters=16, growth=1)
    assert [model.get_layer(f"block{block}_conv1").filters for block in (1, 2)] == [16, 16]
    with pytest.raises(ValueError, match="growth"):
        recipes.build("convnet", filters=16, growth=0)


def test_width_multiplier_must_be_positive():
    with pytest.raises(ValueError, match="width_multiplier must be a positive number"):
        recipes.build("lenet5_modern", width_multiplier=0)
