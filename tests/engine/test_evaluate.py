"""evaluate(): plain and test-time-augmented accuracy on the test split, its interval,
dense evaluation, Monte Carlo dropout and ensembles."""

import keras
import numpy as np
import pytest

from engine.data import DataSpec, prepare
from engine.data.augment import make_augmentation
from engine.data.tta import dense_scale
from engine.evaluate import (accuracy_interval, as_probabilities, check_evaluation, evaluate,
                             evaluate_ensemble, evaluate_mc_dropout, format_accuracy,
                             predict, predict_test_split)
from layers import UsageError


@pytest.fixture(scope="module")
def digits():
    return prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True), (16, 16, 1))


def flip_invariant_model(activation="softmax"):
    """Global average pooling first: the same output for an image and its mirror."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 1, activation="relu")(inputs)  # 1x1: no left or right
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(10)(x)
    outputs = keras.layers.Activation(activation or "linear", name="predictions")(x)
    return keras.Model(inputs, outputs)


def test_plain_metrics_match_keras_evaluate(digits):
    model = flip_invariant_model()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(digits.pipelines.test, verbose=0)
    result = evaluate(model, digits)
    assert set(result) == {"test_accuracy", "test_accuracy_interval", "test_loss"}
    assert result["test_accuracy_interval"]["n"] == 360
    assert result["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result["test_loss"] == pytest.approx(loss, rel=1e-5)


def test_flip_tta_of_a_flip_invariant_model_changes_nothing(digits):
    result = evaluate(flip_invariant_model(), digits, "flip")
    assert result["tta"] == "flip"
    assert result["tta_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-9)
    assert result["tta_loss"] == pytest.approx(result["test_loss"], rel=1e-5)


def test_ten_crop_tta_averages_the_softmax_of_the_views(digits):
    model = flip_invariant_model()
    images, labels = next(iter(digits.tta_pipeline("10crop")))
    views = np.asarray(images).reshape(-1, 16, 16, 1)
    expected = np.asarray(model.predict_on_batch(views)).reshape(len(labels), 10, 10).mean(axis=1)
    assert expected.shape == (6, 10)  # 64 // 10 test images per batch of views
    probabilities, _ = predict(model, digits.tta_pipeline("10crop").take(1))
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    result = evaluate(model, digits, "10crop")
    assert 0 <= result["tta_accuracy"] <= 1 and result["tta_loss"] > 0


def test_logits_are_turned_into_probabilities(digits):
    logits_model = flip_invariant_model(activation=None)
    softmax_model = flip_invariant_model()
    outputs = logits_model.predict_on_batch(np.zeros((2, 16, 16, 1), np.float32))
    np.testing.assert_allclose(as_probabilities(logits_model, outputs).sum(axis=-1), 1, rtol=1e-9)
    logits_result, softmax_result = evaluate(logits_model, digits), evaluate(softmax_model, digits)
    assert logits_result["test_accuracy"] == softmax_result["test_accuracy"]
    assert logits_result["test_loss"] == pytest.approx(softmax_result["test_loss"])


def test_accuracy_interval_is_the_normal_approximation():
    # The example: 0.9852 on 10,000 images is +- 1.96 sqrt(0.9852 * 0.0148 / 10000).
    interval = accuracy_interval(0.9852, 10_000)
    assert interval["half_width"] == pytest.approx(0.002367, abs=1e-6)
    assert interval["method"] == "normal approximation" and interval["confidence"] == 0.95
    assert interval["low"] == pytest.approx(0.9852 - interval["half_width"])
    assert format_accuracy(0.9852, interval) == "0.9852 ± 0.0024 (95%, n=10000)"
    # Four times the test set halves the interval (the lectures' O(1/sqrt(n))).
    assert accuracy_interval(0.9852, 40_000)["half_width"] == pytest.approx(
        interval["half_width"] / 2)
    assert accuracy_interval(0.99, 100)["high"] == 1.0  # clipped to [0, 1]
    assert accuracy_interval(0.5, 100, confidence=0.99)["half_width"] == pytest.approx(
        2.5758 * 0.05, abs=1e-4)


def fully_connected_model():
    """A conv, 2x2 pooling, then Flatten and two Dense layers: what dense evaluation converts."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    x = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))


