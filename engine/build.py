"""The build phase: a recipe's network for a run's data, with its training extras.

:func:`build` makes the network that trains (with the auxiliary classifiers where
the recipe trains with them), the network that is saved and served (the main head
only), applies the run's dropout rate to the main network's ``Dropout`` layers, and
starts from a pretrained run where one is given (``--init_from``). Call it inside
:func:`engine.session.session`, so the variables belong to the run's strategy.
"""

from __future__ import annotations

import dataclasses
import math

import keras

import recipes
from engine import transfer
from layers.errors import UsageError
from recipes import TrainingConfig


@dataclasses.dataclass(frozen=True)
class Built:
    """``trained`` is what ``fit`` trains; ``model`` the network that is saved, served
    and evaluated (the same object unless auxiliary heads train along); ``slow_layers``
    the pretrained layers that fine-tune at a fraction of the learning rate;
    ``pretrained_layers`` the names of the layers started from ``init_from``'s weights."""

    trained: keras.Model
    model: keras.Model
    slow_layers: tuple = ()
    pretrained_layers: tuple[str, ...] = ()


def build(recipe: str, classes: int, input_shape, training: TrainingConfig,
          init_from: str | None = None, transfer_mode: str = "finetune",
          variant: dict | None = None, restored: tuple[str, ...] | None = None,
          announce: bool = True) -> Built:
    """``recipe`` (with the builder arguments in ``variant`` overriding its own, as a
    search's trial does) for ``classes`` classes at ``input_shape``, set up to train
    with ``training``: auxiliary heads where ``training.auxiliary_loss_weight`` asks
    for them (except when only a new head trains on frozen features, which they
    cannot help), ``training.dropout`` in the main network, and ``init_from``'s
    weights in every layer but the recipe's head (``transfer_mode``
    ``feature_extractor`` freezes them; ``finetune`` slows them down) or, with
    ``vgg_shallow``, in the layers a trained VGG net A gives a deeper one (all at the
    full rate). A resumed run names in ``restored`` the layers it started from
    ``init_from`` (:func:`engine.training.restored_pretrained_layers`): its backup holds
    their weights, so they are frozen or slowed down without reading ``init_from``.
    ``announce``: print how many layers ``init_from`` gave (not for a search's best
    network, rebuilt after its trials for its checkpoint)."""
    feature_extractor = bool(init_from) and transfer_mode == "feature_extractor"
    auxiliary = bool(training.auxiliary_loss_weight) and not feature_extractor
    trained = recipes.build(recipe, classes=classes, input_shape=tuple(input_shape),
                            **(variant or {}), **({"aux_heads": True} if auxiliary else {}))
    model = main_head(trained)
    if training.dropout is not None:
        set_dropout(model, training.dropout)
    slow_layers = ()
    copied = []
    if restored is not None:
        copied = [model.get_layer(name) for name in restored]
    elif init_from:
        head = recipes.get(recipe).head
        pretrained = transfer.load_pretrained(init_from)
        if transfer_mode == "vgg_shallow":
            transfer.check_vgg_shallow(recipe)
            copied = transfer.copy_net_a(pretrained, model)
        else:
            copied = transfer.copy_pretrained_weights(pretrained, model, head)
        if announce:
            print(f"Initialized {len(copied)} layers from {init_from} ({transfer_mode}).",
                  flush=True)
    if feature_extractor:
        transfer.freeze(model, copied)
    elif init_from and transfer_mode == "finetune":
        slow_layers = tuple(copied)
    return Built(trained=trained, model=model, slow_layers=slow_layers,
                 pretrained_layers=tuple(layer.name for layer in copied))


def check_fits_before_reading(recipe: str, input_shape, dataset: str, seed: int) -> None:
    """Refuses (the recipe's :class:`UsageError` naming the layer) a network that does
    not fit ``input_shape`` before ``dataset`` is opened, where opening it reads every
    image (an image folder checks that each decodes): built once at the paper's classes,
    the class count being all that the data could change. The seeds are set from
    ``seed`` again afterwards, so that the run's network starts from the weights it
    would have without this check."""
    from engine.data.sources import FOLDER_PREFIX

    if dataset.startswith(FOLDER_PREFIX):
        recipes.build(recipe, classes=recipes.get(recipe).classes_at(input_shape),
                      input_shape=tuple(input_shape))
        keras.utils.set_random_seed(seed)


def main_head(trained: keras.Model) -> keras.Model:
    """The network that is saved and served: ``trained`` without its auxiliary heads
    (sharing its layers), or ``trained`` itself where it has one output."""
    if len(trained.outputs) == 1:
        return trained
    return keras.Model(trained.input, trained.outputs[0], name=trained.name)


def set_dropout(model: keras.Model, rate: float) -> None:
    """Sets every ``Dropout`` layer of ``model`` (and of the models nested in it) to
    ``rate``; layers outside ``model``, such as auxiliary heads, keep theirs. A model
    without ``Dropout`` layers is a :class:`UsageError`: the rate would be ignored."""
    dropouts = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.Dropout)]
    if not dropouts:
        raise UsageError(f"--dropout sets the rate of the network's Dropout layers, and "
                         f"{model.name} has none (dropout={rate:g} would be ignored); leave "
                         "it out.")
    for layer in dropouts:
        layer.rate = rate


# The share of its starting values (mean 0, variance 1) a batch normalization's moving
# statistics may keep when training ends without a warning.
SETTLED_SHARE = 0.01


def unsettled_batch_norm(built: Built, recipe: str, epochs: int, epoch_steps: int,
                         trial: bool = False) -> str | None:
    """A warning where ``epochs`` of ``epoch_steps`` steps leave the moving statistics of
    ``built``'s batch normalizations (those that train from their starting values: not
    frozen, not started from ``--init_from``) holding more than :data:`SETTLED_SHARE` of
    their starting values, a moving average of momentum m keeping m^n of them after n
    steps (Keras's 0.99: 33% after 110 steps). Validation, test and served predictions
    read those statistics, and may score near chance where training has learned. None
    where they have settled. ``trial``: the network is a search's trial, whose validation
    accuracy ranks the trials."""
    momentum = max((layer.momentum for layer in all_layers(built.trained)
                    if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
                    and layer.name not in built.pretrained_layers), default=0.0)
    steps = epochs * epoch_steps
    if momentum == 0.0 or momentum ** steps <= SETTLED_SHARE:
        return None
    needed = math.ceil(math.log(SETTLED_SHARE) / math.log(momentum))
    scored = ("the trials' validation accuracy, which ranks them and reads those statistics, "
              "may stay near chance while their training accuracy rises" if trial else
              "its validation and test accuracy, which read those statistics, may stay near "
              "chance while its training accuracy rises")
    return (f"{recipe}'s batch normalizations keep {momentum ** steps:.1%} of their starting "
            f"statistics after {'a trial' if trial else 'this run'}'s {steps:,} steps "
            f"(moving averages of momentum {momentum:g}): {scored}; train for {needed:,} "
            f"steps or more (--epochs={math.ceil(needed / epoch_steps)}).")


def all_layers(model: keras.Model):
    """The layers of ``model``, those of nested models included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)
