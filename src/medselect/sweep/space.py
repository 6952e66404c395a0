"""Expand a sweep's search space into the run configurations to train.

Grid takes every combination of the axes, random draws ``samples`` distinct combinations
(drawn as indices, without enumerating the grid), and list takes explicit
configurations. The result is deterministic for a given spec and free of duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medselect.config.run import RunConfig, config_hash
from medselect.config.search import Range
from medselect.errors import ConfigError


def expand_space(
    strategy: str,
    axes: Mapping[str, Sequence[Any] | Range],
    *,
    configs: Sequence[Mapping[str, Any]] = (),
    samples: int | None = None,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
) -> list[RunConfig]:
    """The run configurations a sweep trains, in a stable order.

    Args:
        strategy: ``grid``, ``random`` or ``list``.
        axes: RunConfig field name -> the values to try (the ``sweep.space`` section).
        configs: explicit partial configurations (``list``); missing fields take the first
            value of the matching axis.
        samples: how many distinct combinations ``random`` draws.
        seed: random draw seed.
        fixed: fields set on every configuration (e.g. early-stopping patience).

    Raises:
        ConfigError: on an unknown strategy, empty axis or a sample count that cannot be met.
    """
    names = list(axes)
    for name in names:
        if not axes[name]:
            raise ConfigError(f"sweep.space.{name}: the axis is empty; give at least one value")
    base = {name: _first(axes[name]) for name in names} | dict(fixed or {})
    if strategy == "grid":
        combos = _grid(axes, names)
    elif strategy == "random":
        combos = _random(axes, names, samples, seed)
    elif strategy == "list":
        if not configs:
            raise ConfigError("sweep.configs: strategy 'list' needs at least one configuration")
        combos = [dict(c) for c in configs]
    else:
        raise ConfigError(
            f"sweep.strategy: unknown strategy {strategy!r}; choose one of: grid, random, list"
        )
    seen: dict[str, RunConfig] = {}
    for i, combo in enumerate(combos):
        try:
            config = RunConfig(**(base | combo | dict(fixed or {})))
        except ValueError as exc:
            where = f"sweep.configs[{i}]" if strategy == "list" else "sweep.space"
            raise ConfigError(f"{where}: {_first_error(exc)}") from None
        seen.setdefault(config_hash(config), config)
    return list(seen.values())


def _first(axis: Sequence[Any] | Range) -> Any:
    """The value a ``list`` configuration takes for a field it leaves out: the axis's first
    value, or a range's lower end."""
    return axis.bounds[0] if isinstance(axis, Range) else axis[0]


def _grid(axes: Mapping[str, Sequence[Any]], names: list[str]) -> list[dict[str, Any]]:
    sizes = [len(axes[n]) for n in names]
    return [_decode(i, axes, names, sizes) for i in range(math.prod(sizes))]


def _random(
    axes: Mapping[str, Sequence[Any]], names: list[str], samples: int | None, seed: int
) -> list[dict[str, Any]]:
    sizes = [len(axes[n]) for n in names]
    total = math.prod(sizes)
    if samples is None or samples < 1:
        raise ConfigError("sweep.samples: strategy 'random' needs samples >= 1")
    if samples > total:
        raise ConfigError(
            f"sweep.samples: {samples} samples asked but the space holds only {total} "
            "combinations; lower samples or use strategy 'grid'"
        )
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=samples, replace=False)
    return [_decode(int(i), axes, names, sizes) for i in picked]


def _decode(
    index: int, axes: Mapping[str, Sequence[Any]], names: list[str], sizes: list[int]
) -> dict[str, Any]:
    """The combination at mixed-radix ``index`` (last axis varies fastest)."""
    combo: dict[str, Any] = {}
    for name, size in zip(reversed(names), reversed(sizes), strict=True):
        index, digit = divmod(index, size)
        combo[name] = axes[name][digit]
    return {name: combo[name] for name in names}


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{loc}: {msg}" if loc else msg
    return str(exc)
