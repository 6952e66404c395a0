"""The leaderboard of a case set: one metric ranked with its statistics, the others beside it.

It ranks exactly as ``medselect rank`` does: :func:`medselect.rank.rank_table` on the inputs
:func:`medselect.choose.ranking_inputs` reads (every metric's direction and default
equivalence margin, the models' attributes) under the task's ranking rules (tie-breaks,
constraints, unit, margins, statistics); the page's metric, label, aggregate and site replace
only those. A site's board is that site's ranking in the ``by: [site]`` selection, as
``medselect rank --by site`` makes it.

The costly part (bootstrap, paired and equivalence tests, the significance matrix, the other
metrics' aggregates) is computed once per scope, rules and request parameters and cached, from
the per-case table of the metrics it reads only (:func:`.queries.inputs_of`); a board that asks
what the task's choice asked reuses the choice's own ranking, any other computes only what it
shows (one site's ranking, not every site's; the matrix of every pair when the page asks). Reviews,
champions and failed runs are read fresh; a board ranked by the experts' acceptance rate is
keyed by the case set's reviews too (:func:`medselect.store.review_stamp`), so a new verdict
re-ranks it and nothing else.

Every aggregate ``medselect rank --agg`` takes is a choice here; the page offers mean, median,
the trimmed mean and the worst tenth of cases, which is ``p10`` of a higher-is-better metric
and ``p90`` of a lower-is-better one, and names every percentile by the tail it shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from medselect import rank
from medselect.choose import ModelChoice, RankingInputs, with_reviews
from medselect.config import RankingSpec
from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.schemas import (
    Acceptance,
    AggregateChoice,
    Leaderboard,
    LeaderboardEntry,
    MetricInfo,
    Significance,
    UnlabelledCaseSet,
)
from medselect.dashboard.views.choice import SITE, choice_summary, task_choice
from medselect.errors import MedselectError, NotFound, RankingError
from medselect.metrics import CASE_LABEL, MEAN_LABEL
from medselect.rank.aggregate import Percentile, TrimmedMean, truth_values
from medselect.rank.preference import rank_matrices, restrict
from medselect.store import review_stamp

AGGREGATES = ("mean", "median", "trimmed10")
"""The aggregates a page offers, besides the worst tenth of cases (:func:`worst_tenth`), the
ranking rules' own and the one asked for."""


@dataclass(frozen=True, eq=False)
class Ranked:
    """A computed ranking, the task choice's report when the ranking is the choice's own
    (whose significance matrix, computed once when asked, the board then shares), and the same
    aggregate of the other metrics, per model, at the labels of :func:`other_label`
    (``other_labels``)."""

    ranking: rank.PreferenceRanking
    report: rank.RankReport | None
    others: dict[str, dict[str, float]]
    other_labels: dict[str, str]

    @property
    def board(self) -> rank.Leaderboard:
        return self.ranking.leaderboard


@dataclass(frozen=True)
class BoardRequest:
    """The parameters of a leaderboard after defaults were filled in and checked."""

    scope: queries.Scope
    metric: str
    label: str
    aggregate: str
    site: str | None
    catalog: list[MetricInfo]
    rules: queries.TaskRules
    reviews: tuple[int, int] | None = None
    """The case set's review stamp when the ranked metric reads the verdicts, else None."""

    @property
    def spec(self) -> RankingSpec:
        """The task's ranking rules asking this page's question (one metric replaces a
        weighted mix, as ``medselect rank --metric`` does)."""
        return self.rules.spec.model_copy(update={
            "metric": self.metric, "weights": {}, "label": self.label,
            "aggregate": self.aggregate, "by": [SITE] if self.site else []})

    @property
    def key(self) -> tuple:
        return (self.scope.key, self.reviews, self.rules.key, self.metric, self.label,
                self.aggregate, self.site)


def worst_tenth(direction: str) -> str:
    """The aggregate of the worst 10% of cases: ``p10`` when higher is better, else ``p90``."""
    return "p10" if direction == "higher" else "p90"


