"""What an evaluation computes, and the record of it stored with every result.

A :class:`MetricPolicy` fixes the metric names, the task's foreground classes, the NSD tolerance
of each class and the inference settings that change predictions. Its :meth:`~MetricPolicy.as_dict`
goes into ``evaluation.metric_policy`` (each metric's direction, unit, definition and empty-mask
policy included, so a value is never separated from the definition that made it) and into the
evaluation id, so changing any of them makes a new evaluation instead of reusing an old one.

Example::

    >>> policy = MetricPolicy.for_task(task, EvaluationSpec(metrics=["dice", "hd95"]))
    >>> policy.key_metric, policy.labelled_rows()[:2]
    ('dice', [('dice', 'femur'), ('dice', 'tibia')])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from medselect.config import DEFAULT_METRICS, EvaluationSpec, TaskKind, TaskSpec
from medselect.errors import ConfigError
from medselect.metrics import (
    CASE_LABEL,
    MEAN_LABEL,
    SEGMENTATION_METRICS,
    SET_METRICS,
    Family,
    get_metric,
    metrics_of,
)
from medselect.metrics.classification import CLASS_PROBABILITY

RADIAL_ERROR = "radial_error"  # the one landmark metric with a row per landmark


@dataclass(frozen=True)
class MetricPolicy:
    """The metrics of an evaluation and everything else that decides their values.

    Args:
        metrics: metric names in report order; the first is the key metric (summaries, overlays).
        classes: foreground class names; ``classes[i]`` is label value ``i + 1``. For a
            classification task every class, ``classes[i]`` being class index ``i``.
        nsd_tolerance_mm: NSD tolerance in mm per class.
        landmarks: landmark names whose points are the centroids of the classes of the same
            name (landmark metrics of a segmentation task); empty when none are evaluated.
        sliding_window: trained models predict with sliding windows instead of resizing.
        predicts_points: predictions are landmark points (``(landmarks, ndim)`` voxel
            coordinates in ``landmarks`` order: a landmarks task), not label maps.
        predicts_probabilities: predictions are ``(classes,)`` class probabilities (a
            classification task), scored against the case's target class.
    """

    metrics: tuple[str, ...]
    classes: tuple[str, ...]
    nsd_tolerance_mm: Mapping[str, float] = field(default_factory=dict)
    landmarks: tuple[str, ...] = ()
    sliding_window: bool = False
    predicts_points: bool = False
    predicts_probabilities: bool = False

    @classmethod
    def for_task(
        cls, task: TaskSpec, spec: EvaluationSpec | None = None, *, sliding_window: bool = False
    ) -> MetricPolicy:
        """The policy of ``spec`` (default: the task family's default metrics) for ``task``.

        Raises:
            ConfigError: the task family cannot be evaluated here, a metric is unknown, is not
                computed per case, or does not fit the task (landmark metrics need landmarks
                that are class names).
        """
        if spec is None:
            spec = EvaluationSpec(metrics=list(DEFAULT_METRICS[task.family]))
        if task.family is TaskKind.CLASSIFICATION:
            # set metrics (auc, ece, ...) are computed by ranking from their per-case sources
            metrics = tuple(dict.fromkeys(_class_metric_source(name, task)
                                          for name in spec.metrics))
            return cls(metrics=metrics, classes=tuple(task.classes),
                       sliding_window=sliding_window, predicts_probabilities=True)
        if task.family is TaskKind.LANDMARKS:
            return cls(metrics=tuple(_check_point_metric(name, task) for name in spec.metrics),
                       classes=(), landmarks=tuple(task.landmarks),
                       sliding_window=sliding_window, predicts_points=True)
        foreground = tuple(task.foreground)
        metrics = tuple(_check_metric(name, task) for name in spec.metrics)
        wants_points = any(get_metric(m).family is Family.LANDMARKS for m in metrics)
        return cls(
            metrics=metrics,
            classes=foreground,
            nsd_tolerance_mm=spec.nsd_tolerance_mm.for_classes(foreground)
            if "nsd" in metrics else {},
            landmarks=tuple(task.landmarks) if wants_points else (),
            sliding_window=sliding_window,
        )

    @property
    def key_metric(self) -> str:
        """The metric summaries and overlays lead with: the first one listed with a per-case
        mean (``radial_error``, one row per landmark, gives way to ``mre``)."""
        return next((m for m in self.metrics if m != RADIAL_ERROR), self.metrics[0])

    @property
    def key_label(self) -> str:
        """The label of the key metric's per-case summary row: the mean, or for
        classification the case's one value."""
        return CASE_LABEL if self.predicts_probabilities else MEAN_LABEL

    @property
    def segmentation_metrics(self) -> list[str]:
        return [m for m in self.metrics if m in SEGMENTATION_METRICS]

    @property
    def landmark_metrics(self) -> list[str]:
        return [m for m in self.metrics if get_metric(m).family is Family.LANDMARKS]

    def labelled_rows(self) -> list[tuple[str, str]]:
        """Every (metric, label) a labelled case gets: per class (or landmark) and the mean.

        A case without a usable prediction gets exactly these rows with NULL values, so it is
        counted (and ranked worst) rather than dropped.
        """
        rows = []
        for metric in self.metrics:
            if metric == CLASS_PROBABILITY.name:  # the classification metric with a row per class
                rows += [(metric, label) for label in self.classes]
            elif self.predicts_probabilities:
                rows.append((metric, CASE_LABEL))
            elif metric in SEGMENTATION_METRICS:
                rows += [(metric, label) for label in (*self.classes, MEAN_LABEL)]
            elif metric == RADIAL_ERROR:
                rows += [(metric, name) for name in self.landmarks]
            else:
                rows.append((metric, MEAN_LABEL))
        return rows

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe record stored as ``evaluation.metric_policy``."""
        return {
            "metrics": {name: get_metric(name).as_dict() for name in self.metrics},
            "order": list(self.metrics),
            "key_metric": self.key_metric,
            "classes": list(self.classes),
            "landmarks": list(self.landmarks),
            "nsd_tolerance_mm": dict(self.nsd_tolerance_mm),
            "inference": {"sliding_window": self.sliding_window},
            # only landmark tasks carry the key, so segmentation evaluation ids are unchanged
            **({"predictions": "points"} if self.predicts_points else {}),
            **({"predictions": "probabilities"} if self.predicts_probabilities else {}),
        }


def _check_metric(name: str, task: TaskSpec) -> str:
    spec = get_metric(name)
    if not spec.per_case:
        raise ConfigError(f"evaluation.metrics: {name!r} is computed over many cases by "
                          f"ranking, not per case; leave it out of evaluation.metrics")
    if spec.family is Family.LANDMARKS:
        missing = [n for n in task.landmarks if n not in task.foreground]
        if not task.landmarks or missing:
            raise ConfigError(
                f"evaluation.metrics: {name!r} needs landmark points, which a segmentation "
                f"task gets as centroids of classes named like its landmarks; task "
                f"{task.name!r} has landmarks {list(task.landmarks)} and classes "
                f"{list(task.foreground)}; remove {name!r} or name landmarks after classes")
    elif name not in SEGMENTATION_METRICS:
        raise ConfigError(f"evaluation.metrics: {name!r} is a {spec.family} metric and task "
                          f"{task.name!r} is a segmentation task; choose from "
                          f"{', '.join(SEGMENTATION_METRICS)}")
    return name


def _check_point_metric(name: str, task: TaskSpec) -> str:
    spec = get_metric(name)
    if spec.family is not Family.LANDMARKS or not spec.per_case:
        raise ConfigError(f"evaluation.metrics: {name!r} is not a per-case landmark metric and "
                          f"task {task.name!r} is a landmarks task; choose from radial_error, "
                          f"mre and the sdr_* rates")
    return name


def _class_metric_source(name: str, task: TaskSpec) -> str:
    """The per-case metric stored for ``name``: itself, or a set metric's source.

    Raises:
        ConfigError: ``name`` is not a classification metric.
    """
    spec = get_metric(name)
    if spec.family is not Family.CLASSIFICATION:
        choices = ", ".join(s.name for s in metrics_of(Family.CLASSIFICATION))
        raise ConfigError(f"evaluation.metrics: {name!r} is a {spec.family} metric and task "
                          f"{task.name!r} is a classification task; choose from {choices}")
    return SET_METRICS[name].source if name in SET_METRICS else name


def spec_of_policy(policy: Mapping[str, Any]) -> EvaluationSpec:
    """The evaluation settings a stored policy was computed with (its metrics in order and its
    NSD tolerance per class), so a later evaluation of the task computes the same values."""
    tolerances = dict(policy.get("nsd_tolerance_mm") or {})
    default = max(tolerances.values(), default=1.0)
    return EvaluationSpec(metrics=list(policy["order"]),
                          nsd_tolerance_mm={"default": default, **tolerances})
