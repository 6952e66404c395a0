"""The leaderboard of a case set: one metric ranked with its statistics, the others beside it.

The costly part (bootstrap, paired tests, the other metrics' aggregates) is computed once per
scope and request parameters and cached; reviews, champions and failed runs are read fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from medselect import rank
from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import (
    Acceptance,
    Leaderboard,
    LeaderboardEntry,
    MetricInfo,
    Significance,
)
from medselect.errors import MedselectError, NotFound, RankingError
from medselect.metrics import SET_METRICS, margins
from medselect.rank.aggregate import truth_values

AGGREGATES = ("mean", "median", "p10")
DEFAULT_TIE_BREAK = ("fewer_parameters",)


@dataclass(frozen=True, eq=False)
class Ranked:
    """A computed leaderboard and the same aggregate of the other metrics, per model."""

    board: rank.Leaderboard
    others: dict[str, dict[str, float]]


@dataclass(frozen=True)
class BoardRequest:
    """The parameters of a leaderboard after defaults were filled in and checked."""

    scope: queries.Scope
    metric: str
    label: str
    aggregate: str
    site: str | None
    catalog: list[MetricInfo]


def resolve(
    dash: Dashboard,
    conn: sa.Connection,
    *,
    case_set: str | None = None,
    metric: str | None = None,
    label: str | None = None,
    aggregate: str = "mean",
    site: str | None = None,
) -> BoardRequest:
    """Fill in defaults and check every parameter.

    A set metric (AUC, ...) is its own aggregate: the requested one is checked, then set to
    the default, which the per-case metrics beside it are aggregated with.

    Raises:
        NotFound: unknown case set, metric, label or site (the message lists the known ones).
        RankingError: an aggregate ``medselect.rank`` does not know.
    """
    scope = queries.resolve_scope(conn, case_set)
    catalog = queries.metric_catalog(dash, conn, scope)
    info = (queries.find_metric(catalog, metric) if metric
            else queries.default_metric(conn, scope, catalog))
    label = queries.label_of(info, label)
    aggregate = rank.parse_aggregate(aggregate).name
    if not info.per_case:
        aggregate = AGGREGATES[0]
    sites = sorted(set(queries.case_sites(dash, conn, scope).values()))
    if site is not None and site not in sites:
        raise NotFound(f"site {site!r} has no case in case set {scope.id!r}; sites: "
                       f"{', '.join(sites)}")
    return BoardRequest(scope, info.name, label, aggregate, site, catalog)


def ranked(dash: Dashboard, conn: sa.Connection, req: BoardRequest) -> Ranked:
    """The cached :class:`Ranked` for a request."""
    key = ("ranked", req.scope.key, req.metric, req.label, req.aggregate, req.site)
    return dash.cache.get_or_compute(key, lambda: _compute(dash, conn, req))


def _compute(dash: Dashboard, conn: sa.Connection, req: BoardRequest) -> Ranked:
    table = queries.label_table(dash, conn, req.scope, req.label)
    directions = {m.name: m.direction for m in req.catalog}
    infos = queries.model_infos(conn, req.scope.task)
    model_info = pd.DataFrame({"parameters": {ref: i.n_parameters for ref, i in infos.items()}},
                              dtype=float)
    matrix = site_matrix(table, req.metric, directions[req.metric], req.label, req.site)
    board = rank.rank_matrix(matrix, req.aggregate, statistics=dash.statistics,
                             tie_break=DEFAULT_TIE_BREAK, model_info=model_info,
                             margin=margins([req.metric]).get(req.metric))
    requested = rank.parse_aggregate(req.aggregate)
    others = {}
    for name in (m.name for m in req.catalog if m.name != req.metric):
        try:
            other = site_matrix(table, name, directions[name], req.label, req.site)
            aggregate = rank.aggregate_of(other, requested)
            values = np.asarray(aggregate(other.values, truth_values(other, aggregate)),
                                dtype=float)
        except RankingError:  # not evaluated for this label, every value missing, no truth
            continue
        others[name] = dict(zip(other.models, values.tolist(), strict=True))
    return Ranked(board=board, others=others)


def site_matrix(table: pd.DataFrame, metric: str, direction: str, label: str,
                site: str | None) -> rank.ScoreMatrix:
    """The cases x models matrix of a metric (a set metric's to be reduced by it) on one
    site's cases, or on all with ``site`` None."""
    matrix = rank.metric_matrix(table, metric, direction, label=label, set_metrics=SET_METRICS)
    if site is None:
        return matrix
    return matrix.subset((matrix.attributes["site"] == site).to_numpy())


def leaderboard_view(dash: Dashboard, conn: sa.Connection, **params) -> Leaderboard:
    """The leaderboard page's data (the parameters of :func:`resolve`)."""
    req = resolve(dash, conn, **params)
    result = ranked(dash, conn, req)
    board = result.board
    infos = queries.model_infos(conn, req.scope.task)
    accepted = queries.acceptance(conn, req.scope.id)
    stability = board.stability.to_frame()
    info = queries.find_metric(req.catalog, req.metric)
    others = list(result.others)
    rows = [
        LeaderboardEntry(
            model=r.model, rank=r.rank, aggregate=queries.number(r.aggregate),
            ci_low=queries.number(r.ci_low), ci_high=queries.number(r.ci_high),
            n_cases=r.n_cases, n_imputed=r.n_imputed, p_best=r.p_best,
            p_vs_best=queries.number(r.p_vs_best), in_best_group=r.in_best_group,
            chosen=r.model == board.best,
            median_rank=float(stability.at[r.model, "median_rank"]),
            rank_low=float(stability.at[r.model, "rank_low"]),
            rank_high=float(stability.at[r.model, "rank_high"]),
            others={m: queries.number(result.others[m].get(r.model)) for m in others},
            acceptance=accepted.get(r.model, Acceptance()),
            info=queries.model_info(infos, r.model),
        )
        for r in board.rows
    ]
    failed = queries.failed_runs(conn, req.scope.task)
    return Leaderboard(
        case_set=req.scope.info(), case_sets=queries.case_set_choices(conn),
        metric=req.metric, label=req.label, aggregate=board.aggregate,
        direction=info.direction, unit=info.unit, site=req.site,
        test=board.statistics.test.value, aggregate_fixed=not info.per_case,
        per_case_aggregate=req.aggregate,
        sites=sorted(set(queries.case_sites(dash, conn, req.scope).values())),
        aggregates=list(AGGREGATES), metrics=req.catalog, other_metrics=others, rows=rows,
        best=board.best, best_group=list(board.best_group),
        decided_by_tie_break=board.decided_by_tie_break, reason=board.reason,
        ci_reliable=board.ci_reliable, ci_note=board.ci_note,
        notes=list(board.notes),
        missing_values=board.missing_values,
        failed=failed,
        config_columns=queries.summary_columns([r.info.summary for r in rows]
                                               + [f.summary for f in failed]),
    )


def significance_view(dash: Dashboard, conn: sa.Connection, **params) -> Significance:
    """Every pair of models compared (Holm-corrected), in leaderboard order; cached."""
    req = resolve(dash, conn, **params)
    board = ranked(dash, conn, req).board

    def compute() -> Significance:
        matrix = board.significance()
        order = [matrix.models.index(r.model) for r in board.rows]
        adjusted = matrix.adjusted[np.ix_(order, order)]
        better = matrix.better[np.ix_(order, order)]
        return Significance(
            models=[matrix.models[i] for i in order], test=matrix.test.value,
            alpha=matrix.alpha,
            adjusted=[[queries.number(v) for v in row] for row in adjusted.tolist()],
            better=better.tolist())

    key = ("significance", req.scope.key, req.metric, req.label, req.aggregate, req.site)
    return dash.cache.get_or_compute(key, compute)


def warm_up(dash: Dashboard) -> None:
    """Compute the default leaderboard into the cache (the first page view is then fast).

    Meant for a background thread at startup; a workspace with nothing to rank is left alone.
    """
    try:
        with dash.workspace.connect() as conn:
            significance_view(dash, conn)
    except MedselectError:
        pass
