"""The upgrade report: what new data came in, what was retrained, every figure, every decision.

One JSON file (``UpgradeResult.to_dict()`` and when it was written) and one standalone HTML
page saying the same: the data versions (parent, new version, reference set and its hash, the
case set the candidates were chosen on, the new cases per site and split), the refresh of the
reference set when there was one, the retrained runs, the mean of each gate metric per model on
the reference set and on the new test cases, then per scope the decision with its criteria and
every result of the gate. Each scope that was judged also has its own decision report beside
it (``<task>-<scope>-v<N>``), linked from the page. Both files are written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medselect.registry.report import (
    decision_html,
    escape,
    html_page,
    pairs_table,
    rows_table,
)
from medselect.store import atomic_write_text, utcnow

__all__ = ["render_upgrade_html", "write_upgrade_report"]

_RUN_COLUMNS = ("run_id", "status", "epochs", "error")
_FIGURE_COLUMNS = ("model", "role", "dataset_version", "metric", "label", "reference",
                   "n_reference", "new_test_cases", "n_new_test_cases",
                   "new_test_cases_by_site", "test_set")
_MODEL_COLUMNS = ("model_ref", "status", "n_cases", "n_ok", "key_metric", "key_value",
                  "evaluation_id")


def write_upgrade_report(
    folder: str | os.PathLike[str], result: Mapping[str, Any], *, name: str
) -> tuple[Path, Path]:
    """Write ``<folder>/<name>.json`` and ``.html`` of an ``UpgradeResult.to_dict()``."""
    folder = Path(folder)
    json_path, html_path = folder / f"{name}.json", folder / f"{name}.html"
    report = {"generated_at": utcnow().isoformat(), **result,
              "report": {"json": str(json_path), "html": str(html_path)}}
    atomic_write_text(json_path, json.dumps(report, indent=2, allow_nan=False, default=str)
                      + "\n")
    atomic_write_text(html_path, render_upgrade_html(report))
    return json_path, html_path


def render_upgrade_html(report: Mapping[str, Any]) -> str:
    """A standalone HTML page of an upgrade report."""
    data = report["data"]
    verdict = "PROMOTED" if report.get("promoted") else "NOT PROMOTED"
    title = f"Upgrade of {report.get('task')} to {data.get('dataset_version')}: {verdict}"
    css = "pass" if report.get("promoted") else "fail"
    retrain = report.get("retrain") or {}
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="verdict {css}">{escape(report.get("summary"))}</p>',
        "<h2>Data versions</h2>",
        pairs_table({"parent version": data.get("parent_version"),
                     "new version": data.get("dataset_version"),
                     "new cases from": data.get("source"),
                     "new cases": len(data.get("new_cases") or []),
                     "new test cases": len(data.get("new_test_cases") or []),
                     "reference case set (frozen)": report.get("reference_case_set"),
                     "candidates chosen on": report.get("selection_case_set") or
                     "the reference set (the new version has no validation case)",
                     "test case set": data.get("test_case_set"),
                     "cases per site and split": data.get("counts")}),
        *_refresh(report.get("refresh")),
        "<h2>Retrained</h2>",
        pairs_table({"mode": retrain.get("mode"), "chosen from": retrain.get("chosen_from"),
                     "trained on": retrain.get("source_version")}),
        rows_table(report.get("runs") or [], _RUN_COLUMNS),
        "<h2>Figures (mean over cases with a value)</h2>",
        rows_table([_figure(f) for f in report.get("figures") or []], _FIGURE_COLUMNS),
        "<h2>Decisions per scope</h2>",
    ]
    for scope in report.get("scopes") or []:
        parts += _scope(scope)
    backfill = report.get("backfill") or {}
    parts += [f"<h2>Backfill on {escape(backfill.get('case_set'))}</h2>",
              rows_table(backfill.get("models") or [], _MODEL_COLUMNS)]
    if backfill.get("skipped"):
        parts.append(pairs_table(backfill["skipped"]))
    parts += ["<h2>Audit log</h2>",
              pairs_table({"newest event hash": report.get("audit_head")})]
    return html_page(title, parts, report.get("generated_at"))


def _refresh(refresh: Mapping[str, Any] | None) -> list[str]:
    """The refresh of the reference set, when the upgrade made one."""
    if not refresh:
        return []
    return ["<h2>Reference set refreshed</h2>",
            pairs_table({"replaced": f"{refresh['old_case_set']} ({refresh['old_hash']})",
                         "by": f"{refresh['new_case_set']} ({refresh['new_hash']})",
                         "never-seen patients": refresh["n_patients"],
                         "cases": refresh["n_cases"], "reason": refresh["reason"],
                         "evaluated on it": sorted(refresh.get("evaluated") or {}),
                         "not evaluated (external)": refresh.get("skipped") or None})]


def _figure(row: Mapping[str, Any]) -> dict[str, Any]:
    by_site = row.get("new_test_cases_by_site") or {}
    return {**row, "new_test_cases_by_site": ", ".join(
        f"{site}: {'–' if v is None else f'{v:.4g}'}" for site, v in by_site.items())}


def _scope(scope: Mapping[str, Any]) -> list[str]:
    css = "pass" if scope.get("status") == "promoted" else "fail"
    parts = [f"<h3>{escape(scope.get('scope'))}: "
             f'<span class="{css}">{escape(scope.get("status"))}</span></h3>',
             f"<p>{escape(scope.get('message'))}</p>"]
    if scope.get("decision"):
        page = Path((scope.get("report") or {}).get("html", "")).name
        if page:
            parts.append(f'<p>Decision report: <a href="{escape(page)}">{escape(page)}</a></p>')
        parts += ["<h4>Registry outcome</h4>", pairs_table(scope.get("version") or {}),
                  decision_html(scope["decision"], level=4)]
    return parts
