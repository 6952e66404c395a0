"""The segmentation engine: every overlap and surface metric of a multi-class case at once.

The work a naive per-metric loop repeats is done once per case or once per class:

- one confusion matrix (a single ``bincount`` of both label maps) gives TP, FP and FN of every
  class, from which all overlap metrics follow;
- one ``find_objects`` pass per label map gives every class's bounding box (a single class:
  three projections of both maps, 6x faster on a 256x256x128 image); each class is cropped to
  the union of its two boxes plus a one-voxel margin, its two boundaries are extracted once
  and its two directed surface-distance arrays computed once (boundary voxels the two masks
  share are at distance 0 and not searched), and HD, HD95, ASSD and NSD are all read from
  those arrays.

HD95 is MONAI's: the maximum of the two directed 95th percentiles over boundary voxels (see
:mod:`medselect.metrics.surface` for the boundary and distance conventions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from medselect.errors import ConfigError, DataError
from medselect.metrics import overlap, surface
from medselect.metrics.catalogue import get_metric, metrics_of
from medselect.metrics.geometry import check_spacing, image_diagonal_mm, voxel_volume
from medselect.metrics.spec import Family
from medselect.metrics.values import MEAN_LABEL, MetricValue

SEGMENTATION_METRICS: tuple[str, ...] = tuple(
    spec.name for spec in metrics_of(Family.OVERLAP, Family.SURFACE)
)
"""Names of every metric :func:`segmentation_metrics` computes, in output order."""


def segmentation_metrics(
    pred_labels: np.ndarray,
    ref_labels: np.ndarray,
    spacing: Sequence[float] | float,
    classes: Sequence[str],
    *,
    metrics: Sequence[str] | None = None,
    nsd_tolerance_mm: float | Mapping[str, float] = 1.0,
) -> list[MetricValue]:
    """Per-class and mean segmentation metrics of one case.

    Args:
        pred_labels: predicted label map, shape (x, y[, z]); 0 is background and
            ``classes[i]`` has label value ``i + 1``.
        ref_labels: reference label map of the same shape and convention.
        spacing: voxel size in mm per axis (or one number for isotropic voxels).
        classes: names of the foreground classes.
        metrics: names from :data:`SEGMENTATION_METRICS`; all of them by default.
        nsd_tolerance_mm: NSD tolerance in mm, one for all classes or one per class name.

    Returns:
        For each metric (in the order asked), one :class:`MetricValue` per class, then one
        labelled :data:`MEAN_LABEL` holding the mean over the classes whose value is not NaN
        (NaN if none is). Empty classes take their metric's empty-mask policy value and count
        in the mean.

    Raises:
        DataError: the maps differ in shape, are not 2D/3D, hold labels outside
            ``0..len(classes)`` or non-integer values, or the spacing does not fit.
        ConfigError: an unknown or non-segmentation metric, a bad class list or tolerance.

    Example::

        >>> import numpy as np
        >>> ref = np.zeros((8, 8, 3), np.uint8); ref[1:4, 1:4] = 1; ref[5:7, 5:7] = 2
        >>> pred = ref.copy(); pred[1, 1] = 0
        >>> rows = segmentation_metrics(pred, ref, (0.8, 0.8, 3.0), ["femur", "tibia"],
        ...                             metrics=["dice", "hd95"])
        >>> [(r.metric, r.label) for r in rows][:3]
        [('dice', 'femur'), ('dice', 'tibia'), ('dice', 'mean')]
    """
    names = _check_metrics(metrics)
    classes = _check_classes(classes)
    pred = _check_labels(pred_labels, "prediction", len(classes))
    ref = _check_labels(ref_labels, "reference", len(classes))
    if pred.shape != ref.shape:
        raise DataError(f"prediction shape {pred.shape} differs from reference shape "
                        f"{ref.shape}; resample the prediction onto the reference grid")
    spacing = check_spacing(spacing, pred.ndim)
    overlap_names = [n for n in names if n in overlap.FUNCTIONS]
    surface_names = [n for n in names if n not in overlap.FUNCTIONS]
    tolerances = _check_tolerances(nsd_tolerance_mm, classes) if "nsd" in names else {}

    values: dict[str, list[float]] = {name: [] for name in names}
    if overlap_names:
        for counts in _class_counts(pred, ref, len(classes), spacing):
            for name in overlap_names:
                values[name].append(overlap.FUNCTIONS[name](counts))
    if surface_names:
        per_class = _class_distances(pred, ref, len(classes), spacing)
        for label, distances in zip(classes, per_class, strict=True):
            for name in surface_names:
                values[name].append(surface.nsd(distances, tolerances[label]) if name == "nsd"
                                    else surface.FUNCTIONS[name](distances))

    rows = []
    for name in names:
        rows += [MetricValue(name, c, v) for c, v in zip(classes, values[name], strict=True)]
        rows.append(MetricValue(name, MEAN_LABEL, _nan_mean(values[name])))
    return rows


def _class_counts(pred: np.ndarray, ref: np.ndarray, n_classes: int,
                  spacing: tuple[float, ...]) -> list[overlap.OverlapCounts]:
    """One :class:`~medselect.metrics.overlap.OverlapCounts` per foreground class."""
    width = n_classes + 1
    joint = np.bincount(ref.ravel().astype(np.intp) * width + pred.ravel(), minlength=width**2)
    confusion = joint.reshape(width, width)  # rows: reference label, columns: predicted label
    tp = np.diag(confusion)
    fp, fn = confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp
    volume = voxel_volume(spacing)
    return [overlap.OverlapCounts(int(tp[i]), int(fp[i]), int(fn[i]), volume)
            for i in range(1, width)]


def _class_distances(pred: np.ndarray, ref: np.ndarray, n_classes: int,
                     spacing: tuple[float, ...]) -> list[surface.SurfaceDistances]:
    """One :class:`~medselect.metrics.surface.SurfaceDistances` per foreground class."""
    diagonal = image_diagonal_mm(pred.shape, spacing)
    if n_classes == 1:  # one class: three projections instead of find_objects' full pass
        pred_boxes, ref_boxes = [surface.bounding_box(pred | ref)], [None]
    else:
        pred_boxes = ndimage.find_objects(pred, max_label=n_classes)
        ref_boxes = ndimage.find_objects(ref, max_label=n_classes)
    out = []
    for index, (a, b) in enumerate(zip(pred_boxes, ref_boxes, strict=True), start=1):
        union = _union(a, b)
        crop = surface.margin_box(union, pred.shape) if union else (slice(0, 0),) * pred.ndim
        out.append(surface.box_distances(pred[crop] == index, ref[crop] == index, spacing,
                                         diagonal))
    return out


def _union(a: tuple[slice, ...] | None, b: tuple[slice, ...] | None) -> tuple[slice, ...] | None:
    if a is None or b is None:
        return a or b
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop))
                 for x, y in zip(a, b, strict=True))


def _nan_mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def _check_metrics(metrics: Sequence[str] | None) -> list[str]:
    if metrics is None:
        return list(SEGMENTATION_METRICS)
    if isinstance(metrics, str):
        raise ConfigError(f"metrics must be a list of names, got the string {metrics!r}; "
                          f"write [{metrics!r}]")
    names = []
    for name in metrics:
        spec = get_metric(name)
        if spec.name not in SEGMENTATION_METRICS:
            raise ConfigError(f"metric {name!r} is a {spec.family} metric, not a segmentation "
                              f"metric; choose from: {', '.join(SEGMENTATION_METRICS)}")
        if spec.name not in names:
            names.append(spec.name)
    return names


def _check_classes(classes: Sequence[str]) -> list[str]:
    if isinstance(classes, str) or not classes:
        raise ConfigError(f"classes must be a non-empty list of foreground class names, "
                          f"got {classes!r}")
    names = [str(c) for c in classes]
    if len(set(names)) != len(names) or MEAN_LABEL in names:
        raise ConfigError(f"class names must be unique and not {MEAN_LABEL!r}, got {names}")
    return names


def _check_labels(labels: np.ndarray, role: str, n_classes: int) -> np.ndarray:
    """``labels`` as a non-negative integer array with values in 0..n_classes."""
    array = np.asarray(labels)
    if array.ndim not in (2, 3):
        raise DataError(f"{role} label map must be 2D or 3D, got shape {array.shape}")
    if array.dtype == bool:
        array = array.view(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.array_equal(array, np.rint(array)):
            raise DataError(f"{role} label map holds non-integer values (dtype {array.dtype}); "
                            f"give integer class labels, not probabilities")
        array = array.astype(np.int64)
    low, high = int(array.min(initial=0)), int(array.max(initial=0))
    if low < 0 or high > n_classes:
        raise DataError(f"{role} label map holds label {low if low < 0 else high}, outside "
                        f"0..{n_classes} (background and {n_classes} classes); check the "
                        f"class list or the label file")
    return array


def _check_tolerances(tolerance: float | Mapping[str, float],
                      classes: list[str]) -> dict[str, float]:
    if not isinstance(tolerance, Mapping):
        value = surface.check_tolerance(tolerance)
        return dict.fromkeys(classes, value)
    missing = [c for c in classes if c not in tolerance]
    unknown = [c for c in tolerance if c not in classes]
    if missing or unknown:
        raise ConfigError(f"nsd_tolerance_mm must give one tolerance per class {classes}; "
                          f"missing {missing}, unknown {unknown}")
    return {c: surface.check_tolerance(tolerance[c], f"nsd_tolerance_mm[{c!r}]")
            for c in classes}