def aggregate_choices(spec: RankingSpec, direction: str,
                      requested: str | None = None) -> list[AggregateChoice]:
    """The aggregates a page offers for a metric of ``direction``: :data:`AGGREGATES`, the
    worst tenth, the ranking rules' own and ``requested`` (any name ``medselect rank --agg``
    takes), each once."""
    names = [*AGGREGATES, worst_tenth(direction), rank.parse_aggregate(spec.aggregate).name]
    if requested is not None:
        names.append(requested)
    return [aggregate_choice(name, direction) for name in dict.fromkeys(names)]


def carried_aggregate(aggregate: str, direction: str | None, info: MetricInfo) -> str | None:
    """The aggregate a link to ``info``'s board carries from a board ranked by ``aggregate``
    of a metric of ``direction``: the same tail of cases, so the worst 10% of Dice (p10)
    leads to the worst 10% of HD95 (p90). None (the rules' default) from a set metric's board
    (``direction`` None: it has no aggregate of its own to carry) and to a set metric's (its
    own aggregate)."""
    if not info.per_case or direction is None:
        return None
    agg = rank.parse_aggregate(aggregate)
    if isinstance(agg, Percentile) and direction != info.direction:
        return Percentile(100 - agg.q).name
    return agg.name


def aggregate_choice(name: str, direction: str) -> AggregateChoice:
    """How a pill names an aggregate: a percentile by the tail it shows (``worst 10% (p90)``
    for a lower-is-better metric), a trimmed mean by the share it cuts."""
    agg = rank.parse_aggregate(name)
    if isinstance(agg, Percentile) and agg.q != 50:
        below = agg.q < 50
        share = agg.q if below else 100 - agg.q
        tail = "worst" if below == (direction == "higher") else "best"
        return AggregateChoice(
            name=agg.name, text=f"{tail} {share:g}% ({agg.name})",
            title=f"the {agg.q:g}th percentile of the cases' values: the {tail} {share:g}% of "
                  f"cases lie {'below' if below else 'above'} it ({direction} is better)")
    if isinstance(agg, TrimmedMean):
        cut = 100 * agg.proportion
        return AggregateChoice(name=agg.name, text=f"trimmed mean ({agg.name})",
                               title=f"the mean after cutting {cut:g}% of the cases at each end")
    words = {"mean": "the mean over cases", "median": "the median over cases (p50)"}
    return AggregateChoice(name=agg.name, text=agg.name, title=words.get(agg.name, agg.name))


def resolve(
    dash: Dashboard,
    conn: sa.Connection,
    *,
    case_set: str | None = None,
    metric: str | None = None,
    label: str | None = None,
    aggregate: str | None = None,
    site: str | None = None,
) -> BoardRequest:
    """Fill in defaults and check every parameter.

    The defaults are the ranking rules' metric, label and aggregate (a metric that was not
    evaluated falls back to the task family's key metric). A set metric (AUC, ...) is its own
    aggregate: the requested one is checked, then set to the rules' one, which the per-case
    metrics beside it are aggregated with.

    Raises:
        NotFound: unknown case set, metric, label or site (the message lists the known ones).
        RankingError: an aggregate ``medselect.rank`` does not know.
    """
    scope = queries.scope_of(dash, conn, case_set)
    if not scope.labelled:
        raise NotFound(f"case set {scope.id!r} has no reference labels, so nothing can be "
                       "ranked on it; its predictions are on each model's page "
                       f"(/models/<model>?case_set={scope.id})")
    rules = queries.task_rules(dash, conn, scope.task)
    spec = rules.spec
    catalog = queries.ranked_catalog(dash, conn, scope)
    if metric:
        info = queries.find_metric(catalog, metric)
    elif spec.metric in {m.name for m in catalog}:
        info = queries.find_metric(catalog, spec.metric)
    else:
        info = queries.default_metric(conn, scope, catalog)
    if label is None and info.name == spec.metric and spec.label in info.labels:
        label = spec.label
    label = queries.label_of(info, label)
    aggregate = rank.parse_aggregate(aggregate or spec.aggregate).name
    if not info.per_case:
        aggregate = rank.parse_aggregate(spec.aggregate).name
    sites = sorted(set(queries.case_sites(dash, conn, scope).values()))
    if site is not None and site not in sites:
        raise NotFound(f"site {site!r} has no case in case set {scope.id!r}; sites: "
                       f"{', '.join(sites)}")
    reviews = review_stamp(conn, scope.id) if queries.reads_reviews(info.name) else None
    return BoardRequest(scope, info.name, label, aggregate, site, catalog, rules, reviews)


