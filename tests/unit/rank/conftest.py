"""Tiny per-case tables for the ranking tests, written out so answers can be checked by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest


def build_table(
    scores: Mapping[str, Sequence[float]],
    metric: str = "dice",
    *,
    label: str = "mean",
    sites: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long per-case table from ``{model: [value per case]}`` (NaN = missing value)."""
    n = len(next(iter(scores.values())))
    cases = list(cases) if cases is not None else [f"c{i:03d}" for i in range(n)]
    rows = [
        {"model": model, "case_id": cases[i], "metric": metric, "label": label,
         "value": float(v), **({"site": sites[i]} if sites is not None else {})}
        for model, values in scores.items()
        for i, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def table_of():
    """The :func:`build_table` helper, as a fixture."""
    return build_table


@pytest.fixture
def noisy_table():
    """Three models on 60 cases of two sites: 'good' > 'fair' > 'poor' by clear margins."""
    rng = np.random.default_rng(7)
    base = rng.normal(0.75, 0.05, 60)
    scores = {"good": base + 0.10 + rng.normal(0, 0.01, 60),
              "fair": base + 0.05 + rng.normal(0, 0.01, 60),
              "poor": base + rng.normal(0, 0.01, 60)}
    return build_table(scores, sites=["A"] * 30 + ["B"] * 30)
