"""Normalization to the recipe: statistics fitted once on the training split.

The statistics are computed from the training images' evaluation view (at the
recipe's input geometry) and stored with the run (``preprocessing.json``, plus
``preprocessing_mean_image.npy`` for the mean image), so evaluation, export and
serving use exactly the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from layers.errors import UsageError

# Images the statistics are computed from: the whole training split up to this many
# (the first ones; TFDS shuffles examples when it prepares a dataset).
STATS_MAX_IMAGES = 100_000
STATS_BATCH_VALUES = 8_000_000  # pixels x channels per batch of the statistics pass
MIN_STD = 1e-3  # keeps constant channels (blank borders, synthetic data) finite


@dataclasses.dataclass(frozen=True, eq=False)
class Preprocessing:
    """0-255 float image at ``input_shape`` -> normalized network input.

    ``normalization`` is ``per_channel``, ``(x - mean) / std`` per channel, or
    ``mean_image``, ``x - mean_image``: AlexNet's "subtracting the mean activity over
    the training set from each pixel" (Krizhevsky et al. 2012, section 2), unscaled.
    The mean image is taken at the input size (over the training images' evaluation
    views) and subtracted from every crop, the common reading; Caffe's reference
    subtracts the 256x256 mean at each crop's offset instead.

    ``mean``/``std`` are per channel (0-255 units). ``colour_eigenvalues`` and
    ``colour_eigenvectors`` (columns) are the principal components of the training
    pixels' colours on 0-1 values, which AlexNet's colour augmentation uses.
    ``mean_image`` is set with ``normalization="mean_image"``.
    """

    input_shape: tuple[int, int, int]
    normalization: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    colour_eigenvalues: tuple[float, ...]
    colour_eigenvectors: tuple[tuple[float, ...], ...]
    mean_image: np.ndarray | None = None

    def __post_init__(self):
        if self.normalization == "mean_image" and self.mean_image is None:
            raise UsageError("normalization='mean_image' needs the mean image; got None.")

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        """Normalizes a float 0-255 image (or batch) at ``input_shape``."""
        image = tf.cast(image, tf.float32)
        if self.normalization == "mean_image":
            return image - tf.constant(self.mean_image, tf.float32)
        return (image - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)

    def at_any_size(self, image: tf.Tensor) -> tf.Tensor:
        """Normalizes a float 0-255 image (or batch) of any size, as dense evaluation's
        whole images need: as :meth:`__call__`, except that ``mean_image``, which has the
        input's size, subtracts its mean colour (``mean``) instead."""
        if self.normalization == "mean_image":
            return tf.cast(image, tf.float32) - tf.constant(self.mean, tf.float32)
        return self(image)

    @property
    def colour_basis(self) -> np.ndarray:
        """Eigenvectors (columns) scaled by their eigenvalues: the PCA colour noise is
        ``colour_basis @ alphas``."""
        return np.asarray(self.colour_eigenvectors) * np.asarray(self.colour_eigenvalues)

    @classmethod
    def fit(cls, images: tf.data.Dataset, input_shape, normalization: str = "per_channel",
            size: int | None = None) -> "Preprocessing":
        """Statistics of ``images`` (float 0-255 at ``input_shape``), a dataset of ``size``
        images: per-channel mean and std, colour principal components, mean image."""
        input_shape = tuple(int(side) for side in input_shape)
        if size is not None and size > STATS_MAX_IMAGES:
            images = images.take(STATS_MAX_IMAGES)
        batch_size = max(1, STATS_BATCH_VALUES // int(np.prod(input_shape)))
        channels = input_shape[-1]
        image_sum = np.zeros(input_shape)
        colour_products = np.zeros((channels, channels))
        count = 0
        for batch in images.batch(batch_size).as_numpy_iterator():
            batch = batch.astype(np.float64)
            image_sum += batch.sum(axis=0)
            pixels = batch.reshape(-1, channels) / 255.0
            colour_products += pixels.T @ pixels
            count += len(batch)
        if count == 0:
            raise UsageError("The training split is empty; there is nothing to train on.")
        mean_image = image_sum / count
        mean = mean_image.reshape(-1, channels).mean(axis=0)
        pixel_count = count * int(np.prod(input_shape[:2]))
        covariance = colour_products / pixel_count - np.outer(mean / 255.0, mean / 255.0)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        eigenvalues, eigenvectors = np.maximum(eigenvalues[order], 0.0), eigenvectors[:, order]
        std = 255.0 * np.sqrt(np.maximum(np.diag(covariance), 0.0))
        return cls(input_shape=input_shape, normalization=normalization,
                   mean=tuple(mean.tolist()), std=tuple(np.maximum(std, MIN_STD).tolist()),
                   colour_eigenvalues=tuple(eigenvalues.tolist()),
                   colour_eigenvectors=tuple(map(tuple, eigenvectors.tolist())),
                   mean_image=mean_image.astype(np.float32) if normalization == "mean_image"
                   else None)

    def to_json(self) -> dict:
        """Everything but the mean image, which :meth:`save` writes beside the JSON file."""
        return {"input_shape": list(self.input_shape), "normalization": self.normalization,
                "mean": list(self.mean), "std": list(self.std),
                "colour_eigenvalues": list(self.colour_eigenvalues),
                "colour_eigenvectors": [list(row) for row in self.colour_eigenvectors]}

    @classmethod
    def from_json(cls, data: dict, mean_image: np.ndarray | None = None) -> "Preprocessing":
        return cls(input_shape=tuple(data["input_shape"]), normalization=data["normalization"],
                   mean=tuple(data["mean"]), std=tuple(data["std"]),
                   colour_eigenvalues=tuple(data["colour_eigenvalues"]),
                   colour_eigenvectors=tuple(map(tuple, data["colour_eigenvectors"])),
                   mean_image=mean_image)

    def save(self, path) -> None:
        """Writes ``path`` (JSON) and, for ``mean_image``, ``<stem>_mean_image.npy`` beside it."""
        with open(path, "w") as file:
            json.dump(self.to_json(), file, indent=2)
        if self.mean_image is not None:
            np.save(mean_image_path(path), self.mean_image)

    @classmethod
    def load(cls, path) -> "Preprocessing":
        """The preprocessing :meth:`save` wrote to ``path``."""
        with open(path) as file:
            data = json.load(file)
        mean_image = (np.load(mean_image_path(path)) if data["normalization"] == "mean_image"
                      else None)
        return cls.from_json(data, mean_image)


def mean_image_path(path) -> str:
    stem, _ = os.path.splitext(os.fspath(path))
    return f"{stem}_mean_image.npy"
