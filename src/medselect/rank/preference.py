"""Preferences: ranking by several metrics, hard constraints and the Pareto front.

With one metric a preference ranks by its aggregate (the plain leaderboard). With several it
uses **weighted rank-then-aggregate**: on each case the models are ranked on each metric (1 =
best, ties averaged), the ranks are weighted, and a model's score is its mean weighted rank over
cases (lower is better). Because that score is a per-case quantity, it gets the same confidence
intervals, paired tests and rank stability as any metric. **Aggregate-then-rank** (rank the
models on each metric's aggregate, then weight those ranks) is reported beside it for comparison.

The two can disagree. Worked example (Dice, higher better; A wins most cases narrowly and
fails one badly, B is steady)::

    case    A     B        per-case ranks A, B
    c1     0.9   0.8       1, 2
    c2     0.9   0.8       1, 2
    c3     0.1   0.8       2, 1
    mean   0.633 0.8       mean rank  A 1.333, B 1.667

    rank-then-aggregate: A first (it is better on 2 of 3 cases)
    aggregate-then-rank: B first (A's failure on c3 drags its mean down)

Rank-then-aggregate asks "which model is usually better", aggregate-then-rank "which has the
better average"; tests in ``tests/unit/rank/test_rank_preference.py`` pin both.

Constraints (``hd95 <= 5``, ``dice >= 0.8 on p10``) exclude models before ranking, judged on the
point estimate of the aggregate over the cases being ranked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from medselect.config.ranking import Constraint, TieBreak, parse_constraint, parse_tie_break
from medselect.errors import RankingError
from medselect.jsonsafe import json_number
from medselect.rank.aggregate import Aggregate, parse_aggregate, truth_values
from medselect.rank.leaderboard import Leaderboard, Statistics, rank_matrix
from medselect.rank.setmetric import SetMetrics, aggregate_of, metric_matrix
from medselect.rank.table import (
    Direction,
    ScoreMatrix,
    direction_of,
    for_metric,
    readonly,
)

__all__ = [
    "Preference",
    "PreferenceRanking",
    "aggregate_then_rank",
    "pareto_front",
    "rank_preference",
    "rank_then_aggregate",
]

Matrices = Mapping[tuple[str, str], ScoreMatrix]
"""Score matrices keyed by (metric, label)."""

WEIGHTED_RANK = "weighted_rank"
"""The metric name of a multi-metric ranking's per-case weighted rank (lower is better)."""


@dataclass(frozen=True)
class Preference:
    """What "best" means: weighted metrics, limits that exclude models, Pareto metrics and
    tie-breaks. Strings are parsed on construction (:class:`RankingError` when malformed)."""

    weights: Mapping[str, float]
    label: str = "mean"
    aggregate: str | Aggregate = "mean"
    constraints: tuple[Constraint, ...] = ()
    pareto: tuple[str, ...] = ()
    tie_break: tuple[TieBreak, ...] = ()

    def __post_init__(self) -> None:
        if not self.weights:
            raise RankingError("a preference needs at least one metric to rank by")
        bad = {m: w for m, w in self.weights.items() if not w > 0}
        if bad:
            raise RankingError(f"metric weights must be positive, got {bad}")
        if len(self.pareto) == 1:
            raise RankingError(f"a Pareto front needs at least 2 metrics, got {list(self.pareto)}")
        try:
            constraints = tuple(c if isinstance(c, Constraint) else parse_constraint(c)
                                for c in self.constraints)
            tie_break = tuple(t if isinstance(t, TieBreak) else parse_tie_break(t)
                              for t in self.tie_break)
        except ValueError as exc:
            raise RankingError(str(exc)) from None
        object.__setattr__(self, "weights", dict(self.weights))
        object.__setattr__(self, "constraints", constraints)
        object.__setattr__(self, "pareto", tuple(self.pareto))
        object.__setattr__(self, "tie_break", tie_break)

    def needs(self) -> list[tuple[str, str]]:
        """Every (metric, label) this preference reads, weighted metrics first."""
        keys = [(m, self.label) for m in self.weights]
        keys += [(c.metric, c.label or self.label) for c in self.constraints]
        keys += [(m, self.label) for m in self.pareto]
        keys += [(t.metric, self.label) for t in self.tie_break if t.metric]
        return list(dict.fromkeys(keys))


