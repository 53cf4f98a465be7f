"""Normalization to the recipe: statistics fitted once on the training split.

The statistics are computed from the training images' evaluation view (at the
recipe's input geometry) and stored with the run (``preprocessing.json``, plus
``preprocessing_<array>.npy`` beside it for the arrays: the mean image, the ZCA
whitening mean and matrix), so evaluation, export and serving use exactly the same
numbers. A :class:`Preprocessing` is a plain function of them, applied to one image
or to a batch alike.

The normalizations (:data:`engine.choices.NORMALIZATIONS`):

- ``per_channel``: ``(x - mean) / std`` per channel, the modern default;
- ``mean_image``: the training set's mean image subtracted ("the per-pixel mean":
  Krizhevsky et al. 2012, section 2; Zeiler and Fergus 2014, section 3.1; He et al.
  2016, sections 3.4 and 4.2);
- ``mean_rgb``: the training set's mean colour subtracted from each pixel, unscaled
  (Simonyan and Zisserman 2015, section 2.1: "subtracting the mean RGB value");
- ``lenet``: 0-255 intensities mapped linearly so that 0 (MNIST's background) is -0.1
  and 255 (its ink) 1.175 (LeCun et al. 1998, section II-B, LeNet-5); no statistics;
- ``gcn_zca``: global contrast normalization then ZCA whitening, fitted on the
  training split (Lin et al. 2014, section 4.2, "as was used by Goodfellow et al."
  for maxout: pylearn2's CIFAR-10 recipe).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from engine.rundir import damaged, read_json, shape_text, write_json
from layers.checks import is_finite_real, is_int
from layers.errors import UsageError

# Images the statistics are computed from: the whole training split up to this many
# (the first ones; TFDS shuffles examples when it prepares a dataset).
STATS_MAX_IMAGES = 100_000
STATS_BATCH_VALUES = 8_000_000  # pixels x channels per batch of the statistics pass
# ... and images at most: tf.data takes seconds to batch a few thousand tiny images into a
# batch of millions (a 1x1 input: 8 million; 100 s of statistics for a 1 s epoch).
STATS_BATCH_IMAGES = 10_000
MIN_STD = 1e-3  # keeps constant channels (blank borders, synthetic data) finite
# LeCun et al. 1998, section II-B: "the background level (white) corresponds to a value of
# -0.1 and the foreground (black) corresponds to 1.175".
LENET_BACKGROUND, LENET_FOREGROUND = -0.1, 1.175
# Goodfellow et al.'s maxout preprocessing (pylearn2's make_cifar10_gcn_whitened.py):
# each image minus its mean, scaled to an L2 norm of 55 (CIFAR10(gcn=55.)); then ZCA with
# filter_bias 0.1 added to the covariance's diagonal (pylearn2's ZCA default).
GCN_SCALE = 55.0
GCN_MIN_DIVISOR = 1e-8  # a constant image keeps its (zero) values, as in pylearn2
ZCA_FILTER_BIAS = 0.1
# A whitening matrix is (H*W*C)^2 values: CIFAR's 3,072 give 38 MB; beyond this many
# values per image (e.g. 48x48x3 = 6,912 fits) fitting and storing it is not sensible.
MAX_WHITENED_VALUES = 8_192
# The arrays each normalization stores beside preprocessing.json.
ARRAYS = {"per_channel": (), "mean_image": ("mean_image",), "mean_rgb": (), "lenet": (),
          "gcn_zca": ("zca_mean", "zca_matrix")}


@dataclasses.dataclass(frozen=True, eq=False)
class Preprocessing:
    """0-255 float image at ``input_shape`` -> normalized network input.

    ``normalization`` is one of the module's (see its docstring). ``mean_image`` is
    AlexNet's "subtracting the mean activity over the training set from each pixel"
    (Krizhevsky et al. 2012, section 2), unscaled. The mean image is taken at the
    input size (over the training images' evaluation views) and subtracted from every
    crop, the common reading; Caffe's reference subtracts the 256x256 mean at each
    crop's offset instead.

    ``gcn_zca`` treats an image as one vector ``x`` of H*W*C values:
    ``g = 55 (x - mean(x)) / ||x - mean(x)||`` (global contrast normalization), then
    ``(g - zca_mean) @ zca_matrix`` with ``zca_matrix = U diag(1 / sqrt(l)) U^T`` from
    the eigenpairs ``(l, U)`` of the training vectors' covariance plus 0.1 times the
    identity. The augmentations run before it, on the raw image (the paper whitens
    the dataset once and augments the whitened images; whitening is nearly a local,
    translation-invariant filter, so only the padded borders differ).

    ``mean``/``std`` are per channel (0-255 units). ``colour_eigenvalues`` and
    ``colour_eigenvectors`` (columns) are the principal components of the training
    pixels' colours on 0-1 values, which AlexNet's colour augmentation uses.
    ``mean_image``, ``zca_mean`` and ``zca_matrix`` are set where the normalization
    needs them (:data:`ARRAYS`).
    """

    input_shape: tuple[int, int, int]
    normalization: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    colour_eigenvalues: tuple[float, ...]
    colour_eigenvectors: tuple[tuple[float, ...], ...]
    mean_image: np.ndarray | None = None
    zca_mean: np.ndarray | None = None
    zca_matrix: np.ndarray | None = None

    def __post_init__(self):
        missing = [name for name in ARRAYS.get(self.normalization, ())
                   if getattr(self, name) is None]
        if missing:
            raise UsageError(f"normalization={self.normalization!r} needs "
                             f"{' and '.join(missing)}; got None.")

    def __call__(self, image: tf.Tensor, arrays: dict | None = None) -> tf.Tensor:
        """Normalizes a float 0-255 image (or batch) at ``input_shape``; ``arrays``
        (:meth:`variables`) holds the arrays of :data:`ARRAYS` where they are not to be
        constants of the graph."""
        image = tf.cast(image, tf.float32)

        def array(name: str) -> tf.Tensor:
            return arrays[name] if arrays else tf.constant(getattr(self, name), tf.float32)

        if self.normalization == "mean_image":
            return image - array("mean_image")
        if self.normalization == "mean_rgb":
            return image - tf.constant(self.mean, tf.float32)
        if self.normalization == "lenet":
            return LENET_BACKGROUND + image * ((LENET_FOREGROUND - LENET_BACKGROUND) / 255.0)
        if self.normalization == "gcn_zca":
            vectors = tf.reshape(image, [-1, int(np.prod(self.input_shape))])
            whitened = tf.matmul(global_contrast_normalize(vectors) - array("zca_mean"),
                                 array("zca_matrix"))
            return tf.reshape(whitened, tf.shape(image))
        return (image - tf.constant(self.mean, tf.float32)) / tf.constant(self.std, tf.float32)

    def variables(self) -> dict[str, tf.Variable]:
        """The arrays of :data:`ARRAYS` as variables, for :meth:`__call__`'s ``arrays``: a
        SavedModel stores a variable once, where it copies a constant into the graph of
        every signature that uses it (twice a ZCA matrix of up to 268 MB)."""
        return {name: tf.Variable(getattr(self, name), trainable=False, dtype=tf.float32,
                                  name=name)
                for name in ARRAYS[self.normalization]}

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
        images: per-channel mean and std, colour principal components, and the arrays
        ``normalization`` needs (mean image; ZCA mean and matrix), in one pass."""
        input_shape = tuple(int(side) for side in input_shape)
        check_normalization(normalization, input_shape)
        whiten = normalization == "gcn_zca"
        if size is not None and size > STATS_MAX_IMAGES:
            images = images.take(STATS_MAX_IMAGES)
        values = int(np.prod(input_shape))
        batch_size = max(1, min(STATS_BATCH_IMAGES, STATS_BATCH_VALUES // values))
        channels = input_shape[-1]
        image_sum = np.zeros(input_shape)
        colour_products = np.zeros((channels, channels))
        contrast_sum = np.zeros(values) if whiten else None
        contrast_products = np.zeros((values, values)) if whiten else None
        count = 0
        for batch in images.batch(batch_size).as_numpy_iterator():
            batch = batch.astype(np.float64)
            image_sum += batch.sum(axis=0)
            pixels = batch.reshape(-1, channels) / 255.0
            colour_products += pixels.T @ pixels
            if whiten:
                normalized = global_contrast_normalize(batch.reshape(len(batch), values))
                contrast_sum += normalized.sum(axis=0)
                contrast_products += normalized.T @ normalized
            count += len(batch)
        if count == 0:
            raise UsageError("The training split is empty; there is nothing to train on.")
        arrays = {}
        if whiten:
            arrays["zca_mean"], arrays["zca_matrix"] = zca(contrast_sum / count,
                                                           contrast_products / count)
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
                   else None, **arrays)

    def to_json(self) -> dict:
        """Everything but the arrays, which :meth:`save` writes beside the JSON file."""
        return {"input_shape": list(self.input_shape), "normalization": self.normalization,
                "mean": list(self.mean), "std": list(self.std),
                "colour_eigenvalues": list(self.colour_eigenvalues),
                "colour_eigenvectors": [list(row) for row in self.colour_eigenvectors]}

    @classmethod
    def from_json(cls, data: dict, **arrays: np.ndarray) -> "Preprocessing":
        """The preprocessing of :meth:`to_json`'s ``data`` with its ``arrays`` (by name)."""
        return cls(input_shape=tuple(data["input_shape"]), normalization=data["normalization"],
                   mean=tuple(data["mean"]), std=tuple(data["std"]),
                   colour_eigenvalues=tuple(data["colour_eigenvalues"]),
                   colour_eigenvectors=tuple(map(tuple, data["colour_eigenvectors"])),
                   **arrays)

    def save(self, path) -> None:
        """Writes ``path`` (JSON) and each array the normalization needs as
        ``<stem>_<array>.npy`` beside it (``preprocessing_mean_image.npy``, ...), each
        through a temporary file renamed into place."""
        for name in ARRAYS[self.normalization]:
            target = array_path(path, name)
            with open(f"{target}.partial", "wb") as file:
                np.save(file, getattr(self, name))
            os.replace(f"{target}.partial", target)
        write_json(os.fspath(path), self.to_json())

    @classmethod
    def load(cls, path, input_shape=None) -> "Preprocessing":
        """The preprocessing :meth:`save` wrote to ``path``; a file without its keys, with
        values of other types, statistics no fit writes, or another input shape than
        ``input_shape`` (a run's, where given) is a usage error naming it."""
        data = read_json(os.fspath(path))
        try:
            arrays = {name: _load_array(array_path(path, name))
                      for name in ARRAYS[data["normalization"]]}
            preprocessing = cls.from_json(data, **arrays)
        except UsageError:  # a missing or damaged array, named by its own file
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise damaged(os.fspath(path), f"{type(error).__name__}: {error}") from None
        shape = preprocessing.input_shape
        if input_shape is not None and list(shape) != list(input_shape):
            raise damaged(os.fspath(path), f"its input shape {shape_text(shape)} is not the "
                                           f"run's {shape_text(input_shape)}")
        problem = preprocessing.statistics_problem()
        if problem:
            raise damaged(os.fspath(path), problem)
        return preprocessing

    def statistics_problem(self) -> str | None:
        """What in a loaded file cannot be what :meth:`fit` wrote, or None: an input shape
        that is no image's, a ``mean`` or ``std`` that is not one finite number per
        channel, a ``std`` below :data:`MIN_STD` (an edited 0 or NaN divided every input
        into infinities, and the run scored chance without an error)."""
        if not (len(self.input_shape) == 3
                and all(is_int(side) and side > 0 for side in self.input_shape)):
            return f"its input_shape is {list(self.input_shape)!r}"
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != self.input_shape[-1] or not all(map(is_finite_real, values)):
                return (f"its {name} is {list(values)!r}, not one finite number for each of "
                        f"the {self.input_shape[-1]} channels")
        if min(self.std) < MIN_STD:
            return f"its std is {list(self.std)!r}, below the {MIN_STD:g} the fit keeps"
        return None


def _load_array(path: str) -> np.ndarray:
    """The array :meth:`Preprocessing.save` wrote to ``path``; a missing or damaged file
    is a usage error naming it."""
    try:
        return np.load(path)
    except FileNotFoundError:
        problem = "is missing"
    except (OSError, ValueError, EOFError):  # truncated, or not an .npy file at all
        problem = "is damaged (not a whole NumPy .npy file)"
    raise UsageError(f"{path} {problem}; the run's normalization needs it: restore it, or "
                     "rerun the training that wrote it with --overwrite.")


def array_path(path, name: str) -> str:
    """Where :meth:`Preprocessing.save` writes the array ``name`` for ``path``."""
    stem, _ = os.path.splitext(os.fspath(path))
    return f"{stem}_{name}.npy"


def global_contrast_normalize(vectors):
    """Each row minus its mean, scaled to an L2 norm of :data:`GCN_SCALE` (a constant
    row stays zero); numpy or TensorFlow rows alike."""
    if isinstance(vectors, np.ndarray):
        centred = vectors - vectors.mean(axis=1, keepdims=True)
        divisor = np.sqrt(np.square(centred).sum(axis=1, keepdims=True)) / GCN_SCALE
        return centred / np.where(divisor < GCN_MIN_DIVISOR, 1.0, divisor)
    centred = vectors - tf.reduce_mean(vectors, axis=1, keepdims=True)
    divisor = tf.norm(centred, axis=1, keepdims=True) / GCN_SCALE
    return centred / tf.where(divisor < GCN_MIN_DIVISOR, tf.ones_like(divisor), divisor)


def zca(mean: np.ndarray, second_moment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ZCA whitening mean and matrix of vectors with ``mean`` and ``second_moment``
    ``E[x x^T]``: ``U diag(1 / sqrt(l)) U^T`` for the eigenpairs of their covariance plus
    :data:`ZCA_FILTER_BIAS` times the identity (pylearn2's ``ZCA.fit``), float32."""
    covariance = second_moment - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(
        covariance + ZCA_FILTER_BIAS * np.eye(len(mean)))
    matrix = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    return mean.astype(np.float32), matrix.astype(np.float32)


def check_normalization(normalization: str, input_shape) -> None:
    """Refuses ``gcn_zca`` for inputs too large to whiten (:data:`MAX_WHITENED_VALUES`)."""
    values = int(np.prod(input_shape))
    if normalization == "gcn_zca" and values > MAX_WHITENED_VALUES:
        raise UsageError(
            f"normalization 'gcn_zca' whitens whole images: a {shape_text(input_shape)} input "
            f"has {values:,} values, more than the {MAX_WHITENED_VALUES:,} it is fitted for; "
            "use a smaller --image_size or another --normalization.")
