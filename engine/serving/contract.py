"""The names an export promises its clients (TF Serving, ``--mode=predict``, apps):
signatures, their inputs and outputs, and the files of a version. Imports nothing."""

SERVING_DEFAULT, SERVE_BYTES, SERVE_FEATURES = "serving_default", "serve_bytes", "serve_features"
INPUTS = {SERVING_DEFAULT: "images", SERVE_BYTES: "image_bytes", SERVE_FEATURES: "features"}
# The outputs of every SavedModel signature (a TFLite model's lack CLASS_NAMES).
PROBABILITIES, LOGITS = "probabilities", "logits"
CLASS_IDS, CLASS_NAMES = "class_ids", "class_names"
OUTPUTS = (PROBABILITIES, LOGITS, CLASS_IDS, CLASS_NAMES)
LABELS_FILE = "labels.txt"  # in the SavedModel's assets/: one class name a line, in id order
TFLITE_FILE = "model.tflite"
