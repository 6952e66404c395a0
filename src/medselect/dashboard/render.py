"""The Jinja2 environment shared by the live app and the static export (autoescaped HTML)."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from medselect.metrics.display import number_text
from medselect.store.reviews import MAX_COMMENT_LENGTH, MAX_REVIEWER_LENGTH

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
PLOTLY_BUNDLE = "vendor/plotly/plotly-cartesian.min.js"
"""plotly.js's partial "cartesian" bundle (scatter, box, heatmap: every trace type
:mod:`medselect.dashboard.charts` draws), a third of the full plotly.min.js; loaded only by
pages with charts; pinned and checked by ``VERSION`` beside it, refreshed by
``scripts/refresh_plotly.sh``."""
BOARD_ROWS = 50
"""Rows a leaderboard shows before its "Show more" button (sorting sorts them all): the
rows beyond are sent hidden, so a browser lays out and paints 50 rows, not 200."""


def num(value: float | None, digits: int = 3) -> str:
    """A value for display with ``digits`` significant digits, trailing zeros kept so a column
    lines up (``0.8100``, ``12.18``); an en dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if abs(value) >= 10 ** digits:
        return f"{value:.0f}"
    return f"{value:#.{digits}g}".rstrip(".")


def pvalue(value: float | None) -> str:
    """A p-value as a reader expects it: ``<0.001`` below that, else three decimals."""
    if value is None or not math.isfinite(value):
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def unit_suffix(unit: str) -> str:
    """`` [mm]`` after a metric name; nothing for a unitless metric."""
    return "" if unit in ("none", "") else f" [{unit}]"


SHORT_HEADINGS = {"learning_rate": "LR", "batch_size": "Batch"}


def heading(key: str) -> str:
    """A field name as a column heading: ``input_size`` -> ``Input size``."""
    return key.replace("_", " ").capitalize()


def short_heading(key: str) -> str:
    """A heading for a narrow column: ``learning_rate`` -> ``LR``."""
    return SHORT_HEADINGS.get(key, heading(key))


def setting(value: object) -> str:
    """A transform parameter for display: lists as ``a, b``, floats short."""
    if isinstance(value, list | tuple):
        return ", ".join(setting(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 05 min``; an en dash when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def sort_value(value: float | None) -> str:
    """The ``data-value`` a sortable cell carries: full precision, empty when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value))


def plural(count: int, noun: str) -> str:
    """``1 case``, ``2 cases``, ``0 patients`` (nouns that take an s)."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def breakable(name: str) -> Markup:
    """A metric or field name that may wrap after its underscores (``volume_diff_rel`` in a
    narrow column heading), escaped."""
    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


@cache
def environment() -> jinja2.Environment:
    """The template environment (autoescape on for every template)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(num=num, sort_value=sort_value, percent=percent, pvalue=pvalue,
                       unit_suffix=unit_suffix, heading=heading, short_heading=short_heading,
                       setting=setting, duration=duration, plural=plural,
                       breakable=breakable, plain=number_text)
    env.globals["plotly_bundle"] = PLOTLY_BUNDLE
    env.globals["board_rows"] = BOARD_ROWS
    # chart data without the blanks after , and : (a 200-model heatmap is 40,000 cells)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env


def render_page(template: str, links: object, page: object = None, *,
                charts: dict | None = None, csrf: str | None = None, **extra: object) -> str:
    """One HTML page: ``page`` is the view's data, ``links`` a ServerLinks or StaticLinks,
    ``csrf`` the form token of a page with a form that changes something (see
    :mod:`medselect.dashboard.security`)."""
    return environment().get_template(template).render(
        page=page, links=links, charts=charts or {}, csrf=csrf,
        max_reviewer=MAX_REVIEWER_LENGTH, max_comment=MAX_COMMENT_LENGTH, **extra)
