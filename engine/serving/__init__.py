"""Serving a trained classifier: the SavedModel's signatures (raw images or encoded
image bytes in, class names out), TF Serving's versioned layout, TFLite.

:func:`engine.serving.export.export` writes a version; ``--mode=predict`` reads one
with TensorFlow alone (:mod:`engine.serving.predictor`).
"""
