"""The ResNet family against its papers' tables: He et al. 2016 (Table 1, Sec. 4.2,
Table 6), Huang et al. 2016, Zagoruyko & Komodakis 2016 and Xie et al. 2017."""

from __future__ import annotations

import gc
import math

import keras
import numpy as np
import pytest

import recipes
from layers import StochasticDepth, ZeroPadShortcut

# Learnable parameters (weights, biases, batch-norm gamma and beta; not the moving
# statistics), as torchvision counts them.  Table 1 of He et al. gives the layouts and
# FLOPs, not parameters; these totals are torchvision's (and keras.applications' without
# their convolution biases), 25.5M for ResNet-50 in Xie et al.'s Table 1.
IMAGENET_PARAMETERS = {"resnet18": 11_689_512, "resnet34": 21_797_672,
                       "resnet50": 25_557_032, "resnet101": 44_549_160,
                       "resnet152": 60_192_808}
IMAGENET_MILLIONS = {"resnet18": 11.7, "resnet34": 21.8, "resnet50": 25.6, "resnet101": 44.5,
                     "resnet152": 60.2}
# He et al., Table 6: CIFAR-10 ResNets with option A shortcuts.
CIFAR_PARAMETERS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962,
                    1202: 19_421_274}
TABLE_6_MILLIONS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}
# Table 1's output size of each stage of the 50-layer network.
RESNET50_SHAPES = {"conv1_relu": (112, 112, 64), "pool1_pool": (56, 56, 64),
                   "conv2_block3_out": (56, 56, 256), "conv3_block4_out": (28, 28, 512),
                   "conv4_block6_out": (14, 14, 1024), "conv5_block3_out": (7, 7, 2048),
                   "avg_pool": (2048,), "predictions": (1000,)}
KERAS_RESNET50_PARAMETERS = 25_636_712


def learnable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def millions(count, digits):
    return round(count / 1e6, digits)


def weight_layers_on_the_main_path(model):
    """Convolutions and fc layers, not counting projection shortcuts: the "N-layer" of a ResNet."""
    return sum(1 for layer in model.layers
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
               and not layer.name.endswith("_0_conv"))


def layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def random(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.fixture(scope="module")
def resnet50():
    model = recipes.build("resnet50")
    yield model
    del model
    gc.collect()


@pytest.mark.parametrize("name", sorted(IMAGENET_PARAMETERS))
def test_imagenet_resnets_match_table_1(name):
    model = recipes.build(name)
    assert learnable(model) == IMAGENET_PARAMETERS[name]
    assert millions(learnable(model), 1) == IMAGENET_MILLIONS[name]
    assert weight_layers_on_the_main_path(model) == int(name.removeprefix("resnet"))
    assert tuple(model.output.shape) == (None, 1000)


@pytest.mark.parametrize("depth", [18, 34])
def test_option_a_gives_table_2s_residual_nets_their_plain_twins_parameters(depth):
    # Sec. 4.1: Table 2's ResNets use identity shortcuts with zero-padding (option A), "so
    # they have no extra parameter compared to the plain counterparts"; the recipe's
    # default is option B (Table 3's ResNet-34 B), which its description says.
    with keras.StatelessScope():
        option_a = learnable(recipes.build(f"resnet{depth}", shortcut="A"))
        plain = learnable(recipes.build(f"plain{depth}"))
    assert option_a == plain < IMAGENET_PARAMETERS[f"resnet{depth}"]
    assert "option B" in recipes.get(f"resnet{depth}").description
    assert "bottleneck" not in recipes.get(f"resnet{depth}").description


def test_resnet50_stage_shapes(resnet50):
    for layer_name, shape in RESNET50_SHAPES.items():
        assert tuple(resnet50.get_layer(layer_name).output.shape[1:]) == shape, layer_name


def test_resnet50_v1_strides_the_first_1x1_and_has_projection_shortcuts(resnet50):
    for stage in (3, 4, 5):
        assert resnet50.get_layer(f"conv{stage}_block1_1_conv").strides == (2, 2)
        assert resnet50.get_layer(f"conv{stage}_block1_2_conv").strides == (1, 1)
    # Option B: a projection in the first block of every stage, identities elsewhere.
    projections = sorted(layer.name for layer in resnet50.layers if layer.name.endswith("_0_conv"))
    assert projections == [f"conv{stage}_block1_0_conv" for stage in (2, 3, 4, 5)]
    assert not any(layer.use_bias for layer in layers_of(resnet50, keras.layers.Conv2D))


def test_resnet50_v1_5_strides_the_3x3():
    model = recipes.build("resnet50_v1_5")
    for stage in (3, 4, 5):
        assert model.get_layer(f"conv{stage}_block1_1_conv").strides == (1, 1)
        assert model.get_layer(f"conv{stage}_block1_2_conv").strides == (2, 2)
    assert learnable(model) == IMAGENET_PARAMETERS["resnet50"]
    assert tuple(model.get_layer("conv5_block3_out").output.shape[1:]) == (7, 7, 2048)


def test_resnet18_stage_shapes():
    model = recipes.build("resnet18")
    for stage, shape in zip((2, 3, 4, 5), [(56, 56, 64), (28, 28, 128), (14, 14, 256),
                                           (7, 7, 512)]):
        assert tuple(model.get_layer(f"conv{stage}_block2_out").output.shape[1:]) == shape


def test_resnet50_is_keras_applications_resnet50_with_conv_biases():
    """With biases in its convolutions resnet50 is keras.applications.ResNet50: same
    parameter count, and the same logits once the weights are copied across by name."""
    reference = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3),
                                            classifier_activation=None)
    model = recipes.build("resnet50", conv_bias=True, input_shape=(64, 64, 3),
                          classifier_activation=None)
    assert model.count_params() == reference.count_params() == KERAS_RESNET50_PARAMETERS
    rng = np.random.default_rng(1)
    for layer in reference.layers:
        if not layer.weights:
            continue
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):  # make every BN non-trivial
            weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in weights]
            layer.set_weights(weights)
        target = "logits" if layer.name == "predictions" else layer.name
        model.get_layer(target).set_weights(weights)
    x = random(2, 64, 64, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)),
                               keras.ops.convert_to_numpy(reference(x)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("depth", [18, 34])
def test_plain_imagenet_networks_have_no_shortcuts(depth):
    model = recipes.build(f"plain{depth}")
    assert not layers_of(model, keras.layers.Add)
    # ResNet-depth minus its three projection shortcuts (1x1 conv + BN each).
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in [(64, 128), (128, 256),
                                                                    (256, 512)])
    assert learnable(model) == IMAGENET_PARAMETERS[f"resnet{depth}"] - projections
    assert weight_layers_on_the_main_path(model) == depth


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_resnets_match_table_6(depth):
    model = recipes.build(f"resnet{depth}")
    assert learnable(model) == CIFAR_PARAMETERS[depth]
    assert millions(learnable(model), 2 if depth < 100 else 1) == TABLE_6_MILLIONS[depth]
    assert weight_layers_on_the_main_path(model) == depth  # 6n + 2
    # Option A: parameter-free shortcuts where 16 -> 32 and 32 -> 64 maps.
    assert len(layers_of(model, ZeroPadShortcut)) == 2
    assert not any(layer.kernel.shape[0] == 1 for layer in layers_of(model, keras.layers.Conv2D))
    n = (depth - 2) // 6
    for stage, shape in zip((2, 3, 4), [(32, 32, 16), (16, 16, 32), (8, 8, 64)]):
        assert tuple(model.get_layer(f"conv{stage}_block{n}_out").output.shape[1:]) == shape


@pytest.mark.slow
def test_resnet1202_matches_table_6():
    with keras.StatelessScope():  # shapes only: no initial values for its 19.4M weights
        model = recipes.build("resnet1202")
    assert learnable(model) == CIFAR_PARAMETERS[1202]
    assert millions(learnable(model), 1) == TABLE_6_MILLIONS[1202]


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_plain_networks_have_the_parameters_of_their_resnets(depth):
    """Option A adds no parameters, so plain-N and ResNet-N have the same count (Sec. 4.2)."""
    model = recipes.build(f"plain{depth}")
    assert learnable(model) == CIFAR_PARAMETERS[depth]
    assert not layers_of(model, keras.layers.Add)


def test_resnet20_forward_pass_and_round_trip(round_trip):
    model = recipes.build("resnet20")
    x = random(2, 32, 32, 3)
    probabilities = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1, rtol=1e-5)
    round_trip(model, x, atol=1e-5)


def test_classes_and_logits_can_be_chosen():
    model = recipes.build("resnet20", classes=100, classifier_activation=None)
    assert tuple(model.output.shape) == (None, 100)
    assert model.get_layer("predictions").activation.__name__ == "linear"


