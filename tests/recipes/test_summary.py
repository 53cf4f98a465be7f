"""recipes.summarize: the lecture's VGG-16 table, the papers' multiply-adds, receptive fields."""

import math

import keras
import pytest

import layers
import recipes
from recipes.summary import format_count, format_summary, summarize, totals

# The lecture's VGG-16 walk-through (CS231n, "CNN architectures"): name, output
# shape, memory as printed, weights without biases ("params: ... (not counting biases)").
LECTURE_VGG16 = (
    ("input", (224, 224, 3), "150K", 0),
    ("conv1_1", (224, 224, 64), "3.2M", 1_728),
    ("conv1_2", (224, 224, 64), "3.2M", 36_864),
    ("pool1", (112, 112, 64), "800K", 0),
    ("conv2_1", (112, 112, 128), "1.6M", 73_728),
    ("conv2_2", (112, 112, 128), "1.6M", 147_456),
    ("pool2", (56, 56, 128), "400K", 0),
    ("conv3_1", (56, 56, 256), "800K", 294_912),
    ("conv3_2", (56, 56, 256), "800K", 589_824),
    ("conv3_3", (56, 56, 256), "800K", 589_824),
    ("pool3", (28, 28, 256), "200K", 0),
    ("conv4_1", (28, 28, 512), "400K", 1_179_648),
    ("conv4_2", (28, 28, 512), "400K", 2_359_296),
    ("conv4_3", (28, 28, 512), "400K", 2_359_296),
    ("pool4", (14, 14, 512), "100K", 0),
    ("conv5_1", (14, 14, 512), "100K", 2_359_296),
    ("conv5_2", (14, 14, 512), "100K", 2_359_296),
    ("conv5_3", (14, 14, 512), "100K", 2_359_296),
    ("pool5", (7, 7, 512), "25K", 0),
    ("fc6", (4096,), "4096", 102_760_448),
    ("fc7", (4096,), "4096", 16_777_216),
    ("logits", (1000,), "1000", 4_096_000),
)
# The lecture's rows add up to 15,237,608 activations (61 MB at 4 bytes), although its
# "TOTAL memory" line says 24M (~93 MB): the rows, not that line, are what we pin.
LECTURE_VGG16_ACTIVATIONS = 15_237_608

# He et al. 2016, Table 1, "FLOPs" (multiply-adds) of the v1 networks, x 10^9.
RESNET_GMACS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 3.8, "resnet101": 7.6,
                "resnet152": 11.3}


@pytest.fixture(scope="module")
def vgg16():
    model = recipes.build("vgg16")
    return model, {row["name"]: row for row in summarize(model)}


def rows_by_name(model):
    return {row["name"]: row for row in summarize(model)}


def test_vgg16_rows_are_the_lecture_table(vgg16):
    model, rows = vgg16
    for name, shape, memory, weights in LECTURE_VGG16:
        row = rows[name]
        assert row["output_shape"] == shape, name
        assert format_count(row["activations"]) == memory, name
        biases = shape[-1] if weights else 0
        assert row["params"] - biases == weights, name


def test_vgg16_totals_match_the_lecture_and_the_papers(vgg16):
    model, rows = vgg16
    total = totals(list(rows.values()))
    assert total["params"] == model.count_params() == 138_357_544  # Table 2: 138M
    assert round(total["macs"] / 1e9, 1) == 15.5
    # Flatten, dropout and the softmax store no new tensor: the total is the lecture's rows.
    assert total["activations"] == LECTURE_VGG16_ACTIVATIONS
    assert total["memory_mb"] == pytest.approx(60.95, abs=0.01)


def test_vgg16_conv_layers_match_eyeriss(vgg16):
    # Chen, Krishna, Emer and Sze, "Eyeriss", ISSCC 2016: VGG-16's convolutions have
    # 14.7 million weights and need 15.3 billion MACs per 224x224 image.
    _, rows = vgg16
    convs = [row for row in rows.values() if row["type"] == "Conv2D"]
    assert len(convs) == 13
    assert round(sum(row["params"] for row in convs) / 1e6, 1) == 14.7
    assert round(sum(row["macs"] for row in convs) / 1e9, 1) == 15.3


