"""``--mode=visualize``: what a finished run's network computes (Zeiler and Fergus 2014).

Writes into the run directory ``filters_<layer>.png`` (the first convolution's
filters), ``feature_maps_<layer>.png`` for each of ``--layers`` (default: each
stage's output, :func:`engine.visualize.default_layers`) on ``--image`` (default: the first test image), ``occlusion.png``
(``--patch``, ``--stride``) and ``top_images_<layer>.png`` for each of ``--layers``
(the test images that excite its most active units most), in place of an earlier
call's figures. See :mod:`engine.visualize`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from engine import rundir
from engine.evaluate import as_probabilities
from engine.modes import saved_run
from engine.spec import training_config
from engine import visualize as draw
from layers.errors import UsageError

DEFAULT_BATCH_LIMIT = 32  # the images of one pass, unless --batch_size says otherwise


def run(args) -> None:
    if args.layers == []:  # --layers= (no names) read as the default layers
        raise UsageError("--layers is empty; name layers with feature maps, comma-separated, "
                         "or leave the flag out for each stage's output.")
    if args.layers and not all(args.layers):
        raise UsageError(f"--layers={','.join(args.layers)} has an empty entry; name layers "
                         "separated by single commas, without a comma at either end.")
    saved = saved_run(args, reads_images=True)
    rundir.check_writable("model_dir", saved.directory, rundir.COPY_THE_RUN)  # the figures
    image = draw.load_image(args.image) if args.image else None
    model = saved.load_model()
    draw.first_convolution(model)  # a network without one (an MLP) is refused before any work
    names = draw.choose_layers(model, args.layers)
    patch, stride = draw.occlusion_geometry(model.inputs[0].shape[1:], args.patch, args.stride)
    # Forward passes only: the run's batch (VGG-16's 256) gains no speed here and held
    # occlusion's 169 copies of a 224x224 image in one pass, 14 GB.
    batch_size = args.batch_size or min(training_config(saved.record).batch_size,
                                        DEFAULT_BATCH_LIMIT)
    data = saved.prepare(args.data_dir, batch_size, deterministic=True)
    figures = visualize_run(saved, model, data, names, image, patch, stride)
    # An earlier call's figures (other layers, another image) would read as this call's.
    rundir.remove_run(saved.directory, rundir.FIGURE_ENTRIES, keep=figures)
    print(f"{len(figures)} figures of {saved.record['recipe']} on {saved.record['dataset']} "
          f"written to {saved.directory}: {', '.join(os.path.basename(path) for path in figures)}")


def visualize_run(saved: rundir.SavedRun, model, data, names: list[str], image, patch: int,
                  stride: int) -> list[str]:
    """Draws every figure of the mode for the run ``saved`` (its ``model`` and prepared
    ``data``); ``image`` is a decoded image or None for the first test image. Returns
    the paths written."""
    def path(template, layer=""):
        return os.path.join(saved.directory, template.format(layer=layer))

    filters, feature_maps, top_images = rundir.LAYER_FIGURES
    convolution = draw.first_convolution(model)
    figures = [draw.plot_filters(convolution, path(filters, convolution.name))]
    # The test images as the network sees them (the preset's evaluation view), before
    # normalization: what the figures show.
    views = data.source.test.map(
        lambda stored, label: (data.augmentation.evaluate(data.augmentation.store(stored)), label),
        num_parallel_calls=tf.data.AUTOTUNE)
    if image is None:
        view, label = (np.asarray(value) for value in next(iter(views)))
        label, source = int(label), "test image 0"
    else:
        view = np.asarray(data.augmentation.evaluate(data.augmentation.store(image)))
        label, source = None, "--image"
    layer_probe = draw.probe(model, names)
    figures += one_image(model, layer_probe, data, view, label, source, saved.class_names,
                         patch, stride, {name: path(feature_maps, name) for name in names},
                         path(rundir.OCCLUSION_FILE))
    activations = draw.strongest_activations(
        layer_probe, (data.preprocessing(batch) for batch, _ in views.batch(data.spec.batch_size)))
    rankings = [draw.top_units(layer_activations) for layer_activations in activations]
    images, labels = pick(views, {int(index) for ranking in rankings
                                  for _, indices in ranking for index in indices})
    for name, ranking, layer_activations in zip(names, rankings, activations):
        shape = model.get_layer(name).output.shape[1:]
        figures.append(draw.plot_top_images(name, shape, ranking, layer_activations, images,
                                            labels, saved.class_names, path(top_images, name)))
    return figures


def one_image(model, layer_probe, data, view, label, source, class_names, patch, stride,
              map_paths: dict, occlusion_path: str) -> list[str]:
    """The feature maps of the probed layers and the occlusion map of one 0-255 ``view``
    of class ``label`` (None: unknown, the predicted class is occluded)."""
    normalized = np.asarray(data.preprocessing(view[None]))
    probabilities = as_probabilities(model, model(normalized, training=False))[0]
    predicted = int(np.argmax(probabilities))
    truth = f"class '{class_names[label]}'" if label is not None else "class unknown"
    caption = (f"{source}: {truth}\npredicted '{class_names[predicted]}' "
               f"(p={probabilities[predicted]:.2f})")
    figures = [draw.plot_feature_maps(name, maps[0], view, caption, map_paths[name])
               for name, maps in zip(map_paths,
                                     draw.numpy(layer_probe(normalized, training=False)))]
    target = predicted if label is None else label
    heat = draw.occlusion_map(model, normalized[0], target, patch, stride,
                              data.spec.batch_size)
    figures.append(draw.plot_occlusion(view, heat, patch, stride, caption, class_names[target],
                                       "true" if label is not None else "predicted",
                                       occlusion_path))
    return figures


def pick(views, wanted: set[int]) -> tuple[dict, dict]:
    """The images and labels of ``views`` at the indices ``wanted``."""
    images, labels = {}, {}
    for index, (view, label) in enumerate(views.take(max(wanted) + 1)):
        if index in wanted:
            images[index], labels[index] = np.asarray(view), int(label)
    return images, labels
