"""Classification metrics, worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import medselect.metrics.classification as classification
from medselect.errors import DataError
from medselect.metrics import (
    CASE_LABEL,
    SET_METRICS,
    MetricValue,
    auc,
    balanced_accuracy,
    classification_case_metrics,
    expected_calibration_error,
    mean_recall,
    sensitivity_at_threshold,
    specificity_at_threshold,
)


@pytest.mark.parametrize(
    ("probabilities", "reference", "threshold", "expected"),
    [
        (0.7, 1, 0.5, (0.7, 1.0)),
        (0.7, 0, 0.5, (0.3, 0.0)),
        (0.7, 1, 0.8, (0.7, 0.0)),  # below the threshold: predicted 0
        ([0.2, 0.5, 0.3], 2, 0.5, (0.3, 0.0)),
        ([0.2, 0.5, 0.3], 1, 0.5, (0.5, 1.0)),
    ],
)
def test_case_metrics(probabilities, reference, threshold, expected):
    rows = classification_case_metrics(probabilities, reference, threshold=threshold)
    assert rows == [MetricValue("probability", CASE_LABEL, pytest.approx(expected[0])),
                    MetricValue("correct", CASE_LABEL, expected[1])]


def test_case_metrics_reject_bad_input():
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        classification_case_metrics(1.2, 1)
    with pytest.raises(DataError, match="reference class 3"):
        classification_case_metrics([0.5, 0.5], 3)


def test_auc_counts_pairs():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts half
    assert math.isnan(auc([1, 1], [0.2, 0.9]))


def test_balanced_accuracy_is_mean_recall():
    assert balanced_accuracy([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx((2 / 3 + 1) / 2)
    assert balanced_accuracy([0, 1, 2, 2], [0, 1, 2, 0]) == pytest.approx((1 + 1 + 0.5) / 3)


def test_sensitivity_and_specificity_at_threshold():
    labels, scores = [1, 1, 0, 0], [0.9, 0.4, 0.6, 0.2]
    assert sensitivity_at_threshold(labels, scores) == 0.5
    assert specificity_at_threshold(labels, scores) == 0.5
    assert sensitivity_at_threshold(labels, scores, threshold=0.3) == 1.0
    assert specificity_at_threshold(labels, scores, threshold=0.3) == 0.5
    assert math.isnan(specificity_at_threshold([1], [0.3]))


def test_expected_calibration_error_binary():
    # confidences 0.95, 0.95, 0.75, 0.65; correct T, F, T, T
    # bins: 0.95 (2 cases, accuracy 0.5) gap 0.45; 0.75 gap 0.25; 0.65 gap 0.35
    ece = expected_calibration_error([1, 0, 0, 1], [0.95, 0.95, 0.25, 0.65])
    assert ece == pytest.approx((2 * 0.45 + 0.25 + 0.35) / 4)


def test_expected_calibration_error_perfect():
    # P(1) = 0.6 on five cases, three of which are class 1: perfectly calibrated
    assert expected_calibration_error([1, 1, 1, 0, 0], [0.6] * 5) == pytest.approx(0.0)


def test_case_metrics_name_each_class_probability():
    rows = classification_case_metrics([0.2, 0.5, 0.3], 2, classes=("a", "b", "c"))
    assert rows[2:] == [MetricValue("class_probability", "a", 0.2),
                        MetricValue("class_probability", "b", 0.5),
                        MetricValue("class_probability", "c", 0.3)]
    with pytest.raises(DataError, match="3 class probabilities but 2 class names"):
        classification_case_metrics([0.2, 0.5, 0.3], 2, classes=("a", "b"))


def test_mean_recall_takes_correct_values_and_any_labels():
    # class "x": 1 of 2 right, class "y": 1 of 1 right
    assert mean_recall(["x", "x", "y"], [1, 0, 1]) == pytest.approx(0.75)
    assert math.isnan(mean_recall([], []))


def test_set_metrics_on_weighted_copies_equal_the_metric_on_resampled_cases():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 30)
    scores = np.round(rng.random((30, 4)), 1)  # 4 models, with ties
    index = rng.integers(0, 30, (6, 30))  # 6 bootstrap resamples
    index[5] = np.flatnonzero(truth == 1)[0]  # one resample of one case, one class only
    weights = np.stack([np.bincount(row, minlength=30) for row in index]).astype(float)
    predicted = (scores > 0.5).astype(int)
    correct = (predicted == truth[:, None]).astype(float)
    by_function = {"auc": auc, "sensitivity_at_threshold": sensitivity_at_threshold,
                   "specificity_at_threshold": specificity_at_threshold,
                   "ece": expected_calibration_error, "balanced_accuracy": balanced_accuracy}
    for name, function in by_function.items():
        values = correct if name == "balanced_accuracy" else scores
        weighted = SET_METRICS[name].reduce(truth, values, weights)
        assert weighted.shape == (6, 4)
        for r, rows in enumerate(index):
            for m in range(4):
                inputs = predicted[rows, m] if name == "balanced_accuracy" else scores[rows, m]
                expected = function(truth[rows], inputs)
                assert weighted[r, m] == pytest.approx(expected, nan_ok=True), (name, r, m)
    assert np.isnan(SET_METRICS["auc"].reduce(truth, scores, weights)[5]).all()
    assert SET_METRICS["balanced_accuracy"].one_vs_rest is False


def test_lengths_must_match():
    with pytest.raises(DataError, match="3 labels but 2 scores"):
        auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(DataError, match="labels 0 and 1"):
        auc([0, 2], [0.1, 0.2])


@pytest.mark.parametrize("whole", [True, False])
def test_weighted_auc_equals_the_weighted_count_of_pairs(monkeypatch, whole):
    """The sorted, sparse AUC of every model on every weighted copy equals counting each
    (positive, negative) pair at the product of their weights, ties at half: exactly for
    bootstrap counts (float32 sums), to rounding for any weights; in chunks of models too."""
    monkeypatch.setattr(classification, "_AUC_CHUNK_ELEMENTS", 200)
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 40)
    scores = np.round(rng.random((40, 7)), 1)  # many ties, within and across classes
    weights = rng.integers(0, 4, (9, 40)).astype(float) if whole else rng.random((9, 40))
    pos, neg = truth == 1, truth == 0
    wins = ((scores[pos][:, None, :] > scores[neg][None, :, :])
            + 0.5 * (scores[pos][:, None, :] == scores[neg][None, :, :]))  # (pos, neg, models)
    pairs = weights[:, pos][:, :, None, None] * weights[:, neg][:, None, :, None]
    expected = (pairs * wins).sum(axis=(1, 2)) / (weights[:, pos].sum(1)
                                                  * weights[:, neg].sum(1))[:, None]
    got = SET_METRICS["auc"].reduce(truth, scores, weights)
    if whole:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12)
