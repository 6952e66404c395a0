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

from medselect.metrics.display import value_text
from medselect.registry.pages import render_page
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
    """A standalone HTML page of an upgrade report (``registry/templates/upgrade.html``)."""
    verdict = "PROMOTED" if report.get("promoted") else "NOT PROMOTED"
    title = (f"Upgrade of {report.get('task')} to {report['data'].get('dataset_version')}: "
             f"{verdict}")
    return render_page("upgrade.html", title, report.get("generated_at"), r=report,
                       figures=[_figure(f) for f in report.get("figures") or []],
                       run_columns=_RUN_COLUMNS, figure_columns=_FIGURE_COLUMNS,
                       model_columns=_MODEL_COLUMNS)


def _figure(row: Mapping[str, Any]) -> dict[str, Any]:
    by_site = row.get("new_test_cases_by_site") or {}
    return {**row, "new_test_cases_by_site": ", ".join(
        f"{site}: {value_text(v, row.get('metric'), 4)}" for site, v in by_site.items())}
