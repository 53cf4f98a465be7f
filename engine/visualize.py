"""Looking inside a trained network: filters, feature maps, occlusion, top test images.

Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(the lectures' "feature visualization" slides):

* the first layer's filters drawn as images (their Figure 5/6);
* the feature maps a chosen layer computes for one image;
* occlusion sensitivity (section 4.2, Figure 7): "systematically covering up
  different portions of the scene with a grey square, and monitoring the output of
  the classifier": the probability of the true class at each position of the square,
  drawn as a heat map over the image. The square is grey in the network's input
  space: zero after normalization, the training set's mean colour (or mean image;
  with ``lenet``'s fixed mapping, a pixel of 20 of 255);
* for the most active units of a layer, the test images that excite them most, the
  first step of their "top 9 activations" figure (Figure 2), each unit's activation
  on an image being its strongest over the image's positions.

Every figure is drawn with :class:`matplotlib.figure.Figure` on the Agg canvas (no
pyplot state) and labelled with the layer, its shape and the classes.
"""

from __future__ import annotations

import math
import os
import stat

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine import quiet
from engine.data.folder import (decode_bytes, declared_pixels, is_compressed_bmp, is_os2_bmp,
                                is_palette_bmp, known_formats)
from engine.serving.contract import COMPRESSED_BMP, MAX_IMAGE_PIXELS, OS2_BMP
from engine.evaluate import as_probabilities
from engine.figure_text import drawable
from layers import LocalResponseNormalization, TrainableSubsampling
from layers.errors import UsageError

POOLING_LAYERS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, TrainableSubsampling)
# Layers whose maps are their input's, normalized, activated or dropped out.
ELEMENTWISE_LAYERS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                      keras.layers.GroupNormalization, LocalResponseNormalization,
                      keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                      keras.layers.Dropout)
MAX_MAPS = 64  # feature maps drawn per layer (the first ones)
MAX_FILTERS = 128
TOP_UNITS = 8  # units per layer in the top-images figure
TOP_IMAGES = 9  # Zeiler and Fergus's top 9
DPI = 80


# --- choosing what to draw --------------------------------------------------------------------

def first_convolution(model: keras.Model) -> keras.layers.Layer:
    """The first layer (in the model's order) with a 2-D convolution kernel."""
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            return layer
    raise UsageError(f"{model.name!r} has no convolutional layer whose filters could be drawn; "
                     "pass the --model_dir of a convolutional network's run.")


def map_layers(model: keras.Model) -> list[str]:
    """The names of the layers that output feature maps (``[batch, H, W, C]``)."""
    return [layer.name for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
            and isinstance(layer.output, keras.KerasTensor) and len(layer.output.shape) == 4]


def choose_layers(model: keras.Model, names: list[str] | None) -> list[str]:
    """``names`` checked against :func:`map_layers`; by default :func:`default_layers`:
    every pooling stage (a pooling layer that makes the maps smaller, not the stride-1 pool
    inside an Inception module's branch) and the stage outputs of networks that shrink
    their maps otherwise."""
    available = map_layers(model)
    if names:
        unknown = [name for name in names if name not in available]
        if unknown:
            layers = {layer.name: layer for layer in model.layers}
            layer = layers.get(unknown[0])
            what = (f"Unknown --layers name {unknown[0]!r}" if layer is None else
                    f"--layers name {unknown[0]!r} is the input" if isinstance(
                        layer, keras.layers.InputLayer) else
                    f"--layers name {unknown[0]!r} has no feature maps (its output's shape is "
                    f"{tuple(layer.output.shape)})")
            raise UsageError(f"{what}: the layers of {model.name!r} with feature maps are "
                             f"{', '.join(available)}.")
        return list(dict.fromkeys(names))  # each once, in the order given
    return default_layers(model, available)


