"""Properties of the gate on random per-case tables (hypothesis)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from medselect.registry import GateCriteria, MetricMargin, evaluate_gate

TESTS = st.sampled_from(["bootstrap", "wilcoxon"])
DIRECTION = st.sampled_from(["higher", "lower"])
SETTINGS = settings(max_examples=50, deadline=None)


@st.composite
def paired(draw, all_worse: bool):
    """(incumbent values, candidate values, sites) on 1..30 cases."""
    n = draw(st.integers(1, 30))
    values = st.floats(0.0, 1.0, allow_nan=False)
    old = draw(st.lists(values, min_size=n, max_size=n))
    if all_worse:
        gaps = draw(st.lists(st.floats(1e-6, 0.5), min_size=n, max_size=n))
        new = [o - g for o, g in zip(old, gaps, strict=True)]  # worse when higher is better
    else:
        new = draw(st.lists(values, min_size=n, max_size=n))
    sites = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n, max_size=n))
    return old, new, sites


def _table(old, new, sites) -> pd.DataFrame:
    return pd.DataFrame([
        {"model": model, "case_id": f"c{i}", "metric": "m", "label": "mean", "value": v,
         "site": sites[i]}
        for model, values in (("old", old), ("new", new)) for i, v in enumerate(values)])


def _accepted(frame, margin, test, direction) -> bool:
    crit = GateCriteria(MetricMargin("m", margin=margin), test=test, min_patients=1,
                        n_resamples=200, seed=3)
    return evaluate_gate("new", ["old"], frame, crit, directions={"m": direction}).accepted


@SETTINGS
@given(paired(all_worse=True), st.floats(0.0, 0.5), TESTS, DIRECTION)
def test_never_promotes_a_candidate_worse_on_every_case(data, margin, test, direction):
    old, new, sites = data
    if direction == "lower":  # mirror: the candidate's values are now the larger ones
        old, new = [-v for v in old], [-v for v in new]
    assert not _accepted(_table(old, new, sites), margin, test, direction)


@SETTINGS
@given(paired(all_worse=False), st.floats(0.0, 0.5), st.floats(0.0, 1.0), TESTS, DIRECTION)
def test_promotion_is_monotone_in_the_margin(data, margin, fraction, test, direction):
    frame = _table(*data)
    smaller = margin * fraction
    if _accepted(frame, margin, test, direction):
        assert _accepted(frame, smaller, test, direction)
