"""Classification metrics: per-case probability and correctness, and the aggregates over cases.

The per-case values go into the per-case table; the aggregates (AUC, balanced accuracy,
sensitivity and specificity at a threshold, expected calibration error) need many cases and
are called by ranking on arrays of per-case values, e.g. on bootstrap resamples. An aggregate
that is undefined on its input (AUC with one class only) is NaN rather than an error, so a
resample can be skipped.

Binary models give one score per case, ``P(class 1)``; multi-class models a probability vector.
From the per-case ``probability`` (of the reference class) and the case's reference class,
``P(class 1)`` is ``probability`` for positive cases and ``1 - probability`` for negative ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from medselect.errors import DataError
from medselect.metrics.spec import Direction, Family, MetricSpec, Unit
from medselect.metrics.values import CASE_LABEL, MetricValue


def _spec(name: str, definition: str, per_case: bool = False,
          direction: Direction = Direction.HIGHER) -> MetricSpec:
    return MetricSpec(name, Family.CLASSIFICATION, direction, Unit.NONE, definition,
                      per_case=per_case)


PROBABILITY = _spec("probability", "The probability the model gives to the case's reference "
                    "class, in [0, 1]; for a binary model with one score p = P(class 1), p for a "
                    "positive case and 1 - p for a negative one.", per_case=True)
CORRECT = _spec("correct", "1 if the predicted class equals the reference class, else 0; the "
                "predicted class is the most probable one, or for one binary score p, class 1 "
                "when p ≥ the threshold (0.5 by default). Its mean over cases is the accuracy.",
                per_case=True)
AUC = _spec("auc", "Area under the ROC curve of binary scores P(class 1): the probability that a "
            "random positive case scores higher than a random negative one, ties counting "
            "half. NaN when the cases hold one class only.")
BALANCED_ACCURACY = _spec("balanced_accuracy", "Mean over the reference classes present of the "
                          "fraction of their cases predicted as that class (mean recall).")
SENSITIVITY_AT_THRESHOLD = _spec("sensitivity_at_threshold", "Fraction of positive cases whose "
                                 "score P(class 1) is ≥ the threshold. NaN without positives.")
SPECIFICITY_AT_THRESHOLD = _spec("specificity_at_threshold", "Fraction of negative cases whose "
                                 "score P(class 1) is < the threshold. NaN without negatives.")
ECE = _spec("ece", "Expected calibration error (top-label): cases are put in equal-width bins of "
            "confidence (the probability of the predicted class; 10 bins on [0, 1]); the mean "
            "over bins, weighted by their share of cases, of |accuracy - mean confidence|.",
            direction=Direction.LOWER)

SPECS: tuple[MetricSpec, ...] = (
    PROBABILITY, CORRECT, AUC, BALANCED_ACCURACY, SENSITIVITY_AT_THRESHOLD,
    SPECIFICITY_AT_THRESHOLD, ECE,
)


def classification_case_metrics(
    probabilities: float | Sequence[float] | np.ndarray, reference: int, *, threshold: float = 0.5
) -> list[MetricValue]:
    """The per-case ``probability`` and ``correct`` rows of one case.

    Args:
        probabilities: one binary score P(class 1), or one probability per class.
        reference: the case's reference class index.
        threshold: decision threshold of a single binary score.

    Raises:
        DataError: probabilities outside [0, 1] or a reference class the model does not have.
    """
    p = _probability_matrix(np.atleast_1d(np.asarray(probabilities, dtype=float)).ravel()[None])[0]
    if not 0 <= reference < p.size:
        raise DataError(f"reference class {reference} is not one of the model's {p.size} "
                        f"classes (0..{p.size - 1})")
    single_score = np.ndim(probabilities) == 0 or np.size(probabilities) == 1
    predicted = int(p[1] >= threshold) if single_score else int(np.argmax(p))
    return [MetricValue(PROBABILITY.name, CASE_LABEL, float(p[reference])),
            MetricValue(CORRECT.name, CASE_LABEL, float(predicted == reference))]


def auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """:data:`AUC` of binary ``labels`` (0/1) and scores P(class 1)."""
    y, s = _binary(labels, scores)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s)  # ties get their average rank, which counts them half
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def balanced_accuracy(labels: Sequence[int] | np.ndarray,
                      predicted: Sequence[int] | np.ndarray) -> float:
    """:data:`BALANCED_ACCURACY` of reference and predicted class indices."""
    y, p = np.asarray(labels), np.asarray(predicted)
    _same_length(y, p, "predicted classes")
    if y.size == 0:
        return math.nan
    return float(np.mean([np.mean(p[y == c] == c) for c in np.unique(y)]))


def sensitivity_at_threshold(labels: Sequence[int] | np.ndarray,
                             scores: Sequence[float] | np.ndarray, threshold: float = 0.5) -> float:
    """:data:`SENSITIVITY_AT_THRESHOLD`."""
    y, s = _binary(labels, scores)
    return float(np.mean(s[y] >= threshold)) if y.any() else math.nan


def specificity_at_threshold(labels: Sequence[int] | np.ndarray,
                             scores: Sequence[float] | np.ndarray, threshold: float = 0.5) -> float:
    """:data:`SPECIFICITY_AT_THRESHOLD`."""
    y, s = _binary(labels, scores)
    return float(np.mean(s[~y] < threshold)) if (~y).any() else math.nan


def expected_calibration_error(labels: Sequence[int] | np.ndarray,
                               probabilities: Sequence[float] | np.ndarray,
                               n_bins: int = 10) -> float:
    """:data:`ECE`; ``probabilities`` are binary scores P(class 1) or a (cases, classes) matrix.

    Bin ``k`` holds confidences in ``(k / n_bins, (k + 1) / n_bins]`` (the first bin also 0).
    """
    y = np.asarray(labels)
    p = _probability_matrix(np.asarray(probabilities, dtype=float))
    _same_length(y, p, "probabilities")
    if y.size == 0:
        return math.nan
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = 0.0
    for k in np.unique(bins):
        in_bin = bins == k
        gap += in_bin.sum() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(gap / y.size)


def _probability_matrix(p: np.ndarray) -> np.ndarray:
    """(cases,) binary scores or (cases, classes) probabilities as a (cases, classes) matrix."""
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        p = p.reshape(-1, 1)
        p = np.hstack([1 - p, p])
    if p.ndim != 2 or not np.all((p >= 0) & (p <= 1)):
        raise DataError("probabilities must be scores P(class 1) or a (cases, classes) matrix "
                        "with every value in [0, 1]; apply softmax or sigmoid to logits first")
    return p


def _binary(labels: Sequence[int] | np.ndarray,
            scores: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    _same_length(y, s, "scores")
    if not np.isin(y, (0, 1)).all():
        raise DataError(f"binary metrics need labels 0 and 1, got {sorted(set(y.tolist()))}")
    return y.astype(bool), s


def _same_length(labels: np.ndarray, other: np.ndarray, what: str) -> None:
    if len(labels) != len(other):
        raise DataError(f"{len(labels)} labels but {len(other)} {what}; give one per case")
