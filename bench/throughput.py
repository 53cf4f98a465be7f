"""Training throughput of a recipe, side by side with the matching keras.applications model.

    python bench/throughput.py --recipe=resnet50 --baseline=keras --batch_size=16
    python bench/throughput.py --recipe=vgg16 --baseline=keras --batch_size=8 \\
        --precision=mixed_bfloat16
    python bench/throughput.py --recipe=resnet50 --backend=jax --precision=mixed_bfloat16

Times whole training steps (forward, backward, the optimizer's update) on one
synthetic batch held on the device, after ``--warmup_steps`` untimed ones (tracing,
compilation), in ``--windows`` windows of ``--steps`` steps. With
``--baseline=keras`` the matching ``keras.applications`` model (ResNet50/101/152,
VGG16/19, built with ``weights=None`` for the recipe's classes and input) trains on
the same batch, compiled the same way (the recipe's optimizer, weight decay and loss:
``engine.training.compile_model``), window by window in alternating order, so both see
the same load; the ratio is the median of the windows' ratios (recipe / baseline),
``fastest_ratio`` that of each model's fastest window and, on a CPU, ``cpu_ratio`` the
median of the windows' ratios of process CPU seconds (baseline / recipe): a window the
machine stretched while the process sat idle (``bench/loop_overhead.py``) keeps its CPU
time.
Both go through the project's training path (``engine.loop.fit``) on TensorFlow, and
through Keras's own ``fit`` on JAX (over a generator of the batch already on the device,
so that steps queue up as PyTorch's do and the window waits for the device once),
where the engine (TensorFlow's side) is not used: ``--backend=jax`` (or
``KERAS_BACKEND=jax``) imports no TensorFlow.

Each window also times square matmuls in the policy's compute dtype, the device's
practical limit (2048 wide on a CPU, 8192 on an accelerator, queued and waited for
once); the result reports the training FLOPs the model does (``3 x 2 x`` its
multiply-adds per image: forward, and a backward pass twice as costly) as a share of
it. ``--baseline=torchvision`` (PyTorch, on the GPU where it sees one) times
torchvision's model with ``torch.compile`` and bf16 autocast instead (so with
``--precision=mixed_bfloat16`` only), and ``--peak_tflops`` adds the model FLOP
utilization (MFU) against the device's peak. The last line is the result.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import random
import sys
import time


def _early_flag(argv: list[str], name: str) -> str | None:
    """``--name``'s value in ``argv``, read before absl parses it: Keras reads its backend,
    and JAX its memory settings, once, at import."""
    for index, argument in enumerate(argv):
        if argument.startswith(f"--{name}="):
            return argument.split("=", 1)[1]
        if argument == f"--{name}" and index + 1 < len(argv):
            return argv[index + 1]
    return None


BACKENDS = ("tensorflow", "jax")
if _early_flag(sys.argv, "backend") in BACKENDS:
    os.environ["KERAS_BACKEND"] = _early_flag(sys.argv, "backend")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if _early_flag(sys.argv, "baseline") == "torchvision":  # JAX and PyTorch share the GPU
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from absl import flags  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import recipes  # noqa: E402
from bench.common import emit, machine, median, run  # noqa: E402
from engine import training  # noqa: E402  (compiling imports no TensorFlow)
from engine.choices import PRECISIONS  # noqa: E402
from layers.errors import UsageError  # noqa: E402
from recipes.summary import summarize, totals  # noqa: E402

# recipe -> the keras.applications model of the same architecture (the ResNets' have
# convolution biases, the paper's Caffe models none: 25,636,712 parameters against
# 25,610,152 for ResNet-50, 44,707,176 / 44,654,504 and 60,419,944 / 60,344,232 for 101 and
# 152; the VGGs' counts are equal)
KERAS_APPLICATIONS = {
    "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
    "vgg16": "VGG16", "vgg19": "VGG19", "vgg_d": "VGG16", "vgg_e": "VGG19",
}
# recipe -> the torchvision.models constructor of the same architecture
# (torchvision's bottleneck ResNets stride on the 3x3 convolution: resnet50_v1_5's layout,
# about 6% more multiply-adds than the v1 recipes' 1x1 stride, 4.09 G against 3.86 G for
# ResNet-50)
TORCHVISION_MODELS = {
    "resnet18": "resnet18", "resnet34": "resnet34", "resnet50_v1_5": "resnet50",
    "resnet50": "resnet50",
    "resnet101": "resnet101", "resnet152": "resnet152", "vgg16": "vgg16", "vgg19": "vgg19",
    "vgg_d": "vgg16", "vgg_e": "vgg19",
}
BASELINES = ("none", "keras", "torchvision")
MATMUL_SIZES = {"cpu": 2048, "accelerator": 8192}
MATMULS_PER_WINDOW = 3
TRAINING_FLOPS_PER_MAC = 6  # forward 2 FLOPs per multiply-add, backward twice the forward

FLAGS = flags.FLAGS
flags.DEFINE_string("recipe", "resnet50", "Registered recipe name.")
flags.DEFINE_enum("baseline", "none", BASELINES,
                  "Time the matching keras.applications model (or torchvision's) alongside.")
flags.DEFINE_enum("backend", None, BACKENDS,
                  "Keras backend; default: KERAS_BACKEND's, else tensorflow.")
flags.DEFINE_integer("batch_size", 16, "Images per training step.", lower_bound=1)
flags.DEFINE_integer("image_size", None, "Input height and width; default: the recipe's.",
                     lower_bound=1)
flags.DEFINE_integer("steps", 5, "Training steps per timed window.", lower_bound=1)
flags.DEFINE_integer("windows", 5, "Timed windows per model.", lower_bound=1)
flags.DEFINE_integer("warmup_steps", 2, "Untimed steps per model before the windows.",
                     lower_bound=1)
flags.DEFINE_enum("precision", "float32", PRECISIONS, "Keras dtype policy of both models.")
flags.DEFINE_boolean("jit_compile", False,
                     "Compile the training step with XLA (always so on JAX).")
flags.DEFINE_float("peak_tflops", None,
                   "The device's peak TFLOP/s at the compute dtype; adds the model FLOP "
                   "utilization (mfu).")
flags.register_validator("peak_tflops", lambda value: value is None or value > 0,
                         "must be a positive number of TFLOP/s (the device's peak)")


def synthetic_batch(input_shape, classes: int, batch_size: int):
    """Unit-Gaussian images and uniform labels, as numpy arrays."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size, *input_shape)).astype("float32")
    return images, rng.integers(0, classes, batch_size).astype("int64")


