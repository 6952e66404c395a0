"""JSON-safe numbers for the results' ``to_dict``."""

from __future__ import annotations

import math

import numpy as np


def json_number(value: object) -> object:
    """NaN and infinities become None; numpy scalars become Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
