"""Surface-distance metrics of one class: HD, HD95, ASSD and NSD, in mm, for 2D and 3D.

Conventions, identical to MONAI 1.6.1 (``compute_hausdorff_distance``,
``compute_average_surface_distance(symmetric=True)``, ``compute_surface_dice`` with
``use_subvoxels=False``, Euclidean distance, ``spacing`` given):

- The *boundary* of a mask is its foreground voxels with at least one face neighbour (2·ndim
  neighbours) in the background or outside the image: ``mask & ~binary_erosion(mask)`` with a
  cross-shaped structuring element and zero border (:func:`boundary`).
- A *surface distance* is the Euclidean distance in mm between the centre of a boundary voxel of
  one mask and the nearest boundary voxel centre of the other mask. Both directions are computed
  once per class (:func:`surface_distances`) and every metric is derived from the same arrays.

Where DeepMind's ``surface-distance`` differs: it places surface elements on the voxel-corner
grid (half a voxel outside MONAI's boundary voxels, from 2x2(x2) neighbourhood codes) and weights
each by its area in mm² (length in 2D); its percentiles, means and NSD are area-weighted. On
smooth shapes the two agree to within about one voxel diagonal for distances and a few percent
for NSD; the unit tests state the bound for each comparison.

Distances are found with a k-d tree over the boundary voxel coordinates in mm (exact nearest
neighbour, as MONAI on CPU) on the bounding box of both masks plus a one-voxel margin; on the
benchmark shapes this is 1.5-4x faster than a distance transform of that box and gives
identical distances. A boundary voxel the two masks share is at distance 0 and is not searched
(a good segmentation shares most of its boundary). MONAI keeps distances in float32; these are
float64, so values agree with MONAI to about 1e-7 relative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from medselect.errors import ConfigError, DataError
from medselect.metrics.geometry import check_spacing, image_diagonal_mm
from medselect.metrics.spec import (
    Direction,
    EmptyMaskPolicy,
    EmptyRule,
    Family,
    MetricSpec,
    Unit,
)

_DISTANCE_POLICY = EmptyMaskPolicy(
    both_empty=0.0, pred_empty=EmptyRule.IMAGE_DIAGONAL, ref_empty=EmptyRule.IMAGE_DIAGONAL
)
_DISTANCES = ("surface distances (see medselect.metrics.surface: boundary voxel centres of one "
              "mask to the nearest boundary voxel centre of the other, in mm)")

HD = MetricSpec(
    "hd", Family.SURFACE, Direction.LOWER, Unit.MM,
    f"Hausdorff distance: the largest of all {_DISTANCES} in both directions, as MONAI's "
    "compute_hausdorff_distance(percentile=None). Both empty: 0; one empty: the image "
    "diagonal in mm.",
    _DISTANCE_POLICY,
)
HD95 = MetricSpec(
    "hd95", Family.SURFACE, Direction.LOWER, Unit.MM,
    f"95th-percentile Hausdorff distance: the maximum of the two directed 95th percentiles "
    f"(linear interpolation) of the {_DISTANCES}, as MONAI's compute_hausdorff_distance("
    "percentile=95); not the percentile of the pooled distances (medpy) nor area-weighted "
    "(DeepMind). Both empty: 0; one empty: the image diagonal in mm.",
    _DISTANCE_POLICY,
)
ASSD = MetricSpec(
    "assd", Family.SURFACE, Direction.LOWER, Unit.MM,
    f"Average symmetric surface distance: the mean of the {_DISTANCES} of both directions "
    "pooled, as MONAI's compute_average_surface_distance(symmetric=True) and medpy 0.5's assd; "
    "DeepMind reports the two directed area-weighted means instead. Both empty: 0; one empty: "
    "the image diagonal in mm.",
    _DISTANCE_POLICY,
)
NSD = MetricSpec(
    "nsd", Family.SURFACE, Direction.HIGHER, Unit.NONE,
    f"Normalised surface distance (surface Dice) at a per-class tolerance τ in mm: the number "
    f"of {_DISTANCES} in both directions that are ≤ τ, divided by the number of boundary voxels "
    "of both masks, in [0, 1], as MONAI's compute_surface_dice(use_subvoxels=False); DeepMind "
    "weights each surface element by its area instead of counting voxels. Both empty: 1; one "
    "empty: 0.",
    EmptyMaskPolicy(both_empty=1.0, pred_empty=0.0, ref_empty=0.0),
)

SPECS: tuple[MetricSpec, ...] = (HD, HD95, ASSD, NSD)

TOLERANCE_SLACK = 1e-9
"""Relative slack so a distance equal to the tolerance in exact arithmetic is within it."""


def boundary(mask: np.ndarray) -> np.ndarray:
    """Foreground voxels with a face neighbour in the background or outside the array.

    The same voxels as ``mask & ~binary_erosion(mask, border_value=0)`` with the cross-shaped
    element, found with 2·ndim shifted views of the zero-padded mask (6x faster than scipy's
    erosion on the benchmark's crops).
    """
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1)
    interior = mask.copy()
    core = [slice(1, n + 1) for n in mask.shape]
    for axis, n in enumerate(mask.shape):
        for step in (-1, 1):
            shifted = list(core)
            shifted[axis] = slice(1 + step, n + 1 + step)
            interior &= padded[tuple(shifted)]
    return mask & ~interior


def bounding_box(mask: np.ndarray) -> tuple[slice, ...] | None:
    """The smallest box holding every foreground voxel, or None for an empty mask (one
    projection per axis: 8x faster than ``ndimage.find_objects`` on a large image)."""
    extents = []
    for axis in range(mask.ndim):
        others = tuple(a for a in range(mask.ndim) if a != axis)
        found = np.flatnonzero(mask.any(axis=others))
        if found.size == 0:
            return None
        extents.append(slice(int(found[0]), int(found[-1]) + 1))
    return tuple(extents)


@dataclass(frozen=True)
class SurfaceDistances:
    """Both directed surface distances of one class, in mm.

    ``pred_to_ref`` holds one distance per boundary voxel of the prediction, ``ref_to_pred`` one
    per boundary voxel of the reference; both are empty when either mask is empty, and then the
    empty-mask policies decide the metrics.
    """

    pred_to_ref: np.ndarray
    ref_to_pred: np.ndarray
    pred_empty: bool
    ref_empty: bool
    image_diagonal_mm: float

    def _apply(self, spec: MetricSpec, compute: Callable[[], float]) -> float:
        return spec.apply_empty(self.pred_empty, self.ref_empty, compute, self.image_diagonal_mm)


def surface_distances(
    pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float] | float
) -> SurfaceDistances:
    """Surface distances between two binary masks of the same shape.

    Raises:
        DataError: the masks differ in shape, are not 2D or 3D, or the spacing does not fit.
    """
    pred, ref = np.asarray(pred, dtype=bool), np.asarray(ref, dtype=bool)
    if pred.shape != ref.shape:
        raise DataError(f"prediction shape {pred.shape} differs from reference shape "
                        f"{ref.shape}; resample the prediction onto the reference grid")
    if pred.ndim not in (2, 3):
        raise DataError(f"surface metrics need 2D or 3D masks, got shape {pred.shape}")
    spacing = check_spacing(spacing, pred.ndim)
    box = bounding_box(pred | ref)
    diagonal = image_diagonal_mm(pred.shape, spacing)
    if box is None:
        return box_distances(pred, ref, spacing, diagonal)
    crop = margin_box(box, pred.shape)
    return box_distances(pred[crop], ref[crop], spacing, diagonal)


def margin_box(box: tuple[slice, ...], shape: Sequence[int], margin: int = 1) -> tuple[slice, ...]:
    """``box`` grown by ``margin`` voxels on every side, clipped to the image.

    One voxel of background around the masks keeps :func:`boundary` unchanged by the crop.
    """
    return tuple(slice(max(s.start - margin, 0), min(s.stop + margin, n))
                 for s, n in zip(box, shape, strict=True))


def box_distances(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...], image_diagonal_mm: float
) -> SurfaceDistances:
    """:func:`surface_distances` of masks already cropped with :func:`margin_box`."""
    pred_edge, ref_edge = boundary(pred), boundary(ref)
    pred_points = np.argwhere(pred_edge) * np.asarray(spacing)
    ref_points = np.argwhere(ref_edge) * np.asarray(spacing)
    pred_empty, ref_empty = len(pred_points) == 0, len(ref_points) == 0
    if pred_empty or ref_empty:
        nothing = np.empty(0)
        return SurfaceDistances(nothing, nothing, pred_empty, ref_empty, image_diagonal_mm)
    shared = pred_edge & ref_edge
    return SurfaceDistances(
        pred_to_ref=_nearest(ref_points, pred_points, shared[pred_edge]),
        ref_to_pred=_nearest(pred_points, ref_points, shared[ref_edge]),
        pred_empty=False,
        ref_empty=False,
        image_diagonal_mm=image_diagonal_mm,
    )


def _nearest(targets: np.ndarray, queries: np.ndarray, on_target: np.ndarray) -> np.ndarray:
    """Distance from each query point to the nearest target point; ``on_target`` marks the
    queries that are target points themselves (distance 0, exactly what the tree would give),
    which are not searched. The distances stay in query order, so sums are unchanged."""
    # leafsize 32 beats the default for one batched query (as MONAI found); an unbalanced,
    # uncompacted tree builds faster and queries grid points as fast
    tree = cKDTree(targets, leafsize=32, balanced_tree=False, compact_nodes=False)
    distances = np.zeros(len(queries))
    searched = ~on_target
    distances[searched] = tree.query(queries[searched], k=1)[0]
    return distances


def hd(d: SurfaceDistances) -> float:
    """:data:`HD`: the largest surface distance in either direction."""
    return d._apply(HD, lambda: max(d.pred_to_ref.max(), d.ref_to_pred.max()))


def hd95(d: SurfaceDistances) -> float:
    """:data:`HD95`: max of the two directed 95th percentiles (linear interpolation)."""
    return d._apply(HD95, lambda: max(np.percentile(d.pred_to_ref, 95),
                                      np.percentile(d.ref_to_pred, 95)))


def assd(d: SurfaceDistances) -> float:
    """:data:`ASSD`: mean of the pooled surface distances of both directions."""
    return d._apply(ASSD, lambda: (d.pred_to_ref.sum() + d.ref_to_pred.sum())
                    / (d.pred_to_ref.size + d.ref_to_pred.size))


def nsd(d: SurfaceDistances, tolerance_mm: float) -> float:
    """:data:`NSD` at ``tolerance_mm``.

    Raises:
        ConfigError: the tolerance is negative or not finite.
    """
    limit = check_tolerance(tolerance_mm) * (1 + TOLERANCE_SLACK)
    return d._apply(NSD, lambda: (np.count_nonzero(d.pred_to_ref <= limit)
                                  + np.count_nonzero(d.ref_to_pred <= limit))
                    / (d.pred_to_ref.size + d.ref_to_pred.size))


def check_tolerance(tolerance_mm: float, where: str = "nsd_tolerance_mm") -> float:
    """``tolerance_mm`` as a float, checked to be finite and not negative.

    Raises:
        ConfigError: it is not; the message names ``where``.
    """
    value = float(tolerance_mm)
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{where} must be a finite distance >= 0 in mm, got {tolerance_mm!r}")
    return value


FUNCTIONS: Mapping[str, Callable[[SurfaceDistances], float]] = {
    HD.name: hd,
    HD95.name: hd95,
    ASSD.name: assd,
}
"""Metric name -> function of :class:`SurfaceDistances`, for the metrics without a parameter
(NSD takes its tolerance and is called as :func:`nsd`)."""
