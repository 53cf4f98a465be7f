"""Preprocessing to the recipe: resize, match channels, normalize per channel.

The statistics come from the training split once and are stored with the run,
so evaluation, export and serving use exactly the same numbers.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

STATS_BATCH = 1024


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """uint8 image -> float32 recipe input: resize, channels, (x - mean) / std."""

    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        return (self.to_input_geometry(image) - self.mean) / self.std

    def to_input_geometry(self, image: tf.Tensor) -> tf.Tensor:
        """The float32 image (0-255) at the recipe's height, width and channels."""
        height, width, channels = self.input_shape
        image = tf.cast(image, tf.float32)
        if image.shape[-1] != channels:
            image = (tf.image.rgb_to_grayscale(image) if channels == 1
                     else tf.image.grayscale_to_rgb(image))
        if tuple(image.shape[-3:-1]) != (height, width):
            image = tf.image.resize(image, (height, width))
        return image

    @classmethod
    def fit(cls, images: tf.data.Dataset, input_shape) -> "Preprocessing":
        """Per-channel mean and standard deviation of ``images`` at the recipe's geometry."""
        geometry = cls(tuple(input_shape), (0.0,), (1.0,))
        total = np.zeros(input_shape[-1])
        squares = np.zeros(input_shape[-1])
        count = 0
        batches = images.map(geometry.to_input_geometry, num_parallel_calls=tf.data.AUTOTUNE)
        for batch in batches.batch(STATS_BATCH).as_numpy_iterator():
            pixels = batch.reshape(-1, batch.shape[-1]).astype(np.float64)
            total += pixels.sum(axis=0)
            squares += np.square(pixels).sum(axis=0)
            count += len(pixels)
        if count == 0:
            raise ValueError("The training split is empty; there is nothing to train on.")
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - np.square(mean), 0.0))
        return cls(tuple(input_shape), tuple(mean.tolist()), tuple(np.maximum(std, 1e-3).tolist()))

    def to_json(self) -> dict:
        return {"input_shape": list(self.input_shape), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, data: dict) -> "Preprocessing":
        return cls(tuple(data["input_shape"]), tuple(data["mean"]), tuple(data["std"]))

    def save(self, path) -> None:
        with open(path, "w") as file:
            json.dump(self.to_json(), file, indent=2)
