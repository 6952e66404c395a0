"""Metric values as a reader reads them: a few significant digits, never an exponent, with the
metric's unit from the catalogue (``-0.0000947``, ``+1.25 mm``, ``12.3%``, ``p < 0.0001``).

Python's ``{:.4g}`` turns a difference near zero into ``-9.473e-05``, which a clinician reading
a promotion decision has to decode; these functions are what the registry's texts (the gate's
explanations, decision reports, model cards) print numbers with.

Example::

    >>> value_text(-9.473e-05, "dice", signed=True)
    '-0.0000947'
    >>> value_text(1.2549, "hd95", signed=True)
    '+1.25 mm'
    >>> interval_text((0.5, 2.25), "hd95")
    '0.5 to 2.25 mm'
    >>> p_value_text(3e-9)
    '< 0.0001'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from medselect.metrics.catalogue import METRICS
from medselect.metrics.spec import Unit

__all__ = ["interval_text", "number_text", "p_value_text", "unit_text", "value_text"]

MAX_DECIMALS = 7
"""Below ``10**-MAX_DECIMALS`` a value prints as 0: no metric is measured that finely."""
_UNITS = {Unit.MM: " mm", Unit.MM2: " mm²", Unit.MM3: " mm³", Unit.PERCENT: "%",
          Unit.NONE: ""}


def number_text(value: float | None, digits: int = 3, *, signed: bool = False) -> str:
    """``value`` with ``digits`` significant digits in plain decimal notation (whole numbers
    from ``10**digits`` on, with thousands separators); ``–`` for None or NaN.

    Args:
        signed: print a ``+`` before a positive value (an improvement).
    """
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return ("+" if signed and value > 0 else "") + ("inf" if value > 0 else "-inf")
    sign = "+" if signed else ""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(digits - 1 - magnitude, 0), MAX_DECIMALS)
    text = f"{value:{sign},.{decimals}f}"
    if decimals:
        text = text.rstrip("0").rstrip(".")
    return "0" if text.lstrip("+-") == "0" else text


def unit_text(metric: str | None) -> str:
    """The unit a value of ``metric`` is followed by (`` mm``, ``%``; nothing for a unitless or
    unknown metric). Volumes are in mm³ (areas, mm², on 2D images)."""
    spec = METRICS.get(metric) if metric else None
    return "" if spec is None else _UNITS.get(spec.unit, f" {spec.unit}")


def value_text(value: float | None, metric: str | None = None, digits: int = 3, *,
               signed: bool = False) -> str:
    """A value of ``metric`` with its unit (:func:`number_text`, :func:`unit_text`)."""
    text = number_text(value, digits, signed=signed)
    return text if text == "–" else text + unit_text(metric)


def interval_text(bounds: Sequence[float | None] | None, metric: str | None = None,
                  digits: int = 3) -> str:
    """An interval ``low to high`` with the unit once at its end; ``–`` when unknown."""
    if bounds is None or any(b is None or math.isnan(b) for b in bounds):
        return "–"
    low, high = (number_text(b, digits) for b in bounds)
    return f"{low} to {high}{unit_text(metric)}"


def p_value_text(p: float | None) -> str:
    """A p-value: ``< 0.0001`` below that, else 2 significant digits (``0.0012``, ``0.31``)."""
    if p is None or math.isnan(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else number_text(p, 2)
