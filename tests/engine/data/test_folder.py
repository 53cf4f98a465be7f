"""Image folders: both layouts, every format, undecodable files skipped and reported,
deterministic carved splits, clear errors for empty classes and folders."""

import io
import logging
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from engine.data import folder
from engine.data.folder import carve_missing_splits, image_folder
from layers.errors import UsageError

FORMATS = ("JPEG", "PNG", "BMP", "GIF")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "GIF": "gif"}


def write_images(directory, count, colour, start=0):
    """``count`` small images of one colour, cycling through the formats."""
    directory.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        image_format = FORMATS[index % len(FORMATS)]
        size = (12 + index % 3, 10)  # sizes vary
        Image.new("RGB", size, colour).save(
            directory / f"{index:03d}.{EXTENSIONS[image_format]}", image_format)


@pytest.fixture
def layered(tmp_path):
    """PATH/train/{cat,dog} (with broken files) and PATH/test/{cat,dog}; no validation."""
    root = tmp_path / "pets"
    write_images(root / "train" / "cat", 10, (250, 10, 10))
    write_images(root / "train" / "dog", 10, (10, 10, 250))
    write_images(root / "test" / "cat", 2, (250, 10, 10))
    write_images(root / "test" / "dog", 2, (10, 10, 250))
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    png = (root / "train" / "dog" / "001.png").read_bytes()
    (root / "train" / "dog" / "truncated.png").write_bytes(png[:len(png) // 2])
    (root / "train" / "dog" / "notes.txt").write_text("not an image")
    (root / "train" / "dog" / ".hidden").write_text("ignored")
    return root


def all_examples(dataset):
    return list(dataset.as_numpy_iterator())


def test_layered_folder_reads_every_format_and_labels_by_sorted_class(layered):
    source = image_folder(str(layered))
    assert source.class_names == ("cat", "dog") and source.num_classes == 2
    assert source.sizes["test"] == 4
    assert source.sizes["train"] + source.sizes["validation"] == 20
    for image, label in all_examples(source.train) + all_examples(source.test):
        assert image.dtype == np.uint8 and image.shape[2] == 3 and image.shape[0] == 10
        red, blue = image[..., 0].mean(), image[..., 2].mean()
        assert (red > blue) == (label == 0)  # cats are red, dogs blue, in all four formats


def test_training_images_come_in_a_fixed_order_that_mixes_the_classes(tmp_path):
    # Class by class, a shuffle buffer of 10,000 images spans a few classes of a large
    # folder (every batch held ~8 of ImageNet's 1,000) and the statistics read the first.
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    for index, colour in enumerate(colours):
        write_images(tmp_path / "shapes" / f"class{index}", 30, colour)
    labels = [[int(label) for _, label in all_examples(image_folder(
        str(tmp_path / "shapes"), validation_fraction=0).train)] for _ in range(2)]
    assert labels[0] == labels[1]  # the same order every time
    assert sorted(labels[0]) == [0] * 24 + [1] * 24 + [2] * 24
    assert all(set(labels[0][start:start + 12]) == {0, 1, 2} for start in (0, 12, 24, 36, 48))


def write_distinct_images(root, classes, per_class):
    """``per_class`` PNG images in each of ``classes`` class folders, each of its own colour."""
    for label in range(classes):
        (root / f"class{label}").mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", (6, 5), (index * 8, label * 100, 7)).save(
                root / f"class{label}" / f"{index:02d}.png")


def pixels(dataset) -> list[tuple[int, ...]]:
    """Each image of ``dataset`` by its colour, in the order it comes."""
    return [tuple(int(value) for value in image[0, 0]) for image, _ in dataset.as_numpy_iterator()]


def test_a_split_decoded_every_epoch_is_reshuffled_whole_as_file_names(tmp_path):
    # A folder too large to cache is decoded anew every epoch; shuffling the decoded images
    # in a buffer would only mix nearby images of one fixed order, epoch after epoch.
    write_distinct_images(tmp_path / "shapes", classes=3, per_class=20)
    source = image_folder(str(tmp_path / "shapes"), validation_fraction=0)
    fixed = pixels(source.train)
    reshuffled = source.reshuffled_train
    passes = reshuffled(7, 1, 0)
    first, second = pixels(passes), pixels(passes)
    assert sorted(first) == sorted(second) == sorted(fixed) and len(set(fixed)) == 48  # 60 - test
    assert len({tuple(fixed), tuple(first), tuple(second)}) == 3  # a new order each pass
    again = reshuffled(7, 1, 0)  # the same seed draws the same orders
    assert [pixels(again), pixels(again)] == [first, second]
    assert pixels(reshuffled(8, 1, 0)) != first
    shards = [pixels(reshuffled(7, 3, index)) for index in range(3)]
    for index, shard in enumerate(shards):  # each worker reorders its own images
        assert sorted(shard) == sorted(pixels(source.train.shard(3, index)))


@pytest.mark.parametrize("colours", [2, 16, 256])
def test_an_8_bit_bmp_decodes_to_its_colour_tables_colours(colours):
    # TensorFlow's BMP decoder returns an 8-bit image's colour indices as grey levels.
    import tensorflow as tf

    pixels = np.random.default_rng(colours).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    palette = Image.fromarray(pixels).quantize(colours)
    assert palette.mode == "P"
    encoded = {}
    for image_format in ("BMP", "PNG"):
        buffer = io.BytesIO()
        palette.save(buffer, image_format)
        encoded[image_format] = buffer.getvalue()
    expected = np.asarray(palette.convert("RGB"))
    decoded = folder.decode_bytes(tf.constant(encoded["BMP"])).numpy()
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_array_equal(folder.decode_bytes(encoded["PNG"]).numpy(), expected)
    grey = Image.fromarray(pixels[..., 0])  # a grey 8-bit BMP's table is the identity
    buffer = io.BytesIO()
    grey.save(buffer, "BMP")
    np.testing.assert_array_equal(folder.decode_bytes(buffer.getvalue()).numpy(),
                                  np.asarray(grey.convert("RGB")))


def test_a_compressed_bmp_is_refused_not_decoded_as_noise(rle8_bmp, tmp_path):
    # TensorFlow's decoder reads RLE8 codes as pixels: [[4, 80, 0, 1], ...] for 80s.
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(folder.COMPRESSED_BMP)):
        folder.decode_bytes(tf.constant(rle8_bmp))
    (tmp_path / "rle8.bmp").write_bytes(rle8_bmp)
    uncompressed = io.BytesIO()
    Image.open(io.BytesIO(rle8_bmp)).save(uncompressed, "BMP")
    (tmp_path / "plain.bmp").write_bytes(uncompressed.getvalue())
    assert folder.undecodable([str(tmp_path / "rle8.bmp"), str(tmp_path / "plain.bmp")]) == [
        str(tmp_path / "rle8.bmp")]
    np.testing.assert_array_equal(folder.decode_bytes(uncompressed.getvalue()).numpy()[:, 0, 0],
                                  [80, 70, 60, 50])
    # 32-bit pixels, BI_RGB (0), BI_BITFIELDS (3) or BI_ALPHABITFIELDS (6), decode.
    pixels = np.random.default_rng(0).integers(0, 256, (5, 4, 4), dtype=np.uint8)
    masked = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(masked, "BMP")
    for compression in (0, 3, 6):
        data = bytearray(masked.getvalue())
        data[30] = compression
        np.testing.assert_array_equal(folder.decode_bytes(bytes(data)).numpy(), pixels[..., :3])


