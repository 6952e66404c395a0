"""The gate's two tests of a paired improvement against a margin.

Both work on the per-case *improvement* of the candidate over an incumbent (candidate minus
incumbent, sign flipped for lower-is-better metrics, so positive always means better) and ask
whether it exceeds a threshold (the margin, or minus a guard's margin). Both are monotone in the
threshold by construction, so a candidate accepted at some margin is accepted at every smaller
one:

- bootstrap: the mean improvement over resamples drawn once per gate (with
  :func:`medselect.rank.resample_index`); the threshold only moves the line the lower bound of
  the interval is compared with.
- Wilcoxon: the one-sided signed-rank test of ``improvement - threshold``. Its statistic
  ``T+`` is counted over Walsh averages, ``#{i <= j: x_i + x_j > 0} + #{x_i + x_j = 0} / 2``,
  which equals scipy's ``zero_method="zsplit"`` statistic (zeros and ties split, never
  dropped) and can only fall as the threshold rises. The p-value is the normal approximation
  without continuity or tie correction: equal to ``scipy.stats.wilcoxon(x,
  alternative="greater", zero_method="zsplit", method="approx", correction=False)`` when no
  values tie, slightly conservative when some do. scipy's own p-values are not monotone in the
  threshold (dropped zeros change ``n``; the tie correction jumps at tied values), which would
  let a larger margin pass where a smaller one fails.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from medselect.rank import Mean, percentile_interval, resampled_aggregates

__all__ = ["bootstrap_means", "bootstrap_pvalue", "interval", "wilcoxon_greater"]


def bootstrap_means(improvement: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The mean improvement on every resample of ``index`` (n_resamples, n_cases)."""
    return resampled_aggregates(np.asarray(improvement, float)[:, None], Mean(), index)[:, 0]


def interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of resampled means at ``confidence`` (NaN resamples left
    out; NaN bounds when every one is)."""
    if np.isnan(means).all():
        return math.nan, math.nan
    low, high = percentile_interval(means[:, None], confidence)[:, 0]
    return float(low), float(high)


def bootstrap_pvalue(means: np.ndarray, threshold: float) -> float:
    """One-sided bootstrap p-value of "mean improvement > threshold": ``(k + 1) / (B + 1)``
    with k the number of the B resampled means at or below the threshold. Resamples where the
    improvement is undefined (NaN: an AUC of a resample without positives) are left out."""
    means = means[~np.isnan(means)]
    return float((np.count_nonzero(means <= threshold) + 1) / (len(means) + 1))


def wilcoxon_greater(improvement: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(T+, p)`` of the one-sided signed-rank test that the improvement exceeds ``threshold``.

    Example::

        >>> wilcoxon_greater(np.array([0.3, 0.5, 0.2]), 0.0)[0]  # every Walsh average > 0
        6.0
    """
    x = np.sort(np.asarray(improvement, dtype=float) - threshold)
    n = len(x)
    i = np.arange(n)
    first_equal = np.searchsorted(x, -x, side="left")
    after_equal = np.searchsorted(x, -x, side="right")
    above = n - np.maximum(i, after_equal)  # j >= i with x_j > -x_i
    equal = np.maximum(0, after_equal - np.maximum(i, first_equal))
    t_plus = float(above.sum() + equal.sum() / 2)
    mean = n * (n + 1) / 4
    sd = np.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    return t_plus, float(stats.norm.sf((t_plus - mean) / sd))
