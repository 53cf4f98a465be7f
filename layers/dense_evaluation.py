"""Dense evaluation: a classifier's fully connected layers as convolutions.

Simonyan and Zisserman 2015, section 3.2: "the fully-connected layers are first
converted to convolutional layers (the first FC layer to a 7x7 conv. layer, the
last two FC layers to 1x1 conv. layers). The resulting fully-convolutional net is
then applied to the whole (uncropped) image. The result is a class score map with
the number of channels equal to the number of classes, and a variable spatial
resolution, dependent on the input image size. Finally, to obtain a fixed-size
vector of class scores for the image, the class score map is spatially averaged
(sum-pooled)."

:func:`fully_convolutional` does this surgery on any network whose head is
``Flatten`` followed by ``Dense`` layers (with ``Dropout``, activations or batch
normalization between them; a batch normalization of the flattened map itself, before
the first ``Dense``, is refused: it has one mean per feature of the map): the first ``Dense`` becomes an ``h x w`` convolution
over the ``h x w`` map the ``Flatten`` received (its kernel is the Dense kernel
reshaped, since Flatten lays the map out row by row, channels innermost), every
later one a 1x1 convolution. The class scores (the last ``Dense``'s output, before
its activation and the model's softmax) are averaged over the map, then the
model's own final layers apply; at the native input size the map is 1x1 and the
network computes exactly the original function. The convolutional layers are the
original model's (shared weights), called on an input of any size.
"""

from __future__ import annotations

import keras

from layers.errors import UsageError

# Layers the head may hold besides Dense: they act on the last axis, map or vector alike.
PER_POSITION = (keras.layers.Dropout, keras.layers.Activation, keras.layers.Softmax,
                keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.BatchNormalization)
# Of those, the ones whose weights or normalization are per feature of the flattened map
# (and an Activation of these functions, which normalize over all of its features).
BY_FEATURE = (keras.layers.BatchNormalization, keras.layers.Softmax)
ACROSS_FEATURES = (keras.activations.softmax, keras.activations.log_softmax)
SCORE_AVERAGE = "score_average"


def fully_convolutional(model: keras.Model) -> keras.Model:
    """``model`` with its fully connected head converted to convolutions, taking
    images of any size at least the native one and returning the class scores
    averaged over the class score map (through the model's own final activation).

    Raises :class:`UsageError` for a model without such a head (one ending in global
    average pooling, as NiN, GoogLeNet and ResNet do, is fully convolutional already).
    """
    if isinstance(model, keras.Sequential):  # clone_model calls no call_function on one
        model = keras.Model(model.inputs[0], model.outputs[0], name=model.name)
    flatten, head = fully_connected_head(model)
    in_head = {id(layer) for layer in head}
    height, width, channels = flatten.input.shape[1:]
    dense_layers = [layer for layer in head if isinstance(layer, keras.layers.Dense)]
    convolutions = {id(layer): _as_convolution(layer, (height, width) if index == 0 else (1, 1),
                                                linear=layer is dense_layers[-1])
                    for index, layer in enumerate(dense_layers)}
    last = dense_layers[-1]

    def call(layer, *args, **kwargs):
        if layer is flatten:
            return args[0]  # keep the map: the first convolution covers it
        if id(layer) in convolutions:
            scores = convolutions[id(layer)](args[0])
            if layer is not last:
                return scores
            averaged = keras.layers.GlobalAveragePooling2D(data_format="channels_last",
                                                           name=SCORE_AVERAGE)(scores)
            if last.activation is keras.activations.linear:
                return averaged
            return keras.layers.Activation(last.activation, name=f"{last.name}_activation")(
                averaged)
        if id(layer) in in_head and isinstance(layer, keras.layers.BatchNormalization):
            return _on_maps(layer, args[0].shape)(args[0], **kwargs)  # the body's stay shared
        return layer(*args, **kwargs)

    inputs = keras.Input((None, None, model.inputs[0].shape[-1]), name=model.inputs[0].name)
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda x: x,
                                    call_function=call)


