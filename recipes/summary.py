"""The per-layer summary the lectures draw: output size, memory, parameters, MACs, receptive field.

The CS231n lecture on CNN architectures walks VGG-16 layer by layer ("CONV3-64:
[224x224x64] memory: 224*224*64=3.2M params: (3*3*3)*64 = 1,728") and ends
with "TOTAL memory: 24M * 4 bytes ~= 93MB / image (only forward!)" and "TOTAL
params: 138M parameters".  :func:`summarize` computes those rows for any
functional model, with the multiply-adds and receptive field of every layer
added; :func:`format_summary` prints them the way the lecture does.

The lecture's rows are right, its memory total is not: its own rows add up to
15.2M activations (61 MB at 4 bytes), not 24M; :func:`totals` sums the rows.

Counting rules:

* ``params``: every weight of the layer, biases and batch-norm statistics
  included (``layer.count_params()``); the lecture leaves biases out.
* ``macs``: multiply-adds per image of the layer's weights: a convolution does
  ``output elements * kernel area * input channels / groups``, a depthwise one
  ``output elements * kernel area``, a separable one both (its depthwise, then its
  1x1 convolution), a transposed one ``input elements * kernel area * filters``, a
  dense layer ``output elements * input width``.  Biases, pooling, normalization (LRN, batch norm), activations,
  additions and concatenations count 0, as in ResNet's Table 1 "FLOPs"
  (He et al. 2016), which are multiply-adds.  A custom layer that multiplies
  weights by inputs reports its count with a method ``macs(input_shape) ->
  int`` (``input_shape`` with the batch axis, as ``compute_output_shape``
  takes it); custom layers without one count 0.
* ``activations``: the elements per image of the new tensor the layer stores
  in a forward pass, the lecture's "memory".  Layers that need no new tensor
  count 0: reshapes (``Flatten``, ``Reshape``) are views, element-wise
  activations run in place (as Caffe's ReLU does, which is why the lecture's
  CONV rows include their ReLU) and dropout is the identity at inference.
* ``receptive_field``: the ``(height, width)`` input window one output unit
  sees, grown layer by layer with :func:`layers.grow_receptive_field`; a node
  with several inputs (an Inception concatenation, a residual addition) takes
  the largest field and jump over its inputs of the output's rank (FractalNet's joins also
  take a ``(batch, columns)`` code that sees no pixels).  ``None`` once the spatial axes
  are gone (after ``Flatten`` or global pooling, every unit sees the whole image) and
  after a transposed convolution (its window lies on the output, not the input).
"""

from __future__ import annotations

import math

import keras

from layers import grow_receptive_field
from layers.errors import UsageError

FLOAT32_BYTES = 4
BYTES_PER_MB = 10**6
COUNT_SUFFIXES = (("G", 10**9), ("M", 10**6), ("K", 10**3))

# Layers that store no new tensor in a forward pass at inference (see the module docstring).
NO_NEW_TENSOR = (
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU,
    keras.layers.Softmax, keras.layers.Dropout, keras.layers.GaussianDropout,
    keras.layers.GaussianNoise, keras.layers.AlphaDropout, keras.layers.Flatten,
    keras.layers.Reshape, keras.layers.Identity,
)
GLOBAL_POOLING = (
    keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D,
)
CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
DEPTHWISE_CONVOLUTIONS = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
SEPARABLE_CONVOLUTIONS = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
TRANSPOSED_CONVOLUTIONS = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                           keras.layers.Conv3DTranspose)


