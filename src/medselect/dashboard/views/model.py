"""A model's page: its configuration, training curves, metric distributions and case gallery."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medselect import rank
from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import (
    Acceptance,
    Augmentation,
    AugmentationStep,
    Curve,
    Distribution,
    Gallery,
    GalleryRow,
    MetricInfo,
    MetricSummary,
    ModelPage,
    RegisteredVersion,
)
from medselect.errors import NotFound, RankingError
from medselect.store import (
    acceptance_by_case,
    get_epoch_metrics,
    get_predictions,
    list_model_versions,
)

TRANSFORM_WORDS = {
    "RandFlipd": "random mirror flip",
    "RandRotated": "random rotation",
    "RandRotate90d": "random quarter turns",
    "RandAffined": "random scaling and shearing",
    "RandZoomd": "random zoom",
    "Rand2DElasticd": "random elastic deformation",
    "Rand3DElasticd": "random elastic deformation",
    "RandScaleIntensityd": "random brightness scaling",
    "RandShiftIntensityd": "random brightness shift",
    "RandAdjustContrastd": "random contrast (gamma)",
    "RandGaussianNoised": "random noise",
    "RandGaussianSmoothd": "random blur",
    "RandBiasFieldd": "random coil shading (bias field)",
}
"""Plain words for the MONAI transforms the presets use, for readers who are not engineers."""


def model_view(
    dash: Dashboard,
    conn: sa.Connection,
    model: str,
    *,
    case_set: str | None = None,
    label: str | None = None,
    sort: str | None = None,
    descending: bool | None = None,
    site: str | None = None,
    page: int = 1,
    page_size: int | None = None,
) -> ModelPage:
    """Everything the model page shows; the gallery is one page of it (see :func:`gallery`).

    Raises:
        NotFound: the model has no finished evaluation on the case set, or an unknown label,
            sort metric or site was asked for.
    """
    scope = queries.scope_of(dash, conn, case_set)
    queries.evaluation_of(scope, model)
    catalog = queries.metric_catalog(dash, conn, scope)
    if label is None:  # an unlabelled case set has no metric, and its gallery no label
        label = (queries.default_metric(conn, scope, catalog, per_case=True).default_label
                 if catalog else "")
    values = case_values(dash, conn, scope, model, label)
    infos = queries.model_infos(conn, scope.task)
    info = queries.model_info(infos, model)
    summaries, ci_note = metric_summaries(dash, conn, scope, model, catalog)
    return ModelPage(
        info=info, case_set=scope.info(), label=label,
        labels=queries.labels_of(catalog),
        metrics=catalog, augmentation=augmentation(info.config, info.details),
        curves=training_curves(conn, model) if model in infos and info.kind == "run" else [],
        distributions=distributions(values), summaries=summaries, ci_note=ci_note,
        confidence=queries.task_rules(dash, conn, scope.task).spec.confidence,
        gallery=gallery(dash, conn, scope, model, label=label, sort=sort, descending=descending,
                        site=site, page=page, page_size=page_size, values=values),
        versions=[RegisteredVersion(task=v["task"], scope=v["scope"], version=v["version"],
                                    status=v["status"])
                  for v in list_model_versions(conn, scope.task, model_ref=model)],
    )


def metric_summaries(
    dash: Dashboard, conn: sa.Connection, scope: queries.Scope, model: str,
    catalog: list[MetricInfo],
) -> tuple[list[MetricSummary], str | None]:
    """Every metric of ``model`` at each of its labels (classes, landmarks, their mean) with
    its bootstrap interval: per-case metrics under the ranking rules' aggregate, set metrics
    computed over the cases; and why the intervals are unreliable (None if they are not).
    Cached.

    The model is ranked alone on the matrix every model shares (same imputed worst value,
    same resamples of the same patients, the task's ranking statistics), so value and
    interval are those of its leaderboard row.
    """
    rules = queries.task_rules(dash, conn, scope.task)
    statistics = rank.statistics_from_spec(rules.spec)

    def compute() -> tuple[list[MetricSummary], str | None]:
        out, note = [], None
        for info in catalog:
            for label in info.labels:
                try:
                    matrix = queries.metric_matrix(dash, conn, scope, info, label).only([model])
                    board = rank.rank_matrix(matrix, rules.spec.aggregate,
                                             statistics=statistics)
                except RankingError:  # the model has no values there, or no truth
                    continue
                row = board.rows[0]
                note = note or board.ci_note
                out.append(MetricSummary(
                    metric=info.name, label=label, aggregate=board.aggregate,
                    per_case=info.per_case, value=queries.number(row.aggregate),
                    ci_low=queries.number(row.ci_low), ci_high=queries.number(row.ci_high),
                    n_cases=row.n_cases, n_patients=row.n_patients, n_imputed=row.n_imputed))
        return out, note
    return dash.cache.get_or_compute(("summaries", scope.key, rules.key, model), compute)


def case_values(
    dash: Dashboard, conn: sa.Connection, scope: queries.Scope, model: str, label: str
) -> pd.DataFrame:
    """Cases x metrics of one model for one label, every member case present (NaN where no
    value), with the ``site`` column first."""
    table = queries.model_table(conn, scope, model, labels=[label])
    sites = queries.case_sites(dash, conn, scope)
    wide = table.pivot(index="case_id", columns="metric", values="value")
    wide = wide.reindex(pd.Index(list(sites), name="case_id"))
    wide.columns = list(wide.columns)
    wide.insert(0, "site", pd.Series(sites))
    return wide


def gallery(
    dash: Dashboard,
    conn: sa.Connection,
    scope: queries.Scope,
    model: str,
    *,
    label: str,
    sort: str | None = None,
    descending: bool | None = None,
    site: str | None = None,
    page: int = 1,
    page_size: int | None = None,
    values: pd.DataFrame | None = None,
) -> Gallery:
    """One page of a model's cases, worst first by ``sort`` unless ``descending`` says otherwise.

    ``sort`` defaults to the task family's key per-case metric, or the first metric of ``label``
    when that one has no value for it (a landmark's radial error); on a case set without
    labels (no metric) the cases come in id order and ``sort`` is empty.
    Missing values (a missing prediction) sort as the worst. ``page_size`` 0 means every case.
    """
    evaluation = queries.evaluation_of(scope, model)
    catalog = queries.metric_catalog(dash, conn, scope)
    if values is None:
        values = case_values(dash, conn, scope, model, label)
    columns = [m.name for m in catalog if m.name in values.columns]
    sort = sort or None  # a link from a gallery without metrics carries an empty sort
    if sort is None and columns:
        key = queries.default_metric(conn, scope, catalog, per_case=True).name
        sort = key if key in columns else columns[0]
    sites = sorted(values["site"].unique())
    if site is not None:
        if site not in sites:
            raise NotFound(f"site {site!r} has no case; sites: {', '.join(sites)}")
        values = values[values["site"] == site]
    if sort is None:  # no metric (an unlabelled case set): the cases in id order
        sort, descending, ordered = "", False, values
    else:
        if sort not in columns:
            raise NotFound(f"cannot sort by {sort!r}: the model has no {sort} values per case "
                           f"for label {label!r}; choose one of {', '.join(columns)}")
        higher = queries.find_metric(catalog, sort).direction == "higher"
        worst_first = descending is None or descending != higher
        descending = (not higher) if descending is None else descending
        ordered = values.sort_values(sort, ascending=not descending, kind="stable",
                                     na_position="first" if worst_first else "last")
    page_size = page_size if page_size is not None else dash.settings.page_size
    total = len(ordered)
    pages = max(1, -(-total // page_size)) if page_size else 1
    page = min(max(1, page), pages)
    shown = ordered.iloc[(page - 1) * page_size: page * page_size] if page_size else ordered
    predictions = {p["case_id"]: p for p in get_predictions(conn, evaluation["id"])}
    accepted = acceptance_by_case(conn, scope.id, model_ref=model)
    rows = [
        gallery_row(case_id, record, columns, predictions.get(case_id),
                    accepted.get((model, case_id), (0, 0)))
        for case_id, record in zip(shown.index, shown.to_dict("records"), strict=True)
    ]
    return Gallery(model=model, case_set=scope.id, label=label, columns=columns, sort=sort,
                   descending=descending, site=site, sites=sites, page=page,
                   page_size=page_size or max(total, 1), total=total, rows=rows)


def gallery_row(
    case_id: str,
    record: Mapping[str, Any],
    columns: list[str],
    prediction: Mapping[str, Any] | None,
    accepted: tuple[int, int],
) -> GalleryRow:
    prediction = prediction or {"status": "missing", "error": "no prediction row"}
    return GalleryRow(
        case_id=case_id, site=record["site"], status=prediction["status"],
        error=prediction.get("error"), overlay_uri=prediction.get("overlay_uri"),
        thumbnail_uri=prediction.get("thumbnail_uri"),
        values={m: queries.number(record.get(m)) for m in columns},
        acceptance=Acceptance(accepted=accepted[0], reviewed=accepted[1]),
    )


#: Epoch records that are bookkeeping, not learning: kept off the loss/metric chart.
NOT_CURVES = frozenset({"epoch_time_s", "learning_rate"})


def training_curves(conn: sa.Connection, run_id: str) -> list[Curve]:
    """One curve per loss and validation metric (train_loss, val_loss, val_dice, ...)."""
    frame = pd.DataFrame(get_epoch_metrics(conn, run_id), columns=["epoch", "name", "value"])
    frame = frame[~frame["name"].isin(NOT_CURVES)]
    return [Curve(name=name, epochs=group["epoch"].tolist(),
                  values=[queries.number(v) for v in group["value"]])
            for name, group in frame.groupby("name", sort=True)]


def distributions(values: pd.DataFrame) -> list[Distribution]:
    """Box-plot statistics of every metric over all cases and over each site's cases."""
    out = []
    for metric in values.columns.drop("site"):
        groups = [(None, values[metric])]
        groups += [(site, part[metric]) for site, part in values.groupby("site", sort=True)]
        out += [_box(metric, site, column.to_numpy(dtype=float)) for site, column in groups]
    return out


def _box(metric: str, site: str | None, column: np.ndarray) -> Distribution:
    finite = column[np.isfinite(column)]
    if not len(finite):
        return Distribution(metric=metric, site=site, n=0, q1=None, median=None, q3=None,
                            low=None, high=None, mean=None)
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = finite[(finite >= q1 - reach) & (finite <= q3 + reach)]
    return Distribution(metric=metric, site=site, n=len(finite), q1=float(q1),
                        median=float(median), q3=float(q3), low=float(inside.min()),
                        high=float(inside.max()), mean=float(finite.mean()))


def augmentation(config: Mapping[str, Any], details: Mapping[str, Any]) -> Augmentation | None:
    """The run's augmentation: the preset named in its config and, when the run recorded them
    (``details["augmentation_preset"]``, a list of transform dicts), the preset's transforms."""
    preset = config.get("augmentation")
    recorded = details.get("augmentation_preset")
    if preset is None and recorded is None:
        return None
    steps = None if recorded is None else [_step(spec) for spec in recorded]
    return Augmentation(preset=None if preset is None else str(preset), steps=steps)


def _step(spec: object) -> AugmentationStep:
    if not isinstance(spec, Mapping):
        return AugmentationStep(transform=str(spec))
    params = dict(spec)
    name = str(params.pop("transform", "?"))
    keys = params.pop("keys", [])
    prob = params.pop("prob", None)
    return AugmentationStep(
        transform=name, description=TRANSFORM_WORDS.get(name, ""),
        keys=[keys] if isinstance(keys, str) else [str(k) for k in keys],
        prob=prob if isinstance(prob, int | float) else None, params=params)