def test_vgg16_receptive_fields(vgg16):
    _, rows = vgg16
    assert rows["input"]["receptive_field"] == (1, 1)
    assert rows["conv1_2"]["receptive_field"] == (5, 5)  # two stacked 3x3 see 5x5
    # Three stacked 3x3 convolutions at stride 1 see 7x7; at conv3 the grid is 4 pixels
    # apart, so each widens the field by 2 * 4.
    assert [rows[f"conv3_{i}"]["receptive_field"][0] for i in (1, 2, 3)] == [24, 32, 40]
    assert rows["conv5_3"]["receptive_field"] == (196, 196)
    assert rows["pool5"]["receptive_field"] == (212, 212)
    assert rows["fc6"]["receptive_field"] is None  # every unit sees the whole image
    stages = [[(3, 1)] * count + [(2, 2)] for count in (2, 2, 3, 3)] + [[(3, 1)] * 3]
    assert layers.receptive_field(sum(stages, [])) == 196


def test_format_summary_writes_the_lecture_rows_and_totals(vgg16):
    model, rows = vgg16
    text = format_summary(model, list(rows.values()))
    conv1_1 = next(line for line in text.splitlines() if line.startswith("conv1_1 "))
    assert "[224x224x64]" in conv1_1 and "3.2M" in conv1_1 and "1,792" in conv1_1
    assert "TOTAL memory: 15.2M * 4 bytes ~= 60.95 MB / image" in text
    assert "TOTAL params: 138,357,544 (138.4M) parameters" in text
    assert "TOTAL MACs: 15.47G multiply-adds / image (15,470,264,320)" in text


@pytest.mark.parametrize("count, text", [
    (150_528, "150K"), (3_211_264, "3.2M"), (802_816, "800K"), (25_088, "25K"),
    (4_096, "4096"), (0, "0"), (15_470_264_320, "15G"),
    (999_500, "1M"), (999_600_000, "1G"),  # rounded before the suffix is chosen
])
def test_format_count_writes_the_lectures_memory_column(count, text):
    assert format_count(count) == text


@pytest.mark.parametrize("name", sorted(RESNET_GMACS))
def test_resnet_v1_multiply_adds_match_table_1(name):
    macs = totals(summarize(recipes.build(name)))["macs"] / 1e9
    # Table 1 gives one decimal, sometimes rounded (7.57 -> 7.6), sometimes cut (3.66 -> 3.6).
    assert abs(macs - RESNET_GMACS[name]) < 0.07, macs
    keras.backend.clear_session()


def test_resnet50_v1_5_costs_more_than_v1():
    # Striding the 3x3 instead of the first 1x1 runs three 3x3 convolutions at twice the
    # resolution: torchvision's ResNet-50 is listed at 4.09 GFLOPS (multiply-adds).
    macs = totals(summarize(recipes.build("resnet50_v1_5")))["macs"]
    assert round(macs / 1e9, 2) == 4.09
    keras.backend.clear_session()


def test_alexnet_grouped_matches_eyeriss_and_the_single_tower_costs_more():
    # Eyeriss (ISSCC 2016): AlexNet's convolutions need 666 million MACs per 227x227 image.
    grouped = summarize(recipes.build("alexnet_grouped"))
    conv_macs = sum(row["macs"] for row in grouped if row["name"].startswith("conv"))
    assert round(conv_macs / 1e6) == 666
    assert totals(grouped)["params"] == 60_965_224
    single = totals(summarize(recipes.build("alexnet")))
    assert single["macs"] > totals(grouped)["macs"]  # ungrouped conv2, conv4, conv5
    keras.backend.clear_session()


