"""--transfer=vgg_shallow: a deeper VGG net starts from a trained net A (Simonyan and
Zisserman, section 3.1), checked on a small input; what the other modes copy and train."""

import keras
import numpy as np
import pytest

import recipes
from engine.build import build
from engine.spec import resolve
from layers import UsageError
from recipes import TrainingConfig

SMALL = dict(input_shape=(32, 32, 3), classes=10)
NET_A_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv3_2", "fc6", "fc7", "logits")


@pytest.fixture(scope="module")
def net_a(tmp_path_factory):
    """A "trained" net A at 32x32 with 10 classes, saved as a run would save it."""
    keras.utils.set_random_seed(1)
    model = recipes.build("vgg_a", **SMALL)
    for weight in model.weights:  # far from any fresh initialization
        weight.assign(np.full(weight.shape, 0.003, "float32"))
    path = tmp_path_factory.mktemp("net_a") / "model.keras"
    model.save(path)
    keras.backend.clear_session()
    return path


def weights_of(layer):
    return [keras.ops.convert_to_numpy(weight) for weight in layer.weights]


def test_deeper_nets_take_net_as_first_four_convs_and_three_fc_layers(net_a):
    keras.utils.set_random_seed(2)
    built = build("vgg_d", SMALL["classes"], SMALL["input_shape"], TrainingConfig(),
                  init_from=str(net_a), transfer_mode="vgg_shallow")
    model, source = built.model, keras.saving.load_model(net_a, safe_mode=True)
    for name in NET_A_LAYERS:
        for ours, theirs in zip(weights_of(model.get_layer(name)),
                                weights_of(source.get_layer(name)), strict=True):
            np.testing.assert_array_equal(ours, theirs)
    # The intermediate layers are random, from the paper's N(0, 0.01) with zero biases.
    for name in ("conv1_2", "conv2_2", "conv3_3", "conv4_1", "conv5_3"):
        kernel, bias = weights_of(model.get_layer(name))
        assert abs(kernel.std() - 0.01) < 1e-3 and not bias.any(), name
    # "We did not decrease the learning rate for the pre-initialised layers".
    assert built.slow_layers == ()
    keras.backend.clear_session()


def test_vgg_shallow_refuses_what_is_not_a_deeper_vgg_from_net_a(net_a, tmp_path):
    with pytest.raises(UsageError, match="--recipe=resnet20 is not a VGG recipe"):
        resolve("resnet20", recipes.get("resnet20").training, model_dir=str(tmp_path),
                init_from=str(net_a), transfer="vgg_shallow")
    deeper = tmp_path / "vgg_b.keras"
    recipes.build("vgg_b", **SMALL).save(deeper)
    with pytest.raises(UsageError, match="starts from a trained VGG net A .8 convolutional "
                                         "layers.; 'vgg_b' has 10"):
        build("vgg_d", 10, SMALL["input_shape"], TrainingConfig(), init_from=str(deeper),
              transfer_mode="vgg_shallow")
    # Eight convolutions but not net A's names: a traceback ("No such layer: conv1_1").
    eight = tmp_path / "convnet.keras"
    recipes.build("convnet", blocks=4, convs_per_block=2, filters=8, **SMALL).save(eight)
    with pytest.raises(UsageError, match=r"starts from a trained VGG net A \(vgg_a, vgg_a_lrn "
                                         r"or vgg11\), whose layers it copies by name; "
                                         r"'convnet' has no layer conv1_1, conv2_1, conv3_1, "
                                         r"conv3_2, fc6, fc7\.$"):
        build("vgg_d", 10, SMALL["input_shape"], TrainingConfig(), init_from=str(eight),
              transfer_mode="vgg_shallow")
    with pytest.raises(UsageError, match="Layer 'logits' of net A has weights of shapes"):
        build("vgg_d", 4, SMALL["input_shape"], TrainingConfig(), init_from=str(net_a),
              transfer_mode="vgg_shallow")
    keras.backend.clear_session()


def test_a_pretrained_model_of_another_width_is_refused_naming_a_layer():
    from engine.transfer import copy_pretrained_weights

    narrow = recipes.build("lenet5_modern", width_multiplier=0.5)
    with pytest.raises(UsageError, match=r"differ in shape, 'c1' \(5, 5, 1, 3\) against "
                                         r"\(5, 5, 1, 6\): another variant"):
        copy_pretrained_weights(narrow, recipes.build("lenet5_modern"))
    # Batch normalization's variant: the same kernels, no biases. The sentence read
    # "'c1' (5, 5, 1, 6) against (5, 5, 1, 6)".
    normalized = recipes.build("lenet5_modern", batch_norm=True)
    with pytest.raises(UsageError, match=r"differ in shape, 'c1' \[\(5, 5, 1, 6\)\] against "
                                         r"\[\(5, 5, 1, 6\), \(6,\)\]: another variant"):
        copy_pretrained_weights(normalized, recipes.build("lenet5_modern"))