def test_an_os2_bmp_is_refused_as_one_not_as_billions_of_pixels(os2_bmp, tmp_path):
    # TensorFlow reads the 12-byte header's 2-byte width and height as 4-byte ones: the
    # 4x4 image declared 412,323,414,020 pixels and was refused as too large.
    import tensorflow as tf

    assert Image.open(io.BytesIO(os2_bmp)).getpixel((0, 0)) == (200, 30, 10)
    assert int(folder.declared_pixels(tf.constant(os2_bmp))) == 16
    assert folder.is_os2_bmp(os2_bmp) and not folder.is_compressed_bmp(os2_bmp)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(folder.OS2_BMP)):
        folder.decode_bytes(tf.constant(os2_bmp))
    (tmp_path / "os2.bmp").write_bytes(os2_bmp)
    assert folder.undecodable([str(tmp_path / "os2.bmp")]) == [str(tmp_path / "os2.bmp")]


def test_undecodable_files_are_skipped_and_reported(layered, caplog):
    with caplog.at_level(logging.WARNING):
        source = image_folder(str(layered))
    names = sorted(path.rsplit("/", 1)[-1] for path in source.skipped)
    assert names == ["broken.jpg", "notes.txt", "truncated.png"]
    assert "Skipped 3 of the files" in caplog.text and "broken.jpg" in caplog.text