def test_dense_evaluation_at_the_native_size_is_the_plain_evaluation(digits):
    # The `none` preset trains without flips, so dense evaluation has one view: the whole
    # image at Q = 16, which is the plain evaluation view, through the converted network.
    dense = prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True, tta="dense"),
                    (16, 16, 1), preprocessing=digits.preprocessing)
    result = evaluate(fully_connected_model(), dense, "dense")
    assert result["tta"] == "dense" and result["test_scale"] == 16
    assert result["tta_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-9)
    assert result["tta_loss"] == pytest.approx(result["test_loss"], rel=1e-5)


def test_dense_evaluation_averages_the_image_and_its_mirror_for_flip_trained_runs():
    # The cifar preset trains on flips: dense at the native size is then flip TTA.
    data = prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True,
                            augmentation="cifar", tta="dense"), (16, 16, 1))
    model = fully_connected_model()
    dense, flip = predict_test_split(model, data, "dense"), predict_test_split(model, data, "flip")
    np.testing.assert_allclose(dense[0], flip[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(dense[1], flip[1])
    larger = prepare(DataSpec(dataset="digits", batch_size=64, deterministic=True,
                              augmentation="cifar", tta="dense", test_scale=24), (16, 16, 1),
                     preprocessing=data.preprocessing)
    images, _ = next(iter(larger.tta_pipeline("dense")))
    assert images.shape[1:] == (2, 24, 24, 1)
    assert 0 <= evaluate(model, larger, "dense")["tta_accuracy"] <= 1


@pytest.mark.parametrize("augmentation, whole", [("cifar", (24, 40)), ("alexnet", (24, 40)),
                                                  ("vgg", (24, 40)), ("none", (32, 32))])
def test_dense_evaluation_sees_the_whole_uncropped_image(tmp_path, augmentation, whole):
    # Folder images of 30x50 (rows x columns); dense at Q = 24 rescales the whole image
    # to 24x40, where the presets' stored test images are cropped square. A 30x30 image
    # is a little smaller than a 32x32 input: padded, as the stored image is.
    from PIL import Image

    rows, columns = (30, 50) if whole != (32, 32) else (30, 30)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(5):
            Image.new("RGB", (columns, rows), (40 * index, 0, 0)).save(
                tmp_path / name / f"{index}.png")
    scale = whole[0]
    data = prepare(DataSpec(dataset=f"folder:{tmp_path}", batch_size=4, augmentation=augmentation,
                            tta="dense", test_scale=scale), (scale, scale, 3))
    images, _ = next(iter(data.tta_pipeline("dense")))
    assert images.shape[2:4] == whole


def test_dense_scale_defaults_to_the_presets_training_scale():
    # VGG's Table 3: Q = 384 for S jittered in [256, 512]; 256 for AlexNet's crops.
    assert dense_scale(make_augmentation("vgg", (224, 224, 3))) == 384
    assert dense_scale(make_augmentation("resnet", (224, 224, 3))) == 368  # [256, 480]
    assert dense_scale(make_augmentation("zfnet", (224, 224, 3))) == 256
    assert dense_scale(make_augmentation("alexnet", (227, 227, 3))) == 256
    assert dense_scale(make_augmentation("inception", (224, 224, 3))) == 256
    assert dense_scale(make_augmentation("none", (32, 32, 1))) == 32
    assert dense_scale(make_augmentation("vgg", (224, 224, 3)), 512) == 512


def test_evaluation_options_that_cannot_apply_are_usage_errors():
    with pytest.raises(UsageError, match="no fully connected layers"):
        check_evaluation(flip_invariant_model(), "dense")
    with pytest.raises(UsageError, match=r"--test_scale=12 is smaller .* Q >= 16"):
        check_evaluation(fully_connected_model(), "dense", test_scale=12)
    with pytest.raises(UsageError, match="--mc_dropout needs Dropout layers"):
        check_evaluation(flip_invariant_model(), mc_dropout=5)
    check_evaluation(fully_connected_model(), "dense", 32, mc_dropout=5)
    with pytest.raises(UsageError, match="--test_scale .* with --tta=flip"):
        DataSpec(tta="flip", test_scale=300)


def test_monte_carlo_dropout_averages_stochastic_passes_reproducibly(digits):
    model = fully_connected_model()
    plain = evaluate(model, digits)
    first = evaluate_mc_dropout(model, digits, passes=4, seed=7)
    again = evaluate_mc_dropout(model, digits, passes=4, seed=7)
    other = evaluate_mc_dropout(model, digits, passes=4, seed=8)
    assert first["passes"] == 4 and first == again
    assert first["test_loss"] != plain["test_loss"] and other["test_loss"] != first["test_loss"]
    assert {"expected_calibration_error", "mean_entropy_correct",
            "mean_entropy_wrong"} <= set(first["calibration"])


def test_an_ensemble_averages_the_members_probabilities():
    labels = np.array([0, 1, 1])
    # Each member is right on two images; averaged, they are right on all three.
    first = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    second = np.array([[0.4, 0.6], [0.1, 0.9], [0.3, 0.7]])
    result = evaluate_ensemble([first, second], labels)
    assert [member["test_accuracy"] for member in result["members"]] == [2 / 3, 2 / 3]
    assert result["test_accuracy"] == 1.0
    assert result["test_loss"] == pytest.approx(-np.mean(np.log([0.65, 0.65, 0.75])))
    assert result["test_accuracy_interval"]["n"] == 3


def test_the_runs_of_an_ensemble_are_not_reported_as_retracing(digits, tensorflow_warnings):
    # Each run's forward function traces for the full and the last, smaller batch: three
    # runs in a row are six traces of the code TensorFlow keys its counts by.
    for _ in range(3):
        predict(flip_invariant_model(), digits.pipelines.test)
    assert not [message for message in tensorflow_warnings if "retracing" in message]


def test_outputs_that_are_not_finite_fail_rather_than_score_as_class_0():
    # argmax read each NaN row as class 0: a network that output NaN on every image
    # scored 0.5 on two balanced classes, and was saved and exported.
    from engine.evaluate import scores
    from layers.errors import RunFailure

    probabilities = np.array([[0.9, 0.1], [np.nan, np.nan], [0.2, np.inf], [0.3, 0.7]])
    with pytest.raises(RunFailure, match=r"^The network's outputs are not finite numbers "
                       r"\(NaN or infinite\) on 2 of the 4 test images"):
        scores(probabilities, np.array([0, 0, 1, 1]))
    assert scores(probabilities[[0, 3]], np.array([0, 1]))["accuracy"] == 1.0
