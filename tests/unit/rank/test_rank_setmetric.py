"""Set metrics (AUC, balanced accuracy, ...) through leaderboards, constraints and selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from medselect.errors import RankingError
from medselect.metrics import SET_METRICS, auc, directions
from medselect.rank import (
    Preference,
    Statistics,
    leaderboard,
    metric_matrix,
    rank_preference,
    select,
    source_metrics,
)
from medselect.rank.bootstrap import wilson_interval

FAST = Statistics(n_resamples=200, seed=0)


def classification_table(n_cases: int = 40, seed: int = 0) -> pd.DataFrame:
    """Three models on ``n_cases`` cases of two classes and two sites: 'sharp' separates the
    classes well, 'blunt' a little, 'coin' not at all."""
    rng = np.random.default_rng(seed)
    reference = np.where(np.arange(n_cases) % 2 == 0, "thinning", "normal")
    positive = reference == "thinning"
    scores = {
        "sharp": np.clip(np.where(positive, 0.8, 0.2) + rng.normal(0, 0.15, n_cases), 0, 1),
        "blunt": np.clip(np.where(positive, 0.6, 0.4) + rng.normal(0, 0.2, n_cases), 0, 1),
        "coin": rng.uniform(0, 1, n_cases),
    }
    rows = []
    for model, p in scores.items():
        for i in range(n_cases):
            attrs = {"site": f"site-{i % 4 // 2}", "reference": reference[i]}
            case = f"c{i:03d}"
            rows += [
                {"model": model, "case_id": case, "metric": "class_probability",
                 "label": "thinning", "value": p[i], **attrs},
                {"model": model, "case_id": case, "metric": "class_probability",
                 "label": "normal", "value": 1 - p[i], **attrs},
                {"model": model, "case_id": case, "metric": "correct", "label": "case",
                 "value": float((p[i] >= 0.5) == positive[i]), **attrs},
            ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return classification_table()


def test_auc_leaderboard_has_intervals_and_uses_the_bootstrap_test(table):
    board = leaderboard(table, "auc", directions=directions(table["metric"]), label="thinning",
                        statistics=FAST, set_metrics=SET_METRICS)
    assert [r.model for r in board.rows] == ["sharp", "blunt", "coin"]
    assert (board.metric, board.label, board.aggregate) == ("auc", "thinning", "auc")
    sharp = table[(table["model"] == "sharp") & (table["metric"] == "class_probability")
                  & (table["label"] == "thinning")]
    by_hand = auc((sharp["reference"] == "thinning").astype(int), sharp["value"])
    assert board.row("sharp").aggregate == pytest.approx(by_hand)
    for row in board.rows:
        assert row.ci_low <= row.aggregate <= row.ci_high
    assert board.statistics.test.value == "bootstrap"
    assert board.row("coin").p_vs_best < 0.05  # the coin is significantly worse
    asked = leaderboard(table, "auc", directions=directions(table["metric"]), label="thinning",
                        statistics=Statistics(n_resamples=200, test="wilcoxon"),
                        set_metrics=SET_METRICS)
    assert asked.statistics.test.value == "bootstrap"  # Wilcoxon has no per-case values here
    assert any("paired bootstrap" in note for note in asked.notes)


def test_requested_aggregate_does_not_apply_to_a_set_metric(table):
    by_median = leaderboard(table, "auc", "higher", label="thinning", aggregate="median",
                            statistics=FAST, set_metrics=SET_METRICS)
    by_mean = leaderboard(table, "auc", "higher", label="thinning", statistics=FAST,
                          set_metrics=SET_METRICS)
    assert by_median.row("sharp").aggregate == by_mean.row("sharp").aggregate


def test_one_vs_rest_needs_a_class_label(table):
    with pytest.raises(RankingError, match="one of: normal, thinning"):
        metric_matrix(table, "auc", "higher", set_metrics=SET_METRICS)


def test_balanced_accuracy_reads_correct_values_per_class(table):
    board = leaderboard(table, "balanced_accuracy", "higher", statistics=FAST,
                        set_metrics=SET_METRICS)
    assert board.label == "case"  # 'mean' stands for the case's one value
    rows = table[(table["model"] == "blunt") & (table["metric"] == "correct")]
    recall = rows.groupby("reference")["value"].mean()
    assert board.row("blunt").aggregate == pytest.approx(recall.mean())


def test_constraints_and_selection_read_set_metrics(table):
    preference = Preference({"auc": 1}, label="thinning", constraints=("auc >= 0.7",))
    ranking = rank_preference(table, preference, directions(table["metric"]),
                              statistics=FAST, set_metrics=SET_METRICS)
    assert set(ranking.excluded) == {"coin"}
    selection = select(table, preference, directions(table["metric"]), by="site",
                       statistics=FAST, set_metrics=SET_METRICS)
    assert [c.group for c in selection.choices] == ["site-0", "site-1"]
    assert all(c.model in {"sharp", "blunt"} for c in selection.choices)


def test_set_metrics_cannot_be_weighted_case_by_case(table):
    preference = Preference({"auc": 1, "ece": 1}, label="thinning")
    with pytest.raises(RankingError, match="auc, ece have no per-case values"):
        rank_preference(table, preference, directions(table["metric"]), statistics=FAST,
                        set_metrics=SET_METRICS)


def test_unknown_label_names_the_source(table):
    with pytest.raises(RankingError, match="computed from the per-case 'class_probability'"):
        metric_matrix(table, "auc", "higher", label="grade-3", set_metrics=SET_METRICS)


def test_source_metrics():
    assert source_metrics(["auc", "hd95", "ece"], SET_METRICS) == ["class_probability", "hd95"]


def two_models(n_cases: int, reference: np.ndarray, scores: dict) -> pd.DataFrame:
    return pd.DataFrame([
        {"model": model, "case_id": f"c{i:02d}", "metric": "class_probability", "label": "pos",
         "value": p[i], "site": "s", "reference": reference[i]}
        for model, p in scores.items() for i in range(n_cases)])


def test_a_missing_probability_counts_as_the_wrong_answer():
    # B has A's scores but failed on some negative cases: it must not gain from them
    rng = np.random.default_rng(1)
    reference = np.array(["neg"] * 30 + ["pos"] * 10)
    p = np.clip(0.5 + np.where(reference == "pos", 0.15, -0.15) + rng.normal(0, 0.25, 40),
                0.01, 0.99)
    failed = p.copy()
    failed[(reference == "neg") & (np.arange(40) % 3 == 0)] = np.nan
    table = two_models(40, reference, {"A": p, "B": failed})
    for metric in ("auc", "specificity_at_threshold", "ece"):
        board = leaderboard(table, metric, directions=directions(["class_probability"]),
                            label="pos", statistics=FAST, set_metrics=SET_METRICS)
        assert board.best == "A" and board.row("B").n_imputed == 10, metric
        assert board.to_dict()["missing_values"] == "count as wrong answers"


def test_resamples_where_the_metric_is_undefined_do_not_count_against_the_best():
    # 3 positives in 30 cases: some resamples draw none, and AUC is undefined there
    rng = np.random.default_rng(1)
    reference = np.array(["neg"] * 27 + ["pos"] * 3)
    scores = {"A": np.where(reference == "pos", 0.9, rng.uniform(0, 0.5, 30)),
              "B": np.where(reference == "pos", 0.3, rng.uniform(0, 0.9, 30))}
    board = leaderboard(two_models(30, reference, scores), "auc", "higher", label="pos",
                        statistics=Statistics(n_resamples=2000, seed=0), set_metrics=SET_METRICS)
    assert np.isnan(board.samples).all(axis=1).any()
    assert board.row("B").p_vs_best < 0.01 and board.best_group == ("A",)


def test_a_tie_break_metric_is_aggregated_by_the_requested_aggregate():
    # two similar models ranked by balanced accuracy (a set metric), tie-broken by the mean
    # probability of the true class, not by a balanced accuracy of the probabilities
    rng = np.random.default_rng(1)
    reference = np.array(["neg"] * 30 + ["pos"] * 10)
    rows = []
    for model in ("A", "B"):
        p = np.clip(np.where(reference == "pos", 0.6, 0.4) + rng.normal(0, 0.2, 40), 0.01, 0.99)
        p_true = np.where(reference == "pos", p, 1 - p)
        for i in range(40):
            common = {"model": model, "case_id": f"c{i:02d}", "label": "case", "site": "s",
                      "reference": reference[i]}
            rows += [{**common, "metric": "probability", "value": p_true[i]},
                     {**common, "metric": "correct", "value": float(p_true[i] >= 0.5)}]
    table = pd.DataFrame(rows)
    board = leaderboard(table, "balanced_accuracy", statistics=FAST,
                        directions=directions(["correct", "probability"]),
                        tie_break=["metric:probability"], set_metrics=SET_METRICS,
                        margin=0.5)
    means = table[table["metric"] == "probability"].groupby("model")["value"].mean()
    assert board.decided_by_tie_break and board.best == means.idxmax()
    assert f"A {means['A']:.3g}" in board.reason


def test_a_set_metric_undefined_for_every_model_is_not_ranked():
    reference = np.array(["neg"] * 10)
    table = two_models(10, reference, {"A": np.linspace(0, 1, 10), "B": np.ones(10) / 2})
    with pytest.raises(RankingError, match="undefined on these 10 cases for every model"):
        leaderboard(table, "auc", "higher", label="pos", statistics=FAST,
                    set_metrics=SET_METRICS)


def accepted_table(verdicts: dict[str, list[float]], patients: list[str]) -> pd.DataFrame:
    """Per-case ``accepted`` shares (NaN: not reviewed) of models on cases of ``patients``."""
    return pd.DataFrame([
        {"model": model, "case_id": f"c{i:02d}", "metric": "accepted", "label": "case",
         "value": v, "patient_id": patients[i], "site": "s"}
        for model, values in verdicts.items() for i, v in enumerate(values)])


def test_acceptance_has_a_wilson_interval_over_reviewed_patients_not_the_point():
    # "all": 10 of 10 reviewed accepted (a bootstrap would say [1, 1]); "most": 7 of 10,
    # "some": 3 of 4 patients reviewed (its 2 cases of patient p0 count as one patient)
    patients = ["p0", "p0", *(f"p{i}" for i in range(1, 10))]
    nan = float("nan")
    table = accepted_table({
        "all": [1.0] * 11, "most": [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1.0],
        "some": [1, 1, 0, 1, 1, nan, nan, nan, nan, nan, nan]}, patients)
    board = leaderboard(table, "acceptance", "higher", label="case", statistics=FAST,
                        set_metrics=SET_METRICS)
    ci = {r.model: (r.aggregate, r.ci_low, r.ci_high) for r in board.rows}
    exact = binomtest(10, 10).proportion_ci(confidence_level=0.95, method="wilson")
    assert ci["all"] == pytest.approx((1.0, exact.low, 1.0))  # 0.72 to 1, not 1 to 1
    assert ci["all"][1] < 0.75
    exact = binomtest(4, 4).proportion_ci(method="wilson")  # p0's two cases: one patient
    assert ci["some"][0] == pytest.approx(4 / 5)
    low, high = ci["some"][1:]
    assert low < exact.low < 4 / 5 < high <= 1  # 4/5 on 4 patients: wider than 4 of 4
    exact = binomtest(8, 10).proportion_ci(method="wilson")
    assert ci["most"][0] == pytest.approx(8 / 11)
    assert ci["most"][1] < 8 / 11 < ci["most"][2] and ci["most"][1] < exact.low


def test_wilson_interval_equals_scipys_where_the_count_is_whole():
    for k, n in ((0, 5), (3, 7), (12, 12), (40, 100)):
        exact = binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        low, high = wilson_interval(np.array([k / n]), np.array([n]), 0.9)[:, 0]
        assert (low, high) == pytest.approx((exact.low, exact.high))
    assert np.isnan(wilson_interval(np.array([0.5, np.nan]), np.array([0, 3]))).all()
