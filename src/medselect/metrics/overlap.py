"""Overlap metrics of one class: Dice, IoU, precision, sensitivity and volume differences.

Every metric here is a function of the voxel counts TP, FP, FN and the voxel volume, so the
engine counts all classes of a case in one pass (a confusion matrix) and calls these functions
per class. Each function applies its spec's empty-mask policy before its formula, so code and
documented policy cannot drift apart.

Example::

    >>> import numpy as np
    >>> ref = np.zeros((4, 4, 2), bool); ref[:2, :, :] = True
    >>> pred = np.zeros((4, 4, 2), bool); pred[:3, :, :] = True
    >>> counts = OverlapCounts.from_masks(pred, ref, spacing=(1.0, 1.0, 2.0))
    >>> round(dice(counts), 3), volume_diff(counts)
    (0.8, 16.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from medselect.errors import DataError
from medselect.metrics.geometry import check_spacing, voxel_volume
from medselect.metrics.spec import (
    Direction,
    EmptyMaskPolicy,
    EmptyRule,
    Family,
    MetricSpec,
    Unit,
)

_BEST_ONE_WORST_ZERO = EmptyMaskPolicy(both_empty=1.0, pred_empty=0.0, ref_empty=0.0)


def _spec(name: str, direction: Direction, unit: Unit, definition: str,
          empty: EmptyMaskPolicy = _BEST_ONE_WORST_ZERO) -> MetricSpec:
    return MetricSpec(name, Family.OVERLAP, direction, unit, definition, empty)


DICE = _spec("dice", Direction.HIGHER, Unit.NONE,
             "Dice similarity coefficient 2|P∩R| / (|P| + |R|) of the predicted (P) and "
             "reference (R) voxel sets of a class, in [0, 1]. Both empty: 1; one empty: 0.")
IOU = _spec("iou", Direction.HIGHER, Unit.NONE,
            "Intersection over union (Jaccard index) |P∩R| / |P∪R|, in [0, 1]. "
            "Both empty: 1; one empty: 0.")
PRECISION = _spec("precision", Direction.HIGHER, Unit.NONE,
                  "Positive predictive value |P∩R| / |P|: the fraction of predicted voxels that "
                  "are in the reference. Both empty: 1; one empty: 0 (nothing correct was "
                  "predicted, or everything predicted is wrong).")
SENSITIVITY = _spec("sensitivity", Direction.HIGHER, Unit.NONE,
                    "Sensitivity (recall) |P∩R| / |R|: the fraction of reference voxels that are "
                    "predicted. Both empty: 1; one empty: 0.")
VOLUME_DIFF = _spec("volume_diff", Direction.LOWER, Unit.MM3,
                    "Absolute volume difference |V_P - V_R| in mm³ (area in mm² on 2D images), "
                    "volumes being voxel counts times the voxel volume. Both empty: 0; one "
                    "empty: the other's volume, as the formula gives.",
                    EmptyMaskPolicy(0.0, EmptyRule.FORMULA, EmptyRule.FORMULA))
VOLUME_DIFF_REL = _spec("volume_diff_rel", Direction.LOWER, Unit.PERCENT,
                        "Relative volume difference 100 |V_P - V_R| / V_R in percent of the "
                        "reference volume. Both empty: 0; prediction empty: 100 (formula); "
                        "reference empty: NaN, as there is no volume to be relative to.",
                        EmptyMaskPolicy(0.0, EmptyRule.FORMULA, EmptyRule.NAN))

SPECS: tuple[MetricSpec, ...] = (DICE, IOU, PRECISION, SENSITIVITY, VOLUME_DIFF, VOLUME_DIFF_REL)


@dataclass(frozen=True)
class OverlapCounts:
    """Voxel counts of one class: true positives, false positives, false negatives.

    Args:
        tp, fp, fn: voxel counts.
        voxel_volume: volume of one voxel in mm³ (area of one pixel in mm² for 2D).
    """

    tp: int
    fp: int
    fn: int
    voxel_volume: float = 1.0

    @classmethod
    def from_masks(
        cls, pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | float
    ) -> OverlapCounts:
        """Counts of two binary masks of the same shape.

        Raises:
            DataError: the masks differ in shape, or the spacing does not fit them.
        """
        pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
        if pred.shape != ref.shape:
            raise DataError(f"prediction shape {pred.shape} differs from reference shape "
                            f"{ref.shape}; resample the prediction onto the reference grid")
        tp = int(np.count_nonzero(pred & ref))
        return cls(tp=tp, fp=int(np.count_nonzero(pred)) - tp, fn=int(np.count_nonzero(ref)) - tp,
                   voxel_volume=voxel_volume(check_spacing(spacing, pred.ndim)))

    @property
    def pred_empty(self) -> bool:
        return self.tp + self.fp == 0

    @property
    def ref_empty(self) -> bool:
        return self.tp + self.fn == 0

    def _apply(self, spec: MetricSpec, compute: Callable[[], float]) -> float:
        return spec.apply_empty(self.pred_empty, self.ref_empty, compute)


def dice(c: OverlapCounts) -> float:
    """:data:`DICE`: 2 TP / (2 TP + FP + FN)."""
    return c._apply(DICE, lambda: 2 * c.tp / (2 * c.tp + c.fp + c.fn))


def iou(c: OverlapCounts) -> float:
    """:data:`IOU`: TP / (TP + FP + FN)."""
    return c._apply(IOU, lambda: c.tp / (c.tp + c.fp + c.fn))


def precision(c: OverlapCounts) -> float:
    """:data:`PRECISION`: TP / (TP + FP)."""
    return c._apply(PRECISION, lambda: c.tp / (c.tp + c.fp))


def sensitivity(c: OverlapCounts) -> float:
    """:data:`SENSITIVITY`: TP / (TP + FN)."""
    return c._apply(SENSITIVITY, lambda: c.tp / (c.tp + c.fn))


def volume_diff(c: OverlapCounts) -> float:
    """:data:`VOLUME_DIFF`: |FP - FN| x voxel volume, in mm³ (mm² in 2D)."""
    return c._apply(VOLUME_DIFF, lambda: abs(c.fp - c.fn) * c.voxel_volume)


def volume_diff_rel(c: OverlapCounts) -> float:
    """:data:`VOLUME_DIFF_REL`: 100 |FP - FN| / (TP + FN), in percent."""
    return c._apply(VOLUME_DIFF_REL, lambda: 100.0 * abs(c.fp - c.fn) / (c.tp + c.fn))


FUNCTIONS: Mapping[str, Callable[[OverlapCounts], float]] = {
    DICE.name: dice,
    IOU.name: iou,
    PRECISION.name: precision,
    SENSITIVITY.name: sensitivity,
    VOLUME_DIFF.name: volume_diff,
    VOLUME_DIFF_REL.name: volume_diff_rel,
}
"""Metric name -> function of :class:`OverlapCounts`, in :data:`SPECS` order."""
