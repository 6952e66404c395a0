"""Two to four models on the same cases, the cases where they differ most first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import Compare, CompareRow
from medselect.dashboard.views import leaderboard
from medselect.errors import ConfigError, NotFound
from medselect.store import case_metric_table, get_predictions

MIN_MODELS, MAX_MODELS = 2, 4


def compare_view(
    dash: Dashboard,
    conn: sa.Connection,
    models: Sequence[str] = (),
    *,
    case_set: str | None = None,
    metric: str | None = None,
    label: str | None = None,
    limit: int | None = None,
) -> Compare:
    """Per-case values and deltas of ``models`` (default: the two best on the leaderboard of
    ``metric``, or on the default leaderboard).

    Rows are ordered by the spread between the models (largest first; a case where some model
    has no value comes first, as a missing prediction is the largest difference of all).
    ``limit`` caps the rows (default the gallery page size; 0 means every case). ``metric``
    defaults to the task kind's key per-case metric.

    Raises:
        ConfigError: fewer than 2 or more than 4 models, or one named twice; or ``metric`` is a
            set metric (AUC, ...), which has no value per case.
        NotFound: a model was not evaluated on the case set, or an unknown metric or label.
    """
    scope = queries.scope_of(dash, conn, case_set)
    catalog = queries.metric_catalog(dash, conn, scope)
    info = (queries.per_case_metric(catalog, metric) if metric
            else queries.default_metric(conn, scope, catalog, per_case=True))
    label = queries.label_of(info, label)
    if not models:
        shown = {"metric": metric, "label": label} if metric else {}
        board = leaderboard.resolve(dash, conn, case_set=scope.id, **shown)
        models = [r.model for r in leaderboard.ranked(dash, conn, board).board.rows[:MIN_MODELS]]
    models = list(models)
    if not MIN_MODELS <= len(models) <= MAX_MODELS or len(set(models)) != len(models):
        raise ConfigError(f"choose {MIN_MODELS} to {MAX_MODELS} different models to compare, "
                          f"got {models}")
    evaluations = [queries.evaluation_of(scope, m) for m in models]
    rows = case_metric_table(conn, case_set=scope.id, model_refs=models, metrics=[info.name],
                             labels=[label])
    sites = queries.case_sites(dash, conn, scope)
    wide = rows.pivot(index="case_id", columns="model", values="value")
    wide = wide.reindex(index=list(sites), columns=models)
    values = wide.to_numpy(dtype=float)
    if not np.isfinite(values).any():
        raise NotFound(f"none of {models} has a {info.name} value for label {label!r}")
    deltas = values - values[:, :1]
    with np.errstate(all="ignore"):
        spread = np.nanmax(values, axis=1) - np.nanmin(values, axis=1)
    order_key = np.where(np.isnan(values).any(axis=1), np.inf, spread)
    order = np.argsort(-order_key, kind="stable")
    limit = dash.settings.page_size if limit is None else limit
    shown = order[:limit] if limit else order
    case_ids = list(wide.index)
    shown_ids = [case_ids[i] for i in shown]
    predictions = [{p["case_id"]: p for p in get_predictions(conn, e["id"], shown_ids)}
                   for e in evaluations]
    out_rows = []
    for i in shown:
        case_id = case_ids[i]
        found = [p.get(case_id, {}) for p in predictions]
        out_rows.append(CompareRow(
            case_id=case_id, site=sites[case_id],
            values=[queries.number(v) for v in values[i]],
            deltas=[queries.number(v) for v in deltas[i]], spread=queries.number(spread[i]),
            thumbnail_uris=[p.get("thumbnail_uri") for p in found],
            overlay_uris=[p.get("overlay_uri") for p in found]))
    with np.errstate(all="ignore"):
        means = np.nanmean(values, axis=0)
    return Compare(case_set=scope.info(), models=models, choices=sorted(scope.evaluations),
                   metric=info.name, label=label, direction=info.direction,
                   metrics=catalog, aggregates=[queries.number(v) for v in means],
                   total=len(case_ids), rows=out_rows)