def test_the_check_leaves_a_damaged_jpeg_to_the_warning_not_to_libjpeg(tmp_path, capfd):
    # libjpeg wrote "Premature end of JPEG data" (and TensorFlow its log line) to the
    # terminal above the warning that names the file.
    photo = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), np.uint8)).save(
        photo, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(photo.getvalue()[:len(photo.getvalue()) // 2])
    assert folder.undecodable([str(tmp_path / "cut.jpg")]) == [str(tmp_path / "cut.jpg")]
    assert "JPEG" not in capfd.readouterr().err


def encoded_as(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def test_the_pixels_each_header_declares_are_the_decoded_images():
    import struct

    import tensorflow as tf

    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (37, 53, 3), np.uint8))
    files = {name: encoded_as(photo, name) for name in ("JPEG", "PNG", "GIF", "BMP")}
    files["8-bit BMP"] = encoded_as(photo.quantize(16), "BMP")
    top_down = bytearray(files["BMP"])  # a negative height: rows stored top to bottom
    top_down[22:26] = struct.pack("<i", -37)
    files["top-down BMP"] = bytes(top_down)
    for name, contents in files.items():
        assert folder.declared_pixels(contents).numpy() == 37 * 53, name
        assert folder.decode_bytes(contents).shape == (37, 53, 3), name
    assert folder.declared_pixels(encoded_as(photo, "WEBP")).numpy() == 0
    assert folder.declared_pixels(b"\x89PNG").numpy() == 0  # cut short: no header
    widest = bytearray(files["PNG"])  # IHDR's 2**32 - 1 squared does not wrap around
    widest[16:24] = b"\xff" * 8
    assert folder.declared_pixels(bytes(widest)).numpy() > folder.MAX_IMAGE_PIXELS
    with pytest.raises(tf.errors.InvalidArgumentError):
        folder.decode_bytes(bytes(widest))


def test_an_image_too_large_to_decode_is_refused_before_decoding(tmp_path):
    # 20,000 x 10,000 pixels in a 24 KB file: decoded, 600 MB, and over 4 GB in predict's
    # resizing; a 30,000-pixel square would exhaust the memory. PIL refuses it too.
    import tensorflow as tf

    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 10_000)).save(bomb)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"(?s){re.escape(folder.TOO_LARGE)}\D*200000000"):
        folder.decode_bytes(bomb.read_bytes())
    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb).load()
    assert folder.undecodable([str(bomb)]) == [str(bomb)]


def test_webp_and_other_formats_serving_refuses_are_skipped_and_reported(layered, caplog):
    # tf.io.decode_image reads WebP, but serve_bytes and --mode=predict take JPEG, PNG, GIF
    # and BMP only: a run must not train on what its export cannot serve.
    Image.new("RGB", (12, 10), (250, 10, 10)).save(layered / "train" / "cat" / "photo.webp",
                                                   "WEBP")
    with caplog.at_level(logging.WARNING):
        source = image_folder(str(layered))
    names = sorted(path.rsplit("/", 1)[-1] for path in source.skipped)
    assert names == ["broken.jpg", "notes.txt", "photo.webp", "truncated.png"]
    assert "Skipped 4 of the files" in caplog.text and "photo.webp" in caplog.text
    assert source.sizes["train"] + source.sizes["validation"] == 20


@pytest.mark.parametrize("name, problem", [
    ("line\nbreak", r"'.*/line\\nbreak' holds a line break"),
    ("carriage\rreturn", r"'.*/carriage\\rreturn' holds a line break"),
    (b"caf\xe9".decode("utf-8", "surrogateescape"), r"'.*/caf\\udce9' is not valid UTF-8"),
])
def test_a_class_folder_name_labels_txt_cannot_hold_is_refused_before_any_work(
        tmp_path, monkeypatch, name, problem):
    # The names become the lines of the export's labels.txt: refused when the folder is
    # read, not after the training, when the export fails.
    write_images(tmp_path / "pets" / "train" / "cat", 3, (1, 2, 3))
    write_images(tmp_path / "pets" / "train" / name, 3, (1, 2, 3))
    monkeypatch.setattr(folder, "undecodable", lambda paths: pytest.fail("decoded files"))
    with pytest.raises(UsageError, match=f"Class folder {problem}; rename it"):
        image_folder(str(tmp_path / "pets"))


