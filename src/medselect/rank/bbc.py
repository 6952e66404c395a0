"""The figure of a model chosen on the same cases that report it, corrected for the choice.

Choose the best of K models on a test set and its score there is biased upwards: among models
of equal quality the luckiest wins (the winner's curse). The clean remedy is to choose on other
cases (the validation split, or cross-validation) and report on the test set. When a user does
choose on the reporting set, :func:`bbc` gives the bootstrap bias-corrected estimate of
Tsamardinos, Greasidou and Borboudakis (2018, "Bootstrapping the out-of-sample predictions for
efficient and accurate cross-validation", Machine Learning 107): on each cluster-bootstrap
resample the choice is made again on the patients drawn, and the chosen model is scored on the
patients *not* drawn; the mean of those out-of-sample scores is the corrected figure, their
percentile interval its interval. The choice in each resample is the best point estimate (no
equivalence group or tie-break), so the correction is for "take the top of the leaderboard".

The interval rests on about a third of the patients per resample, so it is wide: it says how
little a same-set choice can confirm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from medselect.errors import RankingError
from medselect.jsonsafe import json_number
from medselect.rank.aggregate import Aggregate, parse_aggregate, truth_values
from medselect.rank.bootstrap import resample_weights, resampled_aggregates
from medselect.rank.leaderboard import Statistics
from medselect.rank.setmetric import aggregate_of
from medselect.rank.table import Direction, ScoreMatrix

__all__ = ["SelectionCorrected", "bbc"]

METHOD = "bootstrap bias correction (BBC, Tsamardinos et al. 2018)"


@dataclass(frozen=True)
class SelectionCorrected:
    """The top model's figure on the cases it was chosen on, raw and bias-corrected.

    Attributes:
        model: the model with the best point estimate on all cases.
        raw: its aggregate on those cases (biased upwards by the choice).
        corrected: the mean out-of-sample aggregate of the model chosen on each resample.
        ci_low, ci_high: percentile interval of those out-of-sample aggregates.
        n_resamples: resamples that left at least one patient out (the others cannot score).
    """

    metric: str
    aggregate: str
    model: str
    raw: float
    corrected: float
    ci_low: float
    ci_high: float
    confidence: float
    n_resamples: int
    method: str = METHOD

    @property
    def bias(self) -> float:
        """How much the raw figure flatters the choice (raw minus corrected)."""
        return self.raw - self.corrected

    def to_dict(self) -> dict:
        return {"metric": self.metric, "aggregate": self.aggregate, "model": self.model,
                "raw": json_number(self.raw), "corrected": json_number(self.corrected),
                "bias": json_number(self.bias), "ci_low": json_number(self.ci_low),
                "ci_high": json_number(self.ci_high), "confidence": self.confidence,
                "n_resamples": self.n_resamples, "method": self.method}


def bbc(
    matrix: ScoreMatrix,
    aggregate: str | Aggregate = "mean",
    *,
    statistics: Statistics | None = None,
    aggregates: Mapping[str, Aggregate] | None = None,
) -> SelectionCorrected:
    """Bias-correct the figure of the model chosen on ``matrix``'s own cases.

    Args:
        matrix: the cases x models matrix the choice was made on.
        aggregate: the aggregate ranked by (a set metric reduces by its own).
        statistics: resamples, confidence, seed and strata of the cluster bootstrap.
        aggregates: custom named aggregates.

    Raises:
        RankingError: a single patient (nothing can be left out), or the aggregate is
            undefined for every model.
    """
    statistics = statistics or Statistics()
    agg = aggregate_of(matrix, parse_aggregate(aggregate, aggregates))
    truth = truth_values(matrix, agg)
    sign = 1.0 if matrix.direction == Direction.HIGHER else -1.0
    clusters = matrix.clusters(statistics.stratify)
    if clusters.n_patients < 2:
        raise RankingError("a selection-bias correction needs at least 2 patients: with one, "
                           "no patient is ever left out to score the choice on")
    point = np.asarray(agg(matrix.values, truth), dtype=float)
    if np.isnan(point).all():
        raise RankingError(f"{matrix.metric} is undefined on these cases for every model")
    top = int(np.argmax(np.where(np.isnan(point), -np.inf, sign * point)))
    drawn = resample_weights(clusters, statistics.n_resamples, seed=statistics.seed)
    left_out = (drawn == 0).astype(float)
    scorable = left_out.any(axis=1)
    if not scorable.all():  # (a copy of both only then: 16 MB each at 1000 x 2000)
        drawn, left_out = drawn[scorable], left_out[scorable]
    in_bag = sign * resampled_aggregates(matrix.values, agg, drawn, truth)
    winners = np.argmax(np.where(np.isnan(in_bag), -np.inf, in_bag), axis=1)
    out_of_bag = resampled_aggregates(matrix.values, agg, left_out, truth)
    scores = out_of_bag[np.arange(len(winners)), winners]
    tail = 100 * (1 - statistics.confidence) / 2
    low, high = (np.nanpercentile(scores, [tail, 100 - tail]) if np.isfinite(scores).any()
                 else (np.nan, np.nan))
    return SelectionCorrected(
        metric=matrix.metric, aggregate=agg.name, model=matrix.models[top],
        raw=float(point[top]), corrected=float(np.nanmean(scores)), ci_low=float(low),
        ci_high=float(high), confidence=statistics.confidence, n_resamples=len(scores))