def test_resnet110_sd_decays_survival_linearly_to_one_half():
    """Huang et al., Fig. 2: p_l = 1 - l/L (1 - p_L) with p_L = 0.5 over L = 54 blocks."""
    model = recipes.build("resnet110_sd")
    drops = layers_of(model, StochasticDepth)
    assert len(drops) == 54
    np.testing.assert_allclose([layer.survival_probability for layer in drops],
                               [1 - l / 54 * 0.5 for l in range(1, 55)])
    assert drops[-1].name == "conv4_block18_drop" and drops[-1].survival_probability == 0.5
    assert learnable(model) == CIFAR_PARAMETERS[110]
    x = random(2, 32, 32, 3)
    inference = [keras.ops.convert_to_numpy(model(x)) for _ in range(2)]
    np.testing.assert_array_equal(*inference)
    training = [keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(2)]
    assert not np.allclose(*training)


def test_wrn28_10_matches_the_paper():
    """Zagoruyko & Komodakis: WRN-28-10 has 36.5M parameters, N = (28 - 4)/6 = 4 blocks
    per stage of widths 16k, 32k, 64k with k = 10."""
    model = recipes.build("wrn28_10")
    assert learnable(model) == 36_479_194
    assert millions(learnable(model), 1) == 36.5
    assert len(layers_of(model, keras.layers.Add)) == 3 * 4
    for stage, shape in zip((2, 3, 4), [(32, 32, 160), (16, 16, 320), (8, 8, 640)]):
        assert tuple(model.get_layer(f"conv{stage}_block4_add").output.shape[1:]) == shape
    assert not layers_of(model, keras.layers.Dropout)
    dropout = recipes.build("wrn28_10_dropout")
    assert [layer.rate for layer in layers_of(dropout, keras.layers.Dropout)] == [0.3] * 12
    assert learnable(dropout) == learnable(model)


def test_resnext50_32x4d_matches_table_1():
    """Xie et al., Table 1: 25.0 x 10^6 parameters, 3x3 layers of 32 groups of 4 channels."""
    model = recipes.build("resnext50_32x4d")
    assert learnable(model) == 25_028_904
    assert millions(learnable(model), 1) == 25.0
    assert model.get_layer("conv2_block1_2_conv").kernel.shape == (3, 3, 4, 128)
    assert model.get_layer("conv5_block1_2_conv").kernel.shape == (3, 3, 32, 1024)
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert tuple(model.get_layer("conv5_block3_out").output.shape[1:]) == (7, 7, 2048)


@pytest.mark.parametrize("name, fan", [
    # Torch's MSRinit and fb.resnet.torch's ConvInit: N(0, 2/n), n = kW * kH * nOutputPlane
    ("wrn28_10", "fan_out"), ("wrn28_10_dropout", "fan_out"),
    ("resnext29_8x64d", "fan_out"), ("resnext50_32x4d", "fan_out"),
    # He et al.'s Caffe "msra" filler and Huang et al.'s nninit.kaiming: the inputs
    ("resnet50", "fan_in"), ("resnet20", "fan_in"), ("resnet110_sd", "fan_in"),
])
def test_each_residual_recipe_initializes_as_its_authors_code(name, fan):
    model = recipes.build(name)
    convolutions = [layer for layer in model.layers if layer.name.endswith("_conv")]
    assert {layer.kernel_initializer.get_config()["mode"] for layer in convolutions} == {fan}
    # The widest grouped (or plain) 3x3 of the first stage, drawn at the fan's deviation:
    # ResNeXt-50's (3, 3, 4, 128) in 32 groups is N(0, 2/1152), not N(0, 2/36).
    kernel = model.get_layer("conv2_block1_2_conv").kernel.numpy()
    height, width, inputs, outputs = kernel.shape
    n = height * width * (outputs if fan == "fan_out" else inputs)
    assert kernel.std() == pytest.approx(np.sqrt(2 / n), rel=0.05)


@pytest.mark.parametrize("name, momentum", [
    # Torch's nn.SpatialBatchNormalization updates by 0.1 of the batch: 0.9 of the old value
    ("wrn28_10", 0.9), ("wrn28_10_dropout", 0.9), ("resnext29_8x64d", 0.9),
    ("resnext50_32x4d", 0.9), ("resnet110_sd", 0.9),
    # He et al.'s Caffe averages (normalized by their weights) have no Keras equivalent
    ("resnet50", 0.99), ("resnet20", 0.99), ("plain20", 0.99), ("resnet50_v1_5", 0.99),
])
def test_each_residual_recipe_averages_its_batch_statistics_as_its_authors_code(name, momentum):
    model = recipes.build(name)
    normalizations = layers_of(model, keras.layers.BatchNormalization)
    assert normalizations and {layer.momentum for layer in normalizations} == {momentum}


