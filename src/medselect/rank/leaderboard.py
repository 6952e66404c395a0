"""The leaderboard: models ranked by one aggregate, with the evidence to trust the order.

For each model: its aggregate, a cluster-bootstrap confidence interval (patients resampled),
its rank, the numbers of cases, patients and imputed (missing) values, the probability that it
is the best, and its :class:`Standing` against the top model:

- ``worse``: significantly worse (paired test on patients, Holm-corrected over the
  comparisons with the top model);
- ``equivalent``: *shown* equivalent, the difference inside ``+/- margin`` by two one-sided
  tests (Holm-corrected), or ``tied`` (equal on every case);
- ``unresolved``: neither. Too few patients to separate the models is said as such, never
  painted as a tie: such a model is not in the best group.

The best group is the top model and those equivalent to it; only inside it does the user's
tie-break choose (``decided_by_tie_break`` and ``reason`` say so). Without a margin for the
metric no model can be shown equivalent, and the point estimate decides.

Example::

    board = leaderboard(table, "dice", "higher", aggregate="p10", tie_break=["fewer_parameters"],
                        model_info=info)
    print(board.to_frame()); json.dumps(board.to_dict())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats as sps

from medselect.errors import RankingError
from medselect.jsonsafe import json_number
from medselect.rank.aggregate import Aggregate, parse_aggregate, truth_values
from medselect.rank.bootstrap import (
    MIN_RELIABLE_PATIENTS,
    interval_caveat,
    logit_interval,
    patient_resampled_aggregates,
    percentile_interval,
    resample_counts,
    wilson_interval,
)
from medselect.rank.clusters import Clusters
from medselect.rank.paired import (
    PairedTest,
    SignificanceMatrix,
    compare,
    equivalence_pvalues,
    holm,
    significance_matrix,
)
from medselect.rank.setmetric import SetMetrics, aggregate_of, metric_matrix
from medselect.rank.stability import RankStability, rank_stability
from medselect.rank.table import AnalysisUnit, Direction, ScoreMatrix, direction_of, for_metric
from medselect.rank.tiebreak import TieBreak, break_tie, secondary_matrices, secondary_values

__all__ = ["Leaderboard", "LeaderboardRow", "Standing", "Statistics", "leaderboard",
           "rank_matrix"]


class Standing(StrEnum):
    """Where a model stands against the top model of a leaderboard."""

    BEST = "best"
    TIED = "tied"
    """Equal to the top model on every case."""
    EQUIVALENT = "equivalent"
    """Shown equivalent within the margin."""
    UNRESOLVED = "unresolved"
    """Neither shown worse nor shown equivalent: not enough evidence to separate them."""
    WORSE = "worse"
    """Significantly worse."""

    @property
    def in_best_group(self) -> bool:
        return self in (Standing.BEST, Standing.TIED, Standing.EQUIVALENT)


@dataclass(frozen=True)
class Statistics:
    """How sure a ranking must be: bootstrap size, confidence, significance level, seed.

    ``stratify`` names the case attribute the bootstrap resamples patients within (ignored,
    with a note, when the table has no such column). ``test`` compares each model with the
    top one: the paired cluster-bootstrap test (default: any aggregate, no floor on its
    p-values) or Wilcoxon on per-patient differences (whose exact p-values cannot go below
    2/2^n: with 6 patients no Holm-corrected comparison can reach 0.05). ``unit`` says what an
    aggregate weighs equally (:class:`~medselect.rank.table.AnalysisUnit`); patients are
    resampled either way.
    """

    n_resamples: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    seed: int | None = 0
    stratify: str | None = "site"
    test: PairedTest = PairedTest.BOOTSTRAP
    unit: AnalysisUnit = AnalysisUnit.CASE

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise RankingError(f"n_resamples must be at least 1, got {self.n_resamples}")
        for name in ("confidence", "alpha"):
            if not 0 < getattr(self, name) < 1:
                raise RankingError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name, enum in (("test", PairedTest), ("unit", AnalysisUnit)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                raise RankingError(f"unknown {name} {getattr(self, name)!r}; use one of: "
                                   f"{', '.join(enum)}") from None


@dataclass(frozen=True)
class LeaderboardRow:
    """One model's line. ``p_vs_best`` is the Holm-adjusted p-value of the paired test
    against the top model, ``p_equivalent`` that of the equivalence test (None for the top
    model itself; NaN without a margin)."""

    model: str
    rank: int
    aggregate: float
    ci_low: float
    ci_high: float
    n_cases: int
    n_patients: int
    n_imputed: int
    p_best: float
    p_vs_best: float | None
    p_equivalent: float | None
    standing: Standing

    @property
    def in_best_group(self) -> bool:
        return self.standing.in_best_group


@dataclass(frozen=True, eq=False)
class Leaderboard:
    """Models ranked by one aggregate of one metric and label (rank 1 = best).

    ``best`` is the chosen model: the top one, or the tie-break's choice within ``best_group``
    when several models are shown equivalent (then ``decided_by_tie_break`` is True).
    ``unresolved`` lists the models the data could not separate from the top one.
    ``margin`` is the equivalence margin in the metric's unit (None: none was given).
    ``ci_reliable`` is False, with the reason in ``ci_note``, when there are too few patients
    for an interval to mean much. ``worst`` is the value imputed for missing ones (NaN for a
    weighted rank, whose metrics imputed their own). ``matrix``, ``clusters`` and ``samples``
    (resampled aggregates, n_resamples x n_models) are the data behind the figures; they are
    not part of :meth:`to_dict`.
    """

    metric: str
    label: str
    aggregate: str
    direction: Direction
    rows: tuple[LeaderboardRow, ...]
    best: str
    best_group: tuple[str, ...]
    unresolved: tuple[str, ...]
    decided_by_tie_break: bool
    reason: str
    margin: float | None
    ci_reliable: bool
    ci_note: str | None
    worst: float
    statistics: Statistics
    stratified_by: str | None
    stability: RankStability
    patients_assumed: bool = False
    notes: tuple[str, ...] = ()
    matrix: ScoreMatrix | None = field(default=None, repr=False)
    clusters: Clusters | None = field(default=None, repr=False)
    samples: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_cases(self) -> int:
        return self.rows[0].n_cases

    @property
    def n_patients(self) -> int:
        return self.rows[0].n_patients

    @property
    def weighting(self) -> str:
        """What the aggregate weighs equally, in words."""
        if self.statistics.unit == AnalysisUnit.PATIENT and self.matrix.reduced_by is None:
            return "each patient counts once (its cases averaged first)"
        return "each case counts once (a patient with more cases weighs more)"

    @property
    def missing_values(self) -> str:
        """What a missing value counts as, in words."""
        return _missing_text(self.matrix, self.worst)

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
        return significance_matrix(self.matrix.oriented, self.matrix.models,
                                   alpha=self.statistics.alpha, test=self.statistics.test,
                                   resampled=self.resampled, clusters=self.clusters)

    @property
    def resampled(self) -> tuple[np.ndarray, np.ndarray]:
        """Every model's aggregate and its bootstrap resamples, signed so that higher is
        better, in the matrix's model order (what paired bootstrap tests read)."""
        sign = 1.0 if self.direction == Direction.HIGHER else -1.0
        point = {r.model: r.aggregate for r in self.rows}
        return sign * np.array([point[m] for m in self.matrix.models]), sign * self.samples

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
            "n_patients": self.n_patients, "patients_assumed": self.patients_assumed,
            "weighting": self.weighting,
            "best": self.best, "best_group": list(self.best_group),
            "unresolved": list(self.unresolved), "margin": self.margin,
            "decided_by_tie_break": self.decided_by_tie_break, "reason": self.reason,
            "ci_reliable": self.ci_reliable, "ci_note": self.ci_note,
            "missing_values": self.missing_values,
            "statistics": {**asdict(self.statistics), "test": self.statistics.test.value,
                           "unit": self.statistics.unit.value},
            "stratified_by": self.stratified_by, "notes": list(self.notes),
            "rows": [_row_dict(r) for r in self.rows],
            "stability": self.stability.to_dict(),
        }


