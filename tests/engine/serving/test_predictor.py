"""SavedClassifier: an export read back with TensorFlow alone, as --mode=predict reads it;
a folder that is not such an export, or a damaged one, is one sentence naming it."""

import shutil

import keras
import pytest
import tensorflow as tf

import recipes
from engine.data import Preprocessing, make_augmentation
from engine.serving import contract
from engine.serving.export import export
from engine.serving.predictor import SavedClassifier
from layers.errors import UsageError

INPUT_SHAPE = (32, 32, 1)


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    """An (untrained) LeNet-5 exported as version 1 of a model base path."""
    keras.utils.set_random_seed(0)
    model = recipes.build("lenet5_modern", classes=3, input_shape=INPUT_SHAPE)
    preprocessing = Preprocessing(input_shape=INPUT_SHAPE, normalization="per_channel",
                                  mean=(40.0,), std=(70.0,), colour_eigenvalues=(1.0,),
                                  colour_eigenvectors=((1.0,),))
    base = tmp_path_factory.mktemp("predictor") / "export"
    return export(model, make_augmentation("none", INPUT_SHAPE), preprocessing,
                  ["cat", "dog", "eel"], str(base))


def test_an_export_is_read_with_its_class_names(version):
    assert SavedClassifier(version).class_names == ("cat", "dog", "eel")


def damage_variables(folder):
    shutil.rmtree(folder / "variables")


def damage_saved_model(folder):
    graph = folder / "saved_model.pb"
    graph.write_bytes(graph.read_bytes()[:1000])


@pytest.mark.parametrize("damage", [damage_variables, damage_saved_model])
def test_a_damaged_export_is_one_sentence_naming_it(version, damage, tmp_path):
    copy = tmp_path / "1"
    shutil.copytree(version, copy)
    damage(copy)
    with pytest.raises(UsageError, match=f"^{copy} is damaged .*--mode=export"):
        SavedClassifier(str(tmp_path))


def test_a_folder_without_labels_is_not_a_classifier_export(version, tmp_path):
    copy = tmp_path / "1"
    shutil.copytree(version, copy)
    (copy / "assets" / contract.LABELS_FILE).unlink()
    with pytest.raises(UsageError, match=f"^{copy} is no classifier export: it lacks "
                                         f"assets/{contract.LABELS_FILE}"):
        SavedClassifier(str(copy))


def test_another_programs_saved_model_is_not_a_classifier_export(version, tmp_path):
    module = tf.Module()
    module.double = tf.function(lambda x: {"y": 2 * x},
                                input_signature=[tf.TensorSpec([None], tf.float32)])
    other = tmp_path / "other" / "7"
    tf.saved_model.save(module, str(other),
                        signatures={"serving_default": module.double.get_concrete_function()})
    (other / "assets").mkdir(exist_ok=True)
    shutil.copy(f"{version}/assets/{contract.LABELS_FILE}", other / "assets")
    with pytest.raises(UsageError, match=f"^{other} is no classifier export: it has no "
                                         "serve_bytes signature \\(it has serving_default\\)"):
        SavedClassifier(str(other.parent))


def edited_labels(version, tmp_path, contents: bytes):
    """A copy of ``version`` whose labels.txt holds ``contents``, as a hand edit left it."""
    copy = tmp_path / "1"
    shutil.copytree(version, copy)
    (copy / "assets" / contract.LABELS_FILE).write_bytes(contents)
    return copy


@pytest.mark.parametrize("contents", [b"chat\nchien\nanguille", b"chat\r\nchien\r\nanguille\r\n"])
def test_labels_edited_by_hand_are_read_as_the_export_reads_them(version, tmp_path, contents):
    # Without a final line break the last class lost its name (an IndexError when an image
    # was classified as it); Windows line breaks are read as the lookup table reads them.
    copy = edited_labels(version, tmp_path, contents)
    classifier = SavedClassifier(str(copy))
    assert classifier.class_names == ("chat", "chien", "anguille")
    served = classifier.serve_bytes(image_bytes=tf.constant([
        tf.io.encode_png(tf.fill([8, 8, 1], tf.constant(value, tf.uint8))).numpy()
        for value in (0, 80, 160, 240)]))
    assert [name.decode() for name in served["class_names"].numpy()] == [
        classifier.class_names[class_id] for class_id in served["class_ids"].numpy()]


@pytest.mark.parametrize("contents, message", [
    (b"chat\nchien\n", "names 2 classes, but the model has 3"),
    (b"chat\nchien\nanguille\nrat\n", "names 4 classes, but the model has 3"),
    (b"chat\nchien\ncaf\xe9\n", "is not UTF-8 text"),
])
def test_labels_that_do_not_name_the_classes_are_one_sentence(version, tmp_path, contents,
                                                              message):
    copy = edited_labels(version, tmp_path, contents)
    with pytest.raises(UsageError, match=f"^{copy}/assets/{contract.LABELS_FILE} {message}"):
        SavedClassifier(str(copy))