def test_bn_momentum_must_be_below_one():
    with pytest.raises(ValueError, match=r"bn_momentum must be in \[0, 1\), got 1"):
        recipes.build("resnet20", bn_momentum=1)


def test_he_fan_must_be_fan_in_or_fan_out():
    with pytest.raises(ValueError, match="he_fan must be one of"):
        recipes.build("resnet20", he_fan="fan_avg")


def test_resnext29_8x64d_matches_table_7():
    model = recipes.build("resnext29_8x64d")
    assert learnable(model) == 34_426_698
    assert millions(learnable(model), 1) == 34.4
    assert weight_layers_on_the_main_path(model) == 29
    assert model.get_layer("conv2_block1_2_conv").kernel.shape == (3, 3, 64, 512)
    assert tuple(model.get_layer("conv4_block3_out").output.shape[1:]) == (8, 8, 1024)


def test_training_configurations():
    imagenet = recipes.get("resnet50").training
    assert (imagenet.optimizer, imagenet.learning_rate, imagenet.momentum, imagenet.batch_size,
            imagenet.weight_decay, imagenet.schedule) == (
        "momentum", 0.1, 0.9, 256, 1e-4, "plateau")
    # Sec. 3.4: shorter side in [256, 480] (not VGG's [256, 512]), per-pixel mean subtracted.
    assert (imagenet.augmentation, imagenet.normalization) == ("resnet", "mean_image")
    assert imagenet.epochs == 120  # 60e4 iterations of 256 images
    cifar = recipes.get("resnet110").training
    # 32k, 48k and 64k iterations of 128 images over the 45k training images, 352 an
    # epoch (the last batch partial): the first drop at epoch 91 (0-based), iteration
    # 32,032 (at 91.02 epochs of 351.6 it came at 92, iteration 32,384).
    np.testing.assert_allclose(cifar.decay_epochs, [90.91, 136.36], atol=0.01)
    assert [math.ceil(epoch) * 352 for epoch in cifar.decay_epochs] == [32_032, 48_224]
    assert (cifar.epochs, cifar.learning_rate, cifar.weight_decay, cifar.batch_size,
            cifar.augmentation, cifar.normalization) == (
        182, 0.1, 1e-4, 128, "cifar", "mean_image")
    # Sec. 4.2: a constant 0.01 for about 400 iterations (1.14 epochs of 45k images).
    assert cifar.warmup_learning_rate == 0.01
    assert cifar.warmup_epochs * math.ceil(45_000 / 128) == pytest.approx(400)
    assert "400 iterations" in recipes.get("resnet110").description
    stochastic = recipes.get("resnet110_sd").training
    # Huang et al.'s code: Nesterov momentum 0.9, 500 epochs, drops at 250 and 375, the
    # per-pixel mean subtracted (cifar-dataset.lua).
    assert (stochastic.optimizer, stochastic.momentum, stochastic.epochs,
            stochastic.decay_epochs, stochastic.normalization) == (
        "nesterov", 0.9, 500, (250, 375), "mean_image")
    wide = recipes.get("wrn28_10").training
    # Zagoruyko and Komodakis, Sec. 4: Nesterov momentum 0.9, batch 128, 200 epochs.
    assert (wide.optimizer, wide.momentum, wide.batch_size, wide.epochs) == (
        "nesterov", 0.9, 128, 200)
    assert (wide.weight_decay, wide.decay_factor, wide.decay_epochs) == (5e-4, 0.2,
                                                                         (60, 120, 160))
    # Zagoruyko and Komodakis, Sec. 4: crops of the reflection-padded image; all 50,000
    # training images (their code), as ResNeXt's "50k training set" (Xie et al., Sec. 5.3),
    # where He et al. chose on a 45k/5k split and Huang et al. hold 5,000 images out.
    assert wide.augmentation == "cifar_reflect"
    assert wide.validation_fraction == recipes.get("resnext29_8x64d").training \
        .validation_fraction == 0
    assert cifar.validation_fraction == stochastic.validation_fraction == 0.1
    assert recipes.get("wrn28_10_dropout").training == wide
    # Xie et al., Sec. 4 (ImageNet) and 5.3 (CIFAR), with the authors' fb.resnet.torch code.
    fields = ("optimizer", "learning_rate", "momentum", "weight_decay", "batch_size", "epochs",
              "decay_factor", "decay_epochs", "augmentation")
    imagenet_next = recipes.get("resnext50_32x4d").training
    assert tuple(getattr(imagenet_next, field) for field in fields) == (
        "nesterov", 0.1, 0.9, 1e-4, 256, 100, 0.1, (30, 60, 90), "fb_resnet")
    cifar_next = recipes.get("resnext29_8x64d").training
    assert tuple(getattr(cifar_next, field) for field in fields) == (
        "nesterov", 0.1, 0.9, 5e-4, 128, 300, 0.1, (150, 225), "cifar")
    # The Torch code of wide ResNets, ResNeXt and stochastic depth decays every parameter
    # (optim.sgd over the flattened vector); He et al.'s papers say "weight decay" only.
    for configuration in (wide, stochastic, imagenet_next, cifar_next):
        assert configuration.weight_decay_scope == "all"
    assert imagenet.weight_decay_scope == cifar.weight_decay_scope == "kernels"