def ranked(dash: Dashboard, conn: sa.Connection, req: BoardRequest) -> Ranked:
    """The cached :class:`Ranked` for a request."""
    return dash.cache.get_or_compute(("ranked", *req.key), lambda: _compute(dash, conn, req))


def _compute(dash: Dashboard, conn: sa.Connection, req: BoardRequest) -> Ranked:
    ranking, report = _ranking(dash, conn, req)
    requested = rank.parse_aggregate(req.aggregate)
    others, labels = {}, {}
    for info in (m for m in req.catalog if m.name != req.metric and not
                 queries.reads_reviews(m.name)):  # acceptance has its own column
        label = other_label(req.label, info)
        if label is None:
            continue
        try:
            other = site_matrix(queries.metric_matrix(dash, conn, req.scope, info, label),
                                req.site)
            aggregate = rank.aggregate_of(other, requested)
            values = np.asarray(aggregate(other.values, truth_values(other, aggregate)),
                                dtype=float)
        except RankingError:  # not evaluated for this label, every value missing, no truth
            continue
        others[info.name] = dict(zip(other.models, values.tolist(), strict=True))
        labels[info.name] = label
    return Ranked(ranking=ranking, report=report, others=others,
                  other_labels=labels)


def _ranking(dash: Dashboard, conn: sa.Connection, req: BoardRequest
             ) -> tuple[rank.PreferenceRanking, rank.RankReport | None]:
    """The request's ranking, and the task choice's report when it is the choice's.

    The task choice's own when it asked the same question (its selection by site came with
    it); otherwise only what the board shows is computed: the ranking of all cases without the
    matrix of every pair (the page asks for it, :func:`significance_view`; the JSON board does
    not), or one site's ranking, not every site's.
    """
    made = task_choice(dash, conn, req.scope.task).choice
    if made is not None and _made_here(made, req):
        if req.site is None:
            return made.report.ranking, made.report
        return _selected(made.report.selections[SITE], req.site), None
    inputs = _inputs(dash, conn, req)
    if req.site is None:
        return inputs.ranking(req.spec), None
    return _site_ranking(inputs, req.spec, req.site), None


def _inputs(dash: Dashboard, conn: sa.Connection, req: BoardRequest) -> RankingInputs:
    """The scope's cached per-case table of what the request ranks by, with the experts'
    current verdicts when the ranked metric reads them (:func:`medselect.choose.with_reviews`)."""
    inputs = queries.inputs_of(dash, conn, req.scope, req.spec)
    return inputs if req.reviews is None else with_reviews(conn, inputs)


def _made_here(made: ModelChoice, req: BoardRequest) -> bool:
    """Whether the choice's ranking holds the requested board: made on its case set under the
    same rules asking the same question (by site too, for a site's board)."""
    wanted = req.spec
    return (made.selection_set == req.scope.id and set(wanted.by) <= set(made.spec.by)
            and made.spec.model_copy(update={"by": []}) == wanted.model_copy(update={"by": []}))


def _selected(selection: rank.Selection, site: str) -> rank.PreferenceRanking:
    """One site's ranking in a selection by site.

    Raises:
        RankingError: it could not be ranked (e.g. no model meets the constraints there, or
            no case of the site has a value: acceptance where nothing was reviewed).
    """
    if site in selection.rankings:
        return selection.rankings[site]
    why = next((c.reason for c in selection.choices if c.group == site),
               _no_site_values(selection.metric))
    raise RankingError(f"cannot rank the models at site {site}: {why}")


