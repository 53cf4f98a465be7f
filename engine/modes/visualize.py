"""``--mode=visualize``: what a finished run's network computes (Zeiler and Fergus 2014).

Writes into the run directory ``filters_<layer>.png`` (the first convolution's
filters), ``feature_maps_<layer>.png`` for each of ``--layers`` (default: every
pooling stage) on ``--image`` (default: the first test image), ``occlusion.png``
(``--patch``, ``--stride``) and ``top_images_<layer>.png`` for each of ``--layers``
(the test images that excite its most active units most). See
:mod:`engine.visualize`.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from engine import rundir
from engine.evaluate import as_probabilities
from engine.spec import default_model_dir
from engine import visualize as draw


def run(args) -> None:
    model_dir = args.model_dir or default_model_dir(args.recipe, args.dataset)
    saved = rundir.load_run(model_dir)
    image = draw.load_image(args.image) if args.image else None
    model = saved.load_model()
    names = draw.choose_layers(model, args.layers)
    patch, stride = draw.occlusion_geometry(model.inputs[0].shape[1:], args.patch, args.stride)
    data = saved.prepare(args.data_dir, args.batch_size, deterministic=True)
    figures = visualize_run(saved, model, data, names, image, patch, stride)
    print(f"{len(figures)} figures of {saved.record['recipe']} on {saved.record['dataset']} "
          f"written to {saved.directory}: {', '.join(os.path.basename(path) for path in figures)}")


def visualize_run(saved: rundir.SavedRun, model, data, names: list[str], image, patch: int,
                  stride: int) -> list[str]:
    """Draws every figure of the mode for the run ``saved`` (its ``model`` and prepared
    ``data``); ``image`` is a decoded image or None for the first test image. Returns
    the paths written."""
    directory, class_names = saved.directory, saved.class_names

    def path(template, layer=""):
        return os.path.join(directory, template.format(layer=layer))

    filters, feature_maps, top_images = rundir.LAYER_FIGURES
    convolution = draw.first_convolution(model)
    figures = [draw.plot_filters(convolution, path(filters, convolution.name))]

    raw_views = data.source.test.map(
        lambda stored, label: (data.augmentation.evaluate(data.augmentation.store(stored)), label),
        num_parallel_calls=tf.data.AUTOTUNE)
    if image is None:
        raw, label = (np.asarray(value) for value in next(iter(raw_views)))
        label = int(label)
    else:
        raw = np.asarray(data.augmentation.evaluate(data.augmentation.store(image)))
        label = None
    normalized = np.asarray(data.preprocessing(raw[None]))
    probabilities = as_probabilities(model, model(normalized, training=False))[0]
    predicted = int(np.argmax(probabilities))
    target = predicted if label is None else label
    source = "test image 0" if image is None else "--image"
    truth = f"class '{class_names[label]}'" if label is not None else "class unknown"
    caption = (f"{source}: {truth}\npredicted '{class_names[predicted]}' "
               f"(p={probabilities[predicted]:.2f})")

    layer_probe = draw.probe(model, names)
    for name, maps in zip(names, draw.numpy(layer_probe(normalized, training=False))):
        figures.append(draw.plot_feature_maps(name, maps[0], raw, caption,
                                              path(feature_maps, name)))

    heat = draw.occlusion_map(model, normalized[0], target, patch, stride,
                              data.spec.batch_size)
    figures.append(draw.plot_occlusion(
        raw, heat, patch, stride, caption, class_names[target],
        "true" if label is not None else "predicted", path(rundir.OCCLUSION_FILE)))

    batches = raw_views.batch(data.spec.batch_size)
    activations = draw.strongest_activations(
        layer_probe, (data.preprocessing(images) for images, _ in batches))
    rankings = [draw.top_units(layer_activations) for layer_activations in activations]
    wanted = {int(index) for ranking in rankings for _, indices in ranking for index in indices}
    images, labels = {}, {}
    for index, (stored_view, stored_label) in enumerate(raw_views):
        if index > max(wanted):
            break
        if index in wanted:
            images[index], labels[index] = np.asarray(stored_view), int(stored_label)
    for name, ranking, layer_activations in zip(names, rankings, activations):
        shape = model.get_layer(name).output.shape[1:]
        figures.append(draw.plot_top_images(name, shape, ranking, layer_activations, images,
                                            labels, class_names, path(top_images, name)))
    return figures
