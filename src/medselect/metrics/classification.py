"""Classification metrics: per-case probabilities and correctness, and the set metrics.

Per case, the per-case table holds ``probability`` (of the reference class), ``correct`` and
``class_probability`` (one row per class, labelled by the class name). The *set metrics* (AUC,
balanced accuracy, sensitivity and specificity at a threshold, calibration error) have no
per-case value: each is computed from all of a model's cases at once, from the rows of a
per-case ``source`` metric and each case's reference class (the case attribute
:data:`medselect.casetable.REFERENCE`). Ranking computes them that way, on bootstrap
resamples too, so they get confidence intervals like any other metric (:data:`SET_METRICS`).

Binary metrics are one-vs-rest: ranked at label ``c``, AUC is the AUC of ``P(c)`` for
"the reference class is c"; on a two-class task label ``classes[1]`` is the usual binary AUC. A
set metric undefined on its input (AUC with one class only) is NaN rather than an error, so a
resample can be skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType

import numpy as np
from scipy import sparse

from medselect.errors import DataError
from medselect.metrics.spec import Direction, Family, MetricSpec, SetMetric, Unit
from medselect.metrics.values import CASE_LABEL, MetricValue

_AUC_CHUNK_ELEMENTS = 1 << 22  # cases x copies x models held at once by the AUC (32 MiB)

DEFAULT_THRESHOLD = 0.5
"""Decision threshold on ``P(class)`` of the ``*_at_threshold`` metrics."""


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
CLASS_PROBABILITY = _spec("class_probability", "The probability the model gives to the class "
                          "named by the row's label, whatever the case's reference class: the "
                          "input of the one-vs-rest set metrics (AUC, calibration).",
                          per_case=True)
AUC = _spec("auc", "Area under the ROC curve of P(label) for 'the reference class is the "
            "label' (one-vs-rest; on two classes, label classes[1] is the binary AUC): the "
            "probability that a random case of that class scores higher than a random other "
            "case, ties counting half. NaN when the cases hold one class only.")
BALANCED_ACCURACY = _spec("balanced_accuracy", "Mean over the reference classes present of the "
                          "fraction of their cases predicted as that class (mean recall).")
SENSITIVITY_AT_THRESHOLD = _spec("sensitivity_at_threshold", "Fraction of the cases of the "
                                 "label's class whose P(label) is ≥ the threshold (0.5). NaN "
                                 "without such cases.")
SPECIFICITY_AT_THRESHOLD = _spec("specificity_at_threshold", "Fraction of the cases of other "
                                 "classes whose P(label) is < the threshold (0.5). NaN without "
                                 "such cases.")
ECE = _spec("ece", "Expected calibration error of P(label) (one-vs-rest): cases are put in "
            "equal-width bins of P(label) (10 bins on [0, 1]); the mean over bins, weighted by "
            "their share of cases, of |fraction of the label's class - mean P(label)|.",
            direction=Direction.LOWER)

SPECS: tuple[MetricSpec, ...] = (
    PROBABILITY, CORRECT, CLASS_PROBABILITY, AUC, BALANCED_ACCURACY, SENSITIVITY_AT_THRESHOLD,
    SPECIFICITY_AT_THRESHOLD, ECE,
)


def classification_case_metrics(
    probabilities: float | Sequence[float] | np.ndarray,
    reference: int,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    classes: Sequence[str] = (),
) -> list[MetricValue]:
    """The per-case rows of one case: ``probability``, ``correct`` and, when ``classes`` are
    named, one ``class_probability`` row per class.

    Args:
        probabilities: one binary score P(class 1), or one probability per class.
        reference: the case's reference class index.
        threshold: decision threshold of a single binary score.
        classes: the class names, in index order.

    Raises:
        DataError: probabilities outside [0, 1], a reference class the model does not have, or
            not one class name per probability.
    """
    p = _probability_matrix(np.atleast_1d(np.asarray(probabilities, dtype=float)).ravel()[None])[0]
    if not 0 <= reference < p.size:
        raise DataError(f"reference class {reference} is not one of the model's {p.size} "
                        f"classes (0..{p.size - 1})")
    if classes and len(classes) != p.size:
        raise DataError(f"{p.size} class probabilities but {len(classes)} class names "
                        f"{list(classes)}; give one name per class")
    single_score = np.ndim(probabilities) == 0 or np.size(probabilities) == 1
    predicted = int(p[1] >= threshold) if single_score else int(np.argmax(p))
    per_class = [MetricValue(CLASS_PROBABILITY.name, name, float(value))
                 for name, value in zip(classes, p, strict=True)] if classes else []
    return [MetricValue(PROBABILITY.name, CASE_LABEL, float(p[reference])),
            MetricValue(CORRECT.name, CASE_LABEL, float(predicted == reference)), *per_class]


def auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """:data:`AUC` of binary ``labels`` (0/1) and scores P(class 1)."""
    y, s = _binary(labels, scores)
    return _once(_auc, y, s)


def balanced_accuracy(labels: Sequence[int] | np.ndarray,
                      predicted: Sequence[int] | np.ndarray) -> float:
    """:data:`BALANCED_ACCURACY` of reference and predicted class indices."""
    y, p = np.asarray(labels), np.asarray(predicted)
    _same_length(y, p, "predicted classes")
    return mean_recall(y, (p == y).astype(float))


def mean_recall(labels: Sequence | np.ndarray, correct: Sequence[float] | np.ndarray) -> float:
    """:data:`BALANCED_ACCURACY` from each case's reference class (any labels, e.g. names) and
    its ``correct`` value."""
    y, c = np.asarray(labels), np.asarray(correct, dtype=float)
    _same_length(y, c, "correct values")
    return _once(_mean_recall, y, c)


def sensitivity_at_threshold(labels: Sequence[int] | np.ndarray,
                             scores: Sequence[float] | np.ndarray,
                             threshold: float = DEFAULT_THRESHOLD) -> float:
    """:data:`SENSITIVITY_AT_THRESHOLD`."""
    y, s = _binary(labels, scores)
    return _once(partial(_sensitivity, threshold=threshold), y, s)


def specificity_at_threshold(labels: Sequence[int] | np.ndarray,
                             scores: Sequence[float] | np.ndarray,
                             threshold: float = DEFAULT_THRESHOLD) -> float:
    """:data:`SPECIFICITY_AT_THRESHOLD`."""
    y, s = _binary(labels, scores)
    return _once(partial(_specificity, threshold=threshold), y, s)


def expected_calibration_error(labels: Sequence[int] | np.ndarray,
                               scores: Sequence[float] | np.ndarray, n_bins: int = 10) -> float:
    """:data:`ECE` of binary ``labels`` (0/1) and scores P(class 1).

    Bin ``k`` holds scores in ``(k / n_bins, (k + 1) / n_bins]`` (the first bin also 0).
    """
    y, s = _binary(labels, scores)
    if not np.all((s >= 0) & (s <= 1)):
        raise DataError("calibration needs scores in [0, 1]; apply softmax or sigmoid first")
    return _once(partial(_ece, n_bins=n_bins), y, s)


# The kernels compute a set metric of many models on many weighted copies of the cases at once:
# ``truth`` (n_cases,), ``values`` (n_cases, n_models), ``weights`` (n_copies, n_cases) -> the
# metric (n_copies, n_models), NaN where it is undefined (no case of a class). With weights
# that count how often each case was drawn, a copy is a bootstrap resample; ranking computes
# every resample this way without gathering them (matrix products, and one sort per model for
# the AUC).

def _auc(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    positive = np.asarray(truth, dtype=bool)
    weights = np.asarray(weights, dtype=float)
    # (cases, copies): the sparse products add whole rows. With whole-number weights
    # (bootstrap counts) every sum is a half-integer of at most total**2 / 4, exact in float32
    # below 2**24: a third of the time of float64 for up to 5,792 cases.
    exact = (weights.sum(axis=1).max(initial=0) ** 2 / 2 < 2**24
             and np.array_equal(weights, np.rint(weights)))
    by_case = np.ascontiguousarray(weights.T, dtype=np.float32 if exact else float)
    n_pos = weights @ positive
    n_cases, n_models = scores.shape
    wins = np.empty((n_models, len(weights)))
    step = max(1, _AUC_CHUNK_ELEMENTS // max(n_cases * len(weights), 1))
    for start in range(0, n_models, step):
        part = slice(start, start + step)
        wins[part] = _weighted_wins(positive, scores[:, part], by_case)
    return _ratio(wins.T, (n_pos * (weights.sum(axis=1) - n_pos))[:, None])


def _weighted_wins(positive: np.ndarray, scores: np.ndarray, by_case: np.ndarray
                   ) -> np.ndarray:
    """Per model and weighted copy, the sum over positive cases of their weight times the
    weight of the negatives scoring below them (tied ones counting half): (models, copies).

    One sort per model, none per copy: each model's tied scores form groups; a sparse product
    sums the negatives' weights per group for every copy at once, a cumulative sum in score
    order gives the negative weight below each group, and a second sparse product lets each
    positive read it (half below its group, half up to and with it: ties count half). With
    whole-number weights every sum is exact, so the AUC equals, to the last bit, the count of
    the repeated cases' pairs.
    """
    n_models = scores.shape[1]
    order = np.argsort(scores, axis=0, kind="stable").T  # (models, cases), model-major
    ordered = np.take_along_axis(scores.T, order, axis=1)
    new_group = np.ones(order.shape, dtype=bool)
    new_group[:, 1:] = (ordered[:, 1:] != ordered[:, :-1]) & ~(
        np.isnan(ordered[:, 1:]) & np.isnan(ordered[:, :-1]))  # NaNs tie with each other
    group = (np.cumsum(new_group.ravel()) - 1).reshape(order.shape)  # ascending over models
    is_pos = positive[order]
    model = np.broadcast_to(np.arange(n_models)[:, None], order.shape)
    # Rows of the accumulated negative weight, interleaved over models (row t * n_models + j):
    # t = 0 holds nothing below any score, t = 1, 2, ... the tie groups of model j that hold a
    # negative, in score order, so one running sum over t serves every model at once.
    neg_group, neg_model = group[~is_pos], model[~is_pos]
    first = np.ones(len(neg_group), dtype=bool)
    first[1:] = neg_group[1:] != neg_group[:-1]
    row_group, row_model = neg_group[first], neg_model[first]
    start = np.searchsorted(row_model, np.arange(n_models + 1))  # each model's first group
    depth = int(np.diff(start).max(initial=0)) + 1
    neg_t = np.cumsum(first) - start[neg_model]  # 1-based rank of the case's negative group
    below = _adder(neg_t * n_models + neg_model, order[~is_pos], depth * n_models,
                   len(by_case), by_case.dtype) @ by_case
    below = below.reshape(depth, n_models, -1)
    for t in range(1, depth):  # in place: numpy's cumsum along axis 0 is 6x slower
        below[t] += below[t - 1]
    # A positive reads, at half its weight each, the negatives below its group and those up
    # to and with it: a tie with a negative counts half.
    pos_group, pos_model, pos_case = group[is_pos], model[is_pos], order[is_pos]
    rows = [(np.searchsorted(row_group, pos_group, side) - start[pos_model]) * n_models
            + pos_model for side in ("left", "right")]
    reads = _adder(np.concatenate(rows), np.concatenate([pos_case, pos_case]),
                   depth * n_models, len(by_case), by_case.dtype, 0.5) @ by_case
    return np.einsum("tjc,tjc->jc", reads.reshape(below.shape), below)


def _adder(rows: np.ndarray, cases: np.ndarray, n_rows: int, n_cases: int, dtype: type,
           value: float = 1.0) -> sparse.csr_matrix:
    """The sparse (n_rows, n_cases) matrix whose product with per-case rows adds ``value``
    times case ``cases[k]`` into row ``rows[k]`` (repeats add up)."""
    return sparse.csr_matrix((np.full(len(rows), value, dtype=dtype), (rows, cases)),
                             shape=(n_rows, n_cases))


def _rate(members: np.ndarray, hit: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of ``hit`` (n_cases, n_models) over the cases where ``members`` is true."""
    members = np.asarray(members, dtype=float)
    count = np.broadcast_to((weights @ members)[:, None], (len(weights), hit.shape[1]))
    return _ratio(weights @ (members[:, None] * hit), count)


