"""The Jinja2 environment shared by the live app and the static export (autoescaped HTML)."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import jinja2

from medselect.store.reviews import MAX_COMMENT_LENGTH, MAX_REVIEWER_LENGTH

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.min.js of the installed ``plotly`` package: charts work with no internet."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def num(value: float | None, digits: int = 3) -> str:
    """A metric value for display: ``4g`` digits, an en dash for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"


def sort_value(value: float | None) -> str:
    """The ``data-value`` a sortable cell carries: full precision, empty when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return repr(float(value))


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
    env.filters.update(num=num, sort_value=sort_value, percent=percent)
    return env


def render_page(template: str, links: object, page: object = None, *,
                charts: dict | None = None, **extra: object) -> str:
    """One HTML page: ``page`` is the view's data, ``links`` a ServerLinks or StaticLinks."""
    return environment().get_template(template).render(
        page=page, links=links, charts=charts or {}, max_reviewer=MAX_REVIEWER_LENGTH,
        max_comment=MAX_COMMENT_LENGTH, **extra)
