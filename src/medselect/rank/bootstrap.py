"""Bootstrap over cases: one resample index matrix, reused for intervals and rank stability.

Cases are drawn with replacement *within* each stratum (site), so every resample keeps the
sites' sizes and a large site cannot crowd out a small one. The index matrix is drawn once per
ranking and every model is aggregated on the same resamples, which makes the resampled
aggregates paired: their differences and the ranks they imply are meaningful.
"""

from __future__ import annotations

import numpy as np

from medselect.rank.aggregate import Aggregate, Mean

__all__ = [
    "MIN_RELIABLE_CASES",
    "interval_caveat",
    "percentile_interval",
    "resample_index",
    "resampled_aggregates",
]

MIN_RELIABLE_CASES = 10
"""Below this many cases a bootstrap interval is reported but flagged unreliable."""

_CHUNK_ELEMENTS = 1 << 23  # values gathered at once by the generic path (64 MiB of float64)


def resample_index(
    n_cases: int,
    n_resamples: int = 1000,
    *,
    strata: np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Row r holds the case indices of resample r, shape (n_resamples, n_cases).

    Args:
        n_cases: number of cases.
        n_resamples: number of bootstrap resamples.
        strata: per-case stratum codes; cases are resampled within each stratum. When a
            stratum holds a single case (which every resample would repeat, giving a falsely
            narrow interval), the cases are resampled without strata.
        seed: seed or generator; the same seed gives the same index.
    """
    rng = np.random.default_rng(seed)
    if strata is None or np.unique(strata, return_counts=True)[1].min() < 2:
        return rng.integers(0, n_cases, size=(n_resamples, n_cases))
    index = np.empty((n_resamples, n_cases), dtype=np.intp)
    start = 0
    for code in np.unique(strata):
        members = np.flatnonzero(strata == code)
        stop = start + len(members)
        index[:, start:stop] = members[rng.integers(0, len(members),
                                                    size=(n_resamples, len(members)))]
        start = stop
    return index


def resampled_aggregates(
    values: np.ndarray,
    aggregate: Aggregate,
    index: np.ndarray,
    truth: np.ndarray | None = None,
) -> np.ndarray:
    """The aggregate of every model on every resample, shape (n_resamples, n_models).

    The mean takes a fast path (resample counts times values, one matrix product), and so do
    set metrics (``from_counts``: the counts as case weights); other aggregates gather the
    resampled values in chunks of bounded memory.

    Args:
        values: (n_cases, n_models).
        aggregate: the reduction over cases.
        index: from :func:`resample_index`.
        truth: per-case values of ``aggregate.truth``, resampled with the cases.
    """
    n_resamples, n_cases = index.shape
    if isinstance(aggregate, Mean):
        return resample_counts(index) @ values / n_cases
    if hasattr(aggregate, "from_counts") and truth is not None:  # a set metric
        rows = max(1, _CHUNK_ELEMENTS // (8 * n_cases))  # its kernels hold a few (rows, cases)
        return np.concatenate([aggregate.from_counts(values, truth, resample_counts(part))
                               for part in np.array_split(index, -(-n_resamples // rows))])
    chunk = max(1, _CHUNK_ELEMENTS // max(values.size, 1))
    out = np.empty((n_resamples, values.shape[1]))
    for start in range(0, n_resamples, chunk):
        idx = index[start:start + chunk]
        out[start:start + chunk] = aggregate(values[idx], None if truth is None else truth[idx])
    return out


def resample_counts(index: np.ndarray) -> np.ndarray:
    """How often each case is drawn in each resample: float array (n_resamples, n_cases)."""
    n_resamples, n_cases = index.shape
    rows = np.arange(n_resamples)[:, None] * n_cases
    counts = np.bincount((rows + index).ravel(), minlength=n_resamples * n_cases)
    return counts.reshape(n_resamples, n_cases).astype(float)


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> np.ndarray:
    """Percentile bootstrap interval per column: array (2, n_models) of lower and upper bounds.

    Resamples on which an aggregate is undefined (NaN, e.g. an AUC without positives) are left
    out."""
    tail = 100 * (1 - confidence) / 2
    bounds = np.full((2, samples.shape[1]), np.nan)
    defined = ~np.isnan(samples).all(axis=0)  # an AUC on one class only: no interval
    bounds[:, defined] = np.nanpercentile(samples[:, defined], [tail, 100 - tail], axis=0)
    return bounds


def interval_caveat(n_cases: int, strata: np.ndarray | None = None) -> str | None:
    """Why an interval on these cases should not be trusted, or None when it can be."""
    notes = []
    if n_cases < MIN_RELIABLE_CASES:
        notes.append(f"only {n_cases} case{'s' if n_cases != 1 else ''}; a bootstrap interval "
                     f"needs at least {MIN_RELIABLE_CASES} cases to say much")
    if strata is not None:
        singles = int((np.unique(strata, return_counts=True)[1] == 1).sum())
        if singles:
            notes.append(f"{singles} stratum/strata hold a single case, so cases were resampled "
                         "without stratification")
    return "; ".join(notes) or None
