"""--mode=visualize and engine.visualize: filters, feature maps, occlusion, top images."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import recipes
from engine import modes, rundir, visualize
from layers import UsageError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory, train_digits):
    return train_digits(tmp_path_factory.mktemp("visualize") / "lenet")


def test_visualize_writes_every_figure_into_the_run(lenet_run, mode_args):
    modes.run("visualize", mode_args(model_dir=str(lenet_run)))
    expected = ["filters_c1.png", "feature_maps_s2.png", "feature_maps_s4.png", "occlusion.png",
                "top_images_s2.png", "top_images_s4.png"]  # the pooling stages by default
    for name in expected:
        assert (lenet_run / name).read_bytes()[:8] == PNG, name


def test_its_passes_take_at_most_32_images_unless_batch_size_says_otherwise(lenet_run,
                                                                            mode_args,
                                                                            monkeypatch):
    # The run's batch (64 here; VGG-16's 256) held occlusion's 169 copies of a 224x224
    # image in one pass: 14 GB.
    batches = []
    occlusion_map = visualize.occlusion_map

    def recorded(model, image, target, patch, stride, batch_size):
        batches.append(batch_size)
        return occlusion_map(model, image, target, patch, stride, batch_size)

    monkeypatch.setattr(visualize, "occlusion_map", recorded)
    modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["s2"]))
    modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["s2"], batch_size=48))
    assert batches == [32, 48]


def test_chosen_layers_and_an_image_file_in_place_of_an_earlier_calls_figures(
        lenet_run, mode_args, tmp_path):
    image = tmp_path / "three.png"
    pixels = np.zeros((20, 20, 3), np.uint8)
    pixels[4:16, 8:12] = 255  # a bar: a '1' of sorts, in colour; the run takes grey
    image.write_bytes(tf.io.encode_png(pixels).numpy())
    (lenet_run / "feature_maps_s2.png").write_bytes(PNG)  # an earlier call's, of another image
    (lenet_run / "notes.png").write_bytes(PNG)  # the user's
    modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["c3"],
                                     image=str(image), patch=6, stride=3))
    assert sorted(path.name for path in lenet_run.glob("*.png")) == [
        "curves.png", "feature_maps_c3.png", "filters_c1.png", "notes.png", "occlusion.png",
        "top_images_c3.png"]
    (lenet_run / "notes.png").unlink()


def test_mistakes_fail_before_any_work_with_one_sentence(lenet_run, mode_args, tmp_path,
                                                         train_here):
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not pixels")
    result = train_here("--mode=visualize", f"--model_dir={lenet_run}",
                        f"--image={not_an_image}")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"--image={str(not_an_image)!r} is not a readable "
                                          f"image file (JPEG, PNG, BMP or GIF).")
    with pytest.raises(UsageError, match=r"Unknown --layers name 'conv9': the layers of "
                                         r"'lenet5_modern' with feature maps are c1, s2, c3, "
                                         r"s4, c5\."):
        modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["s2", "conv9"]))
    # A layer without feature maps was "Unknown" too.
    with pytest.raises(UsageError, match=r"^--layers name 'logits' has no feature maps \(its "
                                         r"output's shape is \(None, 10\)\): the layers of "
                                         r"'lenet5_modern' with feature maps are c1, s2, c3, "
                                         r"s4, c5\.$"):
        modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["logits"]))
    with pytest.raises(UsageError, match="--patch=40 is larger than the 32x32 input"):
        modes.run("visualize", mode_args(model_dir=str(lenet_run), patch=40))
    with pytest.raises(UsageError, match="^--layers is empty; name layers"):  # not the default
        modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=[]))
    with pytest.raises(UsageError, match="^--layers=c1,,s2 has an empty entry"):  # not name ''
        modes.run("visualize", mode_args(model_dir=str(lenet_run), layers=["c1", "", "s2"]))
    with pytest.raises(UsageError, match="--layers applies to --mode=visualize, not --mode=train"):
        modes.run("train", mode_args(model_dir=str(tmp_path / "new"), layers=["c1"]))
    assert not (tmp_path / "new").exists()


def copy_run(run, directory):
    """The files of the finished ``run`` that the mode reads, copied into ``directory``."""
    import shutil

    directory.mkdir(parents=True)
    for name in ("run.json", "preprocessing.json", "model.keras"):
        shutil.copy(run / name, directory / name)
    return directory


def test_a_run_directory_that_cannot_be_written_is_refused_before_any_work(
        lenet_run, mode_args, tmp_path, read_only):
    # The figures go into the run: drawing them all first ended in a PermissionError
    # traceback at the first figure (a run of another user, a read-only copy).
    run = copy_run(lenet_run, tmp_path / "read_only")
    read_only(run)
    with pytest.raises(UsageError, match=rf"--model_dir='{run}' cannot be written .*; copy "
                                         r"the run into a folder you can write to and pass "
                                         r"that: this mode writes its results beside the run\.$"):
        modes.run("visualize", mode_args(model_dir=str(run)))
    assert sorted(path.name for path in run.iterdir()) == ["model.keras", "preprocessing.json",
                                                           "run.json"]


def test_a_network_without_convolutions_is_refused_before_any_work(lenet_run, mode_args,
                                                                    tmp_path, monkeypatch):
    # An MLP's run was refused only after its data was prepared; with --layers, as a
    # name unknown among its layers with feature maps, "are ." (it has none).
    run = copy_run(lenet_run, tmp_path / "mlp")
    mlp = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                            keras.layers.Dense(10, activation="softmax", name="hidden1")],
                           name="mlp")
    mlp.save(run / "model.keras")
    monkeypatch.setattr(rundir.SavedRun, "prepare", None)  # no data is read
    for layers in (None, ["hidden1"]):
        with pytest.raises(UsageError, match=r"^'mlp' has no convolutional layer whose filters "
                                             r"could be drawn; pass the --model_dir of a "
                                             r"convolutional network's run\.$"):
            modes.run("visualize", mode_args(model_dir=str(run), layers=layers))


def test_a_model_dir_under_home_is_read_as_training_wrote_it(lenet_run, mode_args, tmp_path,
                                                             monkeypatch):
    # train.py --model_dir=~/runs/lenet writes into $HOME/runs/lenet; the modes that read
    # the run looked for a folder named '~' ("No finished run in '~/runs/lenet'").
    home = tmp_path / "home"
    run = copy_run(lenet_run, home / "runs" / "lenet")
    monkeypatch.setenv("HOME", str(home))
    assert modes.saved_run(mode_args(model_dir="~/runs/lenet")).directory == str(run)


def test_a_data_dir_under_home_is_read_as_training_reads_it(lenet_run, mode_args, tmp_path,
                                                            monkeypatch):
    # train.py --data_dir=~/tfds reads $HOME/tfds; --mode=visualize (and evaluate) handed
    # '~/tfds' to TFDS, which does not expand it: "Dataset 'mnist' is not prepared in '~/tfds'".
    import json

    import engine.data

    run = copy_run(lenet_run, tmp_path / "mnist_run")  # a run of a TFDS dataset
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "dataset": "mnist"}))
    monkeypatch.setenv("HOME", str(tmp_path))

    def open_source(spec, *args):
        raise LookupError(spec.data_dir)

    monkeypatch.setattr(engine.data, "open_source", open_source)
    with pytest.raises(LookupError, match=rf"^{tmp_path / 'tfds'}$"):
        modes.run("visualize", mode_args(model_dir=str(run), data_dir="~/tfds"))


def test_a_layer_named_twice_is_drawn_once(lenet_run):
    model = keras.saving.load_model(lenet_run / "model.keras", safe_mode=True)
    assert visualize.choose_layers(model, ["s2", "c1", "s2"]) == ["s2", "c1"]


def test_the_default_layers_are_the_pooling_stages_not_an_inception_branchs_pool():
    # GoogLeNet's default was 14 layers: pool1 to pool5 and the 3x3/1 max pool of each of
    # its nine Inception modules' fourth branch, which keeps the maps' size.
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    branch = keras.layers.MaxPooling2D(3, strides=1, padding="same", name="inception_3a_pool")(x)
    branch = keras.layers.Conv2D(2, 1, name="inception_3a_pool_proj")(branch)
    x = keras.layers.Concatenate(name="inception_3a")([keras.layers.Conv2D(2, 1)(x), branch])
    x = keras.layers.AveragePooling2D(8, strides=1, name="pool5")(x)
    model = keras.Model(inputs, keras.layers.Flatten()(x), name="googlenet")
    # pool5, 8x8 to 1x1, is a global pooling: the module before it ends the stage.
    assert visualize.choose_layers(model, None) == ["pool1", "inception_3a"]
    assert visualize.choose_layers(model, ["inception_3a_pool"]) == ["inception_3a_pool"]


def test_a_learned_layer_after_a_pooling_stage_is_its_own_stage():
    # Normalized or activated, a pool's maps are drawn once (ZFNet's pool1, not norm1 too);
    # a separable convolution, though it has no `kernel`, computes maps of its own.
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    normalized = keras.layers.BatchNormalization(name="norm1")(x)
    x = keras.layers.SeparableConv2D(4, 3, padding="same", name="sep2")(normalized)
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv3")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    assert visualize.choose_layers(model, None) == ["pool1", "sep2", "conv3"]
    without = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3, strides=2, name="conv2")(normalized))))
    assert visualize.choose_layers(without, None) == ["pool1", "conv2"]  # not norm1


def test_a_residual_network_defaults_to_its_stage_outputs_not_the_layers_inside_blocks():
    inputs = keras.Input((16, 16, 3))
    stem = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv")(stem)
    x = keras.layers.Add(name="block1_add")([stem, x])
    stage1 = keras.layers.ReLU(name="block1_out")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="block2_conv")(stage1)
    shortcut = keras.layers.Conv2D(8, 1, strides=2, name="block2_shortcut")(stage1)
    x = keras.layers.Add(name="block2_out")([shortcut, x])
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    # Every convolution was the default of a network without pooling stages.
    assert visualize.choose_layers(model, None) == ["block1_out", "block2_out"]


@pytest.mark.parametrize("name, stages", [
    # ResNet-50's stages of [3, 4, 6, 3] blocks, after the stem's pooling
    ("resnet50", ["pool1_pool", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out",
                  "conv5_block3_out"]),
    ("plain20", ["conv2_block3_out", "conv3_block3_out", "conv4_block3_out"]),
    # each block's last join, where every column meets (not its columns' pools)
    ("fractalnet", ["block1_join4", "block2_join4", "block3_join4", "block4_join4"]),
    ("vgg16", ["pool1", "pool2", "pool3", "pool4", "pool5"]),
    ("vgg16_at_32", ["pool1", "pool2", "pool3", "pool4", "conv5_3"]),  # pool5 is 1x1 there
    ("googlenet", ["pool1", "pool2", "pool3", "pool4", "inception_5b"]),
    ("zfnet", ["pool1", "pool2", "pool3"]),  # not norm1 too: pool1's maps, normalized
    ("lenet5", ["s2", "s4"]),
    ("alphago_policy", [f"conv{index}" for index in range(1, 14)]),  # one map size
])
def test_the_recipes_default_layers(name, stages):
    # the same stages, less memory (VGG-16's pool5 is 2x2 at 64, 1x1 at 32)
    small = {"resnet50": (64, 64, 3), "vgg16": (64, 64, 3), "vgg16_at_32": (32, 32, 3)}
    recipe = name.removesuffix("_at_32")
    assert visualize.choose_layers(recipes.build(recipe, input_shape=small.get(name)),
                                   None) == stages


def window_model():
    """p(class 0) = sigmoid(sum of the 2x2 top-left pixels * 4): an 8x8 image's class 0
    lives in its top-left corner."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(2)
    outputs = keras.layers.Activation("softmax")(dense(x))
    weights = np.zeros((64, 2), np.float32)
    weights[[0, 1, 8, 9], 0] = 4.0
    dense.set_weights([weights, np.zeros(2, np.float32)])
    return keras.Model(inputs, outputs)