def test_googlenet_keeps_its_budget_of_1_5_billion_multiply_adds():
    # Szegedy et al. 2015, Section 1: "a computational budget of 1.5 billion multiply-adds
    # at inference time"; the auxiliary heads are training-only.
    macs = totals(summarize(recipes.build("googlenet")))["macs"]
    assert abs(macs / 1e9 - 1.5) < 0.1, macs
    keras.backend.clear_session()


def test_lenet5_multiply_adds_plus_biases_are_the_papers_connections():
    # LeCun et al. 1998, Section II-B: C1 has 122,304 connections, C3 151,600, C5 48,120,
    # F6 10,164: one multiply-add per weight use plus one bias per output unit.
    rows = rows_by_name(recipes.build("lenet5"))
    connections = {"c1": 122_304, "c3": 151_600, "c5": 48_120, "f6": 10_164}
    for name, count in connections.items():
        row = rows[name]
        assert row["macs"] + math.prod(row["output_shape"]) == count, name
    assert rows["s2"]["macs"] == 14 * 14 * 6  # one coefficient per output
    assert rows["rbf"]["macs"] == 10 * 84
    assert rows["c5"]["receptive_field"] == (32, 32)


def stack(inputs, *layer_list):
    x = inputs
    for layer in layer_list:
        x = layer(x)
    return keras.Model(inputs, x)


def test_small_filters_lecture_example():
    # "The power of small filters": on HxWxC with C filters, one 7x7 conv costs 49 HWC^2
    # multiply-adds and three 3x3 convs 27 HWC^2, for the same 7x7 receptive field.
    size, channels = 8, 16
    hwc2 = size * size * channels**2
    one = rows_by_name(stack(keras.Input((size, size, channels)),
                             keras.layers.Conv2D(channels, 7, padding="same", name="c7")))
    three = rows_by_name(stack(keras.Input((size, size, channels)), *[
        keras.layers.Conv2D(channels, 3, padding="same", name=f"c3_{i}") for i in (1, 2, 3)]))
    assert one["c7"]["macs"] == 49 * hwc2
    assert sum(three[f"c3_{i}"]["macs"] for i in (1, 2, 3)) == 27 * hwc2
    assert one["c7"]["receptive_field"] == three["c3_3"]["receptive_field"] == (7, 7)
    assert three["c3_2"]["receptive_field"] == (5, 5)


