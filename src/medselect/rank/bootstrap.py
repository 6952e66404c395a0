"""The cluster bootstrap: resample *patients*, carrying all of their cases.

Slices and visits of one patient are alike, so counting them as independent draws makes
intervals too narrow and tests too sure. Every resample here draws patients with replacement
*within* each stratum (site), so each resample keeps the sites' numbers of patients; a case
then weighs as often as its patient was drawn (0 when it was left out). The weights are drawn
once per ranking and every model is aggregated on the same ones, which makes the resampled
aggregates paired: their differences and the ranks they imply are meaningful.

Intervals are *expanded* percentile intervals (Hesterberg 2015, "What teachers should know
about the bootstrap"): the plain percentile interval of a bootstrap is too narrow with few
patients (it misses the ``n/(n-1)`` of the variance and uses normal instead of t quantiles), so
the percentiles are moved outwards to ``Phi(sqrt(n/(n-H)) * t_{n-H})`` for n patients in H
strata. With hundreds of patients it is the plain percentile interval; with 10 it is about a
fifth wider. Tests (:func:`tail_pvalue`) studentize the point estimate by the same expanded
bootstrap standard error, so they reach any level, however small, with a finite number of
resamples. ``benchmarks/bench_validity.py`` measures the coverage and error rates this gives.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from medselect.rank.aggregate import Aggregate, Mean
from medselect.rank.clusters import Clusters

__all__ = [
    "MIN_RELIABLE_PATIENTS",
    "interval_caveat",
    "logit_interval",
    "patient_resampled_aggregates",
    "percentile_interval",
    "resample_counts",
    "resample_weights",
    "resampled_aggregates",
    "tail_pvalue",
    "wilson_interval",
]

MIN_RELIABLE_PATIENTS = 10
"""Below this many patients an interval is reported but flagged unreliable."""

_CHUNK_ELEMENTS = 1 << 23  # weights x values handled at once by the generic paths (64 MiB)
_LOGIT_EPS = 1e-6  # keeps the logit of a perfect AUC finite


def resample_counts(
    clusters: Clusters,
    n_resamples: int = 1000,
    *,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Row r holds how often each patient was drawn in resample r: float array
    (n_resamples, n_patients) of whole numbers. The same seed gives the same counts."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_resamples, clusters.n_patients))
    for code in np.unique(clusters.strata):
        members = np.flatnonzero(clusters.strata == code)
        n = len(members)
        drawn = rng.integers(0, n, size=(n_resamples, n))  # positions within the stratum
        # counted per stratum: each patient is in one, so no resample x patient array per
        # stratum (five sites of 2000 patients: a fifth of the work)
        drawn += np.arange(n_resamples)[:, None] * n
        counts[:, members] = np.bincount(drawn.ravel(), minlength=n_resamples * n).reshape(
            n_resamples, n)
    return counts


def resample_weights(
    clusters: Clusters,
    n_resamples: int = 1000,
    *,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Row r holds how often each case's patient was drawn in resample r: float array
    (n_resamples, n_cases) of whole numbers. The same seed gives the same weights (those of
    :func:`resample_counts`, spread over each patient's cases)."""
    return resample_counts(clusters, n_resamples, seed=seed)[:, clusters.of_case]


