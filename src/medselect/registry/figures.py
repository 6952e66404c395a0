"""Descriptive figures of an upgrade: how every model does on the old and the new cases.

The gate decides on the frozen reference set with paired statistics; these means show the
reader of the upgrade report what the new data looks like for every model, the old champion
included (it was backfilled on the new test set). A case without a value is left out of a
mean here (the gate, instead, counts it as the worst value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from medselect.jsonsafe import json_number
from medselect.registry.criteria import GateCriteria, MetricMargin
from medselect.registry.gate import SITE_COLUMN
from medselect.store import case_metric_table, list_runs

__all__ = ["upgrade_figures"]


def upgrade_figures(
    conn: sa.Connection,
    criteria: GateCriteria,
    reference: str,
    test_set: str,
    new_test_cases: Sequence[str],
    roles: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """One row per model of ``roles`` and gate metric: its role, the dataset version it was
    trained on, and its mean on the reference set, on the new test cases (also per site) and
    on the whole test set ``test_set``."""
    items = list({(m.metric, m.label): m for m in (criteria.primary, *criteria.guards)}.values())
    models = list(roles)
    metrics = [m.metric for m in items]
    ref = case_metric_table(conn, case_set=reference, model_refs=models, metrics=metrics)
    test = case_metric_table(conn, case_set=test_set, model_refs=models, metrics=metrics)
    new = test[test["case_id"].isin(list(new_test_cases))]
    trained = {r["id"]: r["dataset_version"] for r in list_runs(conn)}
    rows = []
    for model in models:
        for item in items:
            fresh, known = _of(new, model, item), _of(ref, model, item)
            rows.append({
                "model": model, "role": "; ".join(roles[model]),
                "dataset_version": trained.get(model), "metric": item.metric,
                "label": item.label, "reference": _mean(known), "n_reference": len(known),
                "new_test_cases": _mean(fresh), "n_new_test_cases": len(fresh),
                "new_test_cases_by_site": {site: _mean(group) for site, group
                                           in fresh.groupby(SITE_COLUMN)},
                "test_set": _mean(_of(test, model, item)),
            })
    return rows


def _of(table: pd.DataFrame, model: str, item: MetricMargin) -> pd.DataFrame:
    return table[(table["model"] == model) & (table["metric"] == item.metric)
                 & (table["label"] == item.label)]


def _mean(rows: pd.DataFrame) -> float | None:
    return json_number(float(rows["value"].mean())) if len(rows) else None
