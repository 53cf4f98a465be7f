"""The recipe registry: named networks with their paper's training configuration.

A *recipe* is the network exactly as a paper describes it (a builder function),
the paper's training configuration (:class:`TrainingConfig`) and metadata
(citation, year, native input shape, classes, the table it implements).
Recipe modules call :func:`register` at import time; callers use
``recipes.build``, ``recipes.get`` and ``recipes.names``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import types
from typing import Any, Callable, Mapping

import keras

from layers.checks import check_choice, check_switch, close_names, is_int
from layers.errors import UsageError
from recipes.common import POOLINGS
from recipes.space import SearchSpace, training_conditions, training_space


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How a paper trains its network; flags derive new ones with ``dataclasses.replace``.

    The names (``optimizer``, ``schedule``, ``augmentation``, ``normalization``) are
    those of :mod:`engine.choices`; a run validates them once (:mod:`engine.spec`).
    ``schedule``: ``step`` divides the learning rate by
    ``1 / decay_factor`` at each epoch in ``decay_epochs`` (or, where the paper lists
    them, uses ``step_rates``: one rate per stage, ``len(decay_epochs) + 1`` of
    them); ``plateau`` does so when the accuracy named by ``plateau_monitor``
    (``validation`` or ``training``) has not improved for ``plateau_patience`` epochs,
    at most ``plateau_drops`` times, as the papers count their drops;
    ``exponential`` multiplies it by ``decay_factor`` every ``decay_every`` epochs;
    ``cosine`` anneals it to zero, step by step.
    ``warmup_epochs`` ramps the rate linearly from zero before any schedule or, with
    ``warmup_learning_rate``, holds that constant rate for the first ``warmup_epochs``
    (counted in iterations: ResNet-110's 0.01 for about 400 iterations).
    ``validation_fraction`` of the training split is held out for validation where the
    dataset has no validation split; 0 trains on all of it, without validation.
    ``auxiliary_loss_weight`` > 0 trains the recipe built with ``aux_heads=True``
    (GoogLeNet's auxiliary classifiers, weight 0.3); the saved model has the main
    head only.
    ``weight_decay`` is the coefficient of an L2 term added to the loss gradient,
    so it flows through the momentum as in Krizhevsky et al.'s update rule;
    ``weight_decay_scope`` says what it decays: ``kernels`` (not biases nor batch
    normalization's scale and offset: the common reading of the papers) or ``all``
    trainable variables, as the Torch code of wide ResNets, ResNeXt and stochastic
    depth does (``optim.sgd`` decays the whole flattened parameter vector).
    ``augmentation`` is an input-pipeline preset; ``normalization``: ``per_channel``
    standardizes each channel, ``mean_image`` subtracts the training set's mean image
    (AlexNet, ZFNet, ResNet), ``mean_rgb`` its mean colour (VGG), ``lenet`` maps 0-255
    to LeNet-5's -0.1 to 1.175, ``gcn_zca`` is global contrast normalization and ZCA
    whitening (NiN); see :mod:`engine.data.preprocessing`.
    """

    optimizer: str = "momentum"
    learning_rate: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    weight_decay_scope: str = "kernels"
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "constant"
    decay_factor: float = 0.1
    decay_epochs: tuple[float, ...] = ()
    decay_every: float = 0.0
    step_rates: tuple[float, ...] = ()
    plateau_monitor: str = "validation"
    plateau_patience: int = 5
    plateau_drops: int = 3
    warmup_epochs: float = 0.0
    warmup_learning_rate: float | None = None
    label_smoothing: float = 0.0
    clipnorm: float | None = None
    auxiliary_loss_weight: float = 0.0
    augmentation: str = "none"
    normalization: str = "per_channel"
    dropout: float | None = None
    ema: bool = False
    validation_fraction: float = 0.1

    def with_learning_rate(self, rate: float) -> "TrainingConfig":
        """This configuration at learning rate ``rate``, a paper's per-stage rates
        (``step_rates``, LeNet-5's) and constant warm-up rate (ResNet-110's, a tenth of
        the rate) scaled with it: they replace the rate in some epochs, which would
        otherwise train at the paper's rates whatever ``rate`` says (a warm-up above it)."""
        factor = rate / self.learning_rate
        warmup = self.warmup_learning_rate
        return dataclasses.replace(self, learning_rate=rate,
                                   step_rates=tuple(stage * factor for stage in self.step_rates),
                                   warmup_learning_rate=None if warmup is None else warmup * factor)

    def __post_init__(self):
        if self.step_rates and len(self.step_rates) != len(self.decay_epochs) + 1:
            raise UsageError(
                f"step_rates needs one rate per stage ({len(self.decay_epochs) + 1} for "
                f"decay_epochs={self.decay_epochs}), got {len(self.step_rates)}.")
        if self.schedule == "exponential" and self.decay_every <= 0:
            raise UsageError(
                f"The exponential schedule needs decay_every > 0 epochs (--decay_every), got "
                f"{self.decay_every:g}.")
        if self.schedule == "step" and not self.decay_epochs:
            raise UsageError("The step schedule needs decay_epochs, the epochs at which the "
                             "rate drops (--decay_epochs=30,60), and has none.")
        if not 0.0 <= self.momentum < 1.0:
            raise UsageError(f"momentum must be in [0, 1), got {self.momentum:g}.")
        if not 0.0 < self.decay_factor <= 1.0:
            raise UsageError(f"decay_factor must be in (0, 1], got {self.decay_factor:g}.")
        if self.schedule == "plateau" and self.decay_factor == 1.0:  # Keras refuses it
            raise UsageError("The plateau schedule's drops multiply the rate by decay_factor "
                             "(--decay_factor), which must be below 1, got 1; give a factor "
                             "below 1, or --schedule=constant for no drops.")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError(
                f"label_smoothing must be in [0, 1), got {self.label_smoothing}.")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout}.")
        if self.plateau_patience < 1 or self.plateau_drops < 0:
            raise UsageError(
                f"The plateau schedule needs plateau_patience >= 1 and plateau_drops >= 0, "
                f"got {self.plateau_patience} and {self.plateau_drops}.")
        if self.learning_rate <= 0:  # a rate of zero trains nothing, quietly
            raise UsageError(
                f"learning_rate must be positive (--learning_rate), got {self.learning_rate:g}.")
        if self.clipnorm is not None and self.clipnorm <= 0:  # Keras ignores a zero clipnorm
            raise UsageError(
                f"clipnorm must be positive (--clipnorm; leave it out not to clip), got "
                f"{self.clipnorm:g}.")
        if self.warmup_learning_rate is not None and self.warmup_learning_rate <= 0:
            raise UsageError(
                f"warmup_learning_rate must be positive, got {self.warmup_learning_rate}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise UsageError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}.")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A registered network: builder, paper metadata and training configuration.

    ``builder(input_shape=..., classes=..., classifier_activation=..., name=...,
    **variant)`` returns a functional ``keras.Model`` taking preprocessed float input.
    ``variant`` holds the keyword arguments that make this recipe out of a shared
    builder (e.g. VGG's configuration letter); :func:`build` may override them.
    ``head`` names the classifier's layers: those whose weights depend on the classes,
    which transfer learning replaces (``--init_from``) and trains alone
    (``--transfer=feature_extractor``); by default the final ``logits`` layer.
    ``search_space`` is what ``--mode=tune`` varies (:mod:`recipes.space`): builder
    arguments and :class:`TrainingConfig` fields, the paper's values their defaults;
    without training ranges it gets :func:`recipes.space.training_space` of ``training``
    (with the dropout rate where the paper sets one). ``one_class_per_point`` marks a
    network with one class per input position (AlphaGo's policy: a move per board
    point), whose ``classes`` follow the input's size (:meth:`classes_at`).
    ``any_input_rank`` marks a builder that flattens its input first (the MLP), which
    therefore takes an ``input_shape`` of any rank (``(500,)`` as well as ``(28, 28, 1)``).
    """

    name: str
    builder: Callable[..., keras.Model]
    input_shape: tuple[int, ...]
    classes: int
    paper: str
    year: int
    table: str
    training: TrainingConfig = TrainingConfig()
    variant: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    head: tuple[str, ...] = ("logits",)
    search_space: SearchSpace = SearchSpace()
    one_class_per_point: bool = False
    any_input_rank: bool = False

    def classes_at(self, input_shape: tuple[int, ...] | None) -> int:
        """The paper's classes for ``input_shape`` (None: the paper's input)."""
        if (self.one_class_per_point and input_shape is not None
                and None not in tuple(input_shape)[:2]):
            return int(input_shape[0]) * int(input_shape[1])
        return self.classes

    def __post_init__(self):
        object.__setattr__(self, "variant", types.MappingProxyType(dict(self.variant)))
        _check_variant(self, self.variant)  # at registration, not at the first build
        if self.search_space.training is None:
            object.__setattr__(self, "search_space", dataclasses.replace(
                self.search_space, training=training_space(
                    self.training, dropout=self.training.dropout is not None),
                conditions={**training_conditions(self.training),
                            **self.search_space.conditions}))
        fields = {field.name for field in dataclasses.fields(TrainingConfig)}
        arguments = inspect.signature(self.builder).parameters
        for name in self.search_space.training:
            if name not in fields:
                raise UsageError(f"{self.name}: search space entry {name!r} is not a "
                                 "TrainingConfig field.")
        for name in self.search_space.architecture:
            if name not in arguments:
                raise UsageError(f"{self.name}: search space entry {name!r} is not an "
                                 f"argument of {self.builder.__name__}.")


_REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Adds ``recipe`` to the registry; a name may be registered once."""
    if recipe.name in _REGISTRY:
        raise UsageError(f"Recipe {recipe.name!r} is already registered.")
    _REGISTRY[recipe.name] = recipe
    return recipe