def summarize(model: keras.Model) -> list[dict]:
    """One row per layer of the functional ``model``, in graph order; a model nested in
    it (a Sequential block) gives its layers' rows, named ``block/conv``.

    Each row has ``name``, ``type`` (the layer's class name), ``output_shape``
    (without the batch axis), ``params``, ``macs``, ``activations`` and
    ``receptive_field``, counted as the module docstring says.  Every shape
    but the batch axis must be known.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs") or not model.inputs:
        raise UsageError(f"summarize needs a functional keras.Model, got {type(model).__name__}.")
    if isinstance(model, keras.Sequential):  # its layers leave out its input
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    return _summarize(model)[0]


def _summarize(model: keras.Model, entry=None, prefix: str = ""):
    """``model``'s rows and the geometry of its tensors; ``entry`` is the geometry of the
    inputs of a model nested in another (None for the summarized model itself), whose
    layers' rows are named ``{prefix}{name}``."""
    rows = []
    geometry = {}  # id(KerasTensor) -> ((field per axis), (jump per axis)) or None
    if entry is not None:
        geometry.update(zip(map(id, keras.tree.flatten(model.inputs)), entry))
    for layer in model.layers:  # a functional model lists its layers in graph order
        if isinstance(layer, keras.layers.InputLayer) and entry is not None:
            continue  # a nested model's input is the tensor its caller passes
        inputs = [] if isinstance(layer, keras.layers.InputLayer) else _called_on(layer)
        outputs = keras.tree.flatten(keras.Operation.output.fget(layer))
        if isinstance(layer, keras.Model) and getattr(layer, "inputs", None):
            # A nested model (a Sequential block): its own layers' rows, not one row
            # counting its parameters without their multiply-adds or receptive field.
            nested, inner = _summarize(layer, [_geometry_of(t, geometry, layer) for t in inputs],
                                       f"{prefix}{layer.name}/")
            rows += nested
            for tensor, output in zip(outputs, keras.tree.flatten(layer.outputs)):
                geometry[id(tensor)] = inner[id(output)]
            continue
        input_shape = _known_shape(layer, inputs[0].shape) if inputs else None
        output_shapes = [_known_shape(layer, tensor.shape) for tensor in outputs]
        fields = _receptive_field(layer, _maps_in(layer, inputs, geometry, len(outputs[0].shape)),
                                  output_shapes[0])
        for tensor in outputs:
            geometry[id(tensor)] = fields
        rows.append({
            "name": f"{prefix}{layer.name}", "type": type(layer).__name__,
            "output_shape": output_shapes[0][1:] if len(outputs) == 1
            else tuple(shape[1:] for shape in output_shapes),
            "params": layer.count_params(), "macs": _macs(layer, input_shape, output_shapes[0]),
            "activations": 0 if isinstance(layer, NO_NEW_TENSOR)
            else sum(math.prod(shape[1:]) for shape in output_shapes),
            "receptive_field": None if fields is None else fields[0]})
    return rows, geometry


def _called_on(layer) -> list:
    """The tensors ``layer`` was first called on in the graph. A nested functional model's
    own ``input`` is its inner ``Input``, so this asks :class:`keras.Operation`'s, which
    every layer and model has: the tensors of the call, as for any other layer."""
    return keras.tree.flatten(keras.Operation.input.fget(layer))


def totals(rows: list[dict]) -> dict:
    """The table's totals: ``params``, ``macs``, ``activations`` and ``memory_mb``, the
    forward activation memory per image at float32 (4 bytes, MB = 10^6 bytes)."""
    activations = sum(row["activations"] for row in rows)
    return {
        "params": sum(row["params"] for row in rows),
        "macs": sum(row["macs"] for row in rows),
        "activations": activations,
        "memory_mb": activations * FLOAT32_BYTES / BYTES_PER_MB,
    }


def format_summary(model: keras.Model, rows: list[dict] | None = None) -> str:
    """The summary as the lecture's VGG-16 table: one line per layer, then the totals.

    Memory is written as the lecture writes it (2 significant digits: 3.2M,
    800K; exact below 10,000), parameters exactly, MACs to 3 significant digits.
    """
    rows = summarize(model) if rows is None else rows
    table = [("layer", "type", "output", "memory", "params", "MACs", "RF")]
    for row in rows:
        field = row["receptive_field"]
        table.append((row["name"], row["type"], format_shape(row["output_shape"]),
                      format_count(row["activations"]), f"{row['params']:,}",
                      format_count(row["macs"], digits=3),
                      "-" if field is None else "x".join(map(str, field))))
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    lines = [f"{model.name}: per-layer summary (memory: activations per image)"]
    for line in table:
        cells = [cell.ljust(width) if column < 3 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(line, widths))]
        lines.append("  ".join(cells).rstrip())
    total = totals(rows)
    lines += [
        f"TOTAL memory: {format_count(total['activations'], digits=3)} * {FLOAT32_BYTES} bytes ~= "
        f"{total['memory_mb']:.2f} MB / image (only forward! ~2x for backward)",
        f"TOTAL params: {total['params']:,} ({format_count(total['params'], digits=4)}) "
        f"parameters",
        f"TOTAL MACs: {format_count(total['macs'], digits=4)} multiply-adds / image "
        f"({total['macs']:,})",
    ]
    return "\n".join(lines)


def format_shape(shape) -> str:
    """``(224, 224, 64)`` as the lecture writes it, ``[224x224x64]``."""
    if shape and isinstance(shape[0], tuple):
        return ", ".join(format_shape(part) for part in shape)
    return "[" + "x".join(str(size) for size in shape) + "]"


