"""evaluate(): plain and test-time-augmented accuracy on the test split."""

import keras
import numpy as np
import pytest

from engine.data import DataSpec, prepare
from engine.evaluate import as_probabilities, evaluate, predict


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
    assert set(result) == {"test_accuracy", "test_loss"}
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
    assert evaluate(logits_model, digits) == pytest.approx(evaluate(softmax_model, digits))
