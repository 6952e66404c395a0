"""Set metrics (AUC, balanced accuracy, ...) through leaderboards, constraints and selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
    assert any("paired bootstrap" in note for note in board.notes)
    assert board.row("coin").p_vs_best < 0.05  # the coin is significantly worse


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
