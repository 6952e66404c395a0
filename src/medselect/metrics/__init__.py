"""Per-case metrics on arrays and spacing, one module per family, every definition documented.

- :mod:`~medselect.metrics.overlap`: Dice, IoU, precision, sensitivity, volume differences.
- :mod:`~medselect.metrics.surface`: HD, HD95, ASSD, NSD (MONAI's definitions, in mm).
- :mod:`~medselect.metrics.landmarks`: radial error, MRE, success detection rates.
- :mod:`~medselect.metrics.classification`: per-case probabilities and correctness, and
  the set metrics ranking computes over many cases (AUC, calibration).
- :mod:`~medselect.metrics.review`: the experts' acceptance of predictions, ranked like a
  set metric over the reviewed cases.
- :mod:`~medselect.metrics.segmentation`: the engine computing a whole multi-class case.

Each metric has a :class:`MetricSpec` in :data:`METRICS` (direction, unit, definition and the
empty-mask policy, stored with results) and, where one makes sense, a default equivalence margin
(:mod:`~medselect.metrics.margins`). No torch or MONAI import: MONAI is the reference the
tests and benchmark compare against, not a dependency of this package.
"""

from medselect.metrics.catalogue import METRICS, SET_METRICS, directions, get_metric, metrics_of
from medselect.metrics.classification import (
    auc,
    balanced_accuracy,
    classification_case_metrics,
    expected_calibration_error,
    mean_recall,
    sensitivity_at_threshold,
    specificity_at_threshold,
)
from medselect.metrics.geometry import image_diagonal_mm
from medselect.metrics.landmarks import (
    SDR_RADII_MM,
    centroids_from_labels,
    landmark_metrics,
    mean_radial_error,
    radial_errors,
    success_detection_rate,
)
from medselect.metrics.margins import EQUIVALENCE_MARGINS, margins
from medselect.metrics.overlap import OverlapCounts
from medselect.metrics.segmentation import SEGMENTATION_METRICS, segmentation_metrics
from medselect.metrics.spec import (
    Direction,
    EmptyMaskPolicy,
    EmptyRule,
    Family,
    MetricSpec,
    SetMetric,
    Unit,
)
from medselect.metrics.surface import SurfaceDistances, boundary, surface_distances
from medselect.metrics.values import CASE_LABEL, MEAN_LABEL, MetricValue

__all__ = [
    "CASE_LABEL",
    "EQUIVALENCE_MARGINS",
    "MEAN_LABEL",
    "METRICS",
    "SDR_RADII_MM",
    "SEGMENTATION_METRICS",
    "SET_METRICS",
    "Direction",
    "EmptyMaskPolicy",
    "EmptyRule",
    "Family",
    "MetricSpec",
    "MetricValue",
    "OverlapCounts",
    "SetMetric",
    "SurfaceDistances",
    "Unit",
    "auc",
    "balanced_accuracy",
    "boundary",
    "centroids_from_labels",
    "classification_case_metrics",
    "directions",
    "expected_calibration_error",
    "get_metric",
    "image_diagonal_mm",
    "landmark_metrics",
    "margins",
    "mean_radial_error",
    "mean_recall",
    "metrics_of",
    "radial_errors",
    "segmentation_metrics",
    "sensitivity_at_threshold",
    "specificity_at_threshold",
    "success_detection_rate",
    "surface_distances",
]
