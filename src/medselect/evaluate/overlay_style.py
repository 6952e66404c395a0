"""How an overlay looks: colours, one line style per class, contour and landmark drawing, text.

Colour says *who* drew a contour (reference green, prediction red); the line style says *which
class* it is, so classes stay apart for readers who cannot tell shades apart. Patterns are in
units of :attr:`Pen.dash_unit`, which grows with the line width, so they read the same at every
display scale; classes beyond :data:`LINE_STYLES` reuse the styles in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import ImageDraw, ImageFont

Colour = tuple[int, int, int]

REFERENCE_COLOUR: Colour = (0, 255, 0)
PREDICTION_COLOUR: Colour = (255, 0, 0)
ERROR_LINE_COLOUR: Colour = (255, 230, 0)
"""The line joining a reference landmark to its prediction."""
OUTLINE_COLOUR: Colour = (0, 0, 0)
TEXT_COLOUR: Colour = (230, 230, 230)
MUTED_TEXT_COLOUR: Colour = (150, 150, 150)
BACKGROUND_COLOUR: Colour = (24, 24, 24)
SWATCH_COLOUR: Colour = (230, 230, 230)
"""Legend swatches of class styles are neutral: colour is the source, style the class."""


@dataclass(frozen=True)
class LineStyle:
    """A dash pattern: alternating on/off lengths in dash units; None draws a solid line."""

    name: str
    pattern: tuple[float, ...] | None


LINE_STYLES: tuple[LineStyle, ...] = (
    LineStyle("solid", None),
    LineStyle("dashed", (4.0, 2.5)),
    LineStyle("dotted", (1.0, 2.0)),
    LineStyle("dash-dot", (4.0, 2.0, 1.0, 2.0)),
    LineStyle("long dash", (8.0, 3.0)),
    LineStyle("dash-dot-dot", (4.0, 2.0, 1.0, 2.0, 1.0, 2.0)),
)


@dataclass(frozen=True)
class Pen:
    """Line widths and sizes for one display size, shared by the image and its legend.

    The reference line is one pixel wider than the prediction's, so it still shows beside a
    prediction that coincides with it.
    """

    width: int

    @classmethod
    def for_display(cls, longer_side: int) -> Pen:
        return cls(2 if longer_side >= 200 else 1)

    @property
    def reference_width(self) -> int:
        return self.width + 1

    @property
    def dash_unit(self) -> float:
        """Pixels per unit of a :class:`LineStyle` pattern."""
        return self.width + 1.0

    @property
    def marker_radius(self) -> float:
        return 2.0 * self.width + 1.0


def class_style(index: int) -> LineStyle:
    """Line style of the foreground class at 0-based ``index``."""
    return LINE_STYLES[index % len(LINE_STYLES)]


def draw_polyline(
    draw: ImageDraw.ImageDraw,
    points: np.ndarray,
    fill: Colour,
    width: int,
    style: LineStyle,
    unit: float,
) -> None:
    """Draw ``points`` (n, 2) as (column, row) display coordinates in ``style``.

    Dashes are cut by arc length, so a pattern keeps its rhythm around curved contours.

    Args:
        unit: length in pixels of one pattern unit (the base line width).
    """
    if len(points) < 2:
        return
    if style.pattern is None:
        draw.line(points.ravel().tolist(), fill=fill, width=width, joint="curve")
        return
    arc = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))))
    lengths = np.asarray(style.pattern) * unit
    offsets = np.concatenate(([0.0], np.cumsum(lengths)))
    period = offsets[-1]
    periods = np.arange(math.ceil(arc[-1] / period)) * period
    starts = (periods[:, None] + offsets[:-1:2][None, :]).ravel()
    ends = np.minimum(starts + np.tile(lengths[::2], len(periods)), arc[-1])
    keep = starts < arc[-1]
    starts, ends = starts[keep], ends[keep]
    first = np.searchsorted(arc, starts, side="right")
    last = np.searchsorted(arc, ends, side="left")
    start_xy = np.column_stack([np.interp(starts, arc, points[:, i]) for i in (0, 1)])
    end_xy = np.column_stack([np.interp(ends, arc, points[:, i]) for i in (0, 1)])
    for k in range(len(starts)):
        dash = np.vstack((start_xy[k], points[first[k]:last[k]], end_xy[k]))
        draw.line(dash.ravel().tolist(), fill=fill, width=width)


def draw_reference_marker(draw: ImageDraw.ImageDraw, x: float, y: float, pen: Pen) -> None:
    """A filled green disc with a dark rim: a reference landmark."""
    radius = pen.marker_radius
    box = (x - radius, y - radius, x + radius, y + radius)
    draw.ellipse(box, fill=REFERENCE_COLOUR, outline=OUTLINE_COLOUR, width=1)


def draw_prediction_marker(draw: ImageDraw.ImageDraw, x: float, y: float, pen: Pen) -> None:
    """A red cross on a dark underlay: a predicted landmark (a different shape from the disc)."""
    radius = pen.marker_radius
    for fill, w in ((OUTLINE_COLOUR, pen.width + 2), (PREDICTION_COLOUR, pen.width)):
        draw.line((x - radius, y - radius, x + radius, y + radius), fill=fill, width=w)
        draw.line((x - radius, y + radius, x + radius, y - radius), fill=fill, width=w)


@lru_cache(maxsize=4)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no system font needed)."""
    return ImageFont.load_default(size=size)


def text_width(text: str, size: int) -> int:
    """Width in pixels of ``text`` drawn at ``size``."""
    return math.ceil(font(size).getlength(text))


def fit_text(text: str, size: int, max_width: int) -> str:
    """``text``, cut with an ellipsis where it is wider than ``max_width`` pixels."""
    if text_width(text, size) <= max_width:
        return text
    while text and text_width(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"
