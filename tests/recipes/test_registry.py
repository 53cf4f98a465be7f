"""The registry: names, lookup, build with overrides, the classifier head."""

import dataclasses
import re

import keras
import numpy as np
import pytest

import recipes
from layers import UsageError


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


@pytest.mark.parametrize("spelling, meant", [
    ("lenet_5", "Did you mean lenet5, lenet5_modern?"),
    ("LeNet-5", "Did you mean lenet5, lenet5_modern?"),
    ("ResNet-50", "Did you mean resnet50, resnet50_v1_5?"),
    ("VGG-16", "Did you mean vgg16?"),
    ("googlenet_v1", "Did you mean googlenet?"),
])
def test_an_unknown_name_suggests_the_recipes_it_spells_apart_from_case_and_separators(
        spelling, meant):
    with pytest.raises(UsageError, match=re.escape(f"Unknown recipe {spelling!r}. {meant} ")):
        recipes.get(spelling)


@pytest.mark.parametrize("name", [None, 5, ["lenet5_modern"]])
def test_a_recipe_name_that_is_not_a_string_is_refused(name):
    with pytest.raises(UsageError, match=r"A recipe name is a string such as 'lenet5_modern' "
                                         r"\(recipes.names\(\) lists them\), got "):
        recipes.get(name)
    with pytest.raises(UsageError, match="A recipe name is a string"):
        recipes.build(name)

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


@pytest.mark.parametrize("input_shape", [(32, 32), (32, 32, 0), (-3, 32, 1), (32.0, 32, 1), 32,
                                         "32", (32, 32, 1, 1)])
def test_build_refuses_an_input_shape_that_is_not_height_width_channels(input_shape):
    with pytest.raises(UsageError, match=r"input_shape of 'lenet5_modern' must be 3 positive "
                                         r"integers \(height, width, channels\) such as the "
                                         r"recipe's \(32, 32, 1\), got "):
        recipes.build("lenet5_modern", input_shape=input_shape)


def test_build_takes_any_rank_for_the_mlp_and_open_sizes_where_the_network_allows():
    assert recipes.build("mlp", input_shape=(500,)).input_shape == (None, 500)
    assert recipes.build("lenet5_modern", input_shape=np.array([36, 36, 3])).input_shape == (
        None, 36, 36, 3)
    assert recipes.build("nin", input_shape=(None, None, 3)).output_shape == (None, 10)
    with pytest.raises(UsageError, match=r"needs a known number of channels \(its last "
                                         r"entry\), got \(32, 32, None\)"):
        recipes.build("lenet5_modern", input_shape=(32, 32, None))
    with pytest.raises(UsageError, match=r"known rows and columns with the top .* got "
                                         r"\(None, None, 48\); include_top=False takes any"):
        recipes.build("alphago_policy", input_shape=(None, None, 48))
    # Its size-preserving convolutions take any board without the top, the same weights.
    body = recipes.build("alphago_policy", input_shape=(None, None, 48), include_top=False)
    assert body.output_shape == (None, None, None, 192)
    assert body.count_params() == recipes.build("alphago_policy", include_top=False,
                                                input_shape=(9, 9, 48)).count_params()


def test_name_names_the_model_as_in_keras_applications():
    # It met the recipe's name, build()'s first argument: "got multiple values".
    assert recipes.build("resnet20", name="my_resnet").name == "my_resnet"
    assert recipes.build("resnet20").name == "resnet20"
    for name in (3, "a/b"):  # Keras refuses a "/" in a model's name, in its own words
        with pytest.raises(UsageError, match=r"^name must be a non-empty string without '/' "
                                             rf"\(the model's name\), got {name!r}\.$"):
            recipes.build("resnet20", name=name)


FLATTENING = ["lenet5", "lenet5_modern", "alexnet", "vgg11", "googlenet", "fractalnet",
              "convnet"]


@pytest.mark.parametrize("name", FLATTENING)
def test_a_fully_connected_head_on_open_sizes_is_one_sentence(name):
    channels = recipes.get(name).input_shape[-1]
    with pytest.raises(UsageError, match=r"^Layer '(aux1_)?flatten' flattens feature maps of "
                                         r"open size \(None, None, \d+\) into fully connected "
                                         r"layers, which need a fixed input size: give the "
                                         r"height and width in input_shape, or build with "
                                         r"include_top=False\.$"):
        recipes.build(name, input_shape=(None, None, channels))
    # the feature maps alone take any size
    assert recipes.build(name, input_shape=(None, None, channels),
                         include_top=False).output_shape[1:3] == (None, None)


