"""The SavedModel's signatures: raw images and image bytes in, class names out, with
the run's own geometry and normalization inside."""

import io
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import recipes
from engine import choices
from engine.data import DataSpec, prepare
from engine.data.folder import name_problem
from engine.serving import contract
from engine.serving.export import export
from engine.serving.signatures import network_input, write_labels


def encode(image: np.ndarray, format: str) -> bytes:
    """``image`` (uint8 HxWx1 or HxWx3) encoded by Pillow as ``format``."""
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of six 40x52 RGB photos each (random pixels), as PNG files."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir()
        for index in range(6):
            image = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
            (root / name / f"{index}.png").write_bytes(encode(image, "PNG"))
    return root


@pytest.mark.parametrize("augmentation", choices.AUGMENTATIONS)
@pytest.mark.parametrize("input_shape", [(32, 32, 3), (32, 32, 1), (44, 56, 3)])
def test_batches_of_raw_images_get_the_test_pipelines_input(folder, augmentation, input_shape):
    # The serving path runs the pipeline's own functions on a whole batch: resized (32x32)
    # or zero-padded (44x56) by the `none` preset, cropped from the canvas by the others,
    # RGB to grey for a 1-channel network.
    spec = DataSpec(dataset=f"folder:{folder}", augmentation=augmentation, batch_size=4,
                    deterministic=True)
    data = prepare(spec, input_shape)
    pipeline = np.concatenate([images for images, _ in data.pipelines.test.as_numpy_iterator()])
    raw = np.stack([image for image, _ in data.source.test.as_numpy_iterator()])
    served = network_input(tf.constant(raw), data.augmentation, data.preprocessing)
    assert served.shape == pipeline.shape == (len(raw), *input_shape)
    np.testing.assert_allclose(served, pipeline, atol=1e-5)


@pytest.mark.parametrize("normalization", choices.NORMALIZATIONS)
def test_every_normalization_is_served_as_the_pipeline_applies_it(folder, normalization):
    spec = DataSpec(dataset=f"folder:{folder}", normalization=normalization, batch_size=4,
                    deterministic=True)
    data = prepare(spec, (32, 32, 3))
    pipeline = np.concatenate([images for images, _ in data.pipelines.test.as_numpy_iterator()])
    raw = np.stack([image for image, _ in data.source.test.as_numpy_iterator()])
    served = network_input(tf.constant(raw), data.augmentation, data.preprocessing)
    np.testing.assert_allclose(served, pipeline, atol=1e-4)


def test_a_whitening_matrix_is_stored_once_and_served_as_the_pipeline_applies_it(folder,
                                                                                 tmp_path):
    # Each signature's graph held its own constant copy: 76 MB of saved_model.pb for NiN's
    # 38 MB matrix, 540 MB at the largest input gcn_zca takes.
    spec = DataSpec(dataset=f"folder:{folder}", normalization="gcn_zca", batch_size=4,
                    deterministic=True)
    data = prepare(spec, (16, 16, 3))
    matrix_bytes = data.preprocessing.zca_matrix.astype("float32").nbytes  # 768 x 768
    keras.utils.set_random_seed(0)
    model = recipes.build("mlp", classes=2, input_shape=(16, 16, 3))
    version = export(model, data.augmentation, data.preprocessing, data.source.class_names,
                     str(tmp_path / "export"))
    assert os.path.getsize(os.path.join(version, "saved_model.pb")) < matrix_bytes
    saved = tf.saved_model.load(version)
    raw = np.stack([image for image, _ in data.source.test.as_numpy_iterator()])
    features = np.concatenate([images for images, _ in data.pipelines.test.as_numpy_iterator()])
    expected = model.predict(features, verbose=0)
    for name, inputs in (("serving_default", {"images": tf.constant(raw)}),
                         ("serve_bytes", {"image_bytes": tf.constant(
                             [encode(image, "PNG") for image in raw])})):
        np.testing.assert_allclose(saved.signatures[name](**inputs)["probabilities"], expected,
                                   atol=1e-5)


@pytest.fixture(scope="module")
def digits():
    return prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True), (32, 32, 1))


@pytest.fixture(scope="module")
def exported(digits, tmp_path_factory):
    """LeNet-5 (untrained) exported, then moved: the version must hold all it needs."""
    keras.utils.set_random_seed(0)
    model = recipes.build("lenet5_modern", classes=10, input_shape=(32, 32, 1))
    base = tmp_path_factory.mktemp("serving") / "export"
    version = export(model, digits.augmentation, digits.preprocessing, digits.source.class_names,
                     str(base))
    moved = shutil.move(version, str(base.parent / "copied"))
    yield model, tf.saved_model.load(moved), moved
    keras.backend.clear_session()