def test_occlusion_map_by_hand():
    image = np.ones((8, 8, 1), np.float32)
    heat = visualize.occlusion_map(window_model(), image, 0, patch=2, stride=2, batch_size=5)
    assert heat.shape == (4, 4)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    expected = np.full((4, 4), sigmoid(16.0))
    expected[0, 0] = 0.5  # the square hides the whole corner: the logits tie
    np.testing.assert_allclose(heat, expected, rtol=1e-6)
    shifted = visualize.occlusion_map(window_model(), image, 0, patch=2, stride=1)
    assert shifted.shape == (7, 7)
    assert shifted[0, 1] == pytest.approx(sigmoid(8.0))  # half the corner hidden


def test_occlusion_makes_its_occluded_copies_a_batch_at_a_time():
    # Every occluded copy was made before the first batch ran: 17 GB for a 224x224x3
    # image at --stride=1. Here 63 x 63 copies of 16 KB, 65 MB, against 8 of them.
    import tracemalloc

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    image = np.ones((64, 64, 1), np.float32)
    model(image[None])  # built before counting
    tracemalloc.start()
    try:
        heat = visualize.occlusion_map(model, image, 0, patch=2, stride=1, batch_size=512)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert heat.shape == (63, 63)
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB"
    for row, column in ((0, 0), (0, 62), (8, 5), (62, 62)):  # across the batches
        copy = image.copy()
        copy[row:row + 2, column:column + 2] = 0.0
        assert heat[row, column] == pytest.approx(float(model(copy[None])[0, 0]), rel=1e-5)