def patient_resampled_aggregates(
    values: np.ndarray,
    aggregate: Aggregate,
    counts: np.ndarray,
    clusters: Clusters,
    truth: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`resampled_aggregates` from patient counts (:func:`resample_counts`).

    A mean needs only each patient's sums: (resamples x patients) @ (patients x models), a
    quarter of the case-level product with four cases per patient. Any other aggregate gets
    the counts spread over each patient's cases.
    """
    if not isinstance(aggregate, Mean):
        return resampled_aggregates(values, aggregate, counts[:, clusters.of_case], truth)
    if clusters.n_patients == len(clusters.of_case) and np.array_equal(
            clusters.of_case, np.arange(len(clusters.of_case))):
        return aggregate.weighted(values, counts)  # one case per patient, in case order
    return (counts @ clusters.patient_sums(values)) / (counts @ clusters.sizes)[:, None]


def resampled_aggregates(
    values: np.ndarray,
    aggregate: Aggregate,
    weights: np.ndarray,
    truth: np.ndarray | None = None,
) -> np.ndarray:
    """The aggregate of every model on every weighted resample, (n_resamples, n_models).

    Built-in aggregates and set metrics reduce the weights directly (one matrix product for
    the mean; :mod:`medselect.rank.weighted` for percentiles and trimmed means; the weights as
    case counts for a set metric); any other aggregate is called on each resample's cases
    repeated by their weights.

    Args:
        values: (n_cases, n_models).
        aggregate: the reduction over cases.
        weights: from :func:`resample_weights`, or any whole-number case weights.
        truth: per-case values of ``aggregate.truth``, weighted with the cases.
    """
    n_resamples, n_cases = weights.shape
    if isinstance(aggregate, Mean):
        return aggregate.weighted(values, weights)
    if hasattr(aggregate, "from_counts") and (truth is not None or aggregate.truth is None):
        rows = max(1, _CHUNK_ELEMENTS // (2 * n_cases))  # kernels hold a copy or two of these
        return np.concatenate([aggregate.from_counts(values, truth, part)
                               for part in np.array_split(weights, -(-n_resamples // rows))])
    if hasattr(aggregate, "weighted"):
        return aggregate.weighted(values, weights)
    out = np.empty((n_resamples, values.shape[1]))
    for r, w in enumerate(weights.astype(np.intp)):
        idx = np.repeat(np.arange(n_cases), w)
        out[r] = aggregate(values[idx], None if truth is None else truth[idx])
    return out


def _expansion(n_patients: int, n_strata: int) -> tuple[float, int]:
    """(sqrt(n / (n - H)), n - H): the variance and degrees-of-freedom correction."""
    df = n_patients - n_strata
    return (np.sqrt(n_patients / df) if df > 0 else np.inf), df


def percentile_interval(samples: np.ndarray, confidence: float = 0.95,
                        clusters: Clusters | None = None) -> np.ndarray:
    """Expanded percentile bootstrap interval per column: array (2, n_models) of bounds.

    Without ``clusters`` it is the plain percentile interval. With them, the percentiles
    move out for ``n_patients`` in ``n_strata`` (see the module docstring); with a single
    patient per stratum there is no interval (NaN). Resamples on which an aggregate is
    undefined (NaN, e.g. an AUC without positives) are left out.
    """
    tail = (1 - confidence) / 2
    if clusters is not None:
        factor, df = _expansion(clusters.n_patients, clusters.n_strata)
        if df < 1:
            return np.full((2, samples.shape[1]), np.nan)
        tail = stats.norm.cdf(-factor * stats.t.ppf(1 - tail, df))
    q = [100 * tail, 100 * (1 - tail)]
    missing = np.isnan(samples)
    if not missing.any():  # nanpercentile's figures (to the last bit or so), 5x faster
        return np.percentile(samples, q, axis=0)
    bounds = np.full((2, samples.shape[1]), np.nan)
    defined = ~missing.all(axis=0)  # an AUC on one class only: no interval
    bounds[:, defined] = np.nanpercentile(samples[:, defined], q, axis=0)
    return bounds


def logit_interval(point: np.ndarray, samples: np.ndarray, confidence: float = 0.95,
                   clusters: Clusters | None = None) -> np.ndarray:
    """Interval per column for a statistic in [0, 1] whose spread shrinks near the bounds
    (an AUC, a sensitivity): ``logit(point) +/- t * SE`` on the logit scale, with SE the
    expanded bootstrap standard error of the logits, mapped back; array (2, n_models).

    A percentile interval, expanded or not, follows the resamples' spread, which is smallest
    exactly where the estimate overshoots towards 1, so it misses on one side
    (``benchmarks/bench_validity.py``, the AUC rows). Without spread the interval is the point.
    """
    point = np.asarray(point, dtype=float)
    factor, df = (1.0, np.inf) if clusters is None else _expansion(clusters.n_patients,
                                                                    clusters.n_strata)
    if df < 1:
        return np.full((2, len(point)), np.nan)
    quantile = stats.norm.ppf if not np.isfinite(df) else (lambda q: stats.t.ppf(q, df))
    half = quantile(1 - (1 - confidence) / 2)
    logit = _logit(samples)
    se = np.full(len(point), np.nan)
    spread = (~np.isnan(logit)).sum(axis=0) > 1  # a model undefined on every resample has none
    se[spread] = np.nanstd(logit[:, spread], axis=0, ddof=1) * factor
    centre = _logit(point)
    bounds = np.array([np.fmin(_expit(centre - half * se), point),
                       np.fmax(_expit(centre + half * se), point)])
    flat = ~(se > 1e-12)
    bounds[:, flat] = point[flat]
    return bounds


def wilson_interval(rate: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Wilson score interval of a proportion ``rate`` observed on ``n`` independent units, per
    column: array (2, n_models); NaN where ``n`` is 0 or the rate undefined.

    A bootstrap interval of a share that is 1 on every resample (every reviewed prediction
    accepted) is the point [1, 1], which claims certainty from a handful of verdicts; the score
    interval stays honest at the bounds (all 10 of 10 accepted: 0.72 to 1). ``rate`` may be
    fractional (a case's verdicts split between reviewers), so this is the closed form rather
    than ``scipy.stats.binomtest(k, n).proportion_ci("wilson")``, which needs a whole ``k``
    and which it equals where ``k`` is whole.
    """
    rate = np.asarray(rate, dtype=float)
    n = np.asarray(n, dtype=float)
    z2 = stats.norm.ppf(1 - (1 - confidence) / 2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (rate + z2 / (2 * n)) / (1 + z2 / n)
        half = np.sqrt(z2 * (rate * (1 - rate) / n + z2 / (4 * n * n))) / (1 + z2 / n)
    bounds = np.array([np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)])
    bounds[:, ~(n > 0) | np.isnan(rate)] = np.nan
    return bounds


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def tail_pvalue(point: float | np.ndarray, samples: np.ndarray, threshold: float | np.ndarray,
                clusters: Clusters | None = None) -> np.ndarray:
    """One-sided p-value of "the statistic is above ``threshold``", per column.

    The statistic's point estimate is studentized by its cluster-bootstrap standard error,
    expanded as the intervals are (``sqrt(n / (n - H))``), and read off a t distribution with
    ``n - H`` degrees of freedom for n patients in H strata (a normal one without clusters).
    Unlike a count of resamples beyond the threshold, this is not floored at ``1 / B``: small
    levels (a late look at a reference set, a Bonferroni share) stay reachable. For the mean
    of independent patients it is the one-sample t-test. A zero standard error gives 0 when the
    point is above the threshold, else 1; NaN where the point or every resample is undefined.
    """
    samples = np.asarray(samples, dtype=float)
    if samples.ndim == 1:
        samples = samples[:, None]
    point = np.broadcast_to(np.asarray(point, dtype=float), samples.shape[1:])
    factor, df = (1.0, np.inf) if clusters is None else _expansion(clusters.n_patients,
                                                                    clusters.n_strata)
    defined = (~np.isnan(samples)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.nanstd(np.where(defined > 1, samples, 0.0), axis=0, ddof=1) * factor
        z = (point - threshold) / se
    pvalue = stats.t.sf(z, df) if np.isfinite(df) else stats.norm.sf(z)
    pvalue = np.where(se == 0, np.where(point > threshold, 0.0, 1.0), pvalue)
    if df < 1:
        pvalue = np.ones_like(pvalue)
    return np.where(np.isnan(point) | (defined == 0), np.nan, pvalue)


def interval_caveat(clusters: Clusters) -> str | None:
    """Why an interval on these patients should not be trusted, or None when it can be."""
    notes = []
    n = clusters.n_patients
    if n < MIN_RELIABLE_PATIENTS:
        notes.append(f"only {n} patient{'s' if n != 1 else ''}; a bootstrap interval needs at "
                     f"least {MIN_RELIABLE_PATIENTS} patients to say much")
    if clusters.unstratified_because:
        notes.append(clusters.unstratified_because)
    return "; ".join(notes) or None
