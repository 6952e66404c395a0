"""JSON-safe numbers: every layer's ``to_dict`` and the store turn NaN into None here.

JSON has no NaN; a missing or undefined figure (an HD95 with an empty mask, a p-value of one
model) is written as ``null``, and numpy scalars as Python numbers.
"""

from __future__ import annotations

import math

import numpy as np


def json_number(value: object) -> object:
    """NaN and infinities become None; numpy scalars become Python numbers; anything else is
    returned as it is.

    >>> json_number(float("nan")) is None, json_number(np.float32(0.5)), json_number(3)
    (True, 0.5, 3)
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
