"""tf.data input pipelines: sources, preprocessing to the recipe, the papers'
augmentations, test-time augmentation, batching.

``engine.data`` is the one place that imports ``tensorflow_datasets``.
:func:`prepare` is what a run calls: data spec + recipe input shape in,
source + preprocessing + batched pipelines out.
"""

from engine.data.augment import AUGMENTATIONS, Augmentation, make_augmentation
from engine.data.pipeline import DataSpec, Pipelines, Prepared, prepare, resolve_input_shape
from engine.data.preprocessing import NORMALIZATIONS, Preprocessing
from engine.data.sources import Source, load_source
from engine.data.tta import TTA_MODES

__all__ = ["AUGMENTATIONS", "NORMALIZATIONS", "TTA_MODES", "Augmentation", "DataSpec",
           "Pipelines", "Prepared", "Preprocessing", "Source", "load_source",
           "make_augmentation", "prepare", "resolve_input_shape"]
