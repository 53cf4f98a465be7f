"""What a run says about its input: which data, how to shape it, how to feed it."""

from __future__ import annotations

import dataclasses

from engine.choices import AUGMENTATIONS, NORMALIZATIONS, TTA_MODES, check
from layers.errors import UsageError


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What the flags say about the input: which data, how to shape it, how to feed it.

    ``augmentation`` is a preset of :mod:`engine.data.augment`, ``normalization``
    one of :mod:`engine.data.preprocessing`'s, ``tta`` one of :mod:`engine.data.tta`'s
    (the names are :mod:`engine.choices`'; this spec checks them). ``image_size``
    overrides the recipe's input height and width. ``validation_fraction`` of the
    training split is held out for validation where the dataset has no validation split
    (0: none, the whole training split trains). ``test_scale`` is dense evaluation's
    Q (``tta="dense"`` only; default :func:`engine.data.tta.dense_scale`).
    ``num_shards``/``shard_index`` give each worker of a multi-worker run its part of
    every split.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    manual_dir: str | None = None
    batch_size: int = 32
    seed: int = 0
    image_size: int | None = None
    augmentation: str = "none"
    normalization: str = "per_channel"
    tta: str = "none"
    test_scale: int | None = None
    deterministic: bool = False
    validation_fraction: float = 0.1
    num_shards: int = 1
    shard_index: int = 0

    def __post_init__(self):
        for kind, value, accepted in (("augmentation", self.augmentation, AUGMENTATIONS),
                                      ("normalization", self.normalization, NORMALIZATIONS),
                                      ("tta", self.tta, TTA_MODES)):
            check(kind, value, accepted)
        if self.seed < 0:
            raise UsageError(f"seed must be a non-negative integer, got {self.seed}.")
        for field in ("batch_size", "num_shards"):
            if getattr(self, field) < 1:
                raise UsageError(f"{field} must be at least 1, got {getattr(self, field)}.")
        if self.image_size is not None and self.image_size < 1:
            raise UsageError(f"image_size must be a positive number of pixels, got "
                             f"{self.image_size}.")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise UsageError(f"validation_fraction must be in [0, 1), got "
                             f"{self.validation_fraction}.")
        if self.test_scale is not None and (self.tta != "dense" or self.test_scale < 1):
            raise UsageError(f"--test_scale is dense evaluation's image size Q, a positive "
                             f"number of pixels with --tta=dense; got {self.test_scale} with "
                             f"--tta={self.tta}.")
        if self.tta == "dense" and self.normalization == "gcn_zca":
            raise UsageError("--tta=dense cannot evaluate with gcn_zca normalization: its "
                             "whitening matrix is fitted at the network's input size, and dense "
                             "evaluation feeds whole images of any size; use --tta=flip or "
                             "--tta=10crop.")
        if not 0 <= self.shard_index < self.num_shards:
            raise UsageError(f"shard_index must be in [0, {self.num_shards}), got "
                             f"{self.shard_index}.")