def test_occlusion_covers_the_edges_a_stride_does_not_reach():
    # AlexNet's 227 with the default 56 and 14: the squares stopped at 168 + 56 = 224,
    # leaving the last 3 rows and columns uncovered; a network that reads only those
    # showed a flat map.
    assert visualize.occlusion_starts(227, 56, 14) == [*range(0, 169, 14), 171]
    assert visualize.occlusion_starts(224, 56, 14) == list(range(0, 169, 14))
    inputs = keras.Input((9, 9, 1))
    corner = keras.layers.Flatten()(keras.layers.Cropping2D(((8, 0), (8, 0)))(inputs))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(corner))
    dense.set_weights([np.array([[4.0, 0.0]], np.float32), np.zeros(2, np.float32)])
    heat = visualize.occlusion_map(model, np.ones((9, 9, 1), np.float32), 0, patch=4,
                                   stride=4)
    assert heat.shape == (3, 3)  # starts 0, 4 and the edge's 5
    assert heat[2, 2] == pytest.approx(0.5) and heat[:2, :2].min() > 0.98
    edges = visualize.cell_edges([0, 4, 5], patch=4, stride=4)
    np.testing.assert_allclose(edges, [-0.5, 3.5, 6.0, 8.5])  # centres 1.5, 5.5, 6.5


