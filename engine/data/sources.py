"""Where images come from: ``digits``, ``synthetic``, ``folder:PATH`` or a TFDS dataset."""

from __future__ import annotations

from engine.data.digits import digits
from engine.data.folder import image_folder
from engine.data.source import FOLDER_PREFIX, NOT_TFDS, VALIDATION_FRACTION, Source
from engine.data.synthetic import synthetic
from engine.data.tfds_source import tfds_source
from layers.errors import UsageError


def load_source(name: str, data_dir: str | None = None, manual_dir: str | None = None, *,
                image_shape=(32, 32, 3), classes: int = 10,
                validation_fraction: float = VALIDATION_FRACTION,
                validation_fraction_given: bool = False) -> Source:
    """The dataset called ``name``.

    ``digits`` (embedded), ``synthetic`` (random ``image_shape`` images of ``classes``
    classes), ``folder:PATH`` (an image folder) or a TFDS dataset in ``data_dir``,
    prepared offline from ``manual_dir`` if it is not prepared yet. Where the dataset
    has no validation split, ``validation_fraction`` of its training split is held out
    as one (0: none; the validation split is then empty); where it has one, a fraction
    set on the command line (``validation_fraction_given``) is refused, as ignored.
    """
    if name == "digits":
        return digits(validation_fraction)
    if name == "synthetic":
        return synthetic(tuple(image_shape), classes, validation_fraction)
    if name.startswith(FOLDER_PREFIX):
        return image_folder(name[len(FOLDER_PREFIX):], validation_fraction,
                            validation_fraction_given)
    return tfds_source(name, data_dir, manual_dir, validation_fraction, validation_fraction_given)


def check_tfds_flags(name: str, given) -> None:
    """Refuses ``--data_dir`` or ``--manual_dir`` in ``given`` (the flags set on the
    command line) for dataset ``name`` when it is not a TFDS dataset: they would be
    silently ignored."""
    if is_tfds(name):
        return
    why = NOT_TFDS[FOLDER_PREFIX if name.startswith(FOLDER_PREFIX) else name]
    for flag, role in (("data_dir", "tells where a TFDS dataset is prepared"),
                       ("manual_dir", "holds the archives a TFDS dataset is prepared from")):
        if flag in given:
            raise UsageError(f"--{flag} {role}, and --dataset={name} is not one ({why}); leave "
                             f"--{flag} out.")


def is_tfds(name: str) -> bool:
    """Whether dataset ``name`` is read from TFDS (in ``--data_dir``)."""
    return name not in NOT_TFDS and not name.startswith(FOLDER_PREFIX)
