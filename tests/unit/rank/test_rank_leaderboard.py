import json

import numpy as np
import pandas as pd
import pytest

from medselect.rank import RankingError, Statistics, leaderboard

FAST = Statistics(n_resamples=200)


def as_json(result) -> str:
    return json.dumps(result.to_dict(), allow_nan=False)


def test_ranks_intervals_and_best_group(noisy_table):
    board = leaderboard(noisy_table, "dice", "higher", statistics=FAST)
    assert [r.model for r in board.rows] == ["good", "fair", "poor"]
    assert [r.rank for r in board.rows] == [1, 2, 3]
    for r in board.rows:
        assert r.ci_low <= r.aggregate <= r.ci_high and r.n_cases == 60
    assert board.best == "good" and board.best_group == ("good",)
    assert not board.decided_by_tie_break
    assert board.rows[0].p_vs_best is None and board.rows[1].p_vs_best < 0.05
    assert board.stratified_by == "site" and board.ci_reliable
    assert board.rows[0].p_best == pytest.approx(1.0)
    assert board.to_frame().loc["good", "chosen"]
    as_json(board)


def test_lower_is_better(table_of):
    table = table_of({"near": [1.0, 2.0, 1.5, 1.0], "far": [4.0, 6.0, 5.0, 5.5]}, "hd95")
    board = leaderboard(table, "hd95", directions={"hd95": "lower"}, statistics=FAST)
    assert board.best == "near"
    assert board.row("far").ci_low <= board.row("far").ci_high


def test_missing_predictions_rank_as_worst(table_of):
    # "gappy" is best where it predicted but missed 2 of 6 cases
    table = table_of({"gappy": [0.95, 0.95, 0.95, 0.95, np.nan, np.nan],
                      "steady": [0.8, 0.8, 0.8, 0.8, 0.8, 0.8]})
    board = leaderboard(table, "dice", "higher", statistics=FAST, worst=0.0)
    assert board.best == "steady"
    gappy = board.row("gappy")
    assert gappy.n_imputed == 2 and gappy.aggregate == pytest.approx(0.95 * 4 / 6)
    assert board.notes[0] == "2 missing values count as the worst value, 0 (gappy 2)"
    assert board.to_dict()["missing_values"] == "count as the worst value, 0"
    # without an explicit worst, the worst observed value (0.8) is imputed
    assert leaderboard(table, "dice", "higher", statistics=FAST).row("gappy").aggregate == \
        pytest.approx((0.95 * 4 + 0.8 * 2) / 6)


def test_one_model(table_of):
    board = leaderboard(table_of({"only": [0.7, 0.8, 0.9]}), "dice", "higher", statistics=FAST)
    assert board.best == "only" and board.best_group == ("only",)
    row = board.rows[0]
    assert row.rank == 1 and row.p_best == 1.0 and row.p_vs_best is None
    as_json(board)


def test_one_case_is_flagged_unreliable(table_of):
    board = leaderboard(table_of({"a": [0.9], "b": [0.7]}), "dice", "higher", statistics=FAST)
    assert board.best == "a"
    assert not board.ci_reliable and "only 1 patient" in board.ci_note
    assert np.isnan(board.row("a").ci_low)  # one patient: no interval at all
    # one case proves nothing either way: b is neither worse nor equivalent
    assert board.best_group == ("a",) and board.unresolved == ("b",)
    assert "not enough evidence to separate b from a" in board.reason
    as_json(board)


def test_all_ties(table_of):
    board = leaderboard(table_of({m: [0.5, 0.6, 0.7] for m in "cab"}), "dice", "higher",
                        statistics=FAST)
    assert [r.rank for r in board.rows] == [1, 1, 1]
    assert board.best_group == ("a", "b", "c") and board.best == "a"
    assert not board.decided_by_tie_break
    assert "no tie-break was given" in board.reason
    np.testing.assert_allclose([r.p_best for r in board.rows], [1 / 3] * 3)
    assert all(r.p_vs_best in (None, 1.0) for r in board.rows)


def test_nan_values_are_counted_and_json_stays_valid(table_of):
    table = table_of({"a": [0.9, np.nan, 0.8, 0.85], "b": [np.nan, np.nan, 0.6, 0.7]})
    board = leaderboard(table, "dice", "higher", statistics=FAST)
    assert board.row("b").n_imputed == 2 and board.row("a").n_imputed == 1
    as_json(board)


def test_tie_break_decides_among_indistinguishable(noisy_table, table_of):
    twin = noisy_table[noisy_table["model"] == "good"].assign(model="twin")
    table = pd.concat([noisy_table, twin])
    info = pd.DataFrame({"parameters": [1.576e6, 1e6, 9e6, 2e6]},
                        index=["good", "twin", "poor", "fair"])
    board = leaderboard(table, "dice", "higher", statistics=FAST,
                        tie_break=["fewer_parameters"], model_info=info)
    assert board.best_group == ("good", "twin")
    assert board.best == "twin" and board.decided_by_tie_break
    assert ("tie-break decided: fewer_parameters kept twin (good 1.58 M parameters, twin 1 M "
            "parameters)") in board.reason
    with pytest.raises(RankingError, match="needs a 'inference_seconds' column"):
        leaderboard(table, "dice", "higher", statistics=FAST,
                    tie_break=["faster_inference"], model_info=info)