def test_occlusion_defaults_give_a_13_by_13_grid():
    assert visualize.occlusion_geometry((32, 32, 1), None, None) == (8, 2)
    assert visualize.occlusion_geometry((224, 224, 3), None, None) == (56, 14)
    assert visualize.occlusion_geometry((224, 224, 3), 32, None) == (32, 8)


def test_top_units_and_their_top_images():
    activations = np.array([[1.0, 0.0, 5.0],
                            [3.0, 0.5, 4.0],
                            [2.0, 0.2, 9.0]])
    ranking = visualize.top_units(activations, units=2, images=2)
    assert [unit for unit, _ in ranking] == [2, 0]  # strongest activations 9 and 3
    np.testing.assert_array_equal(ranking[0][1], [2, 0])
    np.testing.assert_array_equal(ranking[1][1], [1, 2])


def test_strongest_activation_is_the_maximum_over_positions():
    inputs = keras.Input((4, 4, 2))
    probe = keras.Model(inputs, [keras.layers.Identity()(inputs),
                                 keras.layers.MaxPooling2D(2)(inputs)])
    images = np.random.default_rng(0).normal(size=(5, 4, 4, 2)).astype(np.float32)
    identity, pooled = visualize.strongest_activations(probe, [images[:3], images[3:]])
    np.testing.assert_allclose(identity, images.max(axis=(1, 2)))
    np.testing.assert_allclose(pooled, images.max(axis=(1, 2)))


