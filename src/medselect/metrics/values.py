"""One row of the per-case table that metric engines return."""

from __future__ import annotations

from dataclasses import dataclass

MEAN_LABEL = "mean"
"""Label of the summary row: the mean over foreground classes, or over landmarks."""

CASE_LABEL = "case"
"""Label of a classification value, which belongs to the case as a whole."""


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
