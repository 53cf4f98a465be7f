"""Every list of choices the command line offers, defined once.

Flags take their enum values from here, :mod:`engine.spec` validates a run against
them once, and the modules that implement each choice (the augmentation presets,
the optimizers, the schedules, ...) key their tables, or their branches, by these
names; a test keeps them and the lists equal. This module imports nothing heavy, so the command
line can parse and reject flags before TensorFlow loads.
"""

MODES = ("train", "evaluate", "summary", "activations", "export", "predict",
         "visualize", "tune")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "sdlm")
SCHEDULES = ("constant", "step", "plateau", "exponential", "cosine")
# What weight decay applies to: convolution and dense kernels, or every trainable variable.
WEIGHT_DECAY_SCOPES = ("kernels", "all")
AUGMENTATIONS = ("none", "cifar", "cifar_reflect", "shift", "alexnet", "zfnet", "vgg",
                 "vgg_single_scale", "resnet", "inception", "fb_resnet")
NORMALIZATIONS = ("per_channel", "mean_image", "mean_rgb", "lenet", "gcn_zca")
TTA_MODES = ("none", "flip", "10crop", "dense")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTE_MODES = ("none", "mirrored", "multi_worker")
# --seed takes 0 to SEEDS - 1, Keras's and NumPy's seed range.
SEEDS = 2**32
TRANSFER_MODES = ("feature_extractor", "finetune", "vgg_shallow")
# --transfer=finetune: the pretrained layers' learning rate, as a fraction of the rate.
DEFAULT_FINETUNE_MULTIPLIER = 0.1
# The accuracy a plateau schedule watches (TrainingConfig.plateau_monitor).
PLATEAU_MONITORS = ("validation", "training")
# What an export writes (the SavedModel always) and how --mode=predict prints.
EXPORT_FORMATS = ("saved_model", "tflite")
OUTPUT_FORMATS = ("text", "json")
# --mode=activations: the lectures' initialization experiment.
INITIALIZATIONS = ("normal_0.01", "normal_1", "xavier", "he")
ACTIVATIONS = ("tanh", "relu")
# --mode=tune: keras-tuner's search algorithms and what a search may optimize.
TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = ("val_accuracy", "val_loss")



def check(kind: str, value, accepted) -> None:
    """Raises :class:`layers.UsageError` naming ``kind`` unless ``value`` is in ``accepted``."""
    if value not in accepted:
        from layers.errors import UsageError  # here: keras loads with layers

        raise UsageError(f"Unknown {kind} {value!r}; accepted: {', '.join(accepted)}.")