def test_rgb_filters_are_drawn_in_colour(tmp_path):
    keras.utils.set_random_seed(0)
    layer = keras.layers.Conv2D(20, 5, name="conv1")
    layer.build((None, 16, 16, 3))
    path = visualize.plot_filters(layer, str(tmp_path / "filters_conv1.png"))
    assert open(path, "rb").read(8) == PNG
    assert visualize.first_convolution(keras.Sequential([keras.Input((8, 8, 3)), layer])) is layer


def test_an_8_bit_bmp_image_is_read_in_its_colour_tables_colours(tmp_path):
    # TensorFlow's BMP decoder returns an 8-bit image's colour indices as grey levels:
    # the figures were drawn for those.
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    palette = Image.fromarray(pixels).quantize(16)
    palette.save(tmp_path / "palette.bmp")
    np.testing.assert_array_equal(visualize.load_image(str(tmp_path / "palette.bmp")).numpy(),
                                  np.asarray(palette.convert("RGB")))
    Image.fromarray(pixels[..., 0]).save(tmp_path / "grey.png")  # other files as before
    assert visualize.load_image(str(tmp_path / "grey.png")).shape == (9, 7, 1)


def test_a_compressed_bmp_image_is_refused_in_one_sentence(tmp_path, rle8_bmp):
    (tmp_path / "rle8.bmp").write_bytes(rle8_bmp)  # decoded, its codes were its pixels
    with pytest.raises(UsageError, match=r"rle8.bmp' is a compressed .RLE, JPEG or PNG. BMP, "
                                         r"whose pixels TensorFlow's decoder misreads; save it as "
                                         r"PNG\.$"):
        visualize.load_image(str(tmp_path / "rle8.bmp"))


def test_an_os2_bmp_image_is_refused_in_one_sentence(tmp_path, os2_bmp):
    (tmp_path / "os2.bmp").write_bytes(os2_bmp)  # once "an image of 412,323,414,020 pixels"
    with pytest.raises(UsageError, match=r"os2.bmp' is an OS/2 BMP .a 12-byte header., which "
                                         r"TensorFlow's decoder does not read; save it as PNG\.$"):
        visualize.load_image(str(tmp_path / "os2.bmp"))


def test_an_image_under_home_is_read(tmp_path, monkeypatch):
    # --image=~/cat.png (the shell leaves a ~ after = alone) was "not a readable image file".
    monkeypatch.setenv("HOME", str(tmp_path))
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    (tmp_path / "cat.png").write_bytes(tf.io.encode_png(pixels).numpy())
    np.testing.assert_array_equal(visualize.load_image("~/cat.png").numpy(), pixels)


def test_an_image_of_a_format_predict_does_not_read_is_refused(tmp_path):
    # --image took WebP, which TensorFlow decodes, where folder: and predict skip it.
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "photo.webp")
    with pytest.raises(UsageError, match="is not a readable image file"):
        visualize.load_image(str(tmp_path / "photo.webp"))


def test_an_image_that_is_no_file_or_declares_too_many_pixels_is_refused(tmp_path):
    # /dev/zero was read until the kernel killed the process (24 GB); a 190 KB PNG of
    # 196 million pixels was decoded (1.9 GB), which predict and the folders refuse.
    from PIL import Image

    with pytest.raises(UsageError, match=r"--image='/dev/zero' is not a readable image file"):
        visualize.load_image("/dev/zero")
    Image.new("1", (14_000, 14_000)).save(tmp_path / "bomb.png")
    with pytest.raises(UsageError, match=r"--image='.*bomb.png' is an image of 196,000,000 "
                                         r"pixels, more than the 178,956,970 decoded at most"):
        visualize.load_image(str(tmp_path / "bomb.png"))