def test_a_feature_extractor_trains_the_layers_it_could_not_copy(tmp_path, caplog):
    # At 40x40 LeNet's F6 reads 3x3 maps of C5 where the pretrained one read 1x1: its
    # weights cannot be copied, and frozen at their random start they would only blur.
    keras.utils.set_random_seed(0)
    pretrained = tmp_path / "lenet.keras"
    recipes.build("lenet5_modern").save(pretrained)
    with caplog.at_level("WARNING"):
        built = build("lenet5_modern", 10, (40, 40, 1), TrainingConfig(),
                      init_from=str(pretrained), transfer_mode="feature_extractor")
    assert "Not copied from the pretrained model, its weights differing in shape (there " \
           "against here): 'f6' (120, 84) against (1080, 84)" in caplog.text
    trainable = {layer.name for layer in built.model.layers if layer.trainable_weights}
    assert trainable == {"f6", "logits"}  # c1, c3 and c5 copied and frozen
    keras.backend.clear_session()


def test_layers_the_pretrained_model_lacks_or_holds_without_weights_are_named(caplog):
    # LeNet-5's s2 subsamples with weights where lenet5_modern's pools: an IndexError;
    # the layers of a deeper ResNet that a shallower one lacks started untold.
    from engine.transfer import copy_pretrained_weights

    with caplog.at_level("WARNING"):
        copied = copy_pretrained_weights(recipes.build("lenet5_modern"),
                                         recipes.build("lenet5"), recipes.get("lenet5").head)
    assert {layer.name for layer in copied} == {"c1", "c5"}
    assert "'s2' no weights against (6,)" in caplog.text and "'c3'" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        copy_pretrained_weights(recipes.build("resnet20"), recipes.build("resnet32"))
    assert ("Not copied from the pretrained model, which has no layer of that name: "
            "'conv2_block4_1_conv', 'conv2_block4_1_bn'") in caplog.text
    caplog.clear()
    # The other way, a deeper variant (a search's) cut down to the recipe's default without
    # a word: its blocks 4 and 5 of every stage left out, those around them copied.
    with caplog.at_level("WARNING"):
        copied = copy_pretrained_weights(recipes.build("resnet32"), recipes.build("resnet20"))
    assert "conv4_block3_2_bn" in {layer.name for layer in copied}
    assert "'conv2_block5_2_bn' and 16 more (another variant's" in caplog.text  # 24, 8 named
    assert ("Left out of this network, which has no layer of that name: the pretrained "
            "model's 'conv2_block4_1_conv', 'conv2_block4_1_bn'") in caplog.text
    assert "'logits'" not in caplog.text
    keras.backend.clear_session()


def test_a_pretrained_network_of_another_recipe_is_refused_before_any_work(tmp_path):
    from engine import rundir
    from engine.transfer import check_source_recipe

    recipes.build("resnet20").save(tmp_path / "resnet20.keras")
    with pytest.raises(UsageError, match=r"holds a resnet20 network, and transfer copies the "
                                         r"layers of the same recipe; pass --recipe=resnet20, "
                                         r"or the --init_from of a resnet32 run\.$"):
        check_source_recipe(str(tmp_path / "resnet20.keras"), "resnet32", "finetune")
    check_source_recipe(str(tmp_path / "resnet20.keras"), "resnet20", "finetune")
    (tmp_path / "run").mkdir()
    rundir.write_json(str(tmp_path / "run" / "run.json"), {"recipe": "lenet5_modern"})
    with pytest.raises(UsageError, match="holds a lenet5_modern network"):
        check_source_recipe(str(tmp_path / "run"), "lenet5", "feature_extractor")
    # A model of no recipe's name is matched layer by layer; vgg_shallow starts a deeper net.
    recipes.build("resnet20", name="my_net").save(tmp_path / "mine.keras")
    check_source_recipe(str(tmp_path / "mine.keras"), "resnet32", "finetune")
    recipes.build("vgg_a", **SMALL).save(tmp_path / "vgg_a.keras")
    check_source_recipe(str(tmp_path / "vgg_a.keras"), "vgg_d", "vgg_shallow")
    keras.backend.clear_session()
