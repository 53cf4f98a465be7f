"""The names an export promises its clients (TF Serving, ``--mode=predict``, apps):
signatures, their inputs and outputs, and the files of a version. Imports nothing."""

SERVING_DEFAULT, SERVE_BYTES, SERVE_FEATURES = "serving_default", "serve_bytes", "serve_features"
INPUTS = {SERVING_DEFAULT: "images", SERVE_BYTES: "image_bytes", SERVE_FEATURES: "features"}
OUTPUTS = ("probabilities", "logits", "class_ids", "class_names")
LABELS_FILE = "labels.txt"  # in the SavedModel's assets/: one class name a line, in id order
TFLITE_FILE = "model.tflite"
