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
