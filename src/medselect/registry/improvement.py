"""The gate's two tests of a paired improvement against a margin.

Both work on the *improvement* of the candidate over an incumbent (candidate minus incumbent,
sign flipped for lower-is-better metrics, so positive always means better), patients as the
unit, and ask whether it exceeds a threshold (the margin, or minus a guard's margin). Both are
monotone in the threshold by construction, so a candidate accepted at some margin is accepted at
every smaller one:

- bootstrap: the mean improvement over its standard error from cluster-bootstrap resamples of
  patients drawn once per gate (:func:`medselect.rank.tail_pvalue`); the threshold only moves
  the line it is read at.
- Wilcoxon: the one-sided signed-rank test of ``improvement - threshold``, one value per
  patient (the mean improvement over its cases). Its statistic
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

from medselect.rank import Clusters, percentile_interval, tail_pvalue

__all__ = ["bootstrap_pvalue", "interval", "wilcoxon_greater"]


def interval(samples: np.ndarray, confidence: float,
             clusters: Clusters | None = None) -> tuple[float, float]:
    """Two-sided expanded percentile interval of resampled improvements at ``confidence``
    (NaN resamples left out; NaN bounds when every one is, or with one patient)."""
    if np.isnan(samples).all():
        return math.nan, math.nan
    low, high = percentile_interval(samples[:, None], confidence, clusters)[:, 0]
    return float(low), float(high)


def bootstrap_pvalue(point: float, samples: np.ndarray, threshold: float,
                     clusters: Clusters | None = None) -> float:
    """One-sided bootstrap p-value of "improvement > threshold": the improvement over its
    expanded cluster-bootstrap standard error (resamples where it is undefined, e.g. an AUC
    without positives, left out)."""
    return float(tail_pvalue(point, samples, threshold, clusters)[0])


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
