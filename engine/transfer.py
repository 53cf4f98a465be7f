"""Transfer learning as the lectures describe it: start from a trained network,
replace its classifier, then train only the new head (feature extractor) or
everything, the pretrained layers at a fraction of the learning rate (fine-tuning).

The head is the recipe's (:attr:`recipes.Recipe.head`): the layers whose weights
depend on the classes. The modes are :data:`engine.choices.TRANSFER_MODES`; the third,
``vgg_shallow``, is not transfer to new classes but Simonyan and Zisserman's way of
starting a deep VGG net (section 3.1): from a trained net A's first four
convolutional and three fully connected layers (:func:`copy_net_a`), everything
trained at the full learning rate.
"""

from __future__ import annotations

import os

import keras
from absl import logging

from engine import choices, private_api, rundir
from engine.optimizers import StochasticDiagonalLevenbergMarquardt
from layers.errors import UsageError


def load_pretrained(path: str) -> keras.Model:
    """The model saved at ``path``: a run directory (its ``model.keras``) or a .keras file."""
    model = rundir.read_model(rundir.pretrained_model_file(path), rundir.PASS_A_RUNS_MODEL)
    rundir.check_finite_weights(model, path)  # its NaN would be copied, and saved again
    return model


def copy_pretrained_weights(source: keras.Model, target: keras.Model,
                            head=("logits",)) -> list[keras.layers.Layer]:
    """Copies the weights of every layer of ``target`` but those named in ``head`` from
    the layer of ``source`` with the same name and weight shapes; returns the layers it
    filled. A layer whose weights differ in shape (a denser layer after a larger input,
    say) or that ``source`` lacks keeps its initial weights, with a warning naming it; so
    is a layer of ``source`` that ``target`` lacks (a deeper variant's, such as one a search
    chose: the layers copied around it no longer see what they trained on)."""
    by_name = {layer.name: layer for layer in source.layers}
    ours = {layer.name for layer in target.layers}
    left_out = [repr(layer.name) for layer in source.layers
                if layer.weights and layer.name not in ours and layer.name not in head]
    copied, reshaped, missing = [], [], []
    for layer in target.layers:
        if layer.name in head or not layer.weights:
            continue
        match = by_name.get(layer.name)
        if match is None:
            missing.append(repr(layer.name))
            continue
        shapes = [tuple(w.shape) for w in layer.weights], [tuple(w.shape) for w in match.weights]
        if shapes[0] != shapes[1]:
            reshaped.append(f"{layer.name!r} {weight_shapes(shapes[1], shapes[0])} against "
                            f"{weight_shapes(shapes[0], shapes[1])}")
            continue
        layer.set_weights(match.get_weights())
        copied.append(layer)
    if not copied:
        hint = (f" (layers of the same name differ in shape, {reshaped[0]}: another "
                "variant, such as a width a search chose)" if reshaped else "")
        raise UsageError(
            f"No layer of the pretrained model {source.name!r} matches a layer of "
            f"{target.name!r} by name and shape{hint}; --init_from must come from the same "
            "recipe and variant.")
    if reshaped:
        logging.warning("Not copied from the pretrained model, its weights differing in shape "
                        "(there against here): %s; these layers start from their initializers "
                        "and train.", listed(reshaped))
    if missing:
        logging.warning("Not copied from the pretrained model, which has no layer of that "
                        "name: %s; these layers start from their initializers and train.",
                        listed(missing))
    if left_out:
        logging.warning("Left out of this network, which has no layer of that name: the "
                        "pretrained model's %s (another variant's, such as a depth a search "
                        "chose); the layers copied around them no longer see the inputs they "
                        "trained on.", listed(left_out))
    return copied


LISTED_LAYERS = 8  # the layers a warning names; a deep network's hundreds are counted


def listed(layers: list[str]) -> str:
    """``layers`` as a warning names them: the first :data:`LISTED_LAYERS`, then how many
    more."""
    shown = ", ".join(layers[:LISTED_LAYERS])
    return shown if len(layers) <= LISTED_LAYERS else \
        f"{shown} and {len(layers) - LISTED_LAYERS} more"


def weight_shapes(shapes: list[tuple], others: list[tuple]) -> str:
    """A layer's weight shapes as a warning names them beside the other network's
    ``others``: the first (the kernel's); all of them where the first agree (a kernel
    with a bias against one without, batch normalization's variant); or "no weights" (a
    pooling layer where the other network subsamples with weights)."""
    if not shapes:
        return "no weights"
    if others and shapes[0] == others[0]:
        return "[" + ", ".join(map(str, shapes)) + "]"
    return str(shapes[0])


def check_source_recipe(init_from: str, recipe: str, transfer_mode: str) -> None:
    """Refuses, before any work, an ``--init_from`` that holds another recipe's network
    (its ``run.json``'s recipe, or a ``.keras`` file's model name where that is a
    recipe's): its layers of the same names are other layers (LeNet-5's ``s2``
    subsamples with weights, ``lenet5_modern``'s pools). ``vgg_shallow`` starts from
    another recipe by design; a model of no recipe's name is matched layer by layer."""
    import recipes

    if transfer_mode == "vgg_shallow":
        return
    record = os.path.join(init_from, rundir.RUN_FILE)
    if os.path.isdir(init_from) and os.path.isfile(record):
        source = rundir.read_json(record, rundir.PASS_A_RUNS_MODEL).get("recipe")
    else:
        source = rundir.archived_model_name(rundir.pretrained_model_file(init_from))
    if source != recipe and source in recipes.names():
        raise UsageError(f"--init_from={init_from!r} holds a {source} network, and transfer "
                         f"copies the layers of the same recipe; pass --recipe={source}, or "
                         f"the --init_from of a {recipe} run.")