class KerasTrainer:
    """Times training steps of a compiled Keras model on one batch held on the device:
    ``engine.loop.fit`` on TensorFlow, Keras's ``fit`` on JAX (``train_on_batch`` would
    copy the state back and wait for the device after every step)."""

    def __init__(self, model: keras.Model, batch, jit_compile: bool):
        self.model, self.jit_compile = model, jit_compile
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            self.batch = tuple(tf.constant(array) for array in batch)
        else:
            self.batch = tuple(keras.ops.convert_to_tensor(array) for array in batch)

    def run(self, steps: int) -> float:
        """Trains ``steps`` steps; returns the wall seconds, the device finished."""
        started = time.perf_counter()
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            from engine import loop

            data = tf.data.Dataset.from_tensors(self.batch).repeat(steps)
            loop.fit(self.model, data, epochs=1, verbose=0, jit_compile=self.jit_compile)
        else:
            # The epoch's logs become Python floats: the window waits for the device.
            self.model.fit(self.repeated(), steps_per_epoch=steps, epochs=1, verbose=0,
                           shuffle=False)
        return time.perf_counter() - started

    def repeated(self):
        """The batch, already on the device, again and again (Keras's JAX iterator
        passes device arrays through)."""
        while True:
            yield self.batch


class TorchTrainer:
    """Times training steps of torchvision's model, ``torch.compile``-d, under bf16
    autocast (SGD with the recipe's learning rate, momentum and weight decay), on the GPU
    where PyTorch sees one, else on the CPU."""

    def __init__(self, name: str, classes: int, batch, config):
        try:
            import torch
            import torchvision
        except ImportError as error:
            raise UsageError(f"--baseline=torchvision needs PyTorch and torchvision: {error}.")

        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = getattr(torchvision.models, name)(num_classes=classes)
        model = model.to(self.device, memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate,
                                         momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.model = torch.compile(model)
        images, labels = batch
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).to(self.device).contiguous(
            memory_format=torch.channels_last)
        self.labels = torch.from_numpy(labels).to(self.device)

    def run(self, steps: int) -> float:
        torch = self.torch
        self.synchronize()
        started = time.perf_counter()
        for _ in range(steps):
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(self.model(self.images), self.labels)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.synchronize()
        return time.perf_counter() - started

    def synchronize(self) -> None:
        """Waits for the GPU's queued work (the CPU's is done when its call returns)."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()


def matmul_gflops(dtype: str, size: int) -> float:
    """GFLOP/s of ``MATMULS_PER_WINDOW`` ``size``-square matmuls in ``dtype``, queued
    and waited for once (an accelerator runs them in order)."""
    rng = np.random.default_rng(1)
    a, b = (keras.ops.convert_to_tensor(
        rng.normal(size=(size, size)).astype("float32"), dtype=dtype) for _ in range(2))
    float(keras.ops.sum(keras.ops.matmul(a, b)))  # the first call may compile
    started = time.perf_counter()
    for _ in range(MATMULS_PER_WINDOW):
        product = keras.ops.matmul(a, b)
    float(keras.ops.sum(product))
    seconds = time.perf_counter() - started
    return MATMULS_PER_WINDOW * 2 * size ** 3 / seconds / 1e9


def keras_baseline(recipe_name: str, input_shape, classes: int) -> keras.Model:
    if recipe_name not in KERAS_APPLICATIONS:
        raise UsageError(f"--baseline=keras has no keras.applications model for recipe "
                         f"{recipe_name!r}; it has one for {', '.join(KERAS_APPLICATIONS)}.")
    name = KERAS_APPLICATIONS[recipe_name]
    try:
        return getattr(keras.applications, name)(weights=None, input_shape=input_shape,
                                                 classes=classes)
    except ValueError as error:  # "Input size must be at least 32x32; ..."
        raise UsageError(f"--baseline=keras: keras.applications.{name} cannot be built for "
                         f"the input {tuple(input_shape)}: {error}") from None


def main(argv):
    del argv
    backend = keras.backend.backend()
    if FLAGS.backend and FLAGS.backend != backend:
        raise UsageError(f"--backend={FLAGS.backend} but Keras had already loaded {backend}.")
    if FLAGS.baseline == "torchvision" and FLAGS.recipe not in TORCHVISION_MODELS:
        raise UsageError(f"--baseline=torchvision has no torchvision model for recipe "
                         f"{FLAGS.recipe!r}; it has one for {', '.join(TORCHVISION_MODELS)}.")
    if FLAGS.baseline == "torchvision" and FLAGS.precision != "mixed_bfloat16":
        raise UsageError(f"--baseline=torchvision trains under bf16 autocast, and "
                         f"--precision={FLAGS.precision} would time the recipe otherwise; "
                         "pass --precision=mixed_bfloat16.")
    recipe = recipes.get(FLAGS.recipe)
    input_shape = recipe.input_shape
    if FLAGS.image_size:
        input_shape = (FLAGS.image_size, FLAGS.image_size, *input_shape[2:])
    jit_compile = FLAGS.jit_compile or backend == "jax"
    keras.config.set_dtype_policy(FLAGS.precision)
    random.seed(0)  # Keras's weight seeds (keras.utils.set_random_seed would import TensorFlow)
    batch = synthetic_batch(input_shape, recipe.classes, FLAGS.batch_size)

    config = recipe.training
    if backend == "jax" and config.ema:
        # Keras 3.15's JAX trainer fails in the second fit of an averaging optimizer (XLA's
        # "Attempt to donate the same buffer twice", then a TypeError): the steps are timed
        # without the average, one elementwise update per weight, and the header says so.
        config = dataclasses.replace(config, ema=False)
    model = recipes.build(FLAGS.recipe, input_shape=input_shape)
    training.compile_model(model, config)
    flops_per_image = TRAINING_FLOPS_PER_MAC * totals(summarize(model))["macs"]
    trainers = {FLAGS.recipe: KerasTrainer(model, batch, jit_compile)}
    baseline = None
    if FLAGS.baseline == "keras":
        baseline = f"keras.applications.{KERAS_APPLICATIONS.get(FLAGS.recipe)}"
        reference = keras_baseline(FLAGS.recipe, input_shape, recipe.classes)
        training.compile_model(reference, config)
        trainers[baseline] = KerasTrainer(reference, batch, jit_compile)
    elif FLAGS.baseline == "torchvision":
        baseline = f"torchvision.models.{TORCHVISION_MODELS[FLAGS.recipe]}"
        trainers[baseline] = TorchTrainer(TORCHVISION_MODELS[FLAGS.recipe], recipe.classes,
                                          batch, config)
    emit({**machine(), "recipe": FLAGS.recipe, "baseline": baseline,
          "input_shape": list(input_shape), "batch_size": FLAGS.batch_size,
          "precision": FLAGS.precision, "jit_compile": jit_compile, "ema": config.ema,
          "steps": FLAGS.steps,
          "windows": FLAGS.windows, "training_gflops_per_image": round(flops_per_image / 1e9, 3)})

    for trainer in trainers.values():
        trainer.run(FLAGS.warmup_steps)
    compute_dtype = keras.config.dtype_policy().compute_dtype
    on_cpu = machine()["device"].startswith("CPU")  # else the process's CPU time is the host's
    matmul_size = MATMUL_SIZES["cpu" if on_cpu else "accelerator"]
    rates = {name: [] for name in trainers}
    ratios, cpu_ratios, matmul = [], [], []
    images = FLAGS.steps * FLAGS.batch_size
    for window in range(FLAGS.windows):
        order = list(trainers) if window % 2 == 0 else list(reversed(trainers))
        seconds, cpu_seconds = {}, {}
        for name in order:
            cpu = time.process_time()
            seconds[name] = trainers[name].run(FLAGS.steps)
            cpu_seconds[name] = time.process_time() - cpu
        matmul.append(matmul_gflops(compute_dtype, matmul_size))
        for name, value in seconds.items():
            rates[name].append(images / value)
        if baseline:
            ratios.append(seconds[baseline] / seconds[FLAGS.recipe])
            cpu_ratios.append(cpu_seconds[baseline] / cpu_seconds[FLAGS.recipe])
        emit({"window": window, "first": order[0], "matmul_gflops": round(matmul[-1], 1),
              **{f"{name}_images_per_second": float(f"{images / value:.4g}")
                 for name, value in seconds.items()},
              **{f"{name}_cpu_seconds": round(value, 4) for name, value in cpu_seconds.items()}})

    images_per_second = median(rates[FLAGS.recipe])
    achieved = images_per_second * flops_per_image / 1e9
    result = {
        "recipe": FLAGS.recipe, "images_per_second": round(images_per_second, 3),
        "baseline": baseline,
        "baseline_images_per_second": round(median(rates[baseline]), 3) if baseline else None,
        "ratio": round(median(ratios), 4) if baseline else None,
        "fastest_ratio": round(max(rates[FLAGS.recipe]) / max(rates[baseline]), 4)
        if baseline else None,
        "cpu_ratio": round(median(cpu_ratios), 4) if baseline and on_cpu else None,
        "device": machine()["device"], "precision": FLAGS.precision, "jit_compile": jit_compile,
        "batch_size": FLAGS.batch_size, "backend": backend,
        "ema": config.ema,  # off on JAX, where the recipe averages (see above)
        "achieved_gflops": round(achieved, 1), "matmul_gflops": round(median(matmul), 1),
        "matmul_size": matmul_size,
        "fraction_of_matmul": round(achieved / median(matmul), 3),
        "ratios": [round(ratio, 4) for ratio in ratios],
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    if FLAGS.peak_tflops:
        result["peak_tflops"] = FLAGS.peak_tflops
        result["mfu"] = round(achieved / (FLAGS.peak_tflops * 1e3), 4)
    emit(result)


if __name__ == "__main__":
    run(main)