def test_file_names_that_are_not_utf8_are_read(tmp_path):
    for name, colour in (("cat", (250, 10, 10)), ("dog", (10, 10, 250))):
        write_images(tmp_path / name, 5, colour)
        latin1 = b"chat\xe9.png".decode("utf-8", "surrogateescape")  # a Latin-1 file name
        Image.new("RGB", (12, 10), colour).save(tmp_path / name / latin1, "PNG")
    source = image_folder(str(tmp_path))
    assert not source.skipped and sum(source.sizes.values()) == 12
    assert len(all_examples(source.train)) == source.sizes["train"]


def test_validation_is_carved_from_train_per_class_and_deterministically(layered):
    first, second = image_folder(str(layered)), image_folder(str(layered))
    assert first.sizes["validation"] == 2  # ceil(10% of 10) per class
    assert [label for _, label in all_examples(first.validation)] == [0, 1]
    for split in ("train", "validation"):
        ours = [image.tobytes() for image, _ in all_examples(getattr(first, split))]
        again = [image.tobytes() for image, _ in all_examples(getattr(second, split))]
        assert ours == again


def test_a_folder_beside_train_that_is_no_split_is_named(layered, caplog):
    write_images(layered / "val" / "cat", 2, (250, 10, 10))  # ImageNet's name for validation
    with caplog.at_level("WARNING"):
        source = image_folder(str(layered))
    assert "val beside train not read: the splits are the folders train, validation and " \
           "test" in caplog.text
    assert source.sizes["validation"] == 2  # held out of train, as without the folder


def test_the_split_digest_tells_other_files_of_the_same_count(layered):
    digest = image_folder(str(layered)).split_digest
    assert len(digest) == 64 and image_folder(str(layered)).split_digest == digest
    cat = layered / "train" / "cat"
    (cat / "000.jpg").rename(cat / "100.jpg")  # renamed: another image is held out
    renamed = image_folder(str(layered))
    assert renamed.sizes == image_folder(str(layered)).sizes and renamed.split_digest != digest
    (cat / "100.jpg").rename(cat / "000.jpg")
    assert image_folder(str(layered)).split_digest == digest
    Image.new("RGB", (30, 30), (1, 2, 3)).save(cat / "000.jpg", "JPEG")  # replaced
    assert image_folder(str(layered)).split_digest != digest
    from engine.data import load_source

    assert load_source("digits").split_digest is None  # a fixed split needs none


def test_files_outside_any_class_folder_are_named(layered, caplog):
    write_images(layered / "train", 1, (5, 5, 5))  # train/000.jpg: no class
    (layered / "train" / ".DS_Store").write_text("hidden: ignored")
    write_images(layered, 1, (6, 6, 6))  # beside the splits: no split's, no class's
    (layered / "README.txt").write_text("beside the splits, not an image: not named")
    with caplog.at_level(logging.WARNING):
        source = image_folder(str(layered))
    assert f"2 files outside any class folder not read ({layered / '000.jpg'}, " \
           f"{layered / 'train' / '000.jpg'}); a class's images go in its folder" in caplog.text
    assert source.sizes == image_folder(str(layered)).sizes


def test_sub_folders_and_dangling_links_in_class_folders_are_named(layered, caplog):
    # A class's images are the files directly in its folder: a sub-folder of more images
    # and a link to nothing were left out without a word.
    before = image_folder(str(layered)).sizes
    write_images(layered / "train" / "cat" / "2019", 3, (9, 9, 9))
    (layered / "train" / "dog" / "lost.png").symlink_to(layered / "gone.png")
    with caplog.at_level(logging.WARNING):
        source = image_folder(str(layered))
    assert (f"2 entries of class folders not read, not being files "
            f"({layered / 'train' / 'cat' / '2019'}, {layered / 'train' / 'dog' / 'lost.png'}); "
            "a class's images are the files directly in its folder") in caplog.text
    assert source.sizes == before


