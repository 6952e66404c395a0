import json

import numpy as np
import pandas as pd
import pytest

from medselect.rank import (
    Preference,
    RankingError,
    Statistics,
    aggregate_then_rank,
    pareto_front,
    rank_preference,
    rank_then_aggregate,
    score_matrix,
)

FAST = Statistics(n_resamples=100)
DIRECTIONS = {"dice": "higher", "hd95": "lower"}


def test_single_metric_methods_disagree(table_of):
    """A wins 2 of 3 cases narrowly and fails c3; B is steady (the module docstring's table).
    Rank-then-aggregate: mean ranks A 4/3, B 5/3 -> A first.
    Aggregate-then-rank: means A 0.633, B 0.8 -> B first."""
    table = table_of({"A": [0.9, 0.9, 0.1], "B": [0.8, 0.8, 0.8]})
    m = score_matrix(table, "dice", "higher")
    per_case = rank_then_aggregate([m], [1.0])
    np.testing.assert_allclose(per_case.values.mean(axis=0), [4 / 3, 5 / 3])
    atr = aggregate_then_rank([m], [1.0])
    assert list(atr.index) == ["B", "A"]
    np.testing.assert_allclose(atr.loc[["A", "B"], "dice"], [1.9 / 3, 0.8])
    # a one-metric preference is the plain leaderboard: aggregate-then-rank
    ranking = rank_preference(table, Preference({"dice": 1}), DIRECTIONS, statistics=FAST)
    assert ranking.method == "aggregate" and ranking.leaderboard.rows[0].model == "B"


def test_two_metrics_disagree(table_of):
    """Add hd95 on which A and B tie. Weights 1:1.
    RTA: A (4/3 + 1.5) / 2 = 17/12, B (5/3 + 1.5) / 2 = 19/12 -> A first.
    ATR: dice ranks A 2, B 1; hd95 ranks 1.5 each -> A 1.75, B 1.25 -> B first."""
    table = pd.concat([table_of({"A": [0.9, 0.9, 0.1], "B": [0.8, 0.8, 0.8]}),
                       table_of({"A": [2.0, 2.0, 2.0], "B": [2.0, 2.0, 2.0]}, "hd95")])
    ranking = rank_preference(table, Preference({"dice": 1, "hd95": 1}), DIRECTIONS,
                              statistics=FAST)
    board = ranking.leaderboard
    assert ranking.method == "rank_then_aggregate" and board.metric == "weighted_rank"
    assert board.rows[0].model == "A"
    assert board.row("A").aggregate == pytest.approx(17 / 12)
    assert board.row("B").aggregate == pytest.approx(19 / 12)
    assert ranking.comparison.loc["A", "score"] == pytest.approx(1.75)
    assert ranking.comparison.loc["B", "score"] == pytest.approx(1.25)
    assert ranking.comparison.index[0] == "B" and ranking.methods_agree is False
    assert not board.ci_reliable  # three cases
    json.dumps(ranking.to_dict(), allow_nan=False)


def test_two_metrics_weighted_agree(table_of):
    """dice A .9 .7 / B .8 .8 / C .7 .9 and hd95 A 3 2 / B 2 1 / C 4 3; weights dice 2, hd95 1.
    Case ranks: c1 dice A1 B2 C3, hd95 B1 A2 C3; c2 dice C1 B2 A3, hd95 B1 A2 C3.
    RTA: c1 A 4/3, B 5/3, C 3; c2 A 8/3, B 5/3, C 5/3 -> means A 2, B 5/3, C 7/3.
    ATR: dice means tie (ranks 2, 2, 2), hd95 means A 2.5 B 1.5 C 3.5 -> A 2, B 5/3, C 7/3."""
    table = pd.concat([table_of({"A": [0.9, 0.7], "B": [0.8, 0.8], "C": [0.7, 0.9]}),
                       table_of({"A": [3.0, 2.0], "B": [2.0, 1.0], "C": [4.0, 3.0]}, "hd95")])
    ranking = rank_preference(table, Preference({"dice": 2, "hd95": 1}), DIRECTIONS,
                              statistics=FAST)
    board = ranking.leaderboard
    assert [r.model for r in board.rows] == ["B", "A", "C"]
    np.testing.assert_allclose([board.row(m).aggregate for m in "ABC"], [2, 5 / 3, 7 / 3])
    np.testing.assert_allclose(ranking.comparison.loc[list("ABC"), "score"], [2, 5 / 3, 7 / 3])
    assert ranking.methods_agree is True
    assert "atr_score" in ranking.to_frame().columns


def test_constraints_exclude_models(table_of):
    table = pd.concat([
        table_of({"A": [0.9, 0.9, 0.5, 0.9], "B": [0.85, 0.85, 0.85, 0.85],
                  "C": [0.95, 0.95, 0.95, 0.95]}),
        table_of({"A": [2.0, 2.0, 2.0, 2.0], "B": [3.0, 3.0, 3.0, 3.0],
                  "C": [9.0, 8.0, 7.0, 6.0]}, "hd95"),
    ])
    pref = Preference({"dice": 1}, constraints=("hd95 <= 5", "dice >= 0.8 on p10"))
    ranking = rank_preference(table, pref, DIRECTIONS, statistics=FAST)
    assert [r.model for r in ranking.leaderboard.rows] == ["B"]
    assert ranking.excluded["C"] == "hd95 mean = 7.5, needs <= 5"
    assert ranking.excluded["A"].startswith("dice p10 = 0.62, needs >= 0.8")
    with pytest.raises(RankingError, match=r"no model meets the constraints: .*C: hd95 mean"):
        rank_preference(table, Preference({"dice": 1}, constraints=("hd95 < 1",)), DIRECTIONS)


def test_pareto_front(table_of):
    """(dice, hd95): A (.9, 5), B (.8, 3), C (.7, 4) dominated by B, D (.9, 6) dominated by A."""
    oriented = pd.DataFrame({"dice": [0.9, 0.8, 0.7, 0.9], "hd95": [-5.0, -3.0, -4.0, -6.0]},
                            index=list("ABCD"))
    assert pareto_front(oriented) == ("A", "B")
    table = pd.concat([table_of({"A": [0.9], "B": [0.8], "C": [0.7], "D": [0.9]}),
                       table_of({"A": [5.0], "B": [3.0], "C": [4.0], "D": [6.0]}, "hd95")])
    ranking = rank_preference(table, Preference({"dice": 1}, pareto=("dice", "hd95")),
                              DIRECTIONS, statistics=FAST)
    assert ranking.pareto_front == ("A", "B")


def test_preference_validation():
    with pytest.raises(RankingError, match="at least one metric"):
        Preference({})
    with pytest.raises(RankingError, match="at least 2 metrics"):
        Preference({"dice": 1}, pareto=("dice",))
    with pytest.raises(RankingError, match="not of the form"):
        Preference({"dice": 1}, constraints=("hd95 five",))
    with pytest.raises(RankingError, match="must be positive"):
        Preference({"dice": 0})
    assert Preference({"dice": 1}, tie_break=("metric:hd95",)).needs() == [
        ("dice", "mean"), ("hd95", "mean")]
