import numpy as np
import pytest
from scipy import stats

from medselect.rank import (
    CaseFunction,
    Mean,
    Median,
    Percentile,
    RankingError,
    Statistics,
    TrimmedMean,
    leaderboard,
    parse_aggregate,
)

VALUES = np.array([[0.5], [0.9], [0.7], [0.1], [0.8]])


@pytest.mark.parametrize(("name", "expected"), [
    ("mean", Mean()), ("MEDIAN", Median()), ("trimmed", TrimmedMean(0.1)),
    ("trimmed20", TrimmedMean(0.2)), ("p10", Percentile(10)), ("p2.5", Percentile(2.5)),
])
def test_parse_names(name, expected):
    assert parse_aggregate(name) == expected


@pytest.mark.parametrize(("name", "canonical"), [
    ("trimmed", "trimmed10"), ("trimmed10", "trimmed10"), ("trimmed25", "trimmed25"),
    ("p90", "p90"), ("MEDIAN", "median"),
])
def test_a_name_says_what_is_computed(name, canonical):
    """``trimmed10`` is never shown as a bare ``trimmed`` (which reads as any share)."""
    assert parse_aggregate(name).name == canonical


def test_values_by_hand():
    assert parse_aggregate("mean")(VALUES)[0] == pytest.approx(0.6)
    assert parse_aggregate("median")(VALUES)[0] == pytest.approx(0.7)
    # sorted 0.1 0.5 0.7 0.8 0.9; p25 sits at position 1 -> 0.5; p10 at 0.4 -> 0.1 + 0.4 * 0.4
    assert parse_aggregate("p25")(VALUES)[0] == pytest.approx(0.5)
    assert parse_aggregate("p10")(VALUES)[0] == pytest.approx(0.26)
    # 20 % cut at each end of 5 values drops 0.1 and 0.9
    assert parse_aggregate("trimmed20")(VALUES)[0] == pytest.approx((0.5 + 0.7 + 0.8) / 3)
    assert parse_aggregate("trimmed20")(VALUES)[0] == pytest.approx(stats.trim_mean(VALUES, 0.2))


def test_aggregates_keep_leading_axes():
    stacked = np.stack([VALUES, VALUES + 1])  # 2 resamples x 5 cases x 1 model
    np.testing.assert_allclose(parse_aggregate("median")(stacked), [[0.7], [1.7]])


def test_unknown_and_invalid_names():
    with pytest.raises(RankingError, match="did you mean 'median'"):
        parse_aggregate("medain")
    with pytest.raises(RankingError, match="between 0 and 100"):
        parse_aggregate("p150")
    with pytest.raises(RankingError, match="less than half"):
        parse_aggregate("trimmed60")


def share_above(values):
    return float(np.mean(values >= 0.8))


def auc(y_true, y_score):
    """Mann-Whitney AUC: the share of (positive, negative) pairs ordered right, ties half."""
    pos, neg = y_score[y_true == 1], y_score[y_true == 0]
    if not len(pos) or not len(neg):
        return np.nan
    diff = pos[:, None] - neg[None, :]
    return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def test_custom_aggregate_by_name_gets_bootstrap_ci(table_of):
    table = table_of({"a": [0.9, 0.85, 0.7, 0.95], "b": [0.9, 0.6, 0.7, 0.5]})
    custom = {"share": CaseFunction("share", share_above)}
    board = leaderboard(table, "dice", "higher", aggregate="share", aggregates=custom,
                        statistics=Statistics(n_resamples=200))
    assert board.aggregate == "share"
    assert [r.model for r in board.rows] == ["a", "b"]
    a = board.row("a")
    assert a.aggregate == pytest.approx(0.75)
    assert 0 <= a.ci_low <= a.aggregate <= a.ci_high <= 1


def test_aggregate_with_truth_from_a_case_attribute(table_of):
    # per-case predicted probability of the positive class; y_true is a case attribute
    table = table_of({"sharp": [0.9, 0.8, 0.3, 0.2, 0.7, 0.1],
                      "blunt": [0.6, 0.4, 0.5, 0.5, 0.4, 0.6]}, "score", label="case")
    table["y_true"] = table["case_id"].map(dict(zip(
        [f"c{i:03d}" for i in range(6)], [1, 1, 0, 0, 1, 0], strict=True)))
    aggregate = CaseFunction("auc", auc, truth="y_true")
    board = leaderboard(table, "score", "higher", label="case", aggregate=aggregate,
                        statistics=Statistics(n_resamples=100, test="bootstrap"))
    assert board.row("sharp").aggregate == pytest.approx(1.0)
    # blunt: positives 0.6 0.4 0.4 vs negatives 0.5 0.5 0.6 -> 2 wins, 1 tie of 9 -> 2.5/9
    assert board.row("blunt").aggregate == pytest.approx(2.5 / 9)
    assert board.best == "sharp"
    with pytest.raises(RankingError, match="needs the case attribute 'y_true'"):
        leaderboard(table.drop(columns="y_true"), "score", "higher", label="case",
                    aggregate=aggregate, statistics=Statistics(n_resamples=10))