def test_flat_folder_is_split_into_disjoint_train_validation_test(tmp_path):
    for index, colour in enumerate(((250, 0, 0), (0, 250, 0), (0, 0, 250))):
        write_images(tmp_path / "flat" / f"class{index}", 10, colour)
    source = image_folder(str(tmp_path / "flat"))
    # Per class of 10: ceil(20%) = 2 test, ceil(10% of 8) = 1 validation, 7 train.
    assert source.sizes == {"train": 21, "validation": 3, "test": 6}
    files = [f"{index}.png" for index in range(10)]
    layout = carve_missing_splits({"train": {"cat": files}})
    held_out = layout["test"]["cat"] + layout["validation"]["cat"]
    assert sorted(layout["train"]["cat"] + held_out) == sorted(files)
    assert len(set(held_out)) == 3 and not set(held_out) & set(layout["train"]["cat"])
    assert carve_missing_splits({"train": {"cat": files}}) == layout


def test_empty_class_and_empty_folder_are_clear_errors(tmp_path):
    write_images(tmp_path / "one" / "train" / "cat", 3, (1, 2, 3))
    (tmp_path / "one" / "train" / "dog").mkdir()
    with pytest.raises(ValueError, match=r"Class folder '.*train/dog' holds no decodable images"):
        image_folder(str(tmp_path / "one"))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ValueError, match="holds no class folders"):
        image_folder(str(tmp_path / "nothing"))
    with pytest.raises(ValueError, match="is not a directory"):
        image_folder(str(tmp_path / "missing"))


def test_test_classes_must_exist_in_train(tmp_path):
    write_images(tmp_path / "pets" / "train" / "cat", 3, (1, 2, 3))
    write_images(tmp_path / "pets" / "train" / "dog", 3, (1, 2, 3))
    write_images(tmp_path / "pets" / "test" / "bird", 1, (1, 2, 3))
    with pytest.raises(ValueError, match=r"classes \['bird'\] that train lacks"):
        image_folder(str(tmp_path / "pets"))


def test_too_few_images_to_hold_out_splits_is_a_clear_error(tmp_path):
    write_images(tmp_path / "tiny" / "cat", 1, (1, 2, 3))
    write_images(tmp_path / "tiny" / "dog", 1, (1, 2, 3))
    # One image a class gives no test split, with validation or without: said first, so
    # that no remedy offered leads to the other refusal.
    for fraction in (0.1, 0.0):
        with pytest.raises(ValueError, match=r"to hold out a test split; add images or provide "
                                             r"PATH/test/<class>/\*\.$"):
            image_folder(str(tmp_path / "tiny"), validation_fraction=fraction)
    write_images(tmp_path / "tiny" / "cat", 1, (1, 2, 3), start=1)
    write_images(tmp_path / "tiny" / "dog", 1, (1, 2, 3), start=1)
    with pytest.raises(ValueError, match="too few images per class to hold out a validation split"
                                         r".*, or pass --validation_fraction=0 to train"):
        image_folder(str(tmp_path / "tiny"))
    assert image_folder(str(tmp_path / "tiny"), validation_fraction=0.0).sizes == {
        "train": 2, "validation": 0, "test": 2}  # the remedy offered works


def test_an_empty_test_or_validation_folder_is_named(tmp_path):
    # It was "too few images per class to hold out a test split", though none is held out.
    for name in ("cat", "dog"):
        write_images(tmp_path / "data" / "train" / name, 10, (1, 2, 3))
    (tmp_path / "data" / "test").mkdir()
    with pytest.raises(ValueError, match=r"data/test holds no images; add .*data/test/<class>/"
                                         r"\* or remove the folder"):
        image_folder(str(tmp_path / "data"))
    (tmp_path / "data" / "test").rmdir()
    (tmp_path / "data" / "validation").mkdir()
    with pytest.raises(ValueError, match=r"data/validation holds no images"):
        image_folder(str(tmp_path / "data"))
    assert image_folder(str(tmp_path / "data"), validation_fraction=0.0).sizes == {
        "train": 16, "validation": 0, "test": 4}


def test_a_folder_of_splits_without_train_is_told_so(tmp_path):
    # It was read flat: "holds one class ('test')".
    for name in ("cat", "dog"):
        write_images(tmp_path / "data" / "test" / name, 2, (1, 2, 3))
    with pytest.raises(ValueError, match=r"Image folder '.*data' has 'test' but no 'train' "
                                         r"split; put the training images in "
                                         r"PATH/train/<class>/\* beside them\."):
        image_folder(str(tmp_path / "data"))


