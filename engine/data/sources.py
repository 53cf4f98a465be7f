"""Where images come from: ``digits``, ``synthetic``, ``folder:PATH`` or a TFDS dataset."""

from __future__ import annotations

from engine.data.digits import digits
from engine.data.folder import image_folder
from engine.data.source import Source
from engine.data.synthetic import synthetic
from engine.data.tfds_source import tfds_source

FOLDER_PREFIX = "folder:"


def load_source(name: str, data_dir: str | None = None, manual_dir: str | None = None, *,
                image_shape=(32, 32, 3), classes: int = 10) -> Source:
    """The dataset called ``name``.

    ``digits`` (embedded), ``synthetic`` (random ``image_shape`` images of ``classes``
    classes), ``folder:PATH`` (an image folder) or a TFDS dataset in ``data_dir``,
    prepared offline from ``manual_dir`` if it is not prepared yet.
    """
    if name == "digits":
        return digits()
    if name == "synthetic":
        return synthetic(tuple(image_shape), classes)
    if name.startswith(FOLDER_PREFIX):
        return image_folder(name[len(FOLDER_PREFIX):])
    return tfds_source(name, data_dir, manual_dir)
