"""Paired comparisons of models on the same patients, and Holm's correction for many of them.

The unit is the patient: the Wilcoxon test ranks each patient's mean difference over its cases
(so eight slices of one patient are one piece of evidence, not eight), and the bootstrap test
reads the paired cluster-bootstrap resamples of the aggregates (patients drawn, their cases
carried). Where every patient has one case these are the per-case tests.

Equivalence (:func:`equivalence_pvalues`) is the other question: not "is one worse?" but "are
they the same within a practical margin?", by two one-sided bootstrap tests (TOST). A model
that is neither shown worse nor shown equivalent is *unresolved*: the data cannot tell, which
is not the same as a tie.

The Wilcoxon signed-rank test is computed for many pairs at once: the absolute differences of a
chunk of pairs are sorted in one call (the sign rides along in the lowest bit of a uint64 key,
so one sort gives both order and signs), ties get average ranks, and the p-value follows the
rule of ``scipy.stats.wilcoxon``'s default ``method="auto"``, pair by pair: up to 50 cases
without ties or zeros, scipy's exact distribution; up to 13 cases with ties or zeros, the exact
distribution over all sign flips (what scipy's permutation test enumerates, in one matrix
product here instead of half a second per pair); otherwise the normal approximation with tie
correction (zeros dropped, no continuity correction). The p-values equal scipy's (tests check
this); 19,900 pairs of 2,000 cases take well under a second.

``bootstrap`` is the alternative test for aggregates that are not a per-case location (AUC, a
percentile): the difference of the two aggregates over its paired cluster-bootstrap standard
error (:func:`medselect.rank.bootstrap.tail_pvalue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats

from medselect.errors import RankingError
from medselect.jsonsafe import json_number
from medselect.rank.bootstrap import tail_pvalue
from medselect.rank.clusters import Clusters

__all__ = [
    "PairedTest",
    "SignificanceMatrix",
    "bootstrap_pvalues",
    "equivalence_pvalues",
    "holm",
    "significance_matrix",
    "wilcoxon_pvalues",
]

EXACT_MAX_CASES = 50
"""Up to this many cases without ties or zeros the exact distribution is used (scipy's rule)."""
SIGN_FLIP_MAX_CASES = 13
"""Up to this many cases with ties or zeros, the exact sign-flip distribution (scipy's rule)."""

_CHUNK_ELEMENTS = 1 << 16  # small chunks stay in cache: 3x faster than large ones


class PairedTest(StrEnum):
    """How two models are compared on the same cases."""

    WILCOXON = "wilcoxon"
    BOOTSTRAP = "bootstrap"


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (any shape; NaN stays NaN and is not counted).

    The k-th smallest of m p-values becomes ``max_{i<=k} min(1, (m - i + 1) p_(i))``; rejecting
    where the adjusted value is below alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    valid = np.flatnonzero(~np.isnan(flat))
    order = valid[np.argsort(flat[valid], kind="stable")]
    m = len(order)
    adjusted = np.full_like(flat, np.nan)
    scaled = (m - np.arange(m)) * flat[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return adjusted.reshape(p.shape)


def wilcoxon_pvalues(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilcoxon signed-rank test of each row of ``diffs`` (n_pairs, n_cases).

    Returns:
        ``(pvalue, sign)``: per row, scipy's p-value (1 where every difference is zero) and
        the sign of ``R+ - R-`` (+1 where the first model of the pair tends to be larger).
    """
    diffs = np.atleast_2d(np.asarray(diffs, dtype=float))
    if np.isnan(diffs).any():
        raise RankingError("paired differences contain NaN; impute missing values first")
    n_cases = diffs.shape[1]
    r_plus, r_minus, ties, n_nonzero, tied_or_zero = _signed_ranks(diffs)
    sign = np.sign(r_plus - r_minus)
    pvalue = np.ones(len(diffs))
    testable = n_nonzero > 0
    if n_cases > EXACT_MAX_CASES:
        normal = testable
    else:
        exact = testable & ~tied_or_zero
        if exact.any():
            pvalue[exact] = stats.wilcoxon(diffs[exact], axis=1, method="exact").pvalue
        flips = testable & tied_or_zero & (n_cases <= SIGN_FLIP_MAX_CASES)
        if flips.any():
            pvalue[flips] = _sign_flip_pvalues(diffs[flips], r_plus[flips])
        normal = testable & tied_or_zero & (n_cases > SIGN_FLIP_MAX_CASES)
    n = n_nonzero[normal]
    sd = np.sqrt((n * (n + 1) * (2 * n + 1) - ties[normal] / 2) / 24)
    z = (r_plus[normal] - n * (n + 1) / 4) / sd
    pvalue[normal] = np.minimum(1.0, 2 * stats.norm.sf(np.abs(z)))
    return pvalue, sign


def _sign_flip_pvalues(diffs: np.ndarray, r_plus: np.ndarray) -> np.ndarray:
    """Exact two-sided p-values over all 2^n sign flips of each row (scipy's permutation test
    for small samples with ties or zeros, enumerated here with one matrix product)."""
    n = diffs.shape[1]
    magnitude = np.abs(diffs)
    zeros = (magnitude == 0).sum(axis=1, keepdims=True)
    ranks = np.where(magnitude == 0, 0.0, stats.rankdata(magnitude, axis=1) - zeros)
    flips = (np.arange(2**n)[:, None] >> np.arange(n)) & 1  # every subset of positive signs
    null = ranks @ flips.T  # (rows, 2^n) R+ under each flip
    slack = np.abs(100 * np.finfo(float).eps * r_plus)[:, None]  # scipy's tolerance
    less = (null <= r_plus[:, None] + slack).mean(axis=1)
    greater = (null >= r_plus[:, None] - slack).mean(axis=1)
    return np.clip(2 * np.minimum(less, greater), 0.0, 1.0)


def _signed_ranks(diffs: np.ndarray):
    """Per row: R+, R-, sum of t^3 - t over tied non-zero groups, non-zero count, and whether
    the row has ties or zeros. Zeros are dropped (scipy's ``zero_method="wilcox"``)."""
    n = diffs.shape[1]
    # |d| as uint64 orders like the float (non-negative IEEE doubles); shift in the sign bit.
    keys = np.abs(diffs).view(np.uint64) << np.uint64(1)
    keys |= (diffs > 0).astype(np.uint64)
    keys.sort(axis=1)
    magnitude, positive = keys >> np.uint64(1), (keys & np.uint64(1)).astype(bool)
    zeros = np.count_nonzero(magnitude == 0, axis=1)
    # Zeros sort first and are never positive: without ties, sorted position i has rank
    # i + 1 - zeros among the non-zero differences.
    r_plus = positive @ np.arange(1.0, n + 1) - zeros * positive.sum(axis=1)
    same = magnitude[:, 1:] == magnitude[:, :-1]
    tied_or_zero = same.any(axis=1) | (zeros > 0)
    r_plus_fix, ties = _tie_corrections(magnitude, positive, same)
    n_nonzero = n - zeros
    r_plus += r_plus_fix
    r_minus = n_nonzero * (n_nonzero + 1) / 2 - r_plus
    return r_plus, r_minus, ties, n_nonzero, tied_or_zero


def _tie_corrections(magnitude: np.ndarray, positive: np.ndarray, same: np.ndarray):
    """Change of R+ when runs of equal non-zero magnitudes get their average rank instead of
    consecutive ranks, and the tie term sum(t^3 - t), per row; the work beyond one pass is on
    the tied elements only."""
    n_rows, n = magnitude.shape
    tied = np.zeros((n_rows, n), dtype=bool)
    tied[:, 1:] = same
    tied[:, :-1] |= same
    tied &= magnitude != 0
    flat = np.flatnonzero(tied)
    if not len(flat):
        return np.zeros(n_rows), np.zeros(n_rows)
    row, pos = flat // n, flat % n
    value = magnitude.ravel()[flat]
    starts = np.ones(len(flat), dtype=bool)
    starts[1:] = (flat[1:] != flat[:-1] + 1) | (value[1:] != value[:-1]) | (row[1:] != row[:-1])
    group = np.cumsum(starts) - 1
    size = np.bincount(group).astype(float)
    average_rank = pos[starts] + (size + 1) / 2  # 1-based, before dropping the zeros
    shift = positive.ravel()[flat] * (average_rank[group] - (pos + 1))
    r_plus_fix = np.bincount(row, weights=shift, minlength=n_rows)
    ties = np.bincount(row[starts], weights=size**3 - size, minlength=n_rows)
    return r_plus_fix, ties


def bootstrap_pvalues(point: np.ndarray, samples: np.ndarray, first: np.ndarray,
                      second: np.ndarray, clusters: Clusters | None = None):
    """Two-sided paired bootstrap test of ``first`` vs ``second`` models: twice the smaller
    :func:`~medselect.rank.bootstrap.tail_pvalue` of the difference of their aggregates
    (``point``, per model) over its resampled differences (``samples``), at most 1.

    Returns ``(pvalue, sign)`` like :func:`wilcoxon_pvalues`; the sign is that of the
    difference of the point estimates. Resamples where the difference is undefined (NaN: an
    AUC of a resample without positives) are left out.
    """
    pvalue = np.empty(len(first))
    sign = np.empty(len(first))
    for part in _chunks(len(first), samples.shape[0]):
        d = samples[:, first[part]] - samples[:, second[part]]
        delta = point[first[part]] - point[second[part]]
        above = tail_pvalue(delta, d, 0.0, clusters)
        below = tail_pvalue(-delta, -d, 0.0, clusters)
        pvalue[part] = np.minimum(1.0, 2 * np.minimum(above, below))
        sign[part] = np.sign(delta)
    return pvalue, sign


def equivalence_pvalues(point: np.ndarray, samples: np.ndarray, first: np.ndarray,
                        second: np.ndarray, margin: float,
                        clusters: Clusters | None = None) -> np.ndarray:
    """Two one-sided tests (TOST) that the difference of the ``first`` and ``second`` models'
    aggregates lies within ``(-margin, +margin)``: the larger of the two one-sided bootstrap
    p-values. Small means *shown equivalent*. NaN where the difference is undefined.
    """
    pvalue = np.empty(len(first))
    for part in _chunks(len(first), samples.shape[0]):
        d = samples[:, first[part]] - samples[:, second[part]]
        delta = point[first[part]] - point[second[part]]
        pvalue[part] = np.maximum(tail_pvalue(delta, d, -margin, clusters),
                                  tail_pvalue(-delta, -d, -margin, clusters))
    return pvalue


def _chunks(n_pairs: int, n_resamples: int):
    step = max(1, _CHUNK_ELEMENTS // max(n_resamples, 1))
    for start in range(0, n_pairs, step):
        yield slice(start, start + step)


def compare(
    oriented: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    test: PairedTest | str = PairedTest.WILCOXON,
    resampled: tuple[np.ndarray, np.ndarray] | None = None,
    clusters: Clusters | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw p-values and signs of column pairs ``(first[i], second[i])``; sign +1 where the
    first is better. ``oriented`` is (n_cases, n_models) with higher better; ``resampled``
    the aggregates' point estimates and bootstrap resamples, oriented too, needed by the
    bootstrap test; ``clusters`` the cases' patients (Wilcoxon then ranks per-patient mean
    differences; the bootstrap expands its standard error)."""
    first, second = np.asarray(first, dtype=np.intp), np.asarray(second, dtype=np.intp)
    if PairedTest(test) == PairedTest.BOOTSTRAP:
        if resampled is None:
            raise RankingError("the bootstrap test needs the resampled aggregates")
        return bootstrap_pvalues(*resampled, first, second, clusters)
    if clusters is not None and clusters.n_patients < len(clusters.of_case):
        oriented = clusters.patient_means(oriented)
    by_model = np.ascontiguousarray(oriented.T)
    pvalue, sign = np.empty(len(first)), np.empty(len(first))
    for part in _chunks(len(first), oriented.shape[0]):
        diffs = by_model[first[part]] - by_model[second[part]]
        pvalue[part], sign[part] = wilcoxon_pvalues(diffs)
    return pvalue, sign


@dataclass(frozen=True, eq=False)
class SignificanceMatrix:
    """Every pair of models compared on the same cases, Holm-corrected over all pairs.

    Attributes:
        pvalues: raw p-values (n_models, n_models), symmetric, NaN on the diagonal.
        adjusted: Holm-adjusted p-values, same layout.
        sign: +1 where the row model tends to be better than the column model, -1 worse.
    """

    models: tuple[str, ...]
    test: PairedTest
    alpha: float
    pvalues: np.ndarray
    adjusted: np.ndarray
    sign: np.ndarray

    @property
    def better(self) -> np.ndarray:
        """True where the row model is significantly better than the column model."""
        return (self.adjusted < self.alpha) & (self.sign > 0)

    def to_frame(self) -> pd.DataFrame:
        """Holm-adjusted p-values as a models x models table."""
        index = pd.Index(self.models, name="model")
        return pd.DataFrame(self.adjusted, index=index, columns=pd.Index(self.models))

    def to_dict(self) -> dict:
        """JSON-safe form (NaN -> None)."""
        def grid(a: np.ndarray) -> list[list[float | None]]:
            return [[json_number(float(v)) for v in row] for row in a]
        return {"models": list(self.models), "test": self.test.value, "alpha": self.alpha,
                "correction": "holm", "pvalues": grid(self.pvalues),
                "adjusted": grid(self.adjusted), "better": self.better.tolist()}


def significance_matrix(
    oriented: np.ndarray,
    models: tuple[str, ...],
    *,
    alpha: float = 0.05,
    test: PairedTest | str = PairedTest.WILCOXON,
    resampled: tuple[np.ndarray, np.ndarray] | None = None,
    clusters: Clusters | None = None,
) -> SignificanceMatrix:
    """Compare every pair of models (columns of ``oriented``, higher better) on the same
    patients.

    Args:
        oriented: (n_cases, n_models) per-case values, higher better, no NaN.
        models: column names.
        alpha: significance level applied to the Holm-adjusted p-values.
        test: ``wilcoxon`` (signed ranks of per-patient differences) or ``bootstrap`` (needs
            ``resampled``).
        resampled: the aggregates (n_models,) and their resamples (n_resamples, n_models),
            higher better, for the bootstrap test.
        clusters: the cases' patients; None treats every case as its own patient.
    """
    m = len(models)
    first, second = np.triu_indices(m, 1)
    p, s = compare(oriented, first, second, test, resampled, clusters)
    pvalues = np.full((m, m), np.nan)
    sign = np.zeros((m, m))
    pvalues[first, second] = pvalues[second, first] = p
    sign[first, second], sign[second, first] = s, -s
    adjusted = np.full((m, m), np.nan)
    adjusted[first, second] = adjusted[second, first] = holm(p)
    return SignificanceMatrix(models=tuple(models), test=PairedTest(test), alpha=alpha,
                              pvalues=pvalues, adjusted=adjusted, sign=sign)
