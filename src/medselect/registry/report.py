"""The decision report: why a candidate was promoted or not, as JSON and as one HTML page.

Both say the same: the acceptance criteria, the look at the reference set (its number in the
scope, the level every test ran at and how it came about: alpha spending, K), every figure the
gate computed (statistic, interval, p-value, level, threshold per criterion and incumbent), the
decision and the data versions it rests on, and, when given, what the registry did with it.
The HTML page is standalone (no scripts, no external files) so it can be attached to a ticket;
every piece of text in it is escaped. Both files are written atomically.

Example::

    json_path, html_path = write_decision_report(ws.path("reports/knee-global"), decision,
                                                 outcome=version)
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from medselect.registry.decision import GateDecision
from medselect.registry.versions import ModelVersion
from medselect.store import atomic_write_text, utcnow

__all__ = [
    "PAGE_STYLE",
    "cell_text",
    "decision_html",
    "decision_report",
    "escape",
    "html_page",
    "pairs_table",
    "render_html",
    "rows_table",
    "write_decision_report",
]

_COLUMNS = ("name", "incumbent", "metric", "label", "site", "n_patients", "n_cases",
            "statistic", "ci", "p_value", "level", "threshold", "passed", "explanation")

PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#176f2c}.fail{color:#a11;font-weight:600}
.verdict{font-size:1.3rem}code{font-size:.9em}
"""
"""The CSS of the registry's standalone pages (decision reports, model cards)."""


def decision_report(
    decision: GateDecision | Mapping[str, Any],
    *,
    outcome: ModelVersion | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as JSON-safe data.

    Args:
        decision: the gate decision, or its ``to_dict()`` (as stored in a version's evidence).
        outcome: the version the registry recorded for it (its evidence is not repeated).
    """
    body = decision.to_dict() if isinstance(decision, GateDecision) else dict(decision)
    if isinstance(outcome, ModelVersion):
        outcome = outcome.to_dict()
    if outcome is not None:
        outcome = {k: v for k, v in outcome.items() if k != "evidence"}
    return {"generated_at": utcnow().isoformat(), "decision": body, "outcome": outcome}


def render_html(report: Mapping[str, Any]) -> str:
    """A standalone HTML page of a :func:`decision_report`."""
    decision = report["decision"]
    outcome = report.get("outcome")
    accepted = bool(decision.get("accepted"))
    title = f"Promotion decision for {decision.get('candidate')}: {_verdict(accepted)}"
    parts = [f"<h1>{escape(title)}</h1>", _summary(decision)]
    if outcome:
        parts += ["<h2>Registry outcome</h2>", pairs_table(outcome)]
    parts.append(decision_html(decision))
    return html_page(title, parts, report.get("generated_at"))


def decision_html(decision: Mapping[str, Any], level: int = 2) -> str:
    """The body of a decision (a ``GateDecision.to_dict()``) as HTML sections: data versions,
    the look at the reference set and its level, criteria, metric directions, every result,
    notes; headings at ``level``."""
    h = f"h{level}"
    parts = [f"<{h}>Data versions</{h}>", pairs_table(decision.get("data") or {})]
    if decision.get("look"):
        parts += [f"<{h}>Look at the reference set</{h}>", _look(decision["look"])]
    parts += [
        f"<{h}>Acceptance criteria</{h}>", pairs_table(decision.get("criteria") or {}),
        f"<{h}>Metric directions</{h}>", pairs_table(decision.get("directions") or {}),
        f"<{h}>Results ({escape(decision.get('n_cases'))} cases; incumbents: "
        f"{escape(', '.join(decision.get('incumbents') or []) or 'none')})</{h}>",
        rows_table(decision.get("results") or [], _COLUMNS),
    ]
    notes = decision.get("notes") or []
    if notes:
        parts += [f"<{h}>Notes</{h}>", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes)
                  + "</ul>"]
    return "\n".join(parts)


def _look(look: Mapping[str, Any]) -> str:
    """The look's level, how it came about, and the scope's budget before it."""
    budget = look.get("budget") or {}
    rows = {"level of every test": look.get("alpha"), "how": look.get("description"),
            "candidate chosen": look.get("chosen_on"),
            "picked from (K)": look.get("chosen_from"),
            "earlier looks at this reference set": budget.get("looks"),
            "alpha spent before this look": budget.get("spent")}
    advice = budget.get("advice")
    return pairs_table(rows) + (f"<p>{escape(advice)}</p>" if advice else "")


def html_page(title: str, parts: Iterable[str], generated_at: Any = None) -> str:
    """A standalone page (no scripts, no external files) of already escaped ``parts``."""
    footer = f"<p><small>Generated {escape(generated_at)} by medselect.</small></p>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body>\n"
            + "\n".join([*parts, footer]) + "\n</body></html>\n")


def pairs_table(mapping: Mapping[str, Any]) -> str:
    """A two-column table of keys and values, every text escaped."""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(cell_text(v))}</td></tr>"
                   for k, v in mapping.items())
    return f"<table>{rows}</table>"


def escape(value: Any) -> str:
    """``value`` as escaped HTML text (None as empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def _verdict(accepted: bool) -> str:
    return "ACCEPTED" if accepted else "REJECTED"


def _summary(decision: Mapping[str, Any]) -> str:
    css = "pass" if decision.get("accepted") else "fail"
    return f'<p class="verdict {css}">{escape(decision.get("summary"))}</p>'


def write_decision_report(
    folder: str | os.PathLike[str],
    decision: GateDecision | Mapping[str, Any],
    *,
    outcome: ModelVersion | Mapping[str, Any] | None = None,
    name: str = "decision",
) -> tuple[Path, Path]:
    """Write ``<folder>/<name>.json`` and ``<folder>/<name>.html`` atomically; return both."""
    report = decision_report(decision, outcome=outcome)
    folder = Path(folder)
    text = json.dumps(report, indent=2, allow_nan=False, default=str)
    json_path = atomic_write_text(folder / f"{name}.json", text + "\n")
    html_path = atomic_write_text(folder / f"{name}.html", render_html(report))
    return json_path, html_path


def rows_table(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A table with one row per mapping and the given columns; a ``passed`` cell is coloured."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        css = "pass" if row.get("passed") else "fail"
        cells = "".join(f'<td class="{css}">{escape(cell_text(row.get(c)))}</td>' if c == "passed"
                        else f"<td>{escape(cell_text(row.get(c)))}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def cell_text(value: Any) -> str:
    """A value as table text: an en dash for None, yes/no, four significant digits, a pair of
    numbers as an interval (``0.71 to 0.8``), anything else as JSON or text."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, float | int) and not isinstance(v, bool) for v in value):
        return " to ".join(cell_text(float(v)) for v in value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return str(value)