def default_layers(model: keras.Model, available: list[str]) -> list[str]:
    """The pooling stages every path passes through and, at each map size (larger than
    1x1) that none of them leaves, where the maps shrink by a strided convolution or end in
    a global pooling, the last layer of that size that every path passes through: the
    output of the network's stage at that size (ResNet-50's ``conv2_block3_out`` to
    ``conv5_block3_out``, not a convolution inside a block; FractalNet's joins, not each
    column's pool), unless that layer only normalizes or activates a pooling stage's maps.
    A network that keeps one map size throughout (AlphaGo's policy) gets every
    convolution."""
    layers = [model.get_layer(name) for name in available]
    if len({map_size(layer.output) for layer in layers}) <= 1:
        return [layer.name for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    producers, through = graph(model)
    # A pool to 1x1 (GoogLeNet's pool5) is a global pooling: single pixels, no maps to see.
    pools = {layer.name for layer in layers if layer.name in through and pooling_stage(layer)
             and map_size(layer.output) != (1, 1)}

    def unpadded_size(tensor) -> tuple:
        producer = producers.get(id(tensor))
        if isinstance(producer, keras.layers.ZeroPadding2D):
            return unpadded_size(keras.Operation.input.fget(producer))
        return map_size(tensor)

    def pooled(layer) -> bool:
        """Whether ``layer``'s maps are a pooling stage's, only normalized or activated
        since (ZFNet's norm1 after pool1): the same maps, drawn once."""
        while layer.name not in pools:
            if not isinstance(layer, ELEMENTWISE_LAYERS):
                return False
            layer = producers.get(id(keras.Operation.input.fget(layer)))
            if layer is None:
                return False
        return True

    left_by_pooling = {unpadded_size(model.get_layer(name).input) for name in pools}
    stage_ends = {}  # map size -> the last layer of that size on every path
    for layer in layers:
        size = map_size(layer.output)
        if (layer.name in through and size not in left_by_pooling and size != (1, 1)
                and not isinstance(layer, keras.layers.ZeroPadding2D)):
            stage_ends[size] = layer
    chosen = pools | {layer.name for layer in stage_ends.values() if not pooled(layer)}
    return [name for name in available if name in chosen]


def map_size(tensor) -> tuple:
    """A feature map's height and width."""
    return tuple(tensor.shape[1:3])


def pooling_stage(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` pools its input into smaller maps."""
    return isinstance(layer, POOLING_LAYERS) and map_size(layer.output) != map_size(layer.input)


def graph(model: keras.Model) -> tuple[dict, set[str]]:
    """The layer that outputs each tensor (by ``id``), and the names of the layers that
    every path of feature maps from the inputs to the outputs passes through: in the
    model's order of layers (the graph's), those that no connection carrying maps jumps
    over (a residual block's inner layers are jumped over by its shortcut; FractalNet's
    drop-path choice, which every join takes, is not maps)."""
    producers, position = {}, {}
    for index, layer in enumerate(model.layers):
        for tensor in keras.tree.flatten(keras.Operation.output.fget(layer)):
            producers[id(tensor)], position[id(tensor)] = layer, index
    jumped = set()
    for index, layer in enumerate(model.layers):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        for tensor in keras.tree.flatten(keras.Operation.input.fget(layer)):
            source = position.get(id(tensor))
            if source is not None and len(tensor.shape) == 4:  # maps, not a side input
                jumped.update(range(source + 1, index))
    return producers, {layer.name for index, layer in enumerate(model.layers)
                       if index not in jumped}


def occlusion_geometry(input_shape, patch: int | None, stride: int | None) -> tuple[int, int]:
    """``(patch, stride)``: a quarter of the input's shorter side and a quarter of the
    patch by default (a 13x13 grid of positions); a patch larger than the input is a
    usage error."""
    side = min(input_shape[:2])
    patch = patch or max(1, side // 4)
    if patch > side:
        raise UsageError(f"--patch={patch} is larger than the {input_shape[0]}x{input_shape[1]} "
                         f"input; pass at most {side}.")
    stride = stride or max(1, patch // 4)
    if stride > patch:  # the squares would leave strips between them never occluded
        raise UsageError(f"--stride={stride} is larger than --patch={patch}, which leaves the "
                         f"pixels between the squares never occluded; pass at most {patch}.")
    return patch, stride


def load_image(path: str) -> tf.Tensor:
    """The image file ``path`` decoded (JPEG, PNG, BMP, GIF's first frame: the formats of
    the ``folder:`` source and ``--mode=predict``, so not WebP); a ``~`` in it is
    expanded, as in the other path flags."""
    unreadable = UsageError(f"--image={path!r} is not a readable image file (JPEG, PNG, BMP or "
                            f"GIF).")
    try:  # a named pipe or a device (/dev/zero) would be read for ever
        if not stat.S_ISREG(os.stat(os.path.expanduser(path)).st_mode):
            raise unreadable
    except FileNotFoundError:
        raise UsageError(f"--image={path!r} does not exist; check the path.") from None
    except OSError as error:
        remedy = "check its permissions" if isinstance(error, PermissionError) \
            else "check the path"
        raise UsageError(f"--image={path!r} cannot be read ({error.strerror or error}); "
                         f"{remedy}.") from None
    try:  # libjpeg's own lines about a damaged file kept off the terminal: told below
        with quiet.stderr_without(quiet.DECODER_CHATTER):
            return decoded(tf.io.read_file(os.path.expanduser(path)), path)
    except tf.errors.OpError:  # unreadable, not an image
        raise unreadable from None


def decoded(data: tf.Tensor, path: str) -> tf.Tensor:
    """:func:`load_image`'s image from the file's contents ``data``."""
    if not known_formats(data):
        raise tf.errors.InvalidArgumentError(None, None, "not a JPEG, PNG, BMP or GIF file")
    pixels = int(declared_pixels(data))
    if pixels > MAX_IMAGE_PIXELS:  # a small file can declare more than the memory holds
        raise UsageError(f"--image={path!r} is an image of {pixels:,} pixels, more than the "
                         f"{MAX_IMAGE_PIXELS:,} decoded at most; scale it down first.")
    for misread, reason in ((is_compressed_bmp, COMPRESSED_BMP), (is_os2_bmp, OS2_BMP)):
        if misread(data):
            raise UsageError(f"--image={path!r} is {reason}; save it as PNG.")
    if is_palette_bmp(data):  # TensorFlow decodes its colour indices as grey levels
        return decode_bytes(data)
    return tf.io.decode_image(data, expand_animations=False)


# --- computing --------------------------------------------------------------------------------

def probe(model: keras.Model, names: list[str]) -> keras.Model:
    """A model from ``model``'s input to the outputs of the layers ``names`` (a list)."""
    return keras.Model(model.input, [model.get_layer(name).output for name in names])


def numpy(outputs) -> list[np.ndarray]:
    """A model's output (one tensor or a list) as a list of float32 arrays."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [keras.ops.convert_to_numpy(output).astype(np.float32) for output in outputs]


def occlusion_starts(side: int, patch: int, stride: int) -> list[int]:
    """Where the occluding squares start along a ``side``-wide axis: every ``stride``
    from 0, and at ``side - patch`` too where the stride does not reach the edge
    (AlexNet's 227 with the default 56 and 14 left its last 3 rows and columns
    uncovered)."""
    starts = list(range(0, side - patch + 1, stride))
    return starts if starts[-1] == side - patch else [*starts, side - patch]


def occlusion_map(model: keras.Model, image: np.ndarray, class_index: int, patch: int,
                  stride: int, batch_size: int = 64) -> np.ndarray:
    """The probability of ``class_index`` with a ``patch`` x ``patch`` square of zeros
    (the mean, after normalization) over the normalized ``image`` at every position of
    :func:`occlusion_starts`: ``[rows, columns]``, position ``(i, j)`` covering
    ``image[tops[i]:tops[i]+patch, lefts[j]:lefts[j]+patch]``. The occluded copies are
    made ``batch_size`` at a time (all of them at once: 17 GB for a 224x224 image at
    stride 1)."""
    height, width = image.shape[:2]
    tops, lefts = (occlusion_starts(side, patch, stride) for side in (height, width))
    positions = [(top, left) for top in tops for left in lefts]
    probabilities = []
    for start in range(0, len(positions), batch_size):
        chunk = positions[start:start + batch_size]
        occluded = np.repeat(image[None], len(chunk), axis=0)
        for copy, (top, left) in zip(occluded, chunk):
            copy[top:top + patch, left:left + patch] = 0.0
        outputs = model(occluded, training=False)
        probabilities.append(as_probabilities(model, outputs)[:, class_index])
    return np.concatenate(probabilities).reshape(len(tops), len(lefts))


def strongest_activations(layer_probe: keras.Model, batches) -> list[np.ndarray]:
    """For each probed layer, ``[images, units]``: each unit's strongest activation on
    each image (the maximum over its positions); ``batches`` yields normalized images."""
    per_layer = None
    for images in batches:
        peaks = [output.max(axis=(1, 2)) for output in numpy(layer_probe(images, training=False))]
        per_layer = [[peak] for peak in peaks] if per_layer is None else [
            collected + [peak] for collected, peak in zip(per_layer, peaks)]
    return [np.concatenate(collected) for collected in per_layer]


def top_units(activations: np.ndarray, units: int = TOP_UNITS,
              images: int = TOP_IMAGES) -> list[tuple[int, np.ndarray]]:
    """The ``units`` units with the strongest activation over all images, each with the
    indices of the ``images`` images that excite it most (strongest first)."""
    strongest = np.argsort(-activations.max(axis=0), kind="stable")[:units]
    return [(int(unit), np.argsort(-activations[:, unit], kind="stable")[:images])
            for unit in strongest]


# --- drawing ----------------------------------------------------------------------------------

def display(image: np.ndarray) -> dict:
    """``imshow`` arguments for a 0-255 image: grey or RGB, pixels kept sharp."""
    image = np.clip(np.asarray(image, np.float32) / 255.0, 0.0, 1.0)
    if image.shape[-1] == 1:
        return {"X": image[..., 0], "cmap": "gray", "vmin": 0.0, "vmax": 1.0,
                "interpolation": "nearest"}
    return {"X": image, "interpolation": "nearest"}


def mosaic(tiles: list[np.ndarray], columns: int, gap: int, caption: int = 0):
    """The equal-sized ``tiles`` (``H x W`` or ``H x W x C``) laid out ``columns`` to a
    row, ``gap`` pixels apart, with ``caption`` pixels above each row for their
    captions; what is not a tile is NaN. Returns the canvas and each tile's
    ``(top, left)``. One image drawn once is many times faster than a subplot per tile."""
    height, width = tiles[0].shape[:2]
    rows, columns = math.ceil(len(tiles) / columns), min(columns, len(tiles))
    step_y, step_x = caption + height + gap, width + gap
    canvas = np.full((rows * step_y - gap, columns * step_x - gap, *tiles[0].shape[2:]), np.nan,
                     np.float32)
    origins = []
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = row * step_y + caption, column * step_x
        canvas[top:top + height, left:left + width] = tile
        origins.append((top, left))
    return canvas, origins


def enlarged(tiles: list[np.ndarray], pixels: int = 16) -> list[np.ndarray]:
    """``tiles`` with each pixel repeated so a tile is at least ``pixels`` wide: a gap
    or caption of whole pixels beside a 1x1 map would be as large as the map."""
    zoom = math.ceil(pixels / tiles[0].shape[1])
    if zoom == 1:
        return tiles
    return [np.repeat(np.repeat(tile, zoom, axis=0), zoom, axis=1) for tile in tiles]


class _Layout:
    """Pixel sizes of a mosaic whose tiles are ``tile_inches`` wide on the page."""

    def __init__(self, tile_pixels: int, tile_inches: float):
        self.inches = tile_inches / tile_pixels  # per pixel
        self.gap = max(1, round(0.06 / self.inches))
        self.caption = math.ceil(0.16 / self.inches)

    def size(self, canvas: np.ndarray) -> tuple[float, float]:
        return canvas.shape[1] * self.inches, canvas.shape[0] * self.inches


def _draw_mosaic(axis, canvas: np.ndarray, origins, captions, layout: _Layout, width: int,
                 **imshow) -> object:
    """Draws ``canvas`` on ``axis`` (NaN as white) with each caption centred above its
    tile; returns the image artist."""
    if canvas.ndim == 3:  # RGB: white gaps
        picture = axis.imshow(np.nan_to_num(canvas, nan=1.0), interpolation="nearest", **imshow)
    else:
        import matplotlib

        colours = matplotlib.colormaps[imshow.pop("cmap", "gray")].with_extremes(bad="white")
        picture = axis.imshow(canvas, cmap=colours, interpolation="nearest", **imshow)
    for (top, left), caption in zip(origins, captions):
        axis.text(left + (width - 1) / 2, top - 0.6, caption, ha="center", va="bottom",
                  fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)
    return picture


def _save(figure: Figure, path: str) -> str:
    figure.savefig(path, dpi=DPI)
    return path


def plot_filters(layer: keras.layers.Layer, path: str) -> str:
    """The filters of ``layer`` (kernel ``[h, w, in, out]``) as a grid of images, each
    scaled to its own range: in colour for 3 input channels, grey otherwise (the mean
    over the input channels where there are other than 1 or 3)."""
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float32)
    kernel_h, kernel_w, channels, count = kernel.shape
    shown = min(count, MAX_FILTERS)
    tiles = []
    for index in range(shown):
        weights = kernel[..., index]
        weights = weights if channels == 3 else weights.mean(axis=-1)
        low, high = weights.min(), weights.max()
        tiles.append((weights - low) / (high - low or 1.0))
    tiles = enlarged(tiles)
    tile_width = tiles[0].shape[1]
    layout = _Layout(tile_width, 0.55)
    canvas, origins = mosaic(tiles, 12 if shown > 64 else 8, layout.gap, layout.caption)
    width, height = layout.size(canvas)
    figure = Figure(figsize=(max(width, 3.2) + 0.2, height + 0.7), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    _draw_mosaic(axis, canvas, origins, [str(index) for index in range(shown)], layout,
                 tile_width, vmin=0.0, vmax=1.0)
    colour = ("RGB" if channels == 3 else "grey" if channels == 1
              else f"mean of {channels} input channels")
    more = f", the first {shown}" if shown < count else ""
    axis.set_title(f"{layer.name}: {count} filters of {kernel_h}x{kernel_w}x{channels}{more}\n"
                   f"({colour}, each scaled to its own range)", fontsize=9)
    return _save(figure, path)


def plot_feature_maps(name: str, maps: np.ndarray, image: np.ndarray, caption: str,
                      path: str) -> str:
    """The ``[H, W, C]`` feature maps of layer ``name`` for the 0-255 ``image`` (shown on
    the left with ``caption``), on one colour scale so that weak maps look weak."""
    height, width, channels = maps.shape
    shown = min(channels, MAX_MAPS)
    columns = 8 if shown > 8 else shown
    tiles = enlarged([maps[..., index] for index in range(shown)])
    tile_width = tiles[0].shape[1]
    layout = _Layout(tile_width, min(1.4, 7.0 / columns))
    canvas, origins = mosaic(tiles, columns, layout.gap, layout.caption)
    maps_width, maps_height = layout.size(canvas)
    figure = Figure(figsize=(2.4 + maps_width + 0.9, max(2.7, maps_height + 0.6)),
                    layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=(2.4, maps_width))
    left.imshow(**display(image))
    left.set_title(drawable(caption), fontsize=8)
    left.set_axis_off()
    picture = _draw_mosaic(right, canvas, origins, [str(index) for index in range(shown)],
                           layout, tile_width, cmap="viridis", vmin=float(maps.min()),
                           vmax=float(maps.max()))
    figure.colorbar(picture, ax=right, shrink=0.8, label="activation")
    more = f" (the first {shown})" if shown < channels else ""
    right.set_title(f"{name}: {height}x{width}x{channels} feature maps{more}", fontsize=9)
    return _save(figure, path)


def plot_occlusion(image: np.ndarray, probabilities: np.ndarray, patch: int, stride: int,
                   caption: str, class_name: str, kind: str, path: str) -> str:
    """The 0-255 ``image`` and, over it, the heat map of :func:`occlusion_map` for the
    ``kind`` ("true" or "predicted") class ``class_name``: each position's probability
    drawn around the centre of the square there."""
    from matplotlib.patches import Rectangle

    figure = Figure(figsize=(6.4, 3.2), layout="constrained")
    FigureCanvasAgg(figure)
    original, heat = figure.subplots(1, 2)
    original.imshow(**display(image))
    original.set_title(drawable(caption), fontsize=8)
    heat.imshow(**display(image))
    # Each cell spans the stride around its square's centre; the last one, at the edge,
    # reaches halfway to its neighbour's centre.
    row_edges, column_edges = (cell_edges(occlusion_starts(side, patch, stride), patch, stride)
                               for side in image.shape[:2])
    picture = heat.pcolormesh(column_edges, row_edges, probabilities, cmap="jet", vmin=0.0,
                              vmax=1.0, alpha=0.55, shading="flat")
    heat.add_patch(Rectangle((-0.5, -0.5), patch, patch, fill=False, edgecolor="white",
                             linestyle="--", linewidth=1.0))
    heat.set(xlim=(-0.5, image.shape[1] - 0.5), ylim=(image.shape[0] - 0.5, -0.5))
    class_name = drawable(class_name)
    heat.set_title(f"p('{class_name}'), the {kind} class, with a grey\n"
                   f"{patch}x{patch} square centred at each position (stride {stride})",
                   fontsize=8)
    figure.colorbar(picture, ax=heat, shrink=0.85, label=f"p('{class_name}')")
    for axis in (original, heat):
        axis.set_axis_off()
    return _save(figure, path)


def cell_edges(starts: list[int], patch: int, stride: int) -> np.ndarray:
    """The boundaries, in pixel coordinates, of the heat-map cells of squares starting at
    ``starts``: halfway between neighbouring centres, half a stride beyond the outer ones."""
    centres = np.asarray(starts, np.float64) + (patch - 1) / 2
    return np.concatenate([[centres[0] - stride / 2], (centres[1:] + centres[:-1]) / 2,
                           [centres[-1] + stride / 2]])


def plot_top_images(name: str, shape, ranking, activations: np.ndarray, images: dict,
                    labels: dict, class_names, path: str) -> str:
    """For each ``(unit, image indices)`` of ``ranking`` (:func:`top_units`), a row of
    the test ``images`` (index -> 0-255 image) labelled with their class and the unit's
    activation."""
    columns = max(len(indices) for _, indices in ranking)
    tiles, captions = [], []
    for unit, indices in ranking:
        for column in range(columns):
            if column < len(indices):
                index = int(indices[column])
                tiles.append(np.clip(np.asarray(images[index], np.float32) / 255.0, 0, 1))
                shown = drawable(class_names[labels[index]])
                captions.append(f"'{shown}' {activations[index, unit]:.2f}")
            else:
                tiles.append(np.full_like(tiles[-1], np.nan))
                captions.append("")
    if tiles[0].shape[-1] == 1:
        tiles = [tile[..., 0] for tile in tiles]
    image_height, image_width = tiles[0].shape[:2]
    layout = _Layout(image_width, 0.8)
    canvas, origins = mosaic(tiles, columns, layout.gap, layout.caption)
    width, height = layout.size(canvas)
    figure = Figure(figsize=(width + 0.8, height + 0.7), layout="constrained")
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    _draw_mosaic(axis, canvas, origins, captions, layout, image_width, vmin=0.0, vmax=1.0)
    axis.set_yticks([origins[row * columns][0] + (image_height - 1) / 2
                     for row in range(len(ranking))],
                    [f"unit {unit}" for unit, _ in ranking], fontsize=8)
    axis.tick_params(length=0)
    height_, width_, channels = shape
    axis.set_title(f"{name} ({height_}x{width_}x{channels}): the {columns} test images that "
                   f"excite each of its {len(ranking)} most active units most\n"
                   f"(class, and the unit's strongest activation on the image)", fontsize=9)
    return _save(figure, path)