def _site_ranking(inputs: RankingInputs, spec: RankingSpec, site: str) -> rank.PreferenceRanking:
    """The ranking of one site's cases as a selection by site (``medselect rank --by site``,
    :func:`medselect.rank.select`) ranks each site, without ranking the others: on the
    matrices of all cases (missing values imputed over all of them) restricted to the site's.

    Raises:
        RankingError: as :func:`_selected`.
    """
    preference = rank.preference_from_spec(spec)
    matrices = {key: inputs.matrix(*key) for key in preference.needs()}
    cases = {case for m in matrices.values()
             for case in m.attributes.index[m.attributes[SITE] == site]}
    if not cases:
        raise RankingError(f"cannot rank the models at site {site}: "
                           f"{_no_site_values(spec.metric)}")
    try:
        return rank_matrices(restrict(matrices, cases), preference,
                             statistics=rank.statistics_from_spec(spec),
                             model_info=inputs.model_info,
                             margins={**inputs.margins, **spec.equivalence})
    except RankingError as exc:
        raise RankingError(f"cannot rank the models at site {site}: {exc}") from None


def _no_site_values(metric: str) -> str:
    return (f"none of its cases has a {metric} value (for acceptance: no prediction there "
            "was reviewed)")


def site_matrix(matrix: rank.ScoreMatrix, site: str | None) -> rank.ScoreMatrix:
    """``matrix`` on one site's cases, or on all with ``site`` None (missing values imputed
    over all cases, as a selection by site does)."""
    if site is None:
        return matrix
    return matrix.subset((matrix.attributes["site"] == site).to_numpy())


def other_label(label: str, info: MetricInfo) -> str | None:
    """The label another metric is shown at beside a board of ``label``: the same, or on a
    board of a whole-case value (the acceptance rate) the other metric's mean over classes;
    None when it has neither."""
    if label in info.labels:
        return label
    return MEAN_LABEL if label == CASE_LABEL and MEAN_LABEL in info.labels else None


def leaderboard_view(dash: Dashboard, conn: sa.Connection, **params) -> Leaderboard:
    """The leaderboard page's data (the parameters of :func:`resolve`)."""
    req = resolve(dash, conn, **params)
    result = ranked(dash, conn, req)
    board = result.board
    spec = req.spec
    infos = queries.model_infos(conn, req.scope.task)
    accepted = queries.acceptance(conn, req.scope.id)
    # one dict per model, read once: each ``frame.at`` copies the frame's attrs, and the 600
    # of a 200-model board took a quarter of this view's time
    stability = board.stability.to_frame().to_dict("index")
    info = queries.find_metric(req.catalog, req.metric)
    others = list(result.others)
    rows = [
        LeaderboardEntry(
            model=r.model, rank=r.rank, aggregate=queries.number(r.aggregate),
            ci_low=queries.number(r.ci_low), ci_high=queries.number(r.ci_high),
            n_cases=r.n_cases, n_patients=r.n_patients, n_imputed=r.n_imputed,
            p_best=r.p_best, p_vs_best=queries.number(r.p_vs_best),
            p_equivalent=queries.number(r.p_equivalent), standing=r.standing.value,
            in_best_group=r.in_best_group, chosen=r.model == board.best,
            median_rank=float(stability[r.model]["median_rank"]),
            rank_low=float(stability[r.model]["rank_low"]),
            rank_high=float(stability[r.model]["rank_high"]),
            others={m: queries.number(result.others[m].get(r.model)) for m in others},
            acceptance=accepted.get(r.model, Acceptance()),
            info=queries.model_info(infos, r.model),
        )
        for r in board.rows
    ]
    failed = queries.failed_runs(conn, req.scope.task)
    pruned = queries.pruned_runs(conn, req.scope.task)
    made = task_choice(dash, conn, req.scope.task)
    choice = None if made.choice is None else choice_summary(
        conn, made.choice, req.scope.id, req.site,
        this_board=req.site is None and _made_here(made.choice, req))
    return Leaderboard(
        case_set=req.scope.info(), case_sets=queries.evaluated_case_sets(dash, conn),
        metric=req.metric, label=req.label, aggregate=board.aggregate,
        direction=info.direction, unit=info.unit, site=req.site,
        test=board.statistics.test.value, aggregate_fixed=not info.per_case,
        per_case_aggregate=req.aggregate,
        sites=sorted(set(queries.case_sites(dash, conn, req.scope).values())),
        aggregates=aggregate_choices(req.rules.spec, info.direction, req.aggregate),
        metrics=req.catalog, other_metrics=others, other_labels=result.other_labels,
        metric_aggregates={m.name: carried_aggregate(
            req.aggregate, info.direction if info.per_case else None, m) for m in req.catalog},
        rows=rows, n_cases=board.n_cases, n_patients=board.n_patients,
        patients_assumed=board.patients_assumed, weighting=board.weighting,
        analysis_unit=board.statistics.unit.value,
        best=board.best, best_group=list(board.best_group), unresolved=list(board.unresolved),
        unresolved_note=unresolved_note(board), margin=board.margin,
        margin_source=(None if board.margin is None else
                       "experiment" if req.metric in spec.equivalence else "default"),
        decided_by_tie_break=board.decided_by_tie_break, reason=board.reason,
        tie_break=list(spec.tie_break), constraints=list(spec.constraints),
        excluded=dict(result.ranking.excluded),
        rules="experiment" if req.rules.stored else "default",
        n_resamples=board.statistics.n_resamples, confidence=board.statistics.confidence,
        alpha=board.statistics.alpha, ci_reliable=board.ci_reliable, ci_note=board.ci_note,
        notes=[*_weights_note(req.rules.spec), *board.notes],
        missing_values=board.missing_values, choice=choice, choice_note=made.note,
        failed=failed,
        pruned=pruned,
        config_columns=queries.summary_columns([r.info.summary for r in rows]
                                               + [f.summary for f in failed]),
    )


