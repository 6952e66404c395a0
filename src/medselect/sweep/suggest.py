"""The search space as Optuna sees it, and a trial's parameters back as a run configuration.

An axis of several values is a categorical choice (of its values as the file writes them:
``unet``, ``64x64``), a :class:`~medselect.config.search.Range` a float (log-scaled for
``log_uniform``) or an int distribution. An axis of one value is fixed and not a parameter,
so the study has only the dimensions that vary. :func:`config_of` rebuilds a RunConfig from a
trial's parameters, so a run's id is the hash of its configuration whichever trial proposed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from medselect.config.run import RunConfig
from medselect.config.search import Range

Axes = Mapping[str, Sequence[Any] | Range]


def distributions(axes: Axes) -> dict[str, BaseDistribution]:
    """One Optuna distribution per axis that varies, by RunConfig field name.

    >>> from medselect.config.search import Range
    >>> dists = distributions({"loss": ["dice", "focal"], "epochs": [5],
    ...                        "learning_rate": Range(log_uniform=(1e-4, 1e-2))})
    >>> sorted(dists), dists["learning_rate"].log
    (['learning_rate', 'loss'], True)
    """
    out: dict[str, BaseDistribution] = {}
    for name, values in axes.items():
        if isinstance(values, Range):
            low, high = values.bounds
            out[name] = (IntDistribution(low, high) if values.kind == "int" else
                         FloatDistribution(low, high, log=values.kind == "log_uniform"))
        elif len(values) > 1:
            out[name] = CategoricalDistribution([_choice(v) for v in values])
    return out


def config_of(axes: Axes, params: Mapping[str, Any],
              fixed: Mapping[str, Any] | None = None) -> RunConfig:
    """The run configuration of a trial's ``params``: each varying axis from its parameter,
    each one-value axis from that value, then ``fixed`` (e.g. early-stopping patience)."""
    values: dict[str, Any] = {}
    for name, axis in axes.items():
        if isinstance(axis, Range):
            values[name] = params[name]
        elif len(axis) > 1:
            values[name] = axis[[_choice(v) for v in axis].index(params[name])]
        else:
            values[name] = axis[0]
    return RunConfig(**(values | dict(fixed or {})))


def corner_axes(axes: Axes) -> dict[str, list[Any]]:
    """The axes with each range replaced by its two ends: a grid over them holds the extreme
    configurations, which are checked against the data before any trial trains."""
    return {name: list(axis.bounds) if isinstance(axis, Range) else list(axis)
            for name, axis in axes.items()}


def max_epochs(axes: Axes) -> int:
    """The most epochs any configuration of the space trains."""
    epochs = axes["epochs"]
    return int(max(epochs.bounds if isinstance(epochs, Range) else epochs))


def _choice(value: Any) -> Any:
    """A value as an Optuna categorical choice: names for enums, ``64x64`` for sizes."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return "x".join(str(v) for v in value)
    return value
