"""tf.data input pipelines: sources, preprocessing to the recipe, batching.

``engine.data`` is the one place that imports ``tensorflow_datasets``.
"""

from engine.data.pipeline import Pipelines, make_pipelines
from engine.data.preprocessing import Preprocessing
from engine.data.sources import Source, load_source

__all__ = ["Pipelines", "Preprocessing", "Source", "load_source", "make_pipelines"]