def unlabelled_view(dash: Dashboard, conn: sa.Connection, scope: queries.Scope
                    ) -> UnlabelledCaseSet:
    """What the leaderboard page shows for a case set without labels (new cases uploaded
    without them): its models, whose pages hold the prediction galleries."""
    infos = queries.model_infos(conn, scope.task)
    return UnlabelledCaseSet(
        case_set=scope.info(), case_sets=queries.evaluated_case_sets(dash, conn),
        n_cases=len(queries.case_sites(dash, conn, scope)),
        models=[queries.model_info(infos, ref) for ref in sorted(scope.evaluations)])


def unresolved_note(board: rank.Leaderboard) -> str | None:
    """The models the data could not separate from the top one, in a sentence (None if
    none): they are neither in the best group nor shown worse."""
    if not board.unresolved:
        return None
    within = (f" within ±{board.margin:g}" if board.margin is not None
              else ": no equivalence margin is set for this metric")
    return (f"not enough evidence to separate {', '.join(board.unresolved)} from "
            f"{board.rows[0].model} (neither shown worse nor shown equivalent{within})")


def _weights_note(spec: RankingSpec) -> list[str]:
    """Why a task that weighs several metrics is shown one metric at a time."""
    if not spec.weights:
        return []
    mix = ", ".join(f"{m} ×{w:g}" for m, w in spec.weights.items())
    return [f"the task's ranking rules weigh several metrics ({mix}, rank-then-aggregate); "
            "this page ranks by one metric at a time, while the task's choice (and "
            "`medselect rank`) uses the weighted ranking"]


def significance_view(dash: Dashboard, conn: sa.Connection, **params) -> Significance:
    """Every pair of models compared (Holm-corrected), in leaderboard order; cached."""
    req = resolve(dash, conn, **params)
    result = ranked(dash, conn, req)

    def compute() -> Significance:
        board = result.board
        matrix = board.significance() if result.report is None else result.report.significance
        order = [matrix.models.index(r.model) for r in board.rows]
        adjusted = matrix.adjusted[np.ix_(order, order)]
        better = matrix.better[np.ix_(order, order)]
        return Significance(
            models=[matrix.models[i] for i in order], test=matrix.test.value,
            alpha=matrix.alpha,
            adjusted=[[queries.number(v) for v in row] for row in adjusted.tolist()],
            better=better.tolist())

    return dash.cache.get_or_compute(("significance", *req.key), compute)


def warm_up(dash: Dashboard) -> None:
    """Compute the default leaderboard into the cache (the first page view is then fast).

    Meant for a background thread at startup; a workspace with nothing to rank is left alone.
    """
    try:
        with dash.workspace.connect() as conn:
            significance_view(dash, conn)
    except MedselectError:
        pass
