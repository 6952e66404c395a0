"""One row of the per-case table that metric engines return."""

from __future__ import annotations

from dataclasses import dataclass

from medselect.casetable import CASE_LABEL, MEAN_LABEL

__all__ = ["CASE_LABEL", "MEAN_LABEL", "MetricValue"]


@dataclass(frozen=True)
class MetricValue:
    """A metric's value for one structure of one case.

    Args:
        metric: the metric's name in :data:`medselect.metrics.METRICS`.
        label: class or landmark name, :data:`MEAN_LABEL` or :data:`CASE_LABEL`.
        value: the value in the metric's unit; NaN only where its empty policy says so.
    """

    metric: str
    label: str
    value: float
