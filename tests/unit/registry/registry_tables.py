"""Per-case tables for the registry tests, written out so every decision can be checked by
hand (the workspace fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from medselect.config import TaskSpec
from medselect.registry import GateCriteria, MetricMargin

TASK = TaskSpec(name="knee", classes=["background", "bone"])

DIRECTIONS = {"dice": "higher", "hd95": "lower"}
CASES = [f"c{i:02d}" for i in range(12)]
SITES = ["A"] * 6 + ["B"] * 6
VAL_CASES = [f"v{i:02d}" for i in range(8)]
VAL_SITES = ["A"] * 4 + ["B"] * 4
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




def case_rows(case_ids: Sequence[str], sites: Sequence[str], split: str) -> list[dict]:
    """Stored ``case`` rows: patient ``p-<case>``, image ``images/<case>.nii.gz``."""
    return [{"case_id": c, "patient_id": f"p-{c}", "site": s, "split": split,
             "image_uris": [f"images/{c}.nii.gz"], "label_uri": f"labels/{c}.nii.gz",
             "content_hash": f"h-{c}"} for c, s in zip(case_ids, sites, strict=True)]