@dataclass(frozen=True, eq=False)
class PreferenceRanking:
    """The outcome of a preference.

    Attributes:
        leaderboard: the ranking; for several metrics its metric is ``weighted_rank``.
        method: ``aggregate`` (one metric) or ``rank_then_aggregate``.
        excluded: model -> the constraints it failed, with values.
        pareto_front: models no other feasible model beats on every Pareto metric.
        comparison: aggregate-then-rank table (several metrics only).
        methods_agree: whether both methods put the same model first (several metrics only).
    """

    preference: Preference
    leaderboard: Leaderboard
    method: str
    excluded: Mapping[str, str] = field(default_factory=dict)
    pareto_front: tuple[str, ...] = ()
    comparison: pd.DataFrame | None = field(default=None, repr=False)
    methods_agree: bool | None = None

    def to_frame(self) -> pd.DataFrame:
        """The leaderboard, with the aggregate-then-rank columns beside it when present."""
        frame = self.leaderboard.to_frame()
        if self.comparison is not None:
            frame = frame.join(self.comparison.add_prefix("atr_"))
        frame["on_pareto_front"] = frame.index.isin(self.pareto_front)
        return frame

    def to_dict(self) -> dict:
        """JSON-safe form."""
        comparison = None
        if self.comparison is not None:
            comparison = [{k: json_number(v) for k, v in row.items()}
                          for row in self.comparison.reset_index().to_dict("records")]
        return {"method": self.method, "weights": dict(self.preference.weights),
                "constraints": [str(c) for c in self.preference.constraints],
                "excluded": dict(self.excluded), "pareto": list(self.preference.pareto),
                "pareto_front": list(self.pareto_front),
                "leaderboard": self.leaderboard.to_dict(),
                "aggregate_then_rank": comparison, "methods_agree": self.methods_agree}


def rank_preference(
    table: pd.DataFrame,
    preference: Preference,
    directions: Mapping[str, Direction | str],
    *,
    statistics: Statistics | None = None,
    model_info: pd.DataFrame | None = None,
    worst: float | Mapping[str, float] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    set_metrics: SetMetrics | None = None,
    margins: Mapping[str, float] | None = None,
) -> PreferenceRanking:
    """Rank the models of the per-case table under ``preference``.

    Args:
        directions: metric -> ``higher``/``lower``, for every metric the preference reads.
        worst: value imputed for missing values, per metric; default the worst observed.
        margins: equivalence margin per metric (``weighted_rank`` for several metrics).
        Others as in :func:`medselect.rank.leaderboard`.

    Raises:
        RankingError: a metric is unknown, or no model meets the constraints.
    """
    matrices = preference_matrices(table, preference, directions, worst, set_metrics)
    return rank_matrices(matrices, preference, statistics=statistics, model_info=model_info,
                         aggregates=aggregates, margins=margins)


def preference_matrices(
    table: pd.DataFrame,
    preference: Preference,
    directions: Mapping[str, Direction | str],
    worst: float | Mapping[str, float] | None = None,
    set_metrics: SetMetrics | None = None,
) -> dict[tuple[str, str], ScoreMatrix]:
    """The score matrix of every (metric, label) the preference reads."""
    return {(metric, label): metric_matrix(table, metric, direction_of(metric, None, directions),
                                           label=label, worst=for_metric(metric, worst),
                                           set_metrics=set_metrics)
            for metric, label in preference.needs()}


def rank_matrices(
    matrices: Matrices,
    preference: Preference,
    *,
    statistics: Statistics | None = None,
    model_info: pd.DataFrame | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    margins: Mapping[str, float] | None = None,
) -> PreferenceRanking:
    """:func:`rank_preference` on prepared matrices (e.g. one site's cases)."""
    excluded = _excluded(matrices, preference, aggregates)
    first = matrices[next(iter(matrices))]
    feasible = [m for m in first.models if m not in excluded]
    if not feasible:
        raise RankingError("no model meets the constraints: " + "; ".join(
            f"{m}: {why}" for m, why in excluded.items()))
    agg = parse_aggregate(preference.aggregate, aggregates)
    front = pareto_front(_aggregate_frame(
        [matrices[(m, preference.label)].only(feasible) for m in preference.pareto], agg)
    ) if preference.pareto else ()
    ranked = [matrices[(m, preference.label)].only(feasible) for m in preference.weights]
    secondary = {t.metric: matrices[(t.metric, preference.label)]
                 for t in preference.tie_break if t.metric}
    options = dict(statistics=statistics, tie_break=preference.tie_break, model_info=model_info,
                   secondary=secondary, aggregates=aggregates)
    if len(ranked) == 1:
        board = rank_matrix(ranked[0], agg, margin=for_metric(ranked[0].metric, margins),
                            **options)
        return PreferenceRanking(preference, board, "aggregate", excluded, front)
    weights = list(preference.weights.values())
    board = rank_matrix(rank_then_aggregate(ranked, weights), "mean",
                        margin=for_metric(WEIGHTED_RANK, margins), **options)
    comparison = aggregate_then_rank(ranked, weights, agg)
    agree = comparison.index[0] == board.rows[0].model
    return PreferenceRanking(preference, board, "rank_then_aggregate", excluded, front,
                             comparison, bool(agree))


