import subprocess
import sys

import medselect.rank as rank

PUBLIC = [
    "Aggregate", "AnalysisUnit", "CaseFunction", "Choice", "Clusters", "Direction",
    "Leaderboard", "LeaderboardRow", "MIN_RELIABLE_PATIENTS", "Mean", "Median", "PairedTest",
    "Percentile", "Preference", "PreferenceRanking", "RankReport", "RankStability",
    "RankingError", "ScoreMatrix", "Selection", "SelectionCorrected", "SetMetricLike",
    "SetMetrics", "SignificanceMatrix", "Standing", "Statistics", "TieDecision", "TrimmedMean",
    "aggregate_of", "aggregate_then_rank", "bbc", "break_tie", "equivalence_pvalues", "holm",
    "leaderboard", "metric_matrix", "pareto_front", "parse_aggregate", "percentile_interval",
    "preference_from_spec", "rank_cases", "rank_matrix", "rank_preference", "rank_stability",
    "rank_table",
    "rank_then_aggregate", "resample_weights", "resampled_aggregates", "score_matrix",
    "select", "significance_matrix", "source_metrics", "statistics_from_spec", "tail_pvalue",
    "wilcoxon_pvalues",
]


def test_public_api_is_pinned():
    assert sorted(rank.__all__) == sorted(PUBLIC)
    for name in rank.__all__:
        assert getattr(rank, name) is not None


def test_rank_imports_neither_torch_nor_store_nor_metrics():
    code = ("import sys, medselect.rank; "
            "print([m for m in sys.modules if m.split('.')[0] == 'torch' "
            "or m.startswith(('medselect.store', 'medselect.metrics'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