@pytest.fixture(scope="module")
def test_split(digits):
    raw = np.stack([image for image, _ in digits.source.test.as_numpy_iterator()])
    features = np.concatenate([images for images, _ in digits.pipelines.test.as_numpy_iterator()])
    return raw, features


def test_signatures_take_the_documented_inputs_and_return_one_flat_dict(exported):
    _, saved, _ = exported
    inputs = {name: signature.structured_input_signature[1]
              for name, signature in saved.signatures.items()}
    assert inputs == {
        "serving_default": {"images": tf.TensorSpec([None, None, None, 1], tf.uint8, "images")},
        "serve_bytes": {"image_bytes": tf.TensorSpec([None], tf.string, "image_bytes")},
        "serve_features": {"features": tf.TensorSpec([None, 32, 32, 1], tf.float32,
                                                     "features")}}
    for signature in saved.signatures.values():
        outputs = signature.structured_outputs
        assert set(outputs) == set(contract.OUTPUTS)
        assert outputs["probabilities"] == tf.TensorSpec([None, 10], tf.float32,
                                                         "probabilities")
        assert outputs["logits"].dtype == tf.float32
        assert outputs["class_ids"] == tf.TensorSpec([None], tf.int32, "class_ids")
        assert outputs["class_names"] == tf.TensorSpec([None], tf.string, "class_names")


def test_served_images_and_their_png_bytes_give_the_keras_models_probabilities(
        exported, test_split):
    model, saved, _ = exported
    raw, features = test_split
    expected = model.predict(features, verbose=0)
    served = saved.signatures["serving_default"](images=tf.constant(raw))
    np.testing.assert_allclose(served["probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(tf.nn.softmax(served["logits"]), expected, atol=1e-5)
    np.testing.assert_array_equal(served["class_ids"], expected.argmax(axis=-1))
    # A grey PNG decodes to RGB (as the folder source decodes files) and comes back exact.
    png = [encode(image, "PNG") for image in raw]
    from_bytes = saved.signatures["serve_bytes"](image_bytes=tf.constant(png))
    np.testing.assert_allclose(from_bytes["probabilities"], expected, atol=1e-5)
    from_features = saved.signatures["serve_features"](features=tf.constant(features))
    np.testing.assert_allclose(from_features["probabilities"], expected, atol=1e-5)


def test_class_names_come_from_the_labels_asset_inside_the_export(exported, test_split):
    _, saved, directory = exported
    labels = os.path.join(directory, "assets", contract.LABELS_FILE)
    with open(labels) as file:
        assert file.read().splitlines() == [str(digit) for digit in range(10)]
    served = saved.signatures["serving_default"](images=tf.constant(test_split[0][:20]))
    names = [name.decode() for name in served["class_names"].numpy()]
    assert names == [str(class_id) for class_id in served["class_ids"].numpy()]


def test_gif_bmp_and_jpeg_bytes_decode_like_png(exported, test_split):
    _, saved, _ = exported
    raw = test_split[0][:4]
    serve = saved.signatures["serve_bytes"]

    def probabilities(format):
        return serve(image_bytes=tf.constant([encode(image, format) for image in raw]))[
            "probabilities"].numpy()

    png = probabilities("PNG")
    np.testing.assert_array_equal(probabilities("GIF"), png)  # lossless, like BMP
    np.testing.assert_array_equal(probabilities("BMP"), png)
    assert probabilities("JPEG").shape == png.shape  # lossy: only decodable


def test_an_8_bit_bmp_is_served_in_its_colour_tables_colours(exported):
    # Its pixels index the colour table: served as grey levels, they were another image.
    _, saved, _ = exported
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).quantize(16)
              for _ in range(3)]

    def probabilities(format):
        encoded = []
        for image in images:
            buffer = io.BytesIO()
            image.save(buffer, format)
            encoded.append(buffer.getvalue())
        return saved.signatures["serve_bytes"](image_bytes=tf.constant(encoded))[
            "probabilities"].numpy()

    np.testing.assert_array_equal(probabilities("BMP"), probabilities("PNG"))