def _sensitivity(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                 threshold: float) -> np.ndarray:
    return _rate(truth, scores >= threshold, weights)


def _specificity(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray,
                 threshold: float) -> np.ndarray:
    return _rate(~np.asarray(truth, dtype=bool), scores < threshold, weights)


def _mean_recall(labels: np.ndarray, correct: np.ndarray, weights: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    recalls = [_rate(labels == k, correct, weights) for k in np.unique(labels)]
    if not recalls:
        return np.full((len(weights), correct.shape[1]), np.nan)
    present = ~np.isnan(recalls)
    return _ratio(np.where(present, recalls, 0.0).sum(axis=0), present.sum(axis=0))


def _ece(truth: np.ndarray, scores: np.ndarray, weights: np.ndarray,
         n_bins: int = 10) -> np.ndarray:
    # a bin's count x |mean label - mean score| is |sum of (label - score)| over the bin
    bins = np.clip(np.ceil(scores * n_bins).astype(int) - 1, 0, n_bins - 1)
    gap = np.asarray(truth, dtype=float)[:, None] - scores
    total = sum(np.abs(weights @ np.where(bins == k, gap, 0.0)) for k in range(n_bins))
    return _ratio(total, np.broadcast_to(weights.sum(axis=1)[:, None], total.shape))


def _once(kernel: Callable[..., np.ndarray], truth: np.ndarray, values: np.ndarray) -> float:
    """A kernel's value for one model on the cases as they are (every weight 1)."""
    return float(kernel(truth, values[:, None], np.ones((1, len(values))))[0, 0])


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=float)
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan),
                     where=np.asarray(denominator) > 0)


SET_METRICS: Mapping[str, SetMetric] = MappingProxyType({
    sm.name: sm for sm in (
        SetMetric(AUC, CLASS_PROBABILITY.name, _auc),
        SetMetric(BALANCED_ACCURACY, CORRECT.name, _mean_recall, one_vs_rest=False),
        SetMetric(SENSITIVITY_AT_THRESHOLD, CLASS_PROBABILITY.name,
                  partial(_sensitivity, threshold=DEFAULT_THRESHOLD)),
        SetMetric(SPECIFICITY_AT_THRESHOLD, CLASS_PROBABILITY.name,
                  partial(_specificity, threshold=DEFAULT_THRESHOLD)),
        SetMetric(ECE, CLASS_PROBABILITY.name, _ece),
    )
})
"""Set metric name -> how ranking computes it from the per-case table."""


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