@pytest.mark.parametrize("input_shape", [(None, None, 1), (None, 784)])
def test_an_mlp_on_an_open_size_is_told_to_give_every_size(input_shape):
    # It was told to build with include_top=False, which an MLP refuses, or to give
    # "the height and width" of a flat input.
    with pytest.raises(UsageError, match=r"^Layer 'flatten' flattens its input of open size "
                                         r"\(None, [\w, ]+\) into fully connected layers, "
                                         r"which need a fixed input size: give every size in "
                                         r"input_shape\.$"):
        recipes.build("mlp", input_shape=input_shape)


@pytest.mark.parametrize("name, arguments, remedy", [
    ("resnet20", {"classes": 1}, "use classes=2, or classifier_activation='sigmoid' or None"),
    ("lenet5", {"classes": 1}, "use classes=2, or classifier_activation='sigmoid' or None"),
    ("alphago_policy", {"input_shape": (1, 1, 48)},  # a move per point of a 1x1 board
     r"give a board of two points or more \(--image_size=2 or more on the command line, an "
     r"input_shape of two points or more in Python\), or use classifier_activation='sigmoid' "
     r"or None")])
def test_one_class_under_a_softmax_is_refused_not_always_1(name, arguments, remedy):
    # Such a network built and output 1.0 for every image, with Keras's warning at most.
    with pytest.raises(UsageError, match=rf"^{name} with one class and "
                                         r"classifier_activation='softmax' would always output "
                                         rf"1 \(a softmax over one class\); {remedy}\.$"):
        recipes.build(name, **arguments)
    model = recipes.build(name, classifier_activation="sigmoid", **arguments)
    assert model.output_shape == (None, 1)


def test_build_refuses_an_argument_the_recipes_builder_does_not_take():
    with pytest.raises(UsageError, match=r"Recipe 'lenet5_modern' takes no argument 'dropuot'; "
                                         r"its builder lenet5_modern accepts batch_norm, "
                                         r"width_multiplier\.$"):
        recipes.build("lenet5_modern", dropuot=0.5)
    # A builder with no variant argument: "its builder lenet5 accepts ." ended it.
    with pytest.raises(UsageError, match=r"Recipe 'lenet5' takes no argument 'foo'; its builder "
                                         r"lenet5 takes none but input_shape, classes, "):
        recipes.build("lenet5", foo=1)
    # A recipe's own variant is checked as it is registered, not at its first build.
    with pytest.raises(UsageError, match=r"Recipe 'vgg_bogus' takes no argument 'bogus'"):
        dataclasses.replace(recipes.get("vgg16"), name="vgg_bogus", variant={"bogus": 1})
    assert recipes.build("convnet", blocks=2, filters=(8, 16), input_shape=(8, 8, 3)).get_layer(
        "block2_conv1").filters == 16


# --- include_top=False: the network without its classifier, as keras.applications ---------

def test_a_headless_vgg16_and_resnet50_are_keras_applications_own():
    import keras

    for pooling, shape in ((None, (7, 7, 512)), ("avg", (512,)), ("max", (512,))):
        ours = recipes.build("vgg16", include_top=False, pooling=pooling)
        theirs = keras.applications.VGG16(include_top=False, weights=None, pooling=pooling,
                                          input_shape=(224, 224, 3))
        assert tuple(ours.output.shape[1:]) == tuple(theirs.output.shape[1:]) == shape
        assert ours.count_params() == theirs.count_params() == 14_714_688
    # keras.applications' ResNet50 gives every convolution a bias (conv_bias=True).
    ours = recipes.build("resnet50", include_top=False, conv_bias=True)
    theirs = keras.applications.ResNet50(include_top=False, weights=None)
    assert ours.count_params() == theirs.count_params() == 23_587_712
    assert tuple(ours.output.shape[1:]) == (7, 7, 2048)