def test_a_compressed_or_os2_bmp_is_refused_by_serve_bytes(exported, rle8_bmp, os2_bmp):
    _, saved, _ = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match="compressed .RLE, JPEG or PNG. BMP"):
        saved.signatures["serve_bytes"](image_bytes=tf.constant([rle8_bmp]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="an OS/2 BMP .a 12-byte header."):
        saved.signatures["serve_bytes"](image_bytes=tf.constant([os2_bmp]))


def test_an_empty_batch_gives_empty_outputs(exported):
    _, saved, _ = exported
    calls = {"serving_default": {"images": tf.zeros([0, 8, 8, 1], tf.uint8)},
             "serve_bytes": {"image_bytes": tf.constant([], tf.string)},
             "serve_features": {"features": tf.zeros([0, 32, 32, 1])}}
    for name, inputs in calls.items():
        outputs = saved.signatures[name](**inputs)
        assert outputs["probabilities"].shape == (0, 10) and outputs["class_names"].shape == (0,)


def test_wrong_inputs_fail_with_a_message_naming_them(exported):
    _, saved, _ = exported
    signature = saved.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"`images` must be uint8 \[batch, height, width, 1\]; got shape"):
        signature(images=tf.zeros([2, 8, 8, 3], tf.uint8))
    with pytest.raises(TypeError, match="dtype=tf.uint8, name='images'"):
        saved.serving_default(tf.zeros([2, 8, 8, 1], tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a uint8 tensor"):
        signature(images=tf.zeros([2, 8, 8, 1], tf.float32))
    png = encode(np.zeros((8, 8, 1), np.uint8), "PNG")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"items of `image_bytes` are not JPEG, PNG, GIF or BMP images"
                             r".*\] \[1 2\]"):
        saved.signatures["serve_bytes"](image_bytes=tf.constant([png, b"not an image", b""]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes/decode_image"):
        saved.signatures["serve_bytes"](image_bytes=tf.constant([png[:30]]))  # truncated


@pytest.mark.parametrize("name, inputs, message", [
    ("serving_default", {"images": tf.zeros([8, 8, 1], tf.uint8)},
     r"serving_default: `images` must be uint8 \[batch, height, width, 1\]; got shape\] \[8 8 1\]"),
    ("serving_default", {"images": tf.zeros([1, 2, 8, 8, 1], tf.uint8)},
     r"`images` must be uint8 \[batch, height, width, 1\]; got shape\] \[1 2 8 8 1\]"),
    ("serving_default", {"images": tf.zeros([2, 0, 0, 1], tf.uint8)},  # no pixels to resize
     r"`images` must be uint8 \[batch, height, width, 1\]; got shape\] \[2 0 0 1\]"),
    ("serving_default", {"images": tf.zeros([2, 5, 0, 1], tf.uint8)},
     r"`images` must be uint8 \[batch, height, width, 1\]; got shape\] \[2 5 0 1\]"),
    ("serve_features", {"features": tf.zeros([2, 64, 64, 1])},
     r"serve_features: `features` must be float32 \[batch, 32, 32, 1\]; got shape\] \[2 64 64 1\]"),
    ("serve_features", {"features": tf.zeros([32, 32, 1])},
     r"`features` must be float32 \[batch, 32, 32, 1\]; got shape\] \[32 32 1\]"),
    ("serve_bytes", {"image_bytes": tf.constant([[b"x"]])},
     r"serve_bytes: `image_bytes` must be string \[batch\]; got shape\] \[1 1\]"),
    ("serve_bytes", {"image_bytes": tf.constant(b"x")},
     r"`image_bytes` must be string \[batch\]; got shape\] \[\]"),
])
def test_inputs_of_a_wrong_rank_or_size_fail_with_a_message_naming_them(exported, name, inputs,
                                                                       message):
    # Called by name, a signature does not enforce its declared shape: its own check must.
    _, saved, _ = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        saved.signatures[name](**inputs)


NAMES_SPLITLINES_BREAKS = [f"{digit}{separator}x" for digit, separator in enumerate(
    ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "", " "])]


def test_predict_reads_the_class_names_the_signatures_return(exported, digits, tmp_path):
    # Names with characters str.splitlines breaks at (but labels.txt and TensorFlow's
    # lookup table do not): --mode=predict must name the classes as serve_bytes does.
    from engine.serving.predictor import SavedClassifier

    model, _, _ = exported
    base = tmp_path / "export"
    export(model, digits.augmentation, digits.preprocessing, NAMES_SPLITLINES_BREAKS, str(base))
    classifier = SavedClassifier(str(base))
    assert classifier.class_names == tuple(NAMES_SPLITLINES_BREAKS)
    served = classifier.serve_bytes(image_bytes=tf.constant(
        [encode(np.full((8, 8, 1), 40 * index, np.uint8), "PNG") for index in range(6)]))
    assert [name.decode() for name in served["class_names"].numpy()] == [
        classifier.class_names[class_id] for class_id in served["class_ids"].numpy()]


@pytest.mark.parametrize("name", ["line\nbreak", "carriage\rreturn",
                                  b"caf\xe9".decode("utf-8", "surrogateescape")])
def test_labels_txt_refuses_the_names_the_folder_source_refuses(name, tmp_path):
    # One definition (engine.data.folder's) for both: a name one accepts, the other takes.
    assert name_problem(name)
    with pytest.raises(ValueError, match=f"Class name .* {name_problem(name)}"):
        write_labels(["cat", name], str(tmp_path / contract.LABELS_FILE))
    assert name_problem("chien été\x0c") is None