def fully_connected_head(model: keras.Model):
    """The model's ``Flatten`` layer and the layers after it (Dense layers, and layers that
    act per position) up to the output, in order; raises :class:`UsageError` for a
    model without one."""
    if not isinstance(model, keras.Model) or getattr(model, "inputs", None) is None:
        raise UsageError(f"Dense evaluation takes a functional Keras model (one called on "
                         f"keras.Input), got {type(model).__name__} "
                         f"{getattr(model, 'name', '')!r}.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UsageError(f"Dense evaluation takes a model with one input and one output; "
                         f"{model.name!r} has {len(model.inputs)} and {len(model.outputs)}.")
    producer = {id(layer.output): layer for layer in model.layers
                if not isinstance(layer, keras.layers.InputLayer)}
    layer, head = producer.get(id(model.outputs[0])), []
    while layer is not None and not isinstance(layer, keras.layers.Flatten):
        if not isinstance(layer, (keras.layers.Dense, *PER_POSITION)):
            blocking = _blocking_after_dense(layer, producer)
            if blocking is not None:
                raise UsageError(
                    f"{model.name!r} cannot be evaluated densely: {blocking.name!r} "
                    f"({type(blocking).__name__}), after its fully connected layers, is "
                    f"neither a Dense layer nor one that acts at each position of a map "
                    f"(Dropout, an activation, batch normalization).")
            raise UsageError(
                f"{model.name!r} has no fully connected layers on a flattened feature map to "
                f"convert for dense evaluation: its head reaches {layer.name!r} "
                f"({type(layer).__name__}) before any Flatten layer.")
        head.insert(0, layer)
        layer = producer.get(id(layer.input))
    if layer is None or not any(isinstance(item, keras.layers.Dense) for item in head):
        raise UsageError(f"{model.name!r} has no fully connected layers on a flattened feature "
                         f"map to convert for dense evaluation.")
    before_dense = head[:next(index for index, item in enumerate(head)
                              if isinstance(item, keras.layers.Dense))]
    for item in before_dense:
        if isinstance(item, BY_FEATURE) or (isinstance(item, keras.layers.Activation)
                                            and item.activation in ACROSS_FEATURES):
            raise UsageError(
                f"{model.name!r} cannot be evaluated densely: {item.name!r} "
                f"({type(item).__name__}) acts on each of the flattened map's features, "
                f"which a convolution over the map has no place for; it needs to come "
                f"after the first Dense layer.")
    if len(layer.input.shape) != 4 or layer.data_format != "channels_last":
        raise UsageError(f"Dense evaluation needs the Flatten layer {layer.name!r} to receive a "
                         f"channels-last feature map; it receives {tuple(layer.input.shape)}.")
    return layer, head


def _blocking_after_dense(layer: keras.layers.Layer, producer: dict):
    """Going back from ``layer`` (following each layer's first input) to a ``Flatten`` or
    the input: the layer that is neither Dense nor per position nearest a Dense layer
    met on the way (``layer`` itself or one before it), or None where none is met."""
    blocking = None
    while layer is not None and not isinstance(layer, keras.layers.Flatten):
        if isinstance(layer, keras.layers.Dense):
            return blocking
        if not isinstance(layer, PER_POSITION):
            blocking = layer
        inputs = layer.input
        layer = producer.get(id(inputs[0] if isinstance(inputs, (list, tuple)) else inputs))
    return None


def _as_convolution(dense: keras.layers.Dense, kernel_size, linear: bool) -> keras.layers.Conv2D:
    """A Conv2D of ``kernel_size`` computing ``dense`` at each position (without its
    activation when ``linear``), with its weights."""
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    kernel = kernel.reshape(*kernel_size, -1, kernel.shape[-1])
    convolution = keras.layers.Conv2D(
        kernel.shape[-1], kernel_size, activation=None if linear else dense.activation,
        use_bias=dense.use_bias, data_format="channels_last", dtype=dense.dtype_policy,
        name=dense.name)
    convolution.build((None, None, None, kernel.shape[2]))
    convolution.set_weights([kernel, *([keras.ops.convert_to_numpy(dense.bias)]
                                       if dense.use_bias else [])])
    return convolution


def _on_maps(normalization: keras.layers.BatchNormalization, shape) -> keras.layers.Layer:
    """A copy of ``normalization`` (built on vectors, which Keras then holds it to) for
    maps of ``shape``, with its weights: the same normalization at every position."""
    # Its axis on vectors, 1 or -1, is the features: the last axis of maps.
    copy = type(normalization).from_config({**normalization.get_config(), "axis": -1})
    copy.build(shape)
    copy.set_weights(normalization.get_weights())
    return copy
