"""model.tflite: builtin ops, uint8 input, the normalization inside; mixed-precision
models converted in float32. (The trained float32 case: tests/test_serving.py.)"""

import keras
import numpy as np
import pytest

import recipes
from engine.data import Preprocessing
from engine.serving import tflite


@pytest.fixture
def mixed_model():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = recipes.build("lenet5_modern", classes=10, input_shape=(32, 32, 1))
    finally:
        keras.config.set_dtype_policy("float32")
    yield model
    keras.backend.clear_session()


def test_a_float32_model_is_converted_as_it_is():
    model = recipes.build("lenet5_modern", classes=10, input_shape=(32, 32, 1))
    assert tflite.float32_copy(model) is model


def test_a_mixed_precision_model_converts_in_float32_with_its_weights(mixed_model, tmp_path):
    assert mixed_model.get_layer("c1").compute_dtype == "float16"
    copy = tflite.float32_copy(mixed_model)
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for original, copied in zip(mixed_model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(original, copied)

    preprocessing = Preprocessing(input_shape=(32, 32, 1), normalization="per_channel",
                                  mean=(40.0,), std=(70.0,), colour_eigenvalues=(1.0,),
                                  colour_eigenvectors=((1.0,),))
    flatbuffer = tflite.convert(mixed_model, preprocessing)
    assert b"Flex" not in flatbuffer
    path = tmp_path / "model.tflite"
    path.write_bytes(flatbuffer)
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 1), dtype=np.uint8)
    outputs = tflite.classify(str(path), images)
    expected = copy.predict((images.astype(np.float32) - 40.0) / 70.0, verbose=0)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["class_ids"], expected.argmax(axis=-1))
    assert outputs["logits"].shape == (6, 10)
