"""tf.data input pipelines: sources, preprocessing to the recipe, batching.

``engine.data`` is the one place that imports ``tensorflow_datasets``.
:func:`prepare` is what a run calls: data spec + recipe input shape in,
source + preprocessing + batched pipelines out.
"""

from engine.data.pipeline import DataSpec, Pipelines, Prepared, make_pipelines, prepare
from engine.data.preprocessing import Preprocessing
from engine.data.sources import Source, load_source

__all__ = ["DataSpec", "Pipelines", "Prepared", "Preprocessing", "Source", "load_source",
           "make_pipelines", "prepare"]
