"""A case's page: the viewer's layers, every model's overlay, metrics and reviews, best model
first."""

from __future__ import annotations

import sqlalchemy as sa

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import Acceptance, CaseEntry, CasePage, Review
from medselect.dashboard.views.viewer import viewer_of
from medselect.errors import NotFound
from medselect.store import (
    acceptance_by_case,
    case_metric_table,
    list_reviews,
    predictions_of_case,
)


def case_view(
    dash: Dashboard,
    conn: sa.Connection,
    case_id: str,
    *,
    case_set: str | None = None,
    metric: str | None = None,
    label: str | None = None,
) -> CasePage:
    """Every evaluated model on one case, ordered best first by ``metric`` (missing last;
    default the task kind's key per-case metric). A case without a reference (new cases
    uploaded without labels) has no metric: its predictions are shown in model order.

    Raises:
        NotFound: the case is not in the case set, or an unknown metric or label.
        ConfigError: ``metric`` is a set metric (AUC, ...), which has no value per case.
    """
    scope = queries.scope_of(dash, conn, case_set)
    sites = queries.case_sites(dash, conn, scope)
    if case_id not in sites:
        raise NotFound(f"case {case_id!r} is not in case set {scope.id!r}")
    catalog = queries.metric_catalog(dash, conn, scope)
    info = (queries.per_case_metric(catalog, metric) if metric
            else None if not any(m.per_case for m in catalog)  # no labels: predictions only
            else queries.default_metric(conn, scope, catalog, per_case=True))
    values: dict[tuple[str, str], float] = {}
    columns: list[str] = []
    if info is not None:
        metric, label = info.name, queries.label_of(info, label)
        rows = case_metric_table(conn, case_set=scope.id, labels=[label], case_ids=[case_id])
        values = {(m, k): v for m, k, v in zip(rows["model"], rows["metric"], rows["value"],
                                               strict=True)}
        columns = [m.name for m in catalog if m.per_case and label in m.labels]
    by_evaluation = {e["id"]: ref for ref, e in scope.evaluations.items()}
    predictions = {by_evaluation[k]: p for k, p in
                   predictions_of_case(conn, case_id, list(by_evaluation)).items()}
    reviews: dict[str, list[Review]] = {}
    for row in list_reviews(conn, case_set=scope.id, case_id=case_id):
        reviews.setdefault(row["model_ref"], []).append(Review(**row))
    accepted = acceptance_by_case(conn, scope.id, case_id=case_id)
    entries = []
    for model in scope.evaluations:
        prediction = predictions.get(model, {"status": "missing", "error": "no prediction row"})
        entries.append(CaseEntry(
            model=model, status=prediction["status"], error=prediction.get("error"),
            overlay_uri=prediction.get("overlay_uri"),
            thumbnail_uri=prediction.get("thumbnail_uri"),
            values={m: queries.number(values.get((model, m))) for m in columns},
            reviews=reviews.get(model, []),
            acceptance=_acceptance(accepted.get((model, case_id), (0, 0))),
        ))
    if info is None:
        entries.sort(key=lambda e: e.model)
        metric = label = direction = None
    else:
        sign = 1 if info.direction == "higher" else -1
        entries.sort(key=lambda e: (e.values.get(metric) is None,
                                    -sign * (e.values.get(metric) or 0.0), e.model))
        direction = info.direction
    viewer = viewer_of(dash, conn, scope, case_id, predictions, [e.model for e in entries])
    return CasePage(case_id=case_id, site=sites[case_id], case_set=scope.info(), metric=metric,
                    label=label, direction=direction, columns=columns, metrics=catalog,
                    entries=entries, viewer=viewer)


def _acceptance(counts: tuple[int, int]) -> Acceptance:
    return Acceptance(accepted=counts[0], reviewed=counts[1])
