"""One case's metric rows from its prediction and reference, as the policy asks.

Segmentation metrics come from :func:`medselect.metrics.segmentation_metrics` (per foreground
class and their mean). Landmark metrics of a segmentation task compare the centroids of the
predicted classes named like the landmarks with the case's reference points; landmark files
hold voxel indices, metrics take mm (index x spacing). A landmarks task's model predicts the
points themselves (voxel coordinates at the image's own size). A case without landmark points
gets NULL landmark values (undefined), not the empty-point policy, which is for a missing point.
A classification model predicts ``(classes,)`` probabilities, scored against the case's target
class by :func:`medselect.metrics.classification_case_metrics` (one row per metric, label
``case``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medselect.data.loading import LoadedCase
from medselect.errors import DataError
from medselect.evaluate.policy import MetricPolicy
from medselect.metrics import (
    CASE_LABEL,
    MEAN_LABEL,
    MetricValue,
    centroids_from_labels,
    classification_case_metrics,
    image_diagonal_mm,
    landmark_metrics,
    segmentation_metrics,
)

Points = dict[str, tuple[float, ...] | None]


@dataclass(frozen=True)
class CaseScore:
    """A case's metric values and, for landmark metrics, the points they compared (mm)."""

    values: list[MetricValue]
    ref_points: Points | None = None
    pred_points: Points | None = None

    def rows(self, case_id: str) -> list[dict[str, Any]]:
        """``case_metric`` rows (NaN stays NaN; the store writes it as NULL)."""
        return [{"case_id": case_id, "metric": v.metric, "label": v.label, "value": v.value}
                for v in self.values]

    def summary(self, policy: MetricPolicy) -> dict[str, float]:
        """The case's key values for an overlay: each metric's mean (or its one value per
        case), in policy order."""
        means = {v.metric: v.value for v in self.values if v.label in (MEAN_LABEL, CASE_LABEL)}
        return {m: means[m] for m in policy.metrics if m in means}


def score_case(prediction: np.ndarray, case: LoadedCase, policy: MetricPolicy) -> CaseScore:
    """Every metric of ``policy`` for one labelled case.

    Args:
        prediction: a label map, for ``policy.predicts_points`` the ``(landmarks, ndim)``
            voxel coordinates of :func:`predicted_points`' input, for
            ``policy.predicts_probabilities`` the ``(classes,)`` class probabilities.

    Raises:
        DataError: the prediction does not fit the reference (shape, label values, classes).
    """
    if policy.predicts_probabilities:
        return _score_probabilities(prediction, case, policy)
    if policy.predicts_points:
        pred = predicted_points(prediction, case, policy.landmarks)
        return _score_points(pred, case, policy, tuple(case.image.shape[1:]))
    if case.label is None:
        raise ValueError(f"case {case.case_id!r} has no label; only labelled cases are scored")
    values: list[MetricValue] = []
    if policy.segmentation_metrics:
        tolerance = dict(policy.nsd_tolerance_mm) or 1.0  # unused unless nsd is asked for
        values += segmentation_metrics(prediction, case.label, case.spacing, policy.classes,
                                       metrics=policy.segmentation_metrics,
                                       nsd_tolerance_mm=tolerance)
    if not policy.landmark_metrics:
        return CaseScore(values)
    centroids = centroids_from_labels(prediction, case.spacing, policy.classes)
    pred = {name: centroids[name] for name in policy.landmarks}
    return _score_points(pred, case, policy, prediction.shape, values)


def class_caption(probabilities: np.ndarray, case: LoadedCase,
                  classes: Sequence[str]) -> str:
    """``true <class> · predicted <class> (<probability>)`` of a classification overlay."""
    predicted = int(np.argmax(probabilities))
    true = classes[case.target] if case.target is not None and 0 <= case.target < len(
        classes) else "unknown"
    return f"true {true} · predicted {classes[predicted]} ({probabilities[predicted]:.2f})"


def has_reference(case: LoadedCase, policy: MetricPolicy) -> bool:
    """Whether ``case`` can be scored: its landmarks for point predictions, its target class
    for probabilities, else its label."""
    if policy.predicts_probabilities:
        return case.target is not None
    return (case.landmarks is not None) if policy.predicts_points else case.label is not None


def predicted_points(points: np.ndarray, case: LoadedCase, names: Sequence[str]) -> Points:
    """A ``(landmarks, ndim)`` array of voxel coordinates as name -> point in mm.

    Raises:
        DataError: the array does not hold one point per landmark in the image's dimensions.
    """
    array = np.asarray(points, dtype=float)
    if array.shape != (len(names), len(case.spacing)):
        raise DataError(f"case {case.case_id!r}: predicted points have shape {array.shape}, "
                        f"expected ({len(names)}, {len(case.spacing)}): one point per landmark")
    return {name: _to_mm(point, case.spacing) for name, point in zip(names, array, strict=True)}


def _score_probabilities(probabilities: np.ndarray, case: LoadedCase,
                         policy: MetricPolicy) -> CaseScore:
    if case.target is None:
        raise ValueError(f"case {case.case_id!r} has no target class; only cases with one are "
                         f"scored")
    p = np.asarray(probabilities, dtype=float)
    if p.shape != (len(policy.classes),):
        raise DataError(f"case {case.case_id!r}: predicted probabilities have shape {p.shape}, "
                        f"expected ({len(policy.classes)},): one per class of the task")
    try:
        values = classification_case_metrics(p, int(case.target), classes=policy.classes)
    except DataError as exc:
        raise DataError(f"case {case.case_id!r}: {exc}") from exc
    wanted = set(policy.metrics)
    return CaseScore(_in_policy_order([v for v in values if v.metric in wanted], policy))


def _score_points(pred: Points, case: LoadedCase, policy: MetricPolicy,
                  shape: Sequence[int], values: list[MetricValue] | None = None) -> CaseScore:
    """``values`` plus the landmark metrics of ``pred`` against the case's points (mm)."""
    values = list(values or [])
    ref = reference_points(case, policy.landmarks)
    if ref is None:
        values += [MetricValue(m, label, math.nan) for m, label in policy.labelled_rows()
                   if m in policy.landmark_metrics]
        return CaseScore(values, None, pred)
    diagonal = image_diagonal_mm(shape, case.spacing)
    wanted = set(policy.landmark_metrics)
    values += [v for v in landmark_metrics(pred, ref, policy.landmarks, image_diagonal_mm=diagonal)
               if v.metric in wanted]
    return CaseScore(_in_policy_order(values, policy), ref, pred)


def reference_points(case: LoadedCase, names: Sequence[str]) -> Points | None:
    """The case's landmarks ``names`` in mm (voxel index x spacing), or None if it has none."""
    if not case.landmarks:
        return None
    return {name: _to_mm(case.landmarks.get(name), case.spacing) for name in names}


def null_rows(case_id: str, policy: MetricPolicy) -> list[dict[str, Any]]:
    """Rows with NULL values for a labelled case without a usable prediction."""
    return [{"case_id": case_id, "metric": m, "label": label, "value": None}
            for m, label in policy.labelled_rows()]


def _to_mm(point: Sequence[float] | None, spacing: Sequence[float]) -> tuple[float, ...] | None:
    if point is None:
        return None
    return tuple(float(c) * float(s) for c, s in zip(point, spacing, strict=True))


def _in_policy_order(values: list[MetricValue], policy: MetricPolicy) -> list[MetricValue]:
    order = {m: i for i, m in enumerate(policy.metrics)}
    return sorted(values, key=lambda v: order[v.metric])  # stable: labels keep their order