def check_flags(init_from: str | None, transfer_mode: str, given) -> None:
    """Refuses, before any work, a transfer flag in ``given`` (the flags set on the
    command line) that the run does not read: ``--transfer`` or
    ``--finetune_multiplier`` without ``--init_from``, ``--finetune_multiplier`` with
    a mode that trains every layer at one rate (it would be silently ignored)."""
    for flag in ("transfer", "finetune_multiplier"):
        if flag in given and not init_from:
            raise UsageError(f"--{flag} applies to a run that starts from --init_from (a run "
                             "folder or .keras file), and none is given; add --init_from or "
                             f"leave --{flag} out.")
    if "finetune_multiplier" in given and transfer_mode != "finetune":
        raise UsageError(f"--finetune_multiplier applies to --transfer=finetune, not "
                         f"--transfer={transfer_mode}, which trains its layers at one rate; "
                         "leave it out.")


def check_vgg_shallow(recipe: str) -> None:
    """Refuses ``--transfer=vgg_shallow`` for a recipe that is not a VGG network."""
    import recipes
    from recipes import vgg

    if recipes.get(recipe).builder is not vgg.vgg:
        raise UsageError(f"--transfer=vgg_shallow initializes a VGG network from a trained "
                         f"VGG net A; --recipe={recipe} is not a VGG recipe.")


def copy_net_a(source: keras.Model, target: keras.Model) -> list[keras.layers.Layer]:
    """Simonyan and Zisserman, section 3.1: "we initialised the first four convolutional
    layers and the last three fully-connected layers with the layers of net A (the
    intermediate layers were initialised randomly)". Copies ``source`` (a trained net A)'s
    layers :data:`recipes.vgg.NET_A_LAYERS` into ``target``'s layers of the same name
    (net A's conv3_2 is the deeper nets' conv3_2, as Caffe copies weights by layer
    name) and returns them; the classifier is copied too, so both must have the same
    classes and input size."""
    from recipes.vgg import NET_A_LAYERS

    convolutions = sum(isinstance(layer, keras.layers.Conv2D) for layer in source.layers)
    if convolutions != 8:
        raise UsageError(f"--transfer=vgg_shallow starts from a trained VGG net A (8 "
                         f"convolutional layers); {source.name!r} has {convolutions}.")
    names = {layer.name for layer in source.layers}
    missing = [name for name in NET_A_LAYERS if name not in names]
    if missing:
        raise UsageError(f"--transfer=vgg_shallow starts from a trained VGG net A (vgg_a, "
                         f"vgg_a_lrn or vgg11), whose layers it copies by name; "
                         f"{source.name!r} has no layer {', '.join(missing)}.")
    copied = []
    for name in NET_A_LAYERS:
        ours, theirs = target.get_layer(name), source.get_layer(name)
        shapes = [tuple(w.shape) for w in ours.weights], [tuple(w.shape) for w in theirs.weights]
        if shapes[0] != shapes[1]:
            raise UsageError(
                f"Layer {name!r} of net A has weights of shapes {shapes[1]}, this network's "
                f"{shapes[0]}; train net A at the same input size and on the same classes.")
        ours.set_weights(theirs.get_weights())
        copied.append(ours)
    return copied


def freeze(model: keras.Model, copied) -> None:
    """The feature-extractor setting: the layers ``copied`` from the pretrained network
    stop training; the head, and any layer whose weights could not be copied, train."""
    for layer in model.layers:
        layer.trainable = layer not in copied


class LayerwiseLearningRate(private_api.ScaledWeightDecay):
    """Mixin for Keras optimizers: variables in ``slow_variables`` (their paths) update
    at ``slow_multiplier`` times the learning rate, decoupled weight decay (AdamW's)
    included."""

    def __init__(self, *args, slow_variables=(),
                 slow_multiplier=choices.DEFAULT_FINETUNE_MULTIPLIER, **kwargs):
        super().__init__(*args, **kwargs)
        self.slow_variables = tuple(slow_variables)
        self.slow_multiplier = float(slow_multiplier)

    def build(self, variables):
        super().build(variables)
        # update_step sees backend variables; match them by the optimizer's own key.
        self._slow_keys = {private_api.variable_key(self, variable) for variable in variables
                           if variable.path in self.slow_variables}

    def weight_decay_scale(self, variable) -> float:
        return self.slow_multiplier if variable.path in self.slow_variables else 1.0

    def update_step(self, gradient, variable, learning_rate):
        if private_api.variable_key(self, variable) in self._slow_keys:
            learning_rate = learning_rate * self.slow_multiplier
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "slow_variables": list(self.slow_variables),
                "slow_multiplier": self.slow_multiplier}


def _layerwise(optimizer_class):
    subclass = type(f"Finetune{optimizer_class.__name__}", (LayerwiseLearningRate, optimizer_class),
                    {"__doc__": f"{optimizer_class.__name__} with a slower learning rate for "
                                "pretrained variables (see LayerwiseLearningRate)."})
    return keras.saving.register_keras_serializable(package="convnet_recipes")(subclass)


FINETUNE_OPTIMIZERS = {cls: _layerwise(cls) for cls in (
    keras.optimizers.SGD, keras.optimizers.Adagrad, keras.optimizers.RMSprop,
    keras.optimizers.Adam, keras.optimizers.AdamW, StochasticDiagonalLevenbergMarquardt)}


def slow_down(optimizer: keras.optimizers.Optimizer, layers, multiplier: float):
    """A copy of ``optimizer`` that updates the variables of ``layers`` at ``multiplier``
    times its learning rate."""
    config = optimizer.get_config()
    paths = [weight.path for layer in layers for weight in layer.trainable_weights]
    return FINETUNE_OPTIMIZERS[type(optimizer)](**config, slow_variables=paths,
                                                slow_multiplier=multiplier)