def test_a_stride_that_would_leave_pixels_unoccluded_is_refused():
    # --patch=4 --stride=12 never covered pixels 4-11, though the map painted them.
    assert visualize.occlusion_geometry((32, 32, 1), 4, 4) == (4, 4)
    with pytest.raises(UsageError, match=r"--stride=12 is larger than --patch=4, which leaves "
                                         r"the pixels between the squares never occluded; pass "
                                         r"at most 4\."):
        visualize.occlusion_geometry((32, 32, 1), 4, 12)


def test_class_names_with_dollar_signs_are_drawn_as_they_are(tmp_path, monkeypatch):
    # matplotlib reads the text between two $ as mathtext: a class folder named $5-$10 was
    # drawn as an italic "5-", and one named a$^$b ended in a ParseSyntaxException.
    from matplotlib import cbook

    figures = []
    save = visualize._save
    monkeypatch.setattr(visualize, "_save",
                        lambda figure, path: figures.append(figure) or save(figure, path))
    names = ("$5-$10", "a$^$b")
    image = np.full((8, 8, 1), 128.0, np.float32)
    caption = f"test image 0: class '{names[1]}'"
    visualize.plot_occlusion(image, np.full((2, 2), 0.5), 4, 4, caption, names[0], "true",
                             str(tmp_path / "occlusion.png"))
    visualize.plot_feature_maps("s2", np.ones((4, 4, 2), np.float32), image, caption,
                                str(tmp_path / "feature_maps_s2.png"))
    visualize.plot_top_images("s2", (4, 4, 2), [(0, np.array([0, 1]))], np.ones((2, 2)),
                              {0: image, 1: image}, {0: 0, 1: 1}, names,
                              str(tmp_path / "top_images_s2.png"))
    texts = [artist.get_text() for figure in figures
             for artist in figure.findobj(lambda artist: hasattr(artist, "get_text"))]
    assert not [text for text in texts if cbook.is_math_text(text)]
    shown = " ".join(text.replace(r"\$", "$") for text in texts)  # as matplotlib draws it
    for name in names:
        assert f"'{name}'" in shown


def test_one_pixel_feature_maps_are_drawn_as_large_as_the_gaps_between_them_allow(tmp_path):
    # A gap and a caption are whole pixels: beside 1x1 maps each was as large as a map.
    assert np.array_equal(visualize.enlarged([np.array([[2.0]])])[0], np.full((16, 16), 2.0))
    fourteen = np.zeros((14, 14, 1))
    assert visualize.enlarged([fourteen])[0].shape == (28, 28, 1)
    image = np.zeros((32, 32, 1))
    heights = {}
    for side in (1, 14):
        path = visualize.plot_feature_maps("c", np.ones((side, side, 64), np.float32), image,
                                           "a digit", str(tmp_path / f"{side}.png"))
        heights[side] = tf.io.decode_png(tf.io.read_file(path)).shape[0]
    assert heights[1] <= heights[14]  # 2.2 times as tall before


def test_a_missing_or_truncated_image_is_one_sentence_of_its_own(tmp_path, capfd):
    # A missing file was "not a readable image file", as a damaged one is; a truncated
    # JPEG's refusal came after libjpeg's "Improper call to JPEG library in state 201".
    with pytest.raises(UsageError, match=r"^--image='.*gone.png' does not exist; check the "
                                         r"path\.$"):
        visualize.load_image(str(tmp_path / "gone.png"))
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(UsageError, match=r"a.png/b.png' cannot be read \(Not a directory\); "
                                         r"check the path\.$"):
        visualize.load_image(str(tmp_path / "a.png" / "b.png"))
    photo = tf.io.encode_jpeg(np.full((64, 64, 3), 90, np.uint8)).numpy()
    (tmp_path / "cut.jpg").write_bytes(photo[:len(photo) // 2])
    capfd.readouterr()
    with pytest.raises(UsageError, match="cut.jpg' is not a readable image file"):
        visualize.load_image(str(tmp_path / "cut.jpg"))
    assert "JPEG" not in capfd.readouterr().err