def test_conv_variants_count_multiply_adds_and_fields():
    inputs = keras.Input((9, 9, 4))
    rows = rows_by_name(stack(
        inputs,
        layers.PaddedConv2D(8, 3, strides=2, padding=1, groups=2, name="grouped"),  # 5x5x8
        keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same", name="dilated"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise"),  # 3x3x16
        layers.Maxout(5, pieces=3, name="maxout"),  # per-pixel dense: 3x3x5
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(7, name="dense"),
    ))
    assert rows["grouped"]["macs"] == 5 * 5 * 8 * (3 * 3 * 4 // 2)
    assert rows["dilated"]["macs"] == 5 * 5 * 8 * (3 * 3 * 8)
    assert rows["depthwise"]["macs"] == 3 * 3 * 16 * (3 * 3)
    assert rows["maxout"]["macs"] == 3 * 3 * 16 * 5 * 3
    assert rows["dense"]["macs"] == 45 * 7
    assert rows["flatten"]["activations"] == 0 and rows["dense"]["activations"] == 7
    # 3x3/2 sees 3; the dilated 3x3 spans 5 inputs 2 apart: 3 + 4*2 = 11; then 11 + 2*2.
    assert rows["grouped"]["receptive_field"] == (3, 3)
    assert rows["dilated"]["receptive_field"] == (11, 11)
    assert rows["depthwise"]["receptive_field"] == (15, 15)
    assert rows["maxout"]["receptive_field"] == (15, 15)
    assert rows["dense"]["receptive_field"] is None


def test_branches_take_the_largest_receptive_field():
    inputs = keras.Input((8, 8, 4))
    module = layers.inception_module(inputs, layers.InceptionFilters(2, 2, 2, 2, 2, 2),
                                     name="inception")
    rows = rows_by_name(keras.Model(inputs, module))
    assert rows["inception_pool_proj"]["receptive_field"] == (3, 3)
    assert rows["inception"]["receptive_field"] == (5, 5)  # the 5x5 branch
    assert rows["inception"]["activations"] == 8 * 8 * 8
    residual = layers.basic_block(inputs, 4, name="block")
    rows = rows_by_name(keras.Model(inputs, residual))
    assert rows["block_add"]["receptive_field"] == (5, 5)  # identity sees 1, branch 5
    assert rows["block_out"]["activations"] == 0  # the final ReLU runs in place



def test_a_fractal_join_takes_the_field_of_its_maps_not_of_the_drop_path_code():
    inputs = keras.Input((8, 8, 4))
    column = layers.GlobalDropPath(2, name="global_drop_path")(inputs)
    short = keras.layers.Conv2D(4, 3, padding="same", name="short")(inputs)
    deep = keras.layers.Conv2D(4, 3, padding="same", name="deep2")(
        keras.layers.Conv2D(4, 3, padding="same", name="deep1")(inputs))
    join = layers.FractalJoin(columns=[0, 1], name="join")([short, deep], column)
    after = keras.layers.Conv2D(4, 3, padding="same", name="after")(join)
    rows = rows_by_name(keras.Model(inputs, after))
    assert rows["global_drop_path"]["receptive_field"] is None
    assert rows["join"]["receptive_field"] == (5, 5)  # the deeper column's two 3x3s
    assert rows["after"]["receptive_field"] == (7, 7)
    # A vector reshaped back into a map (squeeze-and-excitation) still sees the whole image.
    pooled = keras.layers.GlobalAveragePooling2D(name="pooled")(short)
    excited = keras.layers.Reshape((1, 1, 4), name="excite")(pooled)
    rows = rows_by_name(keras.Model(inputs, keras.layers.Multiply(name="scale")([short, excited])))
    assert rows["excite"]["receptive_field"] is None
    assert rows["scale"]["receptive_field"] is None


def test_separable_and_transposed_convolutions_count_their_multiply_adds():
    rows = rows_by_name(stack(
        keras.Input((7, 7, 8)),
        keras.layers.SeparableConv2D(16, 3, name="separable"),  # 5x5x8 depthwise, then 1x1
        keras.layers.Conv2DTranspose(4, 3, strides=2, name="transposed"),  # 5x5 -> 11x11
    ))
    assert rows["separable"]["macs"] == 5 * 5 * 8 * 3 * 3 + 5 * 5 * 16 * 8  # 1,800 + 3,200
    assert rows["transposed"]["macs"] == 5 * 5 * 16 * (3 * 3 * 4)  # each input scatters 3x3x4
    assert rows["separable"]["receptive_field"] == (3, 3)
    assert rows["transposed"]["receptive_field"] is None  # its window lies on its output


def test_a_sequential_model_is_summarized_from_its_input():
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(3, name="dense")])
    rows = rows_by_name(model)
    assert rows["conv"]["macs"] == 14 * 14 * 2 * 3 * 3 and rows["dense"]["macs"] == 392 * 3
    assert rows["conv"]["receptive_field"] == (3, 3)


