"""Landmark metrics: radial error per landmark, mean radial error, success detection rates.

Points are in mm in the image's voxel frame (voxel index x spacing; origin and direction do not
change distances between points of the same image). A landmark is *absent* when its point is
missing or holds NaN. The empty policy is applied per landmark: absent on both sides is a
perfect answer (0 mm, a success); absent on one side only is the worst answer (the image
diagonal, a failure, as images are larger than the 4 mm success radius).

Example::

    >>> ref = {"nasion": (10.0, 20.0), "sella": (40.0, 22.0)}
    >>> pred = {"nasion": (11.0, 20.0), "sella": None}
    >>> rows = landmark_metrics(pred, ref, ["nasion", "sella"], image_diagonal_mm=300.0)
    >>> [(r.metric, r.label, float(r.value)) for r in rows][:3]
    [('radial_error', 'nasion', 1.0), ('radial_error', 'sella', 300.0), ('mre', 'mean', 150.5)]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from medselect.errors import ConfigError, DataError
from medselect.metrics.geometry import check_spacing
from medselect.metrics.spec import (
    Direction,
    EmptyMaskPolicy,
    EmptyRule,
    Family,
    MetricSpec,
    Unit,
)
from medselect.metrics.surface import TOLERANCE_SLACK
from medselect.metrics.values import MEAN_LABEL, MetricValue

Point = Sequence[float] | np.ndarray | None

_ERROR_POLICY = EmptyMaskPolicy(
    both_empty=0.0, pred_empty=EmptyRule.IMAGE_DIAGONAL, ref_empty=EmptyRule.IMAGE_DIAGONAL
)

RADIAL_ERROR = MetricSpec(
    "radial_error", Family.LANDMARKS, Direction.LOWER, Unit.MM,
    "Radial error of one landmark: the Euclidean distance in mm between the predicted and the "
    "reference point. Absent on both sides: 0; absent on one side: the image diagonal in mm.",
    _ERROR_POLICY,
)
MRE = MetricSpec(
    "mre", Family.LANDMARKS, Direction.LOWER, Unit.MM,
    "Mean radial error: the mean of the case's per-landmark radial errors in mm, absent "
    "landmarks counted by the radial_error policy (0 if absent on both sides, the image "
    "diagonal if absent on one).",
    _ERROR_POLICY,
)

SDR_RADII_MM: Mapping[str, float] = {
    "sdr_2mm": 2.0, "sdr_2.5mm": 2.5, "sdr_3mm": 3.0, "sdr_4mm": 4.0,
}
"""Success detection rate metric name -> radius in mm."""


def _sdr_spec(name: str, radius: float) -> MetricSpec:
    return MetricSpec(
        name, Family.LANDMARKS, Direction.HIGHER, Unit.PERCENT,
        f"Success detection rate within {radius:g} mm: the percentage of the case's landmarks "
        f"whose radial error is ≤ {radius:g} mm. A landmark absent on both sides is a success, "
        "one absent on one side a failure (the policy gives the value one landmark "
        "contributes).",
        EmptyMaskPolicy(both_empty=100.0, pred_empty=0.0, ref_empty=0.0),
    )


SPECS: tuple[MetricSpec, ...] = (
    RADIAL_ERROR, MRE, *(_sdr_spec(name, r) for name, r in SDR_RADII_MM.items()),
)


def radial_errors(
    pred_mm: np.ndarray, ref_mm: np.ndarray, *, image_diagonal_mm: float
) -> np.ndarray:
    """Radial error of each landmark, in mm.

    Args:
        pred_mm, ref_mm: arrays of shape (landmarks, ndim); a row with a NaN is absent.
        image_diagonal_mm: the error of a landmark absent on one side only.

    Raises:
        DataError: the two arrays differ in shape.
    """
    pred, ref = np.asarray(pred_mm, dtype=float), np.asarray(ref_mm, dtype=float)
    if pred.shape != ref.shape or pred.ndim != 2:
        raise DataError(f"predicted points {pred.shape} and reference points {ref.shape} "
                        f"must both have shape (landmarks, ndim)")
    pred_absent, ref_absent = np.isnan(pred).any(axis=1), np.isnan(ref).any(axis=1)
    errors = np.linalg.norm(pred - ref, axis=1)
    return np.array([
        RADIAL_ERROR.apply_empty(bool(p), bool(r), lambda e=e: e, image_diagonal_mm)
        for p, r, e in zip(pred_absent, ref_absent, errors, strict=True)
    ])


def mean_radial_error(errors: np.ndarray) -> float:
    """:data:`MRE` from :func:`radial_errors` (NaN for a case without landmarks)."""
    errors = np.asarray(errors, dtype=float)
    return float(errors.mean()) if errors.size else math.nan


def success_detection_rate(errors: np.ndarray, radius_mm: float) -> float:
    """Percentage of :func:`radial_errors` within ``radius_mm`` (NaN without landmarks).

    The radius gets NSD's relative slack, so an error equal to it in exact arithmetic (e.g.
    5 pixels of 0.4 mm, 2.0000000000000004 mm in floats) is a success.
    """
    errors = np.asarray(errors, dtype=float)
    within = np.count_nonzero(errors <= radius_mm * (1 + TOLERANCE_SLACK))
    return 100.0 * within / errors.size if errors.size else math.nan


def landmark_metrics(
    pred: Mapping[str, Point],
    ref: Mapping[str, Point],
    names: Sequence[str],
    *,
    image_diagonal_mm: float,
) -> list[MetricValue]:
    """Radial error per landmark, then MRE and each SDR, as rows of the per-case table.

    Args:
        pred, ref: landmark name -> point in mm; a name that is missing, None or NaN is absent.
            Names not in ``names`` are not evaluated.
        names: the task's landmarks, in report order.
        image_diagonal_mm: see :func:`~medselect.metrics.geometry.image_diagonal_mm`.

    Raises:
        ConfigError: ``names`` is empty or repeats a name.
        DataError: points of different dimensions.
    """
    _check_names(names)
    pred_pts, ref_pts = _given(pred, names, "prediction"), _given(ref, names, "reference")
    pred_dim, ref_dim = _ndim(pred_pts), _ndim(ref_pts)
    if pred_dim and ref_dim and pred_dim != ref_dim:
        raise DataError(f"predicted points have {pred_dim} coordinates, reference "
                        f"points {ref_dim}; both must be in the same 2D or 3D frame")
    ndim = pred_dim or ref_dim or 3  # a side without points takes the other's (any if both)
    pred_mm, ref_mm = _stack(pred_pts, names, ndim), _stack(ref_pts, names, ndim)
    errors = radial_errors(pred_mm, ref_mm, image_diagonal_mm=image_diagonal_mm)
    rows = [MetricValue(RADIAL_ERROR.name, name, float(e))
            for name, e in zip(names, errors, strict=True)]
    rows.append(MetricValue(MRE.name, MEAN_LABEL, mean_radial_error(errors)))
    rows += [MetricValue(name, MEAN_LABEL, success_detection_rate(errors, radius))
             for name, radius in SDR_RADII_MM.items()]
    return rows


def _check_names(names: Sequence[str]) -> None:
    if isinstance(names, str) or not names or len(set(names)) != len(names):
        raise ConfigError(f"landmark names must be a non-empty list of unique names, got {names!r}")


def _given(points: Mapping[str, Point], names: Sequence[str], role: str) -> dict[str, np.ndarray]:
    """The points given for ``names``, checked to share 2 or 3 coordinates."""
    given = {name: np.asarray(points[name], dtype=float).ravel()
             for name in names if points.get(name) is not None}
    dims = {p.size for p in given.values()}
    if len(dims) > 1 or dims - {2, 3}:
        raise DataError(f"{role} landmarks must all have 2 or 3 coordinates, got "
                        f"{ {n: p.size for n, p in given.items()} }")
    return given


def _ndim(given: Mapping[str, np.ndarray]) -> int | None:
    """Coordinates per point, None without points (the frame is then unknown)."""
    return next((p.size for p in given.values()), None)


def _stack(given: Mapping[str, np.ndarray], names: Sequence[str], ndim: int) -> np.ndarray:
    """Shape (landmarks, ndim), NaN rows for the absent ones."""
    return np.array([given.get(name, np.full(ndim, np.nan)) for name in names])


def centroids_from_labels(
    label_map: np.ndarray, spacing: Sequence[float] | float, names: Sequence[str]
) -> dict[str, tuple[float, ...] | None]:
    """Landmark points as centroids of labelled regions, in mm.

    For models that segment a small region around each landmark: region ``i + 1`` is landmark
    ``names[i]``; its point is the mean position of its voxels (index x spacing, in mm).

    Returns:
        name -> point in mm, or None where the region is absent.

    Raises:
        ConfigError: ``names`` is empty or repeats a name.
        DataError: the spacing does not fit the label map.
    """
    _check_names(names)
    labels = np.asarray(label_map)
    spacing = check_spacing(spacing, labels.ndim)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        centres = ndimage.center_of_mass(labels > 0, labels, range(1, len(names) + 1))
    centres = np.asarray(centres, dtype=float).reshape(len(names), -1) * np.asarray(spacing)
    return {name: None if np.isnan(c).any() else tuple(c.tolist())
            for name, c in zip(names, centres, strict=True)}
