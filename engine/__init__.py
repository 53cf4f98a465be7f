"""The machinery around the recipes: input pipelines (``engine.data``), training,
export and the run report. Imports TensorFlow; ``layers`` and ``recipes`` do not."""
