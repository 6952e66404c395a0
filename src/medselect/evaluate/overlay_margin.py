"""The margin of an overlay: title bar, legend (colour = source, line style = class), metrics.

Layout: the title above, the image on the left, legend and metrics in a panel on the right.
The composed image remembers where its image part is (``info[VIEW_BOX]``) so that thumbnails
can leave the margin out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from medselect.evaluate import overlay_style as style
from medselect.metrics import METRICS, Unit

VIEW_BOX = "medselect.view_box"
"""Key of ``Image.info`` where an overlay keeps the box of its image part (without margins)."""

_FONT = 15
_LINE = 20  # height of one text row in the title bar and the panel
_PAD = 8
_SWATCH = 48  # length of a line-style sample in the legend
# Plain ASCII: Pillow's bundled font has no superscript digits.
_UNIT_SUFFIX = {Unit.MM: " mm", Unit.MM2: " mm^2", Unit.MM3: " mm^3", Unit.PERCENT: " %"}


def format_metric(name: str, value: float | None, ndim: int = 2) -> str:
    """``value`` as the margin shows it, e.g. ``"0.912"`` for dice or ``"1.83 mm"`` for hd95.

    The unit comes from :data:`medselect.metrics.METRICS` when ``name`` starts with a known
    metric name (``"hd95"``, ``"hd95 femur"``, ``"hd95/femur"``); volumes are areas when
    ``ndim`` is 2. Dimensionless values get three decimals, others three significant digits.
    """
    spec = METRICS.get(re.split(r"[\s/:(\[]", name, maxsplit=1)[0])
    unit = spec.unit_for(ndim) if spec else None
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit == Unit.NONE:
        return f"{value:.3f}"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return text + _UNIT_SUFFIX.get(unit, "")


@dataclass(frozen=True)
class Row:
    """One line of the panel: a sample (line style or landmark marker), a text, a value."""

    text: str
    colour: style.Colour = style.TEXT_COLOUR
    line: tuple[style.LineStyle, style.Colour] | None = None
    marker: str = ""  # "reference", "prediction" or "heat" (a saliency colour ramp)
    value: str = ""

    def width(self) -> int:
        sample = _SWATCH + _PAD if self.line or self.marker else 0
        value = style.text_width(self.value, _FONT) + 2 * _PAD if self.value else 0
        return sample + style.text_width(self.text, _FONT) + value


def legend_rows(
    classes: Sequence[str], has_ref: bool, has_pred: bool,
    points: tuple[bool, bool] | None = None,
) -> list[Row]:
    """What the overlay draws, one row each.

    Label maps: which colour is which source (or that one is missing), then each class's line
    style. Landmarks (``points``: whether reference and predicted points were drawn; None when
    the overlay has none): the green reference and red predicted markers, and the error line
    joining them. An overlay of points alone (a landmarks model) has no contour rows.
    """
    rows = [] if points is not None and not classes else _contour_rows(classes, has_ref, has_pred)
    return rows + (_point_rows(*points) if points is not None else [])


def _contour_rows(classes: Sequence[str], has_ref: bool, has_pred: bool) -> list[Row]:
    solid = style.LINE_STYLES[0]
    rows = [
        Row("reference", line=(solid, style.REFERENCE_COLOUR)) if has_ref
        else Row("no reference", style.MUTED_TEXT_COLOUR),
        Row("prediction", line=(solid, style.PREDICTION_COLOUR)) if has_pred
        else Row("no prediction", style.MUTED_TEXT_COLOUR),
    ]
    return rows + [Row(name, line=(style.class_style(i), style.SWATCH_COLOUR))
                   for i, name in enumerate(classes)]


def _point_rows(has_ref: bool, has_pred: bool) -> list[Row]:
    rows = [
        Row("reference points (green)", marker="reference") if has_ref
        else Row("no reference points", style.MUTED_TEXT_COLOUR),
        Row("predicted points (red)", marker="prediction") if has_pred
        else Row("no predicted points", style.MUTED_TEXT_COLOUR),
    ]
    if has_ref and has_pred:
        rows.append(Row("error lines (yellow)",
                        line=(style.LINE_STYLES[0], style.ERROR_LINE_COLOUR)))
    return rows


def saliency_rows() -> list[Row]:
    """The heat map's row: its colour ramp and what it shows."""
    return [Row("saliency (predicted class)", marker="heat")]


def metric_rows(metrics: Mapping[str, float], ndim: int) -> list[Row]:
    """One row per metric, in the given order, after a blank separator."""
    rows = [Row("")] if metrics else []
    return rows + [Row(name, value=format_metric(name, value, ndim))
                   for name, value in metrics.items()]


def compose(
    view: Image.Image,
    title: str,
    legend: Sequence[Row],
    metrics: Sequence[Row],
    pen: style.Pen,
) -> Image.Image:
    """The final overlay: ``title`` above ``view``, the legend and metric rows to its right.

    The legend (rows without values) is the same for every case of a run, so it is drawn
    once per process and pasted.
    """
    rows = [*legend, *metrics]
    panel = max(row.width() for row in rows) + 2 * _PAD
    top = _LINE + _PAD if title else 0
    height = top + max(view.height, len(rows) * _LINE + 2 * _PAD)
    canvas = Image.new("RGB", (view.width + panel, height), style.BACKGROUND_COLOUR)
    canvas.paste(view, (0, top))
    canvas.info[VIEW_BOX] = (0, top, view.width, top + view.height)
    canvas.paste(_panel(tuple(legend), pen), (view.width, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((_PAD, _PAD // 2), style.fit_text(title, _FONT, canvas.width - 2 * _PAD),
                  fill=style.TEXT_COLOUR, font=style.font(_FONT))
    left, right = view.width + _PAD, canvas.width - _PAD
    for i, row in enumerate(metrics, start=len(legend)):
        _draw_row(draw, row, left, top + _PAD + i * _LINE + _LINE // 2, right, pen)
    return canvas


@lru_cache(maxsize=32)
def _panel(rows: tuple[Row, ...], pen: style.Pen) -> Image.Image:
    """``rows`` drawn from the top of a panel, with a blank row of room below the last."""
    width = max((row.width() for row in rows), default=0) + 2 * _PAD
    panel = Image.new("RGB", (width, (len(rows) + 1) * _LINE + 2 * _PAD), style.BACKGROUND_COLOUR)
    draw = ImageDraw.Draw(panel)
    for i, row in enumerate(rows):
        _draw_row(draw, row, _PAD, _PAD + i * _LINE + _LINE // 2, width - _PAD, pen)
    return panel


def _draw_row(
    draw: ImageDraw.ImageDraw, row: Row, left: int, middle: int, right: int, pen: style.Pen
) -> None:
    """One panel row: its sample from ``left``, its text after it, its value up to ``right``."""
    if row.line:
        line_style, colour = row.line
        sample = np.array([[left, middle], [left + _SWATCH, middle]], dtype=float)
        style.draw_polyline(draw, sample, colour, pen.width, line_style, pen.dash_unit)
    elif row.marker == "reference":
        style.draw_reference_marker(draw, left + _SWATCH / 2, middle, pen)
    elif row.marker == "prediction":
        style.draw_prediction_marker(draw, left + _SWATCH / 2, middle, pen)
    elif row.marker == "heat":
        style.draw_heat_ramp(draw, left, middle, _SWATCH, pen)
    x = left + _SWATCH + _PAD if row.line or row.marker else left
    font = style.font(_FONT)
    draw.text((x, middle), row.text, fill=row.colour, font=font, anchor="lm")
    if row.value:
        draw.text((right, middle), row.value, fill=row.colour, font=font, anchor="rm")
