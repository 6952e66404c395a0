"""Ranking and selection on the per-case table: pandas in, result dataclasses out.

Layer 1: imports neither torch nor the store. Metric directions, equivalence margins, the set
metrics (AUC, ...: :mod:`~medselect.rank.setmetric`) and, optionally, the worst value of each
metric come from the caller; a metric without a given direction takes the metric catalogue's
(:mod:`medselect.metrics`, read when needed). The package itself is callable: ``medselect.rank
(table, "dice")`` is :func:`rank_cases`.

The unit of every inference is the patient (the per-case table's ``patient_id``): intervals
come from a cluster bootstrap of patients (:mod:`~medselect.rank.bootstrap`), tests compare
patients (:mod:`~medselect.rank.paired`), and "equivalent" means shown equivalent within a
margin, never "not shown different".

- :func:`leaderboard`: one metric, any aggregate, bootstrap intervals, paired tests against the
  best, rank stability, tie-break.
- :func:`rank_preference`: several weighted metrics, constraints, Pareto front.
- :func:`select`: the best model per site (or any case attribute), with evidence.
- :func:`rank_table`: all of it from the experiment file's ``ranking:`` section;
  :func:`rank_cases`: the same with the catalogue's directions and margins.
- :func:`bbc`: the figure of a model chosen on the cases that report it, bias-corrected.
"""

import sys
from types import ModuleType

from medselect.errors import RankingError
from medselect.rank.aggregate import (
    Aggregate,
    CaseFunction,
    Mean,
    Median,
    Percentile,
    TrimmedMean,
    parse_aggregate,
)
from medselect.rank.bbc import SelectionCorrected, bbc
from medselect.rank.bootstrap import (
    MIN_RELIABLE_PATIENTS,
    percentile_interval,
    resample_weights,
    resampled_aggregates,
    tail_pvalue,
)
from medselect.rank.clusters import Clusters
from medselect.rank.leaderboard import (
    Leaderboard,
    LeaderboardRow,
    Standing,
    Statistics,
    leaderboard,
    rank_matrix,
)
from medselect.rank.paired import (
    PairedTest,
    SignificanceMatrix,
    equivalence_pvalues,
    holm,
    significance_matrix,
    wilcoxon_pvalues,
)
from medselect.rank.preference import (
    Preference,
    PreferenceRanking,
    aggregate_then_rank,
    pareto_front,
    rank_preference,
    rank_then_aggregate,
)
from medselect.rank.report import (
    RankReport,
    preference_from_spec,
    rank_cases,
    rank_table,
    statistics_from_spec,
)
from medselect.rank.selection import Choice, Selection, select
from medselect.rank.setmetric import (
    SetMetricLike,
    SetMetrics,
    aggregate_of,
    metric_matrix,
    source_metrics,
)
from medselect.rank.stability import RankStability, rank_stability
from medselect.rank.table import AnalysisUnit, Direction, ScoreMatrix, score_matrix
from medselect.rank.tiebreak import TieDecision, break_tie

__all__ = [
    "MIN_RELIABLE_PATIENTS",
    "Aggregate",
    "AnalysisUnit",
    "CaseFunction",
    "Choice",
    "Clusters",
    "Direction",
    "Leaderboard",
    "LeaderboardRow",
    "Mean",
    "Median",
    "PairedTest",
    "Percentile",
    "Preference",
    "PreferenceRanking",
    "RankReport",
    "RankStability",
    "RankingError",
    "ScoreMatrix",
    "Selection",
    "SelectionCorrected",
    "SetMetricLike",
    "SetMetrics",
    "SignificanceMatrix",
    "Standing",
    "Statistics",
    "TieDecision",
    "TrimmedMean",
    "aggregate_of",
    "aggregate_then_rank",
    "bbc",
    "break_tie",
    "equivalence_pvalues",
    "holm",
    "leaderboard",
    "metric_matrix",
    "pareto_front",
    "parse_aggregate",
    "percentile_interval",
    "preference_from_spec",
    "rank_cases",
    "rank_matrix",
    "rank_preference",
    "rank_stability",
    "rank_table",
    "rank_then_aggregate",
    "resample_weights",
    "resampled_aggregates",
    "score_matrix",
    "select",
    "significance_matrix",
    "source_metrics",
    "statistics_from_spec",
    "tail_pvalue",
    "wilcoxon_pvalues",
]


class _CallablePackage(ModuleType):
    """``medselect.rank`` is this package, and calling it ranks a table (:func:`rank_cases`),
    so ``import medselect as ms; ms.rank(table, "dice")`` reads as it should."""

    def __call__(self, table, metric=None, **options):
        return rank_cases(table, metric, **options)


sys.modules[__name__].__class__ = _CallablePackage