def test_a_model_without_the_tie_break_value_is_unknown_not_nan(noisy_table):
    """An external model has no parameter count: the sentence says so (it used to say nan)."""
    twin = noisy_table[noisy_table["model"] == "good"].assign(model="external:twin")
    info = pd.DataFrame({"parameters": [2.5e4]}, index=["good"])
    board = leaderboard(pd.concat([noisy_table, twin]), "dice", "higher", statistics=FAST,
                        tie_break=["fewer_parameters"], model_info=info)
    assert board.best == "good"
    assert "(external:twin unknown, good 25 k parameters)" in board.reason
    assert "nan" not in board.reason


def test_secondary_metric_tie_break(table_of):
    dice = table_of({"a": [0.8, 0.9, 0.7], "b": [0.8, 0.9, 0.7]})
    hd95 = table_of({"a": [3.0, 4.0, 5.0], "b": [2.0, 2.0, 2.0]}, "hd95")
    board = leaderboard(pd.concat([dice, hd95]), "dice", directions={"dice": "higher",
                        "hd95": "lower"}, tie_break=["metric:hd95"], statistics=FAST)
    assert board.best == "b" and board.decided_by_tie_break
    assert "metric:hd95 kept b (a 4, b 2)" in board.reason


def test_request_errors(noisy_table):
    assert leaderboard(noisy_table, "dice", statistics=FAST).direction.value == "higher"
    with pytest.raises(RankingError, match="no direction for metric 'sharpness'"):
        leaderboard(noisy_table.assign(metric="sharpness"), "sharpness")  # not in the catalogue
    with pytest.raises(RankingError, match="unknown aggregate 'p'"):
        leaderboard(noisy_table, "dice", "higher", aggregate="p")
    with pytest.raises(RankingError, match="unknown tie-break 'smaller'"):
        leaderboard(noisy_table, "dice", "higher", tie_break=["smaller"], statistics=FAST)
    with pytest.raises(RankingError, match="confidence must be between 0 and 1"):
        Statistics(confidence=95)
    with pytest.raises(RankingError, match="unknown test 'ttest'"):
        Statistics(test="ttest")


def test_percentile_aggregate_and_seed_reproducibility(noisy_table):
    a = leaderboard(noisy_table, "dice", "higher", aggregate="p10", statistics=FAST)
    b = leaderboard(noisy_table, "dice", "higher", aggregate="p10", statistics=FAST)
    assert a.aggregate == "p10"
    assert a.row("good").aggregate == pytest.approx(
        np.percentile(noisy_table.query("model == 'good'")["value"], 10))
    assert a.rows == b.rows


def test_without_site_attribute_a_note_says_so(table_of):
    board = leaderboard(table_of({"a": [0.1] * 12, "b": [0.2] * 12}), "dice", "higher",
                        statistics=FAST)
    assert board.stratified_by is None
    assert any("no 'site' attribute" in n for n in board.notes)


@pytest.mark.parametrize("aggregate", ["mean", "median", "p10"])
def test_unit_patient_weighs_each_patient_once(aggregate):
    rng = np.random.default_rng(3)
    per_patient = {m: rng.normal(0.8, 0.05, 12) for m in ("a", "b")}

    def table(slices: list[int]) -> pd.DataFrame:
        return pd.DataFrame([
            {"model": m, "case_id": f"p{p}-s{s}", "patient_id": f"p{p}", "metric": "dice",
             "label": "mean", "value": v[p], "site": "x"}
            for m, v in per_patient.items() for p in range(12) for s in range(slices[p])])

    by_patient = Statistics(n_resamples=300, unit="patient")
    one = leaderboard(table([1] * 12), "dice", "higher", aggregate=aggregate,
                      statistics=by_patient)
    uneven = leaderboard(table([1, 8] * 6), "dice", "higher", aggregate=aggregate,
                         statistics=by_patient)
    for model in per_patient:
        assert uneven.row(model).aggregate == pytest.approx(one.row(model).aggregate)
        assert uneven.row(model).ci_low == pytest.approx(one.row(model).ci_low)
    assert uneven.n_patients == 12 and "each patient counts once" in uneven.weighting
    # by case, the patients with 8 slices weigh 8 times as much
    by_case = leaderboard(table([1, 8] * 6), "dice", "higher", aggregate="mean",
                          statistics=Statistics(n_resamples=300))
    weights = np.array([1, 8] * 6)
    assert by_case.row("a").aggregate == pytest.approx(np.average(per_patient["a"],
                                                                  weights=weights))
    assert by_case.row("a").n_cases == 54 and by_case.row("a").n_patients == 12
