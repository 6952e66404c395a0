"""Every metric medselect computes, by name, with a did-you-mean lookup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from medselect.config.choices import unknown_choice
from medselect.errors import ConfigError
from medselect.metrics import classification, landmarks, overlap, review, surface
from medselect.metrics.spec import Family, MetricSpec, SetMetric

METRICS: Mapping[str, MetricSpec] = MappingProxyType({
    spec.name: spec
    for module in (overlap, surface, landmarks, classification, review)
    for spec in module.SPECS
})
"""Metric name -> :class:`MetricSpec`, in family order (overlap, surface, landmarks,
classification, review)."""

SET_METRICS: Mapping[str, SetMetric] = MappingProxyType({
    **classification.SET_METRICS, **review.SET_METRICS})
"""Set metric name -> how ranking computes it from the per-case table: classification's (AUC,
calibration, ...) and the expert acceptance rate."""


def get_metric(name: str) -> MetricSpec:
    """The spec of the metric called ``name``.

    Raises:
        ConfigError: no metric has that name; the message suggests the closest one.

    Example::

        >>> get_metric("hd95").direction
        <Direction.LOWER: 'lower'>
    """
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(unknown_choice("metric", name, list(METRICS))) from None


def metrics_of(*families: Family) -> tuple[MetricSpec, ...]:
    """The specs of the given families, in :data:`METRICS` order."""
    return tuple(spec for spec in METRICS.values() if spec.family in families)


def directions(names: Iterable[str]) -> dict[str, str]:
    """``name -> "higher"|"lower"`` for the known metrics among ``names`` (as ranking takes it),
    and for every set metric whose source is among them (AUC when ``class_probability`` is)."""
    names = set(names)
    found = {n: METRICS[n].direction.value for n in names if n in METRICS}
    found.update({name: METRICS[name].direction.value for name, sm in SET_METRICS.items()
                  if sm.source in names})
    return found