def test_split_folders_in_capitals_are_told_to_be_renamed(tmp_path):
    # Read as the classes 'Test' and 'Train', then "'Test' holds no decodable images".
    for split in ("Train", "Test", "val"):
        for name in ("cat", "dog"):
            write_images(tmp_path / "data" / split / name, 2, (1, 2, 3))
    with pytest.raises(ValueError, match=r"Image folder '.*data' has 'Test' and 'Train' and "
                                         r"'val', which would be read as classes; the split "
                                         r"folders are train, validation and test: rename "
                                         r"'Test' to 'test', 'Train' to 'train', 'val' to "
                                         r"'validation'\.$"):
        image_folder(str(tmp_path / "data"))
    write_images(tmp_path / "data" / "valid" / "cat", 2, (1, 2, 3))  # not both to validation
    with pytest.raises(ValueError, match=r"has 'val' and 'valid', which all name the validation "
                                         r"split; keep one, named 'validation', beside 'train'\.$"):
        image_folder(str(tmp_path / "data"))


def test_a_single_class_is_not_a_classification_dataset(tmp_path):
    write_images(tmp_path / "one" / "cat", 4, (1, 2, 3))
    with pytest.raises(ValueError, match=r"holds one class \('cat'\); a classifier needs at "
                                         "least two"):
        image_folder(str(tmp_path / "one"))


def test_validation_fraction_zero_keeps_every_training_image(tmp_path):
    for name, colour in (("cat", (250, 10, 10)), ("dog", (10, 10, 250))):
        write_images(tmp_path / name, 10, colour)
    held_out = image_folder(str(tmp_path))
    assert held_out.sizes == {"train": 14, "validation": 2, "test": 4}
    whole = image_folder(str(tmp_path), validation_fraction=0.0)
    assert whole.sizes == {"train": 16, "validation": 0, "test": 4}
    assert len(list(whole.validation)) == 0 and len(list(whole.train)) == 16


def test_a_relative_folder_is_recorded_absolute(tmp_path, monkeypatch):
    import recipes
    from engine import spec

    monkeypatch.chdir(tmp_path)
    run = spec.resolve("lenet5_modern", recipes.get("lenet5_modern").training,
                       dataset="folder:images/flat", model_dir="run")
    assert run.data.dataset == f"folder:{tmp_path / 'images' / 'flat'}"
    assert run.model_dir == str(tmp_path / "run")


def test_a_folder_dataset_without_a_path_is_refused(tmp_path, monkeypatch):
    import recipes
    from engine import spec

    # It crashed recording the run (absolute('') is None: a TypeError).
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"--dataset=folder: names no folder; pass folder:PATH"):
        spec.resolve("lenet5_modern", recipes.get("lenet5_modern").training, dataset="folder:")
    assert not (tmp_path / "runs").exists()


def a_minute_later(monkeypatch):
    """The remembered checks' clock a minute ahead: the files just written look settled."""
    import time
    import types

    from engine.data import file_checks

    monkeypatch.setattr(file_checks, "time", types.SimpleNamespace(time=lambda: time.time() + 60))


def test_the_check_of_unchanged_files_is_remembered_until_one_changes(layered, monkeypatch,
                                                                     caplog):
    checks = []
    check = folder.undecodable
    monkeypatch.setattr(folder, "undecodable", lambda paths: checks.append(paths) or check(paths))

    def opened():
        with caplog.at_level("WARNING"):
            caplog.clear()
            source = image_folder(str(layered))
        return source.skipped, caplog.text

    fresh = opened()
    assert len(checks) == 1 and len(checks[0]) == 27 and "Skipped 3 of the files" in fresh[1]
    assert opened() == fresh and len(checks[1]) == 27  # just written: not remembered yet
    a_minute_later(monkeypatch)
    opened()
    assert opened() == fresh and len(checks) == 4  # remembered: only the 3 skipped again
    assert sorted(checks[3]) == sorted(fresh[0])
    broken = layered / "train" / "cat" / "000.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"\0" * (broken.stat().st_size - 3))  # same size
    skipped, said = opened()
    assert len(checks[4]) == 27 and str(broken) in skipped and "Skipped 4 of the files" in said


