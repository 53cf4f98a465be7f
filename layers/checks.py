"""Checks of the arguments of layers and builders: a wrong value is a
:class:`UsageError` of one sentence naming the argument, the value received and
what is accepted. NumPy integers and booleans pass where Python's do, so a
configuration read from an array or a search builds as one typed by hand."""

from __future__ import annotations

import difflib
import math
import numbers
import re

import numpy as np

from layers.errors import UsageError


def is_int(value) -> bool:
    """True for Python and NumPy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """True for Python and NumPy real numbers, False for bools (and strings)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite_real(value) -> bool:
    """:func:`is_real` and neither infinite nor NaN."""
    return is_real(value) and math.isfinite(value)


def check_positive_int(argument: str, value) -> int:
    """``value`` as a Python int (which Keras's layers require) where it is a positive
    integer."""
    if not is_int(value) or value < 1:
        raise UsageError(f"{argument} must be a positive integer, got {value!r}.")
    return int(value)


def python_ints(value):
    """``value`` with NumPy integers as Python's (an integer, or a tuple or list of them),
    which Keras's layers require; any other value as it is, for the layer to judge."""
    if is_int(value):
        return int(value)
    if isinstance(value, (tuple, list)) and all(is_int(item) for item in value):
        return type(value)(int(item) for item in value)
    return value


def check_pair(argument: str, value) -> tuple[int, int]:
    """``value`` of a 2-D size (``kernel``, ``strides``) as ``(height, width)``: a positive
    integer for both, or a pair of them."""
    if is_int(value) and value >= 1:
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(is_int(side) and side >= 1 for side in value)):
        return int(value[0]), int(value[1])
    raise UsageError(f"{argument} must be a positive int or a (height, width) pair of them, "
                     f"got {value!r}.")


def check_switch(argument: str, value) -> bool:
    """``value`` of an on/off argument (``lrn``, ``batch_norm``, ``pool``): True or
    False only, so that a string such as ``"no"`` is not read as on."""
    if not isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{argument} must be True or False, got {value!r}.")
    return bool(value)


def check_choice(argument: str, value, accepted) -> None:
    """Refuses a ``value`` that is not one of ``accepted``."""
    if value not in accepted:
        raise UsageError(
            f"{argument} must be one of {', '.join(map(repr, accepted))}, got {value!r}.")


def close_names(name: str, known, limit: int = 5, cutoff: float = 0.6) -> list[str]:
    """The names of ``known`` that ``name`` probably means: those that begin with it once
    case and all but letters and digits are set aside (``LeNet-5``: ``lenet5`` and
    ``lenet5_modern``; ``CIFAR-10``: ``cifar10``, ``cifar100``), else those spelled nearly
    as it is (difflib's ratio of at least ``cutoff``), at most ``limit``, in ``known``'s
    order or the nearest first."""
    def squashed(text: str) -> str:
        return re.sub(r"[^0-9a-z]", "", text.lower())

    by_squashed = {}
    for each in known:
        by_squashed.setdefault(squashed(each), each)
    key = squashed(name)
    family = [each for squashed_name, each in by_squashed.items()
              if key and squashed_name.startswith(key)]
    if family:
        return family[:limit]
    return [by_squashed[match]
            for match in difflib.get_close_matches(key, by_squashed, n=limit, cutoff=cutoff)]