def test_a_nested_model_gives_the_rows_of_its_layers():
    inputs = keras.Input((8, 8, 3))
    block = keras.Sequential([keras.Input((8, 8, 3)),
                              keras.layers.Conv2D(4, 3, padding="same", name="c1"),
                              keras.layers.Conv2D(4, 3, padding="same", name="c2")], name="block")
    inner = keras.Input((8, 8, 4))
    down = keras.Model(inner, keras.layers.Conv2D(4, 3, strides=2, padding="same", name="f")(inner),
                       name="down")
    outputs = keras.layers.Conv2D(2, 3, padding="same", name="after")(down(block(inputs)))
    model = keras.Model(inputs, outputs)
    rows = summarize(model)
    assert [row["name"] for row in rows][1:] == ["block/c1", "block/c2", "down/f", "after"]
    rows = {row["name"]: row for row in rows}
    assert rows["block/c2"]["macs"] == 8 * 8 * 4 * (3 * 3 * 4)
    assert rows["down/f"]["macs"] == 4 * 4 * 4 * (3 * 3 * 4)
    # Two 3x3s see 5, the strided 3x3 7, and the 3x3 after it 7 + 2*2.
    assert [rows[name]["receptive_field"] for name in ("block/c2", "down/f", "after")] == [
        (5, 5), (7, 7), (11, 11)]
    assert totals(list(rows.values()))["params"] == model.count_params()

def test_summarize_rejects_models_it_cannot_measure():
    with pytest.raises(ValueError, match="static shapes"):
        summarize(stack(keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="functional"):
        summarize(Subclassed())


def test_recipes_exports_summarize():
    assert recipes.summarize is summarize


def test_train_py_prints_the_summary(train_here):
    result = train_here("--recipe=lenet5", "--mode=summary")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(
        "lenet5: LeNet-5 as published: scaled tanh, trainable subsampling, Table I's C3, "
        "Euclidean RBF output.\nLeCun et al., Gradient-based learning applied to document "
        "recognition, Proc. IEEE (1998): Fig. 2, Table I (C3 connections), Section II-B, "
        "Appendix A.\n\nlenet5: per-layer summary")
    assert "c3" in result.stdout and "[10x10x16]" in result.stdout
    assert "TOTAL params: 60,000" in result.stdout


def test_a_citation_with_its_own_year_is_not_dated_twice(train_here):
    # "ICLR 2015 (2014)": the venue's year beside the recipe's arXiv year.
    result = train_here("--recipe=vgg16", "--mode=summary", "--image_size=32")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Large-Scale Image Recognition, ICLR 2015: Table 1" in result.stdout


def test_train_py_prints_the_summary_at_the_image_size(train_here):
    result = train_here("--recipe=vgg16", "--mode=summary", "--image_size=32")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[1x1x512]" in result.stdout  # pool5 after five halvings of 32
    # The 13 convolutions (keras.applications' VGG16 without its top: 14,714,688), then
    # fc6 on 1x1x512, fc7 and fc8.
    params = 14_714_688 + (512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert f"TOTAL params: {params:,}" in result.stdout


def test_train_py_prints_alphagos_policy_on_a_smaller_board(train_here):
    result = train_here("--recipe=alphago_policy", "--mode=summary", "--image_size=9")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[81]" in result.stdout  # one move per point of the 9x9 board
    assert f"TOTAL params: {3_882_793 - 361 + 81:,}" in result.stdout


def test_train_py_summarizes_a_network_too_large_to_build_without_drawing_its_weights(
        train_here):
    # VGG-16 at 4096x4096: fc6 alone is 8.4M x 4096 weights, 137 GB of float32 that the
    # summary drew at random before printing (out of memory; in a child process here, so
    # that a machine that overcommits memory kills the child, not the tests).
    result = train_here("--recipe=vgg16", "--mode=summary", "--image_size=4096")
    assert result.returncode == 0, result.stderr[-3000:]
    fc6 = 128 * 128 * 512 * 4096 + 4096  # pool5 is 128x128x512
    params = 14_714_688 + fc6 + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert f"TOTAL params: {params:,} (34.4G)" in result.stdout


def test_a_graph_with_an_ops_step_is_refused_naming_the_layer_after_it():
    # A KeyError on a tensor id: the rows follow each layer's first call only.
    from layers.errors import UsageError

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(inputs * 2.0 - 1.0))
    with pytest.raises(UsageError, match=r"^summarize counts models built of layers, each "
                                         r"called once; layer 'conv' takes a tensor that a "
                                         r"keras.ops step or a second call"):
        summarize(model)
