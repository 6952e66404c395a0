"""Properties of the gate on random per-case tables (hypothesis)."""

from __future__ import annotations

import numpy as np
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


GATES = 1000
"""Simulated gates per drawn setting of the false-promotion property."""


def _equal_quality_tables(rng: np.random.Generator, n_patients: int, slices: int,
                          n_sites: int, sd_patient: float, sd_model: float,
                          sd_slice: float) -> list[pd.DataFrame]:
    """``GATES`` per-case tables of two models of equal quality (Dice-like, clipped to [0, 1]):
    a patient effect both share, a model-by-patient effect and slice noise. All of them are
    drawn in one go; only the tables are built one by one."""
    n_cases = n_patients * slices
    patient = rng.normal(0, sd_patient, (GATES, n_patients, 1)) + rng.normal(
        0, sd_model, (GATES, n_patients, 2))
    values = np.clip(0.85 + np.repeat(patient, slices, axis=1)
                     + rng.normal(0, sd_slice, (GATES, n_cases, 2)), 0, 1)
    patients = np.repeat([f"p{i}" for i in range(n_patients)], slices)
    sites = np.repeat([f"s{i % n_sites}" for i in range(n_patients)], slices)
    fixed = {"case_id": np.tile([f"c{i}" for i in range(n_cases)], 2), "metric": "m",
             "label": "mean", "model": np.repeat(["old", "new"], n_cases),
             "patient_id": np.tile(patients, 2), "site": np.tile(sites, 2)}
    return [pd.DataFrame({**fixed, "value": v.T.ravel()}) for v in values]


@settings(max_examples=2, deadline=None)  # each setting runs 1000 gates: ~4 s
@given(n_patients=st.integers(10, 40), slices=st.integers(1, 6), n_sites=st.integers(1, 3),
       sd_patient=st.floats(0.0, 0.1), sd_model=st.floats(0.005, 0.04),
       sd_slice=st.floats(0.005, 0.04), test=TESTS, seed=st.integers(0, 2**32 - 1))
def test_an_equal_candidate_is_promoted_at_most_at_the_looks_level(
        n_patients, slices, n_sites, sd_patient, sd_model, sd_slice, test, seed):
    """Over 1000 simulated gates, a candidate no better than the champion passes at most at
    the look's level (the first look: alpha / 2), up to 3 Monte-Carlo standard errors."""
    crit = GateCriteria(MetricMargin("m"), test=test, n_resamples=200, seed=seed % 1000)
    level = crit.look().alpha
    tables = _equal_quality_tables(np.random.default_rng(seed), n_patients, slices, n_sites,
                                   sd_patient, sd_model, sd_slice)
    promoted = sum(evaluate_gate("new", ["old"], t, crit, directions={"m": "higher"}).accepted
                   for t in tables)
    assert promoted / GATES <= level + 3 * np.sqrt(level * (1 - level) / GATES)