@pytest.mark.parametrize("variant, message", [
    (dict(shortcut="D"), "shortcut must be one of"),
    (dict(stride_on="5x5"), "stride_on must be one of"),
    (dict(block="dense"), "block must be one of"),
    (dict(blocks=(3, 4)), "one positive entry per stage"),
    (dict(blocks=(3, 4, 6.5, 3)), r"one positive entry per stage, got blocks=\(3, 4, 6.5, 3\)"),
    (dict(blocks="3463"), r"one positive entry per stage, got blocks='3463'"),
    (dict(blocks=2.0), r"one positive entry per stage, got blocks=2.0"),
    (dict(filters=(256, "512", 1024, 2048)), r"one positive entry per stage, got .*'512'"),
    (dict(dropout=0.3), "preact"),
    (dict(final_survival_probability=0.0), "final_survival_probability"),
    # The widths given were rounded to a multiple of groups (64 to 63 at groups=3).
    (dict(groups=3), r"multiple of groups .*got width=64 and groups=3"),
])
def test_bad_variants_raise(variant, message):
    with pytest.raises(ValueError, match=message):
        recipes.build("resnet50", **variant)


def test_a_width_multiplier_rounds_widths_to_a_multiple_of_groups():
    half = recipes.build("resnext50_32x4d", width_multiplier=0.5, input_shape=(64, 64, 3))
    assert half.get_layer("conv2_block1_2_conv").filters == 64  # 128 / 2, 32 groups of 2
    third = recipes.build("resnext50_32x4d", width_multiplier=0.3, input_shape=(64, 64, 3))
    assert third.get_layer("conv2_block1_2_conv").filters == 32  # 38.4, to a multiple of 32
    keras.backend.clear_session()


def test_one_numpy_block_count_builds_what_pythons_does():
    # The search's n as a NumPy integer was "one positive entry per stage, got blocks=3".
    assert recipes.build("resnet20", blocks=np.int64(3)).get_config() == \
        recipes.build("resnet20", blocks=3).get_config()


def test_every_family_name_is_registered():
    expected = ({f"resnet{d}" for d in (18, 34, 50, 101, 152, 20, 32, 44, 56, 110, 1202)}
                | {f"plain{d}" for d in (18, 34, 20, 32, 44, 56, 110)}
                | {"resnet50_v1_5", "resnet110_sd", "wrn28_10", "wrn28_10_dropout",
                   "resnext50_32x4d", "resnext29_8x64d"})
    assert expected <= set(recipes.names())


@pytest.mark.parametrize("recipe, arguments, message", [
    ("wrn28_10", dict(final_survival_probability=0.5),
     r"final_survival_probability is read by 'basic' and 'bottleneck' blocks only, got "
     r"final_survival_probability=0.5 with block='preact'\."),
    ("wrn28_10", dict(conv_bias=True), r"conv_bias is read by 'basic' and 'bottleneck' "),
    ("resnet20", dict(groups=4), r"groups is read by 'bottleneck' blocks only, got groups=4 "
                                 r"with block='basic'\."),
    ("resnet20", dict(widths=(8, 8, 8)), r"widths is read by 'bottleneck' blocks only"),
    ("resnet20", dict(stride_on="3x3"), r"stride_on is read by 'bottleneck' blocks only"),
])
def test_an_argument_the_block_does_not_read_is_refused(recipe, arguments, message):
    with pytest.raises(ValueError, match=message):
        recipes.build(recipe, **arguments)


@pytest.mark.parametrize("stem_filters", [0, 2.5])
def test_stem_filters_must_be_a_positive_integer(stem_filters):
    # Keras answered of "filters", or of groups ("evenly divisible ... groups=1").
    with pytest.raises(ValueError, match=rf"^stem_filters must be a positive integer, got "
                                         rf"{stem_filters!r}\.$"):
        recipes.build("resnet20", stem_filters=stem_filters)
