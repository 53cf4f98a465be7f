"""layers/ and recipes/ import keras only: they build, train one step and round-trip
through .keras on the JAX backend too (the backend the GPU benchmarks run on)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# XLA's CPU compiler without its costly LLVM passes: these tests check results, not speed,
# and compiling each model's training step is most of their time.
FAST_XLA = {**os.environ,
            "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"}

SCRIPT = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, sys.argv[1])
import numpy as np
import keras
import layers, recipes
assert keras.backend.backend() == "jax"

CASES = {  # recipe -> build arguments; together they use every custom layer
    "lenet5": {},
    "alexnet_grouped": {"input_shape": (67, 67, 3)},
    "alphago_policy_k128": {},
    "resnet20": {"final_survival_probability": 0.5},  # option A shortcuts, stochastic depth
    "fractalnet": {"filters": (8, 8), "dropout": (0.1, 0.2)},  # two blocks: every join layer
    "zfnet": {"input_shape": (63, 63, 3)},  # MaxFilterRMS
}
maxout = keras.Sequential([keras.Input((6, 6, 4)), layers.ChannelMaxout(2),
                           keras.layers.Flatten(), layers.Maxout(3, 2)], name="maxout")
rng = np.random.default_rng(0)
for name, options in [*CASES.items(), ("maxout", None)]:
    model = maxout if options is None else recipes.build(name, **options)
    x = rng.normal(size=(2, *model.input_shape[1:])).astype("float32")
    targets = [np.array([0, 1])] * len(model.outputs)
    model.compile("sgd", ["sparse_categorical_crossentropy"] * len(model.outputs))
    loss = model.train_on_batch(x, targets if len(targets) > 1 else targets[0])
    assert np.all(np.isfinite(loss)), (name, loss)
    path = os.path.join(sys.argv[2], f"{name}.keras")  # the test's tmp_path
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(keras.tree.flatten(model(x)), keras.tree.flatten(reloaded(x))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    print("ok", name, flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install -e '.[test]' installs it)")
def test_every_custom_layer_trains_and_round_trips_on_jax(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT), str(tmp_path)],
                            capture_output=True,
                            text=True, timeout=900, env=FAST_XLA)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("ok ") == 7  # the six recipes and maxout


LOOKING_INSIDE = r"""
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, sys.argv[1])
import numpy as np
import keras
import layers, recipes
assert keras.backend.backend() == "jax"
rng = np.random.default_rng(0)
x = rng.normal(size=(2, 7, 7, 3)).astype("float32")
conv = keras.layers.Conv2D(4, 3, strides=2, padding="same")
expected = np.asarray(conv(x))
ours = layers.conv_as_matmul(x, conv.kernel, conv.bias, strides=2, padding="same")
np.testing.assert_allclose(np.asarray(ours), expected, rtol=1e-5, atol=1e-5)
lenet = recipes.build("lenet5_modern")
images = rng.normal(size=(2, 32, 32, 1)).astype("float32")
dense = layers.fully_convolutional(lenet)
np.testing.assert_allclose(np.asarray(dense(images)), np.asarray(lenet(images)), atol=1e-6)
inputs = keras.Input((8,))
model = keras.Model(inputs, keras.layers.Dense(2)(layers.MonteCarloDropout(0.5)(inputs)))
model.compile("sgd", "mse")
model.train_on_batch(np.ones((4, 8), "float32"), np.zeros((4, 2), "float32"))
path = os.path.join(sys.argv[2], "model.keras")  # the test's tmp_path
model.save(path)
reloaded = keras.saving.load_model(path, safe_mode=True)
assert isinstance(reloaded.layers[1], layers.MonteCarloDropout)
dropped = np.asarray(layers.with_dropout_at_test_time(
    keras.Sequential([keras.Input((400,)), keras.layers.Dropout(0.5)]))(np.ones((1, 400))))
assert 0 < (dropped == 0).sum() < 400
print("ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX is not installed (pip install -e '.[test]' installs it)")
def test_im2col_dense_evaluation_and_monte_carlo_dropout_on_jax(tmp_path):
    result = subprocess.run([sys.executable, "-c", LOOKING_INSIDE, str(ROOT), str(tmp_path)],
                            capture_output=True, text=True, timeout=900, env=FAST_XLA)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