@pytest.mark.parametrize("name, variant, last", [
    ("lenet5", {}, "c5"),  # Table I's C1 to C5: 156 + 12 + 1,516 + 32 + 48,120 parameters
    ("lenet5_modern", {"batch_norm": True}, "c5_relu"),
    ("convnet", {"blocks": 2, "filters": 16, "pool": False}, "block2_conv2"),
    ("nin", {"width_multiplier": 0.5}, "cccp5"),  # cccp6, one map per class, classifies
    ("resnet20", {}, "conv4_block3_out"),
    ("wrn28_10", {"blocks": 1, "width_multiplier": 0.2}, "post_relu"),
    ("fractalnet", {"columns": 1, "filters": (8, 8, 8, 8, 8)}, "block5_col1_pool"),
    ("googlenet", {"aux_heads": True}, "inception_5b"),
    ("alphago_policy", {"filters": 4}, "conv12"),
])
def test_a_headless_network_is_the_whole_one_up_to_its_classifier(name, variant, last):
    import keras

    whole = recipes.build(name, **variant)
    headless = recipes.build(name, include_top=False, **variant)
    assert headless.layers[-1].name == last and len(headless.outputs) == 1
    assert {layer.name for layer in headless.layers} <= {layer.name for layer in whole.layers}
    for layer in headless.layers:
        layer.set_weights(whole.get_layer(layer.name).get_weights())
    trunk = keras.Model(whole.input, whole.get_layer(last).output)
    images = np.random.default_rng(0).uniform(
        size=(2, *recipes.get(name).input_shape)).astype("float32")
    np.testing.assert_allclose(headless.predict(images, verbose=0),
                               trunk.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    # Open to any size, as keras.applications' headless models are by default.
    channels = recipes.get(name).input_shape[-1]
    open_size = recipes.build(name, include_top=False, input_shape=(None, None, channels),
                              **variant)
    open_size.set_weights(headless.get_weights())
    np.testing.assert_allclose(open_size.predict(images, verbose=0),
                               headless.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    if name == "lenet5":
        assert headless.count_params() == 49_836


def test_a_headless_network_round_trips(round_trip):
    model = recipes.build("resnet20", include_top=False, pooling="max", blocks=1)
    assert model.layers[-1].name == "max_pool"
    round_trip(model, np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype("float32"))


@pytest.mark.parametrize("name, arguments, message", [
    ("mlp", {"include_top": False}, "mlp has no feature maps before its classifier"),
    ("resnet20", {"pooling": "avg"}, "pooling='avg' applies to include_top=False"),
    ("resnet20", {"include_top": False, "pooling": "sum"},
     "pooling must be one of None, 'avg', 'max', got 'sum'"),
    ("resnet20", {"include_top": False, "classes": 5},
     "classes=5 sizes the classifier, which include_top=False leaves out"),
    ("resnet20", {"include_top": "no"}, "include_top must be True or False"),
])
def test_a_top_that_cannot_be_left_out_as_asked_is_one_sentence(name, arguments, message):
    with pytest.raises(ValueError, match=message):
        recipes.build(name, **arguments)


def test_build_refuses_an_unknown_classifier_activation():
    with pytest.raises(UsageError, match=r"classifier_activation must be None \(the model "
                                         r"returns logits\) or a Keras activation such as "
                                         r"'softmax' or 'sigmoid', got 'softmaxx'\."):
        recipes.build("lenet5_modern", classifier_activation="softmaxx")
    sigmoid = recipes.build("lenet5_modern", classifier_activation="sigmoid")
    assert sigmoid.get_layer("predictions").activation is keras.activations.sigmoid


@pytest.fixture
def channels_first():
    """Keras's image data format set to ``channels_first``, as a ``keras.json`` can."""
    keras.config.set_image_data_format("channels_first")
    yield
    keras.config.set_image_data_format("channels_last")


@pytest.mark.parametrize("name, params, outputs", [("alphago_policy", 3_882_793, 361),
                                                   ("nin", 966_986, 10),
                                                   ("resnet20", 271_098, 10)])
def test_recipes_build_channels_last_whatever_keras_json_says(name, params, outputs,
                                                              channels_first):
    # Under channels_first AlphaGo's Flatten read its 19x19x1 map as 1 row of 19x19: 912
    # outputs; NiN built other convolutions; ResNet-20's shortcut failed to add.
    model = recipes.build(name)
    assert (model.count_params(), model.output_shape[-1]) == (params, outputs)
    assert keras.config.image_data_format() == "channels_first"  # the setting is left as found


def test_the_readme_tool_says_in_one_line_that_it_cannot_read_the_file(tmp_path, capsys):
    from recipes import readme

    with pytest.raises(SystemExit) as ended:
        readme.main([str(tmp_path / "missing.md")])
    assert ended.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m recipes.readme: error: {tmp_path / 'missing.md'}: No such file or "
        "directory.\n")
