"""Set metrics: metrics defined over a set of cases (AUC, calibration error), ranked like any.

A set metric has no per-case value. Its inputs are the per-case rows of another metric, its
``source`` (e.g. each case's probability of a class), and it is computed from all of a model's
cases at once together with each case's reference (a case attribute, ``truth``). Ranking
computes it on the same bootstrap resamples of cases as any metric, so it gets intervals, rank
stability and paired bootstrap tests; a per-case test (Wilcoxon) has no meaning for it and is
replaced by the bootstrap test, with a note.

Any object with the attributes of :class:`SetMetricLike` serves; ``medselect.metrics`` holds
the built-in ones (``SET_METRICS``), and the caller passes them in, as it passes directions::

    board = leaderboard(table, "auc", directions={"auc": "higher"}, label="thinning",
                        set_metrics=SET_METRICS)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import pandas as pd

from medselect.errors import RankingError
from medselect.rank.aggregate import Aggregate
from medselect.rank.table import Direction, ScoreMatrix, readonly, score_matrix

__all__ = [
    "SetAggregate", "SetMetricLike", "SetMetrics", "aggregate_of", "metric_matrix",
    "source_metrics",
]


class SetMetricLike(Protocol):
    """What ranking reads of a set metric.

    ``reduce(truth, values, weights)`` computes it for every model on weighted copies of the
    cases at once: ``truth`` (n_cases,), ``values`` (n_cases, n_models), ``weights``
    (n_copies, n_cases) -> (n_copies, n_models), NaN where it is undefined. Bootstrap counts
    as weights give every resample without gathering them. With ``one_vs_rest`` the truth is
    1 where the case's ``truth`` attribute equals the ranked label, else 0.
    """

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def truth(self) -> str | None: ...

    @property
    def one_vs_rest(self) -> bool: ...

    # optional: ``missing``, the input a missing one counts as when not one-vs-rest (default
    # 0; NaN: a missing input is left out, ``reduce`` skips it); ``bounded``, True when its
    # values lie in [0, 1] (intervals on the logit scale); ``proportion``, True when its value
    # is a share of the cases with an input (Wilson intervals over their patients);
    # ``absent``, what to do when the per-case table has no rows of its source at all

    @property
    def reduce(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]: ...


SetMetrics = Mapping[str, SetMetricLike]


def metric_matrix(
    table: pd.DataFrame,
    metric: str,
    direction: Direction | str,
    *,
    label: str = "mean",
    worst: float | None = None,
    set_metrics: SetMetrics | None = None,
) -> ScoreMatrix:
    """:func:`~medselect.rank.score_matrix` of a per-case metric; for a set metric, the matrix
    of its source's rows under the set metric's name, to be reduced by it (``reduced_by``).

    Raises:
        RankingError: as :func:`~medselect.rank.score_matrix`, or a one-vs-rest set metric
            asked for the ``mean`` label (it is computed for one class at a time).
    """
    set_metric = (set_metrics or {}).get(metric)
    if set_metric is None:
        return score_matrix(table, metric, direction, label=label, worst=worst)
    source = set_metric.source
    if set_metric.one_vs_rest and label == "mean":
        labels = sorted(set(table.loc[table["metric"] == source, "label"].astype(str)))
        raise RankingError(f"{metric} is computed one class against the rest: choose the class "
                           f"with the label (--label), one of: {', '.join(labels) or 'none'}")
    absent = getattr(set_metric, "absent", None)
    if absent and not (table["metric"] == source).any():
        raise RankingError(f"{metric} has no value to rank: {absent}")
    try:
        matrix = score_matrix(table, source, direction, label=label, worst=worst)
    except RankingError as exc:
        raise RankingError(f"{metric} is computed from the per-case {source!r} values: "
                           f"{exc}") from None
    missing = float(getattr(set_metric, "missing", 0.0))
    reduced_by = SetAggregate(metric, set_metric.reduce, set_metric.truth,
                              set_metric.one_vs_rest, getattr(set_metric, "bounded", False),
                              skips_missing=np.isnan(missing),
                              proportion=getattr(set_metric, "proportion", False))
    return _wrong_where_missing(replace(matrix, metric=metric, reduced_by=reduced_by),
                                set_metric)


def _wrong_where_missing(matrix: ScoreMatrix, set_metric: SetMetricLike) -> ScoreMatrix:
    """The matrix with each missing input replaced by a wrong answer, so that a model never
    gains from a case it failed on: for a one-vs-rest probability 0 on a case of the class and
    1 elsewhere, else the set metric's ``missing`` value (0 for ``correct``; NaN, left for
    ``reduce`` to skip, for an unreviewed prediction). The lowest value observed, which
    :func:`score_matrix` imputes, would be the right answer on half the cases.
    """
    if not matrix.imputed.any():
        return matrix
    if set_metric.one_vs_rest:
        if set_metric.truth not in matrix.attributes.columns:
            return matrix  # ranking it fails with the missing attribute named
        truth = (matrix.attributes[set_metric.truth].astype(str) == matrix.label).to_numpy()
        wrong = np.broadcast_to((1.0 - truth)[:, None], matrix.values.shape)
    else:
        wrong = np.full(matrix.values.shape, float(getattr(set_metric, "missing", 0.0)))
    values = np.where(matrix.imputed, wrong, matrix.values)
    return replace(matrix, values=readonly(values), worst=float("nan"))


@dataclass(frozen=True)
class SetAggregate:
    """A set metric as the :class:`~medselect.rank.aggregate.Aggregate` that reduces its
    matrix; :meth:`from_counts` computes every bootstrap resample in one call.

    ``truth`` is None for a metric of the values alone; ``skips_missing``: its missing inputs
    are NaN and left out (not counted as wrong answers); ``proportion``: its value is a share
    of the cases with an input, whose interval is the Wilson interval over their patients."""

    name: str
    reduce: Callable[[np.ndarray | None, np.ndarray, np.ndarray], np.ndarray]
    truth: str | None
    one_vs_rest: bool
    bounded: bool = False
    skips_missing: bool = False
    proportion: bool = False

    def __call__(self, values: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
        """The metric of each model over the cases of ``values`` (n_cases, n_models)."""
        if truth is None and self.truth is not None:
            raise RankingError(f"{self.name} needs each case's {self.truth!r}; none was given")
        return self.from_counts(values, truth, np.ones((1, values.shape[0])))[0]

    def from_counts(self, values: np.ndarray, truth: np.ndarray | None,
                    counts: np.ndarray) -> np.ndarray:
        """The metric on every resample, given how often each case was drawn in it
        (``counts``: n_resamples x n_cases)."""
        return np.asarray(self.reduce(truth, values, counts), dtype=float)


def aggregate_of(matrix: ScoreMatrix, requested: Aggregate) -> Aggregate:
    """The aggregate that reduces ``matrix``: its set metric's own, else ``requested``."""
    return matrix.reduced_by or requested


def source_metrics(metrics: list[str] | tuple[str, ...],
                   set_metrics: SetMetrics | None) -> list[str]:
    """The per-case metrics whose rows ``metrics`` read (a set metric reads its source)."""
    set_metrics = set_metrics or {}
    return list(dict.fromkeys(set_metrics[m].source if m in set_metrics else m
                              for m in metrics))
