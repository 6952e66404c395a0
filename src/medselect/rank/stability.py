"""Rank stability: how each model's rank moves over bootstrap resamples of the cases.

A leaderboard's ranks come from one finite set of cases; re-ranking on every resample shows
which places are solid and which are a coin toss. The probability that a model is the best is
the share of resamples on which it has the best aggregate (shared equally on exact ties, so the
probabilities add up to one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["RankStability", "rank_stability"]


@dataclass(frozen=True, eq=False)
class RankStability:
    """Distribution of ranks over resamples (rank 1 = best; ties share the better rank).

    Attributes:
        rank_counts: (n_models, n_models); entry [i, r] counts resamples on which model i
            had rank r + 1.
        p_best: per model, the probability of being the best.
        median_rank: per model, the median rank over resamples.
        rank_interval: (2, n_models), the central ``confidence`` range of ranks.
    """

    models: tuple[str, ...]
    n_resamples: int
    rank_counts: np.ndarray
    p_best: np.ndarray
    median_rank: np.ndarray
    rank_interval: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """One row per model: p_best, median rank, rank interval."""
        return pd.DataFrame({
            "p_best": self.p_best, "median_rank": self.median_rank,
            "rank_low": self.rank_interval[0], "rank_high": self.rank_interval[1],
        }, index=pd.Index(self.models, name="model"))

    def to_dict(self) -> dict:
        """JSON-safe form, with the full rank distribution per model."""
        return {"n_resamples": self.n_resamples, "models": [
            {"model": m, "p_best": float(self.p_best[i]),
             "median_rank": float(self.median_rank[i]),
             "rank_interval": [float(self.rank_interval[0, i]), float(self.rank_interval[1, i])],
             "rank_counts": self.rank_counts[i].tolist()}
            for i, m in enumerate(self.models)]}


def rank_stability(
    samples: np.ndarray, models: tuple[str, ...], confidence: float = 0.95
) -> RankStability:
    """Rank the models on every resample.

    Args:
        samples: resampled aggregates (n_resamples, n_models), higher better (NaN ranks last;
            a resample where every model is NaN, e.g. an AUC of one class, is left out).
        models: column names.
        confidence: width of the reported rank interval.
    """
    defined = ~np.isnan(samples).all(axis=1)
    if defined.any():
        samples = samples[defined]
    n_resamples, n_models = samples.shape
    filled = np.where(np.isnan(samples), -np.inf, samples)
    ranks = stats.rankdata(-filled, method="min", axis=1).astype(np.intp)
    rows = np.repeat(np.arange(n_models)[None, :], n_resamples, axis=0)
    counts = np.bincount((rows * n_models + ranks - 1).ravel(),
                         minlength=n_models * n_models).reshape(n_models, n_models)
    is_best = filled == filled.max(axis=1, keepdims=True)
    p_best = (is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0)
    tail = 100 * (1 - confidence) / 2
    return RankStability(
        models=tuple(models), n_resamples=n_resamples, rank_counts=counts, p_best=p_best,
        median_rank=np.median(ranks, axis=0),
        rank_interval=np.percentile(ranks, [tail, 100 - tail], axis=0, method="nearest"),
    )