def format_count(count: int, digits: int = 2) -> str:
    """``count`` exactly below 10,000, else to ``digits`` significant digits with K, M or G.

    With 2 digits it writes the lecture's memory column: 150,528 -> ``150K``,
    3,211,264 -> ``3.2M``, 4,096 -> ``4096``.
    """
    if count < 10_000:
        return str(count)
    rounded = float(f"{count:.{digits}g}")  # 999,600,000 to 3 digits is 1G, not 1000M
    suffix, scale = next((suffix, scale) for suffix, scale in COUNT_SUFFIXES if rounded >= scale)
    return f"{float(f'{rounded / scale:.{digits}g}'):g}{suffix}"


def _known_shape(layer, shape) -> tuple:
    if any(size is None for size in shape[1:]):
        raise UsageError(f"summarize needs static shapes; layer {layer.name!r} has shape "
                         f"{tuple(shape)}. Build the model with a full input_shape.")
    return tuple(shape)


def _macs(layer, input_shape, output_shape) -> int:
    if hasattr(layer, "macs"):
        return int(layer.macs(input_shape))
    outputs = math.prod(output_shape[1:])
    if isinstance(layer, DEPTHWISE_CONVOLUTIONS):
        return outputs * math.prod(layer.kernel_size)
    if isinstance(layer, SEPARABLE_CONVOLUTIONS):  # depthwise, then pointwise (1x1)
        between = outputs // layer.filters * _channels(layer, input_shape) * layer.depth_multiplier
        return between * math.prod(layer.kernel_size) + between * layer.filters
    if isinstance(layer, TRANSPOSED_CONVOLUTIONS):  # each input element scatters a kernel
        return math.prod(input_shape[1:]) * math.prod(layer.kernel_size) * layer.filters
    if isinstance(layer, CONVOLUTIONS):
        channels = _channels(layer, input_shape)
        return outputs * math.prod(layer.kernel_size) * channels // layer.groups
    if isinstance(layer, keras.layers.Dense):
        return outputs * input_shape[-1]
    return 0


def _channels(layer, input_shape) -> int:
    return input_shape[1] if layer.data_format == "channels_first" else input_shape[-1]


def _maps_in(layer, inputs, geometry, rank):
    """The geometry of ``layer``'s inputs laid out as the output is (its rank): a node's
    other inputs carry no pixels of their own (FractalNet's drop-path column code beside
    the maps it joins); with none such, ``[None]`` (every unit sees the whole image)."""
    if not inputs:
        return []
    maps = [_geometry_of(tensor, geometry, layer) for tensor in inputs
            if len(tensor.shape) == rank]
    return maps or [None]


def _geometry_of(tensor, geometry, layer):
    """The geometry of ``tensor``, an input of ``layer``: one that no layer of the model
    made, as far as the rows go (a ``keras.ops`` step, or a layer's second call, makes
    tensors no layer's first output is), is a usage error naming ``layer``."""
    try:
        return geometry[id(tensor)]
    except KeyError:
        raise UsageError(f"summarize counts models built of layers, each called once; layer "
                         f"{layer.name!r} takes a tensor that a keras.ops step or a second "
                         "call of a layer made, which it cannot follow.") from None


def _receptive_field(layer, input_geometry, output_shape):
    """``(fields, jumps)`` per spatial axis of the layer's output, or ``None``."""
    spatial = len(output_shape) - 2
    # A transposed convolution spreads each input over a window: no window on the input.
    if spatial < 1 or isinstance(layer, GLOBAL_POOLING + TRANSPOSED_CONVOLUTIONS):
        return None
    if not input_geometry:  # the model's input: a single pixel, one pixel apart
        return (1,) * spatial, (1,) * spatial
    if any(g is None or len(g[0]) != spatial for g in input_geometry):
        return None
    fields = tuple(max(g[0][axis] for g in input_geometry) for axis in range(spatial))
    jumps = tuple(max(g[1][axis] for g in input_geometry) for axis in range(spatial))
    window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    strides = getattr(layer, "strides", None)
    if window is None and strides is None:
        return fields, jumps
    # A layer with strides and no window (option A's subsampling shortcut) is a 1x1 window.
    kernel = _per_axis(window or 1, spatial)
    strides = _per_axis(strides or kernel, spatial)
    dilation = _per_axis(getattr(layer, "dilation_rate", 1), spatial)
    grown = [grow_receptive_field(fields[a], jumps[a], kernel[a], strides[a], dilation[a])
             for a in range(spatial)]
    return tuple(field for field, _ in grown), tuple(jump for _, jump in grown)


def _per_axis(value, spatial) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * spatial
