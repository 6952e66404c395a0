"""Per-case tables for the registry tests, written out so every decision can be checked by
hand (the workspace fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from medselect.registry import GateCriteria, MetricMargin

DIRECTIONS = {"dice": "higher", "hd95": "lower"}
CASES = [f"c{i:02d}" for i in range(12)]
SITES = ["A"] * 6 + ["B"] * 6
BASE_DICE = [0.70, 0.72, 0.74, 0.76, 0.78, 0.80, 0.71, 0.73, 0.75, 0.77, 0.79, 0.81]
# per-case noise, so that paired differences are not all equal
WOBBLE = [0.004, -0.003, 0.002, -0.001, 0.003, -0.004, 0.001, -0.002, 0.004, -0.003, 0.0, 0.002]


def table(
    models: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    sites: Sequence[str] = SITES,
    label: str = "mean",
) -> pd.DataFrame:
    """Long per-case table from ``{model: {metric: [value per case]}}`` (NaN: missing)."""
    rows = [
        {"model": model, "case_id": f"c{i:02d}", "metric": metric, "label": label,
         "value": float(value), "site": sites[i]}
        for model, metrics in models.items()
        for metric, values in metrics.items()
        for i, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def shifted(values: Sequence[float], by: float | Sequence[float]) -> list[float]:
    steps = [by] * len(values) if isinstance(by, int | float) else list(by)
    return [v + s for v, s in zip(values, steps, strict=True)]


def criteria(margin: float = 0.0, **kwargs: Any) -> GateCriteria:
    """Dice primary criteria; bootstrap kept small so the tests stay fast."""
    kwargs.setdefault("min_patients", 5)
    kwargs.setdefault("n_resamples", 400)
    return GateCriteria(MetricMargin("dice", margin=margin), **kwargs)