def rank_then_aggregate(matrices: Sequence[ScoreMatrix], weights: Sequence[float]) -> ScoreMatrix:
    """Per-case weighted ranks as a matrix (metric ``weighted_rank``, lower is better).

    On each case shared by all ``matrices`` the models are ranked per metric (1 = best, ties
    get the average rank); the value is the weighted mean of those ranks. Averaging it over
    cases (the ``mean`` aggregate) gives the rank-then-aggregate score. A cell counts as
    imputed when any metric's value was; ``worst`` is NaN (each metric imputed its own).
    """
    per_set = [m.metric for m in matrices if m.reduced_by is not None]
    if per_set:
        raise RankingError(f"{', '.join(per_set)} have no per-case values to rank case by case; "
                           "weigh per-case metrics only, or rank by the set metric alone")
    common = set.intersection(*(set(m.cases) for m in matrices))
    if not common:
        raise RankingError(f"metrics {[m.metric for m in matrices]} share no case")
    aligned = [m.on_cases(common) for m in matrices]
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    score = sum(wk * sps.rankdata(-m.oriented, method="average", axis=1)
                for wk, m in zip(w, aligned, strict=True))
    imputed = np.logical_or.reduce([m.imputed for m in aligned])
    base = aligned[0]
    return ScoreMatrix(
        metric=WEIGHTED_RANK, label=base.label, direction=Direction.LOWER,
        models=base.models, cases=base.cases, values=readonly(score),
        imputed=readonly(imputed), worst=float("nan"), attributes=base.attributes,
    )


def aggregate_then_rank(
    matrices: Sequence[ScoreMatrix], weights: Sequence[float], aggregate: str | Aggregate = "mean"
) -> pd.DataFrame:
    """Rank models on each metric's aggregate (1 = best, ties averaged), then weight the ranks.

    Returns:
        One row per model, best first: each metric's aggregate and rank, the weighted mean
        rank ``score`` and the final ``rank``.
    """
    agg = parse_aggregate(aggregate)
    points = _aggregate_frame(matrices, agg)
    frame = pd.DataFrame(index=points.index)
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    frame["score"] = 0.0
    for wk, m in zip(w, matrices, strict=True):
        frame[m.metric] = _raw(points[m.metric], m.direction)
        frame[f"{m.metric}_rank"] = sps.rankdata(-points[m.metric], method="average")
        frame["score"] += wk * frame[f"{m.metric}_rank"]
    frame["rank"] = sps.rankdata(frame["score"], method="min").astype(int)
    return frame.sort_values(["rank", "score"], kind="stable")


def pareto_front(oriented: pd.DataFrame) -> tuple[str, ...]:
    """Models (rows) that no other row beats on every column (columns oriented higher better):
    a model is dominated when another is at least as good everywhere and better somewhere."""
    values = oriented.to_numpy(dtype=float)
    at_least = (values[:, None, :] >= values[None, :, :]).all(axis=2)
    better = (values[:, None, :] > values[None, :, :]).any(axis=2)
    dominated = (at_least & better).any(axis=0)
    return tuple(oriented.index[~dominated])


def restrict(matrices: Matrices, cases: set[str]) -> dict[tuple[str, str], ScoreMatrix]:
    """Every matrix on the given cases only."""
    return {key: m.on_cases(cases) for key, m in matrices.items()}


def _excluded(matrices: Matrices, preference: Preference,
              aggregates: Mapping[str, Aggregate] | None) -> dict[str, str]:
    reasons: dict[str, list[str]] = {}
    for c in preference.constraints:
        m = matrices[(c.metric, c.label or preference.label)]
        agg = aggregate_of(m, parse_aggregate(c.aggregate, aggregates))
        for model, value in zip(m.models, agg(m.values, truth_values(m, agg)), strict=True):
            if not c.holds(value):
                reasons.setdefault(model, []).append(
                    f"{c.metric} {agg.name} = {value:.4g}, needs {c.op} {c.threshold:g}")
    return {model: "; ".join(why) for model, why in reasons.items()}


def _aggregate_frame(matrices: Sequence[ScoreMatrix], aggregate: Aggregate) -> pd.DataFrame:
    """Models x metrics aggregates, oriented so that higher is better."""
    def oriented(m: ScoreMatrix) -> np.ndarray:
        reduce = aggregate_of(m, aggregate)
        sign = 1 if m.direction == Direction.HIGHER else -1
        return sign * np.asarray(reduce(m.values, truth_values(m, reduce)))

    return pd.DataFrame({m.metric: oriented(m) for m in matrices},
                        index=pd.Index(matrices[0].models, name="model"))


def _raw(oriented: pd.Series, direction: Direction) -> pd.Series:
    return oriented if direction == Direction.HIGHER else -oriented
