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
# serve_bytes, like a folder source's check, refuses an image whose header declares more
# pixels than PIL decodes (twice its Image.MAX_IMAGE_PIXELS, beyond which it sees a
# decompression bomb): a small file can declare an image too large for the memory. The
# assertion's message is TOO_LARGE, then the pixels declared.
MAX_IMAGE_PIXELS = 2 * (1024 * 1024 * 1024 // 4 // 3)
TOO_LARGE = f"image larger than {MAX_IMAGE_PIXELS:,} pixels, refused before decoding; declared:"
# serve_bytes refuses a BMP compressed in a way TensorFlow's decoder does not read: it
# reads RLE8, RLE4 and embedded JPEG or PNG pixels as uncompressed ones, so such a file of
# the uncompressed size decodes as noise. It reads BI_RGB (none), and BI_BITFIELDS and
# BI_ALPHABITFIELDS (32 bits, the masks in BGRA order as every writer puts them).
BMP_DECODED_COMPRESSIONS = (0, 3, 6)
COMPRESSED_BMP = "a compressed (RLE, JPEG or PNG) BMP, whose pixels TensorFlow's decoder misreads"
# It reads the 2-byte width and height of OS/2's 12-byte header (BITMAPCOREHEADER) as
# 4-byte ones: such a file fails to decode, once refused as billions of pixels.
OS2_BMP_HEADER = 12
OS2_BMP = "an OS/2 BMP (a 12-byte header), which TensorFlow's decoder does not read"
