"""The leaderboard: models ranked by one aggregate, with the evidence to trust the order.

For each model: its aggregate, a bootstrap confidence interval, its rank, the number of cases
and of imputed (missing) values, the probability that it is the best, and whether it is
statistically indistinguishable from the top model. The top group is the top model plus every
model that is *not significantly worse* than it (paired test of each model against the top one,
Holm-corrected over those comparisons); when the group holds several models, the user's
tie-break chooses and the leaderboard says so (``decided_by_tie_break`` and ``reason``).

Example::

    board = leaderboard(table, "dice", "higher", aggregate="p10", tie_break=["fewer_parameters"],
                        model_info=info)
    print(board.to_frame()); json.dumps(board.to_dict())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats as sps

from medselect.errors import RankingError
from medselect.rank._json import json_number
from medselect.rank.aggregate import Aggregate, parse_aggregate, truth_values
from medselect.rank.bootstrap import (
    interval_caveat,
    percentile_interval,
    resample_index,
    resampled_aggregates,
)
from medselect.rank.paired import (
    PairedTest,
    SignificanceMatrix,
    compare,
    holm,
    significance_matrix,
)
from medselect.rank.setmetric import SetMetrics, aggregate_of, metric_matrix
from medselect.rank.stability import RankStability, rank_stability
from medselect.rank.table import Direction, ScoreMatrix, direction_of, worst_for
from medselect.rank.tiebreak import TieBreak, break_tie, secondary_matrices, secondary_values

__all__ = ["Leaderboard", "LeaderboardRow", "Statistics", "leaderboard", "rank_matrix"]


@dataclass(frozen=True)
class Statistics:
    """How sure a ranking must be: bootstrap size, confidence, significance level, seed.

    ``stratify`` names the case attribute the bootstrap resamples within (ignored, with a note,
    when the table has no such column).
    """

    n_resamples: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    seed: int | None = 0
    stratify: str | None = "site"
    test: PairedTest = PairedTest.WILCOXON

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise RankingError(f"n_resamples must be at least 1, got {self.n_resamples}")
        for name in ("confidence", "alpha"):
            if not 0 < getattr(self, name) < 1:
                raise RankingError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        try:
            object.__setattr__(self, "test", PairedTest(self.test))
        except ValueError:
            raise RankingError(f"unknown test {self.test!r}; use one of: "
                               f"{', '.join(PairedTest)}") from None


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's line. ``p_vs_best`` is the Holm-adjusted p-value of the paired test
    against the top model (None for the top model itself)."""

    model: str
    rank: int
    aggregate: float
    ci_low: float
    ci_high: float
    n_cases: int
    n_imputed: int
    p_best: float
    p_vs_best: float | None
    in_best_group: bool


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Models ranked by one aggregate of one metric and label (rank 1 = best).

    ``best`` is the chosen model: the top one, or the tie-break's choice within ``best_group``
    when several models are indistinguishable (then ``decided_by_tie_break`` is True).
    ``ci_reliable`` is False, with the reason in ``ci_note``, when there are too few cases for
    an interval to mean much. ``worst`` is the value imputed for missing ones (NaN for a
    weighted rank, whose metrics imputed their own). ``matrix`` and ``samples`` (resampled
    aggregates, n_resamples x n_models) are the data behind the figures; they are not part of
    :meth:`to_dict`.
    """

    metric: str
    label: str
    aggregate: str
    direction: Direction
    rows: tuple[LeaderboardRow, ...]
    best: str
    best_group: tuple[str, ...]
    decided_by_tie_break: bool
    reason: str
    ci_reliable: bool
    ci_note: str | None
    worst: float
    statistics: Statistics
    stratified_by: str | None
    stability: RankStability
    notes: tuple[str, ...] = ()
    matrix: ScoreMatrix | None = field(default=None, repr=False)
    samples: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_cases(self) -> int:
        return self.rows[0].n_cases

    @property
    def missing_values(self) -> str:
        """What a missing value counts as, in words."""
        return f"count as {_missing_text(self.matrix, self.worst)}"

    def row(self, model: str) -> LeaderboardRow:
        """The row of ``model``.

        Raises:
            RankingError: the model is not on this leaderboard.
        """
        for row in self.rows:
            if row.model == model:
                return row
        raise RankingError(f"model {model!r} is not on the {self.metric} leaderboard; it has "
                           f"{[r.model for r in self.rows]}")

    def significance(self) -> SignificanceMatrix:
        """Every pair of models on this leaderboard compared with its paired test, Holm-corrected
        over all pairs (a larger family than the comparisons with the top model)."""
        sign = 1.0 if self.direction == Direction.HIGHER else -1.0
        return significance_matrix(self.matrix.oriented, self.matrix.models,
                                   alpha=self.statistics.alpha, test=self.statistics.test,
                                   samples=sign * self.samples)

    def to_frame(self) -> pd.DataFrame:
        """One row per model in rank order; ``chosen`` marks :attr:`best`."""
        frame = pd.DataFrame([asdict(r) for r in self.rows]).set_index("model")
        frame["chosen"] = frame.index == self.best
        return frame

    def to_dict(self) -> dict:
        """JSON-safe form (NaN -> None)."""
        return {
            "metric": self.metric, "label": self.label, "aggregate": self.aggregate,
            "direction": self.direction.value, "n_cases": self.n_cases,
            "best": self.best, "best_group": list(self.best_group),
            "decided_by_tie_break": self.decided_by_tie_break, "reason": self.reason,
            "ci_reliable": self.ci_reliable, "ci_note": self.ci_note,
            "missing_values": self.missing_values,
            "statistics": {**asdict(self.statistics), "test": self.statistics.test.value},
            "stratified_by": self.stratified_by, "notes": list(self.notes),
            "rows": [{k: json_number(v) for k, v in asdict(r).items()} for r in self.rows],
            "stability": self.stability.to_dict(),
        }


def leaderboard(
    table: pd.DataFrame,
    metric: str,
    direction: Direction | str | None = None,
    *,
    directions: Mapping[str, Direction | str] | None = None,
    label: str = "mean",
    aggregate: str | Aggregate = "mean",
    statistics: Statistics | None = None,
    tie_break: Sequence[TieBreak | str] = (),
    model_info: pd.DataFrame | None = None,
    worst: float | Mapping[str, float] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    set_metrics: SetMetrics | None = None,
) -> Leaderboard:
    """Rank every model of the per-case table by one metric.

    Args:
        table: the per-case table (see :func:`medselect.rank.score_matrix`).
        metric: the metric to rank by.
        direction: whether higher or lower is better; else looked up in ``directions``,
            which also serves ``metric:<name>`` tie-breaks.
        label: class or landmark name, ``mean`` or ``case``.
        aggregate: ``mean``, ``median``, ``trimmed[NN]``, ``p<NN>``, a key of ``aggregates``
            or an :class:`Aggregate`.
        statistics: bootstrap and test settings (default :class:`Statistics`).
        tie_break: criteria that choose among models indistinguishable from the best.
        model_info: per-model attributes indexed by model, for column tie-breaks.
        worst: value imputed for a missing one (per metric as a mapping); default the worst
            value observed.
        aggregates: custom named aggregates.
        set_metrics: metrics defined over sets of cases (AUC, ...), by name; ranked by one of
            them, ``aggregate`` is ignored (:mod:`medselect.rank.setmetric`).

    Raises:
        RankingError: the request cannot be answered; the message says what to change.
    """
    matrix = metric_matrix(table, metric, direction_of(metric, direction, directions),
                           label=label, worst=worst_for(metric, worst), set_metrics=set_metrics)
    secondary = secondary_matrices(table, tie_break, directions, label, worst, set_metrics)
    return rank_matrix(matrix, aggregate, statistics=statistics, tie_break=tie_break,
                       model_info=model_info, secondary=secondary, aggregates=aggregates)


def rank_matrix(
    matrix: ScoreMatrix,
    aggregate: str | Aggregate = "mean",
    *,
    statistics: Statistics | None = None,
    tie_break: Sequence[TieBreak | str] = (),
    model_info: pd.DataFrame | None = None,
    secondary: Mapping[str, ScoreMatrix] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
) -> Leaderboard:
    """:func:`leaderboard` on a prepared matrix (e.g. one site's cases: ``matrix.subset``).

    ``secondary`` holds the matrices of ``metric:<name>`` tie-breaks; they are aggregated on
    the cases of ``matrix`` that they share.
    """
    statistics = statistics or Statistics()
    requested = parse_aggregate(aggregate, aggregates)
    agg = aggregate_of(matrix, requested)
    notes = []
    if matrix.reduced_by is not None and statistics.test != PairedTest.BOOTSTRAP:
        statistics = replace(statistics, test=PairedTest.BOOTSTRAP)
        notes.append(f"{matrix.metric} has no per-case values, so models were compared with "
                     "the paired bootstrap test instead of a per-case test")
    truth = truth_values(matrix, agg)
    sign = 1.0 if matrix.direction == Direction.HIGHER else -1.0
    point = np.asarray(agg(matrix.values, truth), dtype=float)
    if np.isnan(point).all():
        raise RankingError(f"{matrix.metric} ({matrix.label}) is undefined on these "
                           f"{len(matrix.cases)} cases for every model (e.g. one class only); "
                           "rank on more cases or by another metric")
    oriented_point = np.where(np.isnan(point), -np.inf, sign * point)

    strata = matrix.strata(statistics.stratify)
    index = resample_index(len(matrix.cases), statistics.n_resamples, strata=strata,
                           seed=statistics.seed)
    samples = resampled_aggregates(matrix.values, agg, index, truth)
    low, high = percentile_interval(samples, statistics.confidence)
    stability = rank_stability(sign * samples, matrix.models, statistics.confidence)

    order = sorted(range(len(matrix.models)), key=lambda i: (-oriented_point[i],
                                                             matrix.models[i]))
    top, others = order[0], np.array(order[1:], dtype=np.intp)
    p_vs_top = np.full(len(matrix.models), np.nan)
    in_group = np.zeros(len(matrix.models), dtype=bool)
    in_group[top] = True
    if len(others):
        p, s = compare(matrix.oriented, np.full(len(others), top), others, statistics.test,
                       sign * samples)
        p_vs_top[others] = holm(p)
        in_group[others] = ~((p_vs_top[others] < statistics.alpha) & (s > 0))
    group = tuple(matrix.models[i] for i in order if in_group[i])
    decision = break_tie(
        group, {m: float(oriented_point[i]) for i, m in enumerate(matrix.models)}, tie_break,
        model_info=model_info,
        secondary=secondary_values(secondary or {}, matrix.cases, requested),
    )

    ranks = sps.rankdata(-oriented_point, method="min").astype(int)
    n_imputed = matrix.n_imputed
    rows = tuple(
        LeaderboardRow(
            model=matrix.models[i], rank=int(ranks[i]), aggregate=float(point[i]),
            ci_low=float(low[i]), ci_high=float(high[i]), n_cases=len(matrix.cases),
            n_imputed=int(n_imputed[i]), p_best=float(stability.p_best[i]),
            p_vs_best=None if i == top else float(p_vs_top[i]), in_best_group=bool(in_group[i]),
        )
        for i in order
    )
    caveat = interval_caveat(len(matrix.cases), strata)
    return Leaderboard(
        metric=matrix.metric, label=matrix.label, aggregate=agg.name,
        direction=matrix.direction, rows=rows, best=decision.winner, best_group=group,
        decided_by_tie_break=decision.decided_by_tie_break, reason=decision.reason,
        ci_reliable=caveat is None, ci_note=caveat, worst=matrix.worst, statistics=statistics,
        stratified_by=statistics.stratify if strata is not None else None,
        stability=stability, notes=(*notes, *_notes(matrix, statistics, strata)),
        matrix=matrix, samples=samples,
    )


def _notes(matrix: ScoreMatrix, statistics: Statistics, strata: np.ndarray | None):
    notes = []
    imputed = matrix.n_imputed
    if imputed.any():
        who = ", ".join(f"{m} {int(k)}" for m, k in zip(matrix.models, imputed, strict=True)
                        if k)
        notes.append(f"{int(imputed.sum())} missing values count as "
                     f"{_missing_text(matrix, matrix.worst)} ({who})")
    if statistics.stratify and strata is None:
        notes.append(f"the cases have no {statistics.stratify!r} attribute; the bootstrap "
                     "resampled them without strata")
    return tuple(notes)


def _missing_text(matrix: ScoreMatrix | None, worst: float) -> str:
    """What a missing value counts as: the worst value, or for a set metric's input a wrong
    answer."""
    if matrix is not None and matrix.reduced_by is not None:
        return "wrong answers"
    return _worst_text(worst)


def _worst_text(worst: float) -> str:
    if np.isfinite(worst):
        return f"the worst value, {worst:g}"
    return "the worst value of their metric"
