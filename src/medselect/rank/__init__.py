"""Ranking and selection on the per-case table: pandas in, result dataclasses out.

Layer 1: imports neither torch, the store nor the metrics package; metric directions, the set
metrics (AUC, ...: :mod:`~medselect.rank.setmetric`) and, optionally, the worst value of each
metric come from the caller.

- :func:`leaderboard`: one metric, any aggregate, bootstrap intervals, paired tests against the
  best, rank stability, tie-break.
- :func:`rank_preference`: several weighted metrics, constraints, Pareto front.
- :func:`select`: the best model per site (or any case attribute), with evidence.
- :func:`rank_table`: all of it from the experiment file's ``ranking:`` section.
"""

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
from medselect.rank.bootstrap import (
    MIN_RELIABLE_CASES,
    percentile_interval,
    resample_index,
    resampled_aggregates,
)
from medselect.rank.leaderboard import (
    Leaderboard,
    LeaderboardRow,
    Statistics,
    leaderboard,
    rank_matrix,
)
from medselect.rank.paired import (
    PairedTest,
    SignificanceMatrix,
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
from medselect.rank.table import Direction, ScoreMatrix, score_matrix
from medselect.rank.tiebreak import TieDecision, break_tie

__all__ = [
    "MIN_RELIABLE_CASES",
    "Aggregate",
    "CaseFunction",
    "Choice",
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
    "SetMetricLike",
    "SetMetrics",
    "SignificanceMatrix",
    "Statistics",
    "TieDecision",
    "TrimmedMean",
    "aggregate_of",
    "aggregate_then_rank",
    "break_tie",
    "holm",
    "leaderboard",
    "metric_matrix",
    "pareto_front",
    "parse_aggregate",
    "percentile_interval",
    "preference_from_spec",
    "rank_matrix",
    "rank_preference",
    "rank_stability",
    "rank_table",
    "rank_then_aggregate",
    "resample_index",
    "resampled_aggregates",
    "score_matrix",
    "select",
    "significance_matrix",
    "source_metrics",
    "statistics_from_spec",
    "wilcoxon_pvalues",
]