def _row_dict(row: LeaderboardRow) -> dict:
    out = {k: json_number(v) for k, v in asdict(row).items()}
    out["standing"] = row.standing.value
    out["in_best_group"] = row.in_best_group
    return out


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
    margin: float | Mapping[str, float] | None = None,
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
        margin: the equivalence margin in the metric's unit (per metric as a mapping): two
            models whose aggregates are shown to differ by less are equivalent. None: no
            model can be shown equivalent to the top one.

    Raises:
        RankingError: the request cannot be answered; the message says what to change.
    """
    matrix = metric_matrix(table, metric, direction_of(metric, direction, directions),
                           label=label, worst=for_metric(metric, worst), set_metrics=set_metrics)
    secondary = secondary_matrices(table, tie_break, directions, label, worst, set_metrics)
    return rank_matrix(matrix, aggregate, statistics=statistics, tie_break=tie_break,
                       model_info=model_info, secondary=secondary, aggregates=aggregates,
                       margin=for_metric(metric, margin))


def rank_matrix(
    matrix: ScoreMatrix,
    aggregate: str | Aggregate = "mean",
    *,
    statistics: Statistics | None = None,
    tie_break: Sequence[TieBreak | str] = (),
    model_info: pd.DataFrame | None = None,
    secondary: Mapping[str, ScoreMatrix] | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
    margin: float | None = None,
) -> Leaderboard:
    """:func:`leaderboard` on a prepared matrix (e.g. one site's cases: ``matrix.subset``).

    ``secondary`` holds the matrices of ``metric:<name>`` tie-breaks; they are aggregated on
    the cases of ``matrix`` that they share. ``margin`` is the equivalence margin.
    """
    statistics = statistics or Statistics()
    requested = parse_aggregate(aggregate, aggregates)
    notes = []
    if statistics.unit == AnalysisUnit.PATIENT:
        if matrix.reduced_by is None:
            matrix = matrix.per_patient()
        else:
            notes.append(f"{matrix.metric} is computed over cases, so it weighs each case "
                         "once whatever the unit; patients are still what is resampled")
    agg = aggregate_of(matrix, requested)
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
    undefined = [m for m, v in zip(matrix.models, point, strict=True) if np.isnan(v)]
    if undefined:
        why = (" (none of its cases has a value)" if len(undefined) == 1 else
               " (none of their cases has a value)") if getattr(
            matrix.reduced_by, "skips_missing", False) else ""
        notes.append(f"{matrix.metric} is undefined for {', '.join(undefined)} on these "
                     f"cases{why}: ranked last, without an interval")
    oriented_point = np.where(np.isnan(point), -np.inf, sign * point)

    clusters = matrix.clusters(statistics.stratify)
    counts = resample_counts(clusters, statistics.n_resamples, seed=statistics.seed)
    samples = patient_resampled_aggregates(matrix.values, agg, counts, clusters, truth)
    if getattr(matrix.reduced_by, "proportion", False):
        low, high = wilson_interval(point, _patients_with_input(matrix, clusters),
                                    statistics.confidence)
    elif getattr(matrix.reduced_by, "bounded", False):
        low, high = logit_interval(point, samples, statistics.confidence, clusters)
    else:
        low, high = percentile_interval(samples, statistics.confidence, clusters)
    stability = rank_stability(sign * samples, matrix.models, statistics.confidence)

    order = sorted(range(len(matrix.models)), key=lambda i: (-oriented_point[i],
                                                             matrix.models[i]))
    top = order[0]
    standing, p_worse, p_equivalent = _standings(matrix, order, (sign * point, sign * samples),
                                                 clusters, statistics, margin)
    group = tuple(matrix.models[i] for i in order if standing[i].in_best_group)
    unresolved = tuple(matrix.models[i] for i in order if standing[i] == Standing.UNRESOLVED)
    decision = break_tie(
        group, {m: float(oriented_point[i]) for i, m in enumerate(matrix.models)}, tie_break,
        model_info=model_info,
        secondary=secondary_values(secondary or {}, matrix.cases, requested),
        why=_group_text(group, standing, matrix, margin),
    )

    ranks = sps.rankdata(-oriented_point, method="min").astype(int)
    n_imputed = matrix.n_imputed
    rows = tuple(
        LeaderboardRow(
            model=matrix.models[i], rank=int(ranks[i]), aggregate=float(point[i]),
            ci_low=float(low[i]), ci_high=float(high[i]), n_cases=len(matrix.cases),
            n_patients=clusters.n_patients, n_imputed=int(n_imputed[i]),
            p_best=float(stability.p_best[i]),
            p_vs_best=None if i == top else float(p_worse[i]),
            p_equivalent=None if i == top or margin is None else float(p_equivalent[i]),
            standing=standing[i],
        )
        for i in order
    )
    caveat = "; ".join(filter(None, [interval_caveat(clusters),
                                     _class_caveat(matrix, clusters, truth)])) or None
    reason = decision.reason
    if unresolved:
        reason += (f"; not enough evidence to separate {', '.join(unresolved)} from "
                   f"{matrix.models[top]}: neither shown worse nor shown equivalent"
                   + (f" within +/-{margin:g}" if margin is not None else
                      " (no equivalence margin was given)"))
    return Leaderboard(
        metric=matrix.metric, label=matrix.label, aggregate=agg.name,
        direction=matrix.direction, rows=rows, best=decision.winner, best_group=group,
        unresolved=unresolved, decided_by_tie_break=decision.decided_by_tie_break,
        reason=reason, margin=margin, ci_reliable=caveat is None, ci_note=caveat,
        worst=matrix.worst, statistics=statistics,
        stratified_by=(statistics.stratify if matrix.strata(statistics.stratify) is not None
                       and clusters.unstratified_because is None else None),
        stability=stability, patients_assumed=clusters.assumed,
        notes=(*notes, *_notes(matrix, statistics, clusters)),
        matrix=matrix, clusters=clusters, samples=samples,
    )


def _patients_with_input(matrix: ScoreMatrix, clusters: Clusters) -> np.ndarray:
    """Per model, the patients with at least one input value (a reviewed prediction): the
    units a proportion over them rests on."""
    return (clusters.patient_means((~np.isnan(matrix.values)).astype(float)) > 0).sum(axis=0)


def _standings(matrix: ScoreMatrix, order: list[int], resampled: tuple[np.ndarray, np.ndarray],
               clusters: Clusters, statistics: Statistics, margin: float | None):
    """Each model's :class:`Standing` against the top one, with the Holm-adjusted p-values of
    "worse" and of "equivalent" (``resampled``: the aggregates and their resamples, oriented
    higher-better)."""
    n = len(matrix.models)
    top, others = order[0], np.array(order[1:], dtype=np.intp)
    standing = [Standing.BEST] * n
    p_worse, p_equivalent = np.full(n, np.nan), np.full(n, np.nan)
    if not len(others):
        return standing, p_worse, p_equivalent
    tops = np.full(len(others), top)
    p, s = compare(matrix.oriented, tops, others, statistics.test, resampled, clusters)
    p_worse[others] = holm(p)
    if margin is not None:
        p_equivalent[others] = holm(equivalence_pvalues(*resampled, tops, others, margin,
                                                        clusters))
    tied = (matrix.values[:, others] == matrix.values[:, [top]]).all(axis=0)
    for k, i in enumerate(others):
        if tied[k]:
            standing[i] = Standing.TIED
        elif p_equivalent[i] < statistics.alpha:
            standing[i] = Standing.EQUIVALENT
        elif p_worse[i] < statistics.alpha and s[k] > 0:
            standing[i] = Standing.WORSE
        else:
            standing[i] = Standing.UNRESOLVED
    return standing, p_worse, p_equivalent


def _class_caveat(matrix: ScoreMatrix, clusters: Clusters, truth: np.ndarray | None
                  ) -> str | None:
    """For a one-vs-rest set metric (an AUC), the patients of each side: its interval rests on
    the smaller side."""
    if truth is None or not getattr(matrix.reduced_by, "one_vs_rest", False):
        return None
    positive = len(np.unique(clusters.of_case[np.asarray(truth) == 1]))
    negative = len(np.unique(clusters.of_case[np.asarray(truth) != 1]))
    if min(positive, negative) >= MIN_RELIABLE_PATIENTS:
        return None
    return (f"{matrix.metric} of {matrix.label!r} rests on {positive} patients of that class "
            f"and {negative} others; an interval needs at least {MIN_RELIABLE_PATIENTS} of each "
            "to say much")


def _group_text(group: tuple[str, ...], standing: list[Standing], matrix: ScoreMatrix,
                margin: float | None) -> str | None:
    """What makes the best group one, in words (for the tie-break's reason)."""
    kinds = {standing[matrix.models.index(m)] for m in group[1:]}
    if not kinds:
        return None
    if kinds == {Standing.TIED}:
        return f"{len(group)} models are tied exactly on every case ({', '.join(group)})"
    return (f"{len(group)} models are shown equivalent to the best within +/-{margin:g} "
            f"({', '.join(group)})")


def _notes(matrix: ScoreMatrix, statistics: Statistics, clusters: Clusters):
    notes = []
    imputed = matrix.n_imputed
    if imputed.any():
        who = ", ".join(f"{m} {int(k)}" for m, k in zip(matrix.models, imputed, strict=True)
                        if k)
        notes.append(f"{int(imputed.sum())} missing values "
                     f"{_missing_text(matrix, matrix.worst)} ({who})")
    if statistics.stratify and matrix.strata(statistics.stratify) is None:
        notes.append(f"the cases have no {statistics.stratify!r} attribute; the bootstrap "
                     "resampled patients without strata")
    if clusters.assumed:
        notes.append("no two cases share a patient id, so each case counts as its own "
                     "patient; if slices or visits of one patient are among them, give "
                     "patient ids when importing the data")
    return tuple(notes)


def _missing_text(matrix: ScoreMatrix | None, worst: float) -> str:
    """What happens to a missing value: it counts as the worst value, or for a set metric's
    input as a wrong answer, or is left out when the set metric skips missing inputs."""
    if matrix is not None and matrix.reduced_by is not None:
        if getattr(matrix.reduced_by, "skips_missing", False):
            return "are left out (each model is judged on the cases it has a value for)"
        return "count as wrong answers"
    return f"count as {_worst_text(worst)}"


def _worst_text(worst: float) -> str:
    if np.isfinite(worst):
        return f"the worst value, {worst:g}"
    return "the worst value of their metric"