def names() -> list[str]:
    """All registered recipe names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name raises ``ValueError``."""
    if not isinstance(name, str):
        raise UsageError(f"A recipe name is a string such as 'lenet5_modern' (recipes.names() "
                         f"lists them), got {name!r}.")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = close_names(name, names(), limit=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UsageError(
            f"Unknown recipe {name!r}.{hint} Known recipes: {', '.join(names())}."
        ) from None


def build(
    name: str,
    /,
    classes: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    classifier_activation: str | None = "softmax",
    include_top: bool = True,
    pooling: str | None = None,
    **variant: Any,
) -> keras.Model:
    """Builds recipe ``name``; ``classes`` and ``input_shape`` default to the paper's
    (``classes`` to the points of ``input_shape`` for a policy with a move per point).

    As in ``keras.applications``, ``include_top=False`` leaves the classifier out (the
    layers from the first flattening or global pooling on, and GoogLeNet's auxiliary
    heads): the model ends at the last feature maps, or at their global average or
    maximum with ``pooling="avg"`` or ``"max"``. The layers keep the whole network's
    names (``conv5_block3_out``, ``pool5``). The model is named after the recipe, or
    ``name=`` after the recipe's name, as ``keras.applications`` takes it.
    """
    recipe = get(name)
    model_name = variant.pop("name", recipe.name)
    if not isinstance(model_name, str) or not model_name or "/" in model_name:
        raise UsageError(f"name must be a non-empty string without '/' (the model's name), "
                         f"got {model_name!r}.")
    if classes is not None and (not is_int(classes) or classes < 1):
        raise UsageError(f"classes must be a positive integer, got {classes!r}.")
    if input_shape is not None:
        input_shape = _checked_input_shape(recipe, input_shape)
    _check_activation(classifier_activation)
    _check_variant(recipe, variant)
    headless = _check_top(recipe, classes, include_top, pooling)
    one_per_point = classes is None and recipe.one_class_per_point
    classes = recipe.classes_at(input_shape) if classes is None else int(classes)
    if classes == 1 and classifier_activation == "softmax" and not headless:
        remedy = ("give a board of two points or more (--image_size=2 or more on the command "
                  "line, an input_shape of two points or more in Python), or use "
                  "classifier_activation='sigmoid' or None"
                  if one_per_point else
                  "use classes=2, or classifier_activation='sigmoid' or None")
        raise UsageError(f"{recipe.name} with one class and classifier_activation='softmax' "
                         f"would always output 1 (a softmax over one class); {remedy}.")
    options = {**recipe.variant, **variant, **headless}
    with deep_graph(), _channels_last():
        return recipe.builder(
            input_shape=recipe.input_shape if input_shape is None else input_shape,
            classes=classes,
            classifier_activation=classifier_activation,
            name=model_name,
            **options,
        )


def _check_top(recipe: Recipe, classes, include_top, pooling) -> dict[str, Any]:
    """The builder arguments of ``include_top`` and ``pooling`` (none with the top);
    a combination that cannot be built, or would be ignored, is a :class:`UsageError`."""
    include_top = check_switch("include_top", include_top)
    check_choice("pooling", pooling, (None, *POOLINGS))
    if include_top:
        if pooling is not None:
            raise UsageError(f"pooling={pooling!r} applies to include_top=False; the "
                             "classifier pools as its paper does.")
        return {}
    if "include_top" not in inspect.signature(recipe.builder).parameters:
        raise UsageError(f"{recipe.name} has no feature maps before its classifier; "
                         "include_top=False applies to the convolutional recipes.")
    if classes is not None:
        raise UsageError(f"classes={classes!r} sizes the classifier, which include_top=False "
                         "leaves out; leave classes out.")
    return {"include_top": False, "pooling": pooling}


# The arguments build() itself gives every builder.
BUILD_ARGUMENTS = ("input_shape", "classes", "classifier_activation", "name", "include_top",
                   "pooling")


def _checked_input_shape(recipe: Recipe, input_shape) -> tuple:
    """``input_shape`` as a tuple of ints (None for a size left open), or a usage error
    naming what a shape of this recipe is."""
    native = tuple(recipe.input_shape)
    accepted = (f"a tuple of positive integers such as the recipe's {native}" if
                recipe.any_input_rank else f"{len(native)} positive integers (height, width, "
                f"channels) such as the recipe's {native}")
    try:
        shape = tuple(input_shape) if not isinstance(input_shape, (str, bytes)) else None
    except TypeError:
        shape = None
    if shape == ():
        raise UsageError(f"input_shape must not be empty; leave it out for the recipe's "
                         f"{native}.")
    if (shape is None or not all(size is None or (is_int(size) and size > 0) for size in shape)
            or (not recipe.any_input_rank and len(shape) != len(native))):
        raise UsageError(f"input_shape of {recipe.name!r} must be {accepted}, got "
                         f"{input_shape!r}.")
    if shape[-1] is None:
        raise UsageError(f"input_shape of {recipe.name!r} needs a known number of channels "
                         f"(its last entry), got {input_shape!r}.")
    return tuple(None if size is None else int(size) for size in shape)


def _check_activation(classifier_activation) -> None:
    if classifier_activation is None or callable(classifier_activation):
        return
    try:
        keras.activations.get(classifier_activation)
    except (ValueError, TypeError):
        raise UsageError(
            f"classifier_activation must be None (the model returns logits) or a Keras "
            f"activation such as 'softmax' or 'sigmoid', got {classifier_activation!r}."
        ) from None


def _check_variant(recipe: Recipe, variant: Mapping[str, Any]) -> None:
    parameters = inspect.signature(recipe.builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name in parameters if name not in BUILD_ARGUMENTS]
    unknown = [name for name in variant if name not in accepted]
    if unknown:
        takes = (f"accepts {', '.join(accepted)}" if accepted
                 else f"takes none but {', '.join(BUILD_ARGUMENTS)}")
        raise UsageError(
            f"Recipe {recipe.name!r} takes no argument {', '.join(map(repr, unknown))}; its "
            f"builder {recipe.builder.__name__} {takes}."
        )


# Keras walks a functional graph recursively, one Python frame per layer: ResNet-1202's
# thousands of layers need more than CPython's default limit of 1,000.
DEEP_GRAPH_RECURSION_LIMIT = 10_000


@contextlib.contextmanager
def _channels_last():
    """Keras's image data format set to ``channels_last``, the recipes' layout (their
    input shapes, and layers such as ``Flatten`` whose order follows the setting),
    whatever ``keras.json`` holds: under ``channels_first`` a recipe would build another
    network, or none."""
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_last")
    try:
        yield
    finally:
        keras.config.set_image_data_format(previous)


@contextlib.contextmanager
def deep_graph():
    """Python's recursion limit raised to :data:`DEEP_GRAPH_RECURSION_LIMIT` while Keras
    builds, or loads (``keras.saving.load_model``, ``from_config``), a functional graph:
    a saved ResNet-1202 fails to load under the default."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, DEEP_GRAPH_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)
