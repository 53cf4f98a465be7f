"""tf.data input pipelines: sources, preprocessing to the recipe, the papers'
augmentations, test-time augmentation, batching.

``engine.data`` is the one place that imports ``tensorflow_datasets``.
:func:`prepare` is what a run calls: data spec + recipe input shape in,
source + preprocessing + batched pipelines out. The names of the augmentations,
normalizations and TTA modes are :mod:`engine.choices`'.
"""

from engine.data.augment import Augmentation, make_augmentation
from engine.data.pipeline import (DataFailure, Pipelines, Prepared, named_data_errors,
                                  open_source, prepare, resolve_input_shape)
from engine.data.preprocessing import Preprocessing
from engine.data.source import Source
from engine.data.sources import load_source
from engine.data.spec import DataSpec

__all__ = ["Augmentation", "DataFailure", "DataSpec", "Pipelines", "Prepared", "Preprocessing",
           "Source", "load_source", "make_augmentation", "named_data_errors", "open_source",
           "prepare", "resolve_input_shape"]
