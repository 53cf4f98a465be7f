"""The machinery around the recipes: input pipelines (``engine.data``), training,
export and the run report. Its run phases import TensorFlow (``engine.cli`` and
``engine.choices`` do not, so that flags are parsed before it loads); ``layers`` and
``recipes`` never do."""
