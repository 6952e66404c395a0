"""How an overlay looks: colours, one line style per class, contour and landmark drawing, text.

Colour says *who* drew a contour (reference green, prediction red); the line style says *which
class* it is, so classes stay apart for readers who cannot tell shades apart. Patterns are in
units of :attr:`Pen.dash_unit`, which grows with the line width, so they read the same at every
display scale; classes beyond :data:`LINE_STYLES` reuse the styles in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
HEAT_OPACITY = 0.7
"""Opacity of the saliency heat map where it is largest (it fades out with the saliency)."""


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
        """One pixel wide below 200 pixels, one more per 200 pixels, at most 4: a contour stays
        about as thick, relative to the image, at every display size."""
        return cls(min(4, 1 + longer_side // 200))

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

    One piece of :func:`draw_polylines`, e.g. a legend swatch.
    """
    draw_polylines(draw, points, [len(points)], fill, width, style, unit)


def draw_polylines(
    draw: ImageDraw.ImageDraw,
    points: np.ndarray,
    sizes: Sequence[int] | np.ndarray,
    fill: Colour,
    width: int,
    style: LineStyle,
    unit: float,
) -> None:
    """Draw several polylines in ``style``: ``points`` (n, 2) holds them one after another.

    Dashes are cut by arc length, so a pattern keeps its rhythm around curved contours; each
    polyline starts its pattern afresh. All polylines are cut in one numpy pass and each dash
    (or solid polyline) is one ``line`` call: a ragged prediction has hundreds of tiny contour
    pieces, and per-piece numpy work used to dominate rendering.

    Args:
        points: (column, row) display coordinates of every polyline, in order.
        sizes: number of points of each polyline (polylines of fewer than 2 are skipped).
        unit: length in pixels of one pattern unit (the base line width).
    """
    sizes = np.asarray(sizes, dtype=np.intp)
    points = np.asarray(points, dtype=float).reshape(-1, 2)[np.repeat(sizes >= 2, sizes)]
    sizes = sizes[sizes >= 2]
    if not len(sizes):
        return
    first = np.cumsum(sizes) - sizes
    if style.pattern is None:
        coords, starts, counts = points, first, sizes
    else:
        coords, starts, counts = _dashes(points, first, first + sizes - 1,
                                         np.asarray(style.pattern) * unit)
    joint = "curve" if style.pattern is None else None
    flat = coords.ravel().tolist()
    for begin, stop in zip((2 * starts).tolist(), (2 * (starts + counts)).tolist(), strict=True):
        draw.line(flat[begin:stop], fill=fill, width=width, joint=joint)


def _dashes(
    points: np.ndarray, first: np.ndarray, last: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the polylines ``points[first[i]:last[i] + 1]`` into dashes of on/off ``lengths`` px.

    Returns the dashes' points one after another, where each dash starts among them and how
    many points it has: its interpolated start, the polyline's points inside it, its end.
    """
    step = np.hypot(*np.diff(points, axis=0).T)
    step[last[:-1]] = 1.0  # a gap between polylines keeps their arc-length ranges apart
    arc = np.concatenate(([0.0], np.cumsum(step)))
    total = arc[last] - arc[first]
    offsets = np.concatenate(([0.0], np.cumsum(lengths)))
    period, on_at, on_for = offsets[-1], offsets[:-1:2], lengths[::2]
    periods = np.ceil(total / period).astype(np.intp)  # pattern repeats along each polyline
    line = np.repeat(np.arange(len(first)), periods)
    local = (_within(periods)[:, None] * period + on_at).ravel()  # dash starts, per polyline
    line = np.repeat(line, len(on_at))
    keep = local < total[line]
    line = line[keep]
    begins = local[keep] + arc[first][line]
    ends = np.minimum(begins + np.tile(on_for, periods.sum())[keep], arc[last][line])
    inner_from = np.searchsorted(arc, begins, side="right")
    inner = np.searchsorted(arc, ends, side="left") - inner_from  # polyline points in a dash
    counts = inner + 2
    starts = np.cumsum(counts) - counts
    coords = np.empty((counts.sum(), 2))
    for axis in (0, 1):
        coords[starts, axis] = np.interp(begins, arc, points[:, axis])
        coords[starts + counts - 1, axis] = np.interp(ends, arc, points[:, axis])
    j = _within(inner)
    coords[np.repeat(starts + 1, inner) + j] = points[np.repeat(inner_from, inner) + j]
    return coords, starts, counts


def _within(runs: np.ndarray) -> np.ndarray:
    """0, 1, ..., n - 1 for each run length n in ``runs``, one run after another."""
    return np.arange(runs.sum()) - np.repeat(np.cumsum(runs) - runs, runs)


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


def heat_colours(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """RGB colours (0-255, float) and opacities of saliency ``values`` in [0, 1]: red turning
    yellow as the value grows, opacity growing with its square up to :data:`HEAT_OPACITY`, so
    the image shows through untinted where the network hardly looked."""
    values = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    colours = np.stack([np.full_like(values, 255.0), 255.0 * values, np.zeros_like(values)],
                       axis=-1)
    return colours, HEAT_OPACITY * values**2


def draw_heat_ramp(draw: ImageDraw.ImageDraw, left: float, middle: float, length: int,
                   pen: Pen) -> None:
    """A legend sample of the heat map: saliency 0 to 1 from left to right over mid grey."""
    colours, alpha = heat_colours(np.linspace(0.0, 1.0, length))
    grey = 128.0
    shades = grey + alpha[:, None] * (colours - grey)
    half = 2 * pen.width + 1
    for x, shade in enumerate(np.round(shades).astype(int).tolist()):
        draw.line((left + x, middle - half, left + x, middle + half), fill=tuple(shade))


@lru_cache(maxsize=4)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font at ``size`` pixels (no system font needed)."""
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=1024)
def text_width(text: str, size: int) -> int:
    """Width in pixels of ``text`` drawn at ``size`` (cached: legend and metric names repeat)."""
    return math.ceil(font(size).getlength(text))


def fit_text(text: str, size: int, max_width: int) -> str:
    """``text``, cut with an ellipsis where it is wider than ``max_width`` pixels."""
    if text_width(text, size) <= max_width:
        return text
    while text and text_width(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"