def test_a_file_changed_just_before_the_check_is_not_remembered(layered, monkeypatch):
    # Its time stamps (the change time, which cp -p and utime cannot set back) are too
    # recent to tell a later rewrite in the same tick of a coarse clock.
    import os
    import time

    for file in layered.rglob("*"):
        os.utime(file, (time.time() - 3600,) * 2)  # mtime an hour back, ctime now
    checks = []
    check = folder.undecodable
    monkeypatch.setattr(folder, "undecodable", lambda paths: checks.append(paths) or check(paths))
    image_folder(str(layered))
    image_folder(str(layered))
    assert [len(paths) for paths in checks] == [27, 27]


def test_a_cache_folder_that_cannot_be_written_costs_only_the_check(layered, monkeypatch,
                                                                    tmp_path):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    a_minute_later(monkeypatch)
    assert len(image_folder(str(layered)).skipped) == 3
    assert len(image_folder(str(layered)).skipped) == 3


def test_a_relative_cache_home_is_ignored_as_the_xdg_specification_says(monkeypatch, tmp_path):
    from engine.data import file_checks

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert file_checks.cache_folder() == tmp_path / ".cache" / "convnet-recipes" / "folder-checks"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert file_checks.cache_folder() == tmp_path / "cache" / "convnet-recipes" / "folder-checks"


def test_other_check_rules_are_not_served_an_earlier_record(layered, monkeypatch):
    from engine.data import file_checks

    a_minute_later(monkeypatch)
    paths = [str(file) for file in sorted(layered.rglob("*.png"))]
    assert file_checks.remembered(paths, lambda files: [], "rules 1") == []
    assert file_checks.remembered(paths, lambda files: files[:1], "rules 1") == []  # remembered
    assert file_checks.remembered(paths, lambda files: files[:1], "rules 2") == paths[:1]


def test_a_record_that_does_not_list_these_files_is_not_trusted(layered, monkeypatch,
                                                                 tmp_path):
    from engine.data import file_checks

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    a_minute_later(monkeypatch)
    paths = [str(file) for file in sorted(layered.rglob("*.png"))]
    assert file_checks.remembered(paths, lambda files: files[:1], "rules") == paths[:1]
    (record,) = file_checks.cache_folder().glob("*.json")
    for content in ("null", "0", "{}", '{"failed": null}', '{"failed": "ab"}',
                    '{"failed": ["/elsewhere.png"]}', '{"failed": [[1]]}', "not json"):
        record.write_text(content)
        assert file_checks.remembered(paths, lambda files: files[:1], "rules") == paths[:1]


def test_a_modification_time_set_into_the_future_does_not_stop_the_remembering():
    import os
    import time

    from engine.data import file_checks

    now = time.time()
    status = os.stat_result((0, 0, 0, 0, 0, 0, 0, now, now + 3600, now - 60))  # ctime a minute ago
    assert file_checks.settled(status, now)  # touch -d: no write stamps the future
    status = os.stat_result((0, 0, 0, 0, 0, 0, 0, now, now - 1, now - 60))
    assert not file_checks.settled(status, now)  # written a second ago
    status = os.stat_result((0, 0, 0, 0, 0, 0, 0, now, now - 60, now - 1))
    assert not file_checks.settled(status, now)  # changed a second ago (cp -p, utime)


def test_one_folder_reached_as_two_class_folders_is_refused(layered, tmp_path):
    # A test split linked to train would test on the training images; a class linked to
    # another would be a second class of the same images.
    (layered / "train" / "kitten").symlink_to(layered / "train" / "cat")
    with pytest.raises(UsageError, match=re.escape(
            f"Image folder {str(layered)!r}: train/cat and train/kitten are one folder "
            f"({layered / 'train' / 'cat'}), reached through a link, so its images would be "
            "read twice; give each class of each split its own folder.")):
        image_folder(str(layered))
    (layered / "train" / "kitten").unlink()
    elsewhere = tmp_path / "elsewhere"  # a class folder kept elsewhere, linked once: fine
    (layered / "train" / "dog").rename(elsewhere)
    (layered / "train" / "dog").symlink_to(elsewhere)
    assert image_folder(str(layered)).class_names == ("cat", "dog")
    shutil.rmtree(layered / "test")
    (layered / "test").symlink_to(layered / "train")
    with pytest.raises(UsageError, match="train/cat and test/cat are one folder"):
        image_folder(str(layered))
