"""The decision report: why a candidate was promoted or not, as JSON and as one HTML page.

Both say the same: the acceptance criteria, the look at the reference set (its number in the
scope, the level every test ran at and how it came about: alpha spending, K), every figure the
gate computed (statistic, interval, p-value, level, threshold per criterion and incumbent), the
decision and the data versions it rests on, and, when given, what the registry did with it.
The HTML page (``registry/templates/decision.html``) is standalone (no scripts, no external
files) so it can be attached to a ticket; every piece of text in it is escaped. Both files are
written atomically.

Example::

    json_path, html_path = write_decision_report(ws.path("reports/knee-global"), decision,
                                                 outcome=version)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medselect.registry.decision import GateDecision
from medselect.registry.pages import render_page
from medselect.registry.versions import ModelVersion
from medselect.store import atomic_write_text, utcnow

__all__ = ["decision_report", "render_html", "write_decision_report"]

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
    verdict = "ACCEPTED" if decision.get("accepted") else "REJECTED"
    return render_page("decision.html", f"Promotion decision for {decision.get('candidate')}: "
                       f"{verdict}", report.get("generated_at"), d=decision,
                       outcome=report.get("outcome"))


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
