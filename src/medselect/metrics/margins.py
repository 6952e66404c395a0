"""Equivalence margins: how small a difference between two models does not matter clinically.

Ranking calls two models *equivalent* only when the data show their difference is inside
``+/- margin`` (two one-sided tests); without a margin no model can be shown equivalent, and a
model the data cannot separate from the best is reported as unresolved, never as a tie. These
defaults are starting points in each metric's own unit, smaller than inter-rater variability
for knee MR structures; an experiment overrides them in ``ranking.equivalence``. Metrics whose
scale depends on the anatomy (absolute volume difference) have none.

Showing equivalence needs patients: with a per-patient difference between two models of SD 0.03
Dice (realistic for two different architectures), two models equal in truth are shown
equivalent within 0.02 in about 99% of test sets of 40 patients, but within 0.01 only in about
a third; 0.01 needs about 80 patients (``benchmarks/bench_validity.py``, rows d).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from medselect.metrics.catalogue import SET_METRICS

__all__ = ["EQUIVALENCE_MARGINS", "margins"]

EQUIVALENCE_MARGINS: Mapping[str, float] = MappingProxyType({
    # overlap, a fraction in [0, 1]
    "dice": 0.02, "iou": 0.02, "precision": 0.02, "sensitivity": 0.02,
    "volume_diff_rel": 2.0,  # percent
    # surface distances, mm
    "hd": 2.0, "hd95": 1.0, "assd": 0.5, "nsd": 0.02,
    # landmarks: mm, and percent of landmarks within a radius
    "radial_error": 0.5, "mre": 0.5, "sdr_2mm": 2.0, "sdr_2.5mm": 2.0, "sdr_3mm": 2.0,
    "sdr_4mm": 2.0,
    # classification, fractions
    "probability": 0.02, "correct": 0.02, "auc": 0.02, "balanced_accuracy": 0.02,
    "sensitivity_at_threshold": 0.02, "specificity_at_threshold": 0.02, "ece": 0.02,
    # expert acceptance, a share of reviewed cases: verdicts are coarse (0 or 1 per case)
    "acceptance": 0.05,
})
"""Metric name -> default equivalence margin, in the metric's unit."""


def margins(names: Iterable[str], overrides: Mapping[str, float] | None = None
            ) -> dict[str, float]:
    """``name -> margin`` for ``names`` (and the set metrics their sources feed), the
    experiment's ``overrides`` first, then :data:`EQUIVALENCE_MARGINS`."""
    names = set(names)
    names |= {m for m, sm in SET_METRICS.items() if sm.source in names} | set(overrides or {})
    merged = {**EQUIVALENCE_MARGINS, **(overrides or {})}
    return {n: float(merged[n]) for n in sorted(names) if n in merged}
