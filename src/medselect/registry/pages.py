"""Standalone HTML pages of the registry (decision and upgrade reports) from Jinja templates.

The templates live in ``registry/templates``; every value is escaped by Jinja (autoescape) and
formatted by one ``cell`` filter, so a report can be attached to a ticket as a single file (no
scripts, no external files).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import PurePath
from typing import Any

import jinja2
import markupsafe

from medselect.metrics.display import interval_text, number_text, p_value_text, value_text

__all__ = ["PAGE_STYLE", "RESULT_COLUMNS", "cell", "render_page", "row_cell"]

PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#176f2c}.fail{color:#a11;font-weight:600}
.verdict{font-size:1.3rem}code{font-size:.9em}
"""
"""The CSS of the registry's standalone pages (decision and upgrade reports, model cards)."""

RESULT_COLUMNS = ("name", "incumbent", "metric", "label", "site", "n_patients", "n_cases",
                  "statistic", "ci", "p_value", "level", "threshold", "passed", "explanation")
"""The columns of a gate decision's results table."""


def cell(value: Any) -> str:
    """A value as table text: ``–`` for none, yes/no, four significant digits (never an
    exponent: :func:`~medselect.metrics.display.number_text`), an interval as ``a to b``,
    anything nested as JSON."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return number_text(value, 4)
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, float | int) and not isinstance(v, bool) for v in value):
        return " to ".join(cell(float(v)) for v in value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


_IN_METRIC_UNIT = frozenset({"statistic", "threshold", "value"})


def row_cell(row: Mapping[str, Any], column: str) -> str:
    """Column ``column`` of a table row (a gate result): a p-value as one (``< 0.0001``), the
    statistic, threshold and interval in the unit of the row's metric, else :func:`cell`."""
    value, metric = row.get(column), row.get("metric")
    if column == "p_value" and isinstance(value, float):
        return p_value_text(value)
    if column == "ci" and isinstance(value, list | tuple) and len(value) == 2:
        return interval_text(value, metric, 4)
    if column in _IN_METRIC_UNIT and isinstance(value, float) and metric:
        return value_text(value, metric, 4)
    return cell(value)


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("medselect.registry", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = cell
    env.filters["row_cell"] = row_cell
    env.filters["basename"] = lambda path: PurePath(path).name if path else ""
    env.globals["result_columns"] = RESULT_COLUMNS
    env.globals["page_style"] = markupsafe.Markup(PAGE_STYLE)
    return env


def render_page(template: str, title: str, generated_at: Any = None, **context: Any) -> str:
    """The standalone page ``template`` renders with ``context``."""
    return _environment().get_template(template).render(
        title=title, generated_at=generated_at, **context)
