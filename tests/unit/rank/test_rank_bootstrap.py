import numpy as np
import pytest

from medselect.rank import (
    CaseFunction,
    Mean,
    percentile_interval,
    resample_index,
    resampled_aggregates,
)
from medselect.rank.bootstrap import interval_caveat


def test_ci_covers_the_true_mean_in_at_least_92_percent_of_300_repetitions():
    """Normal per-case scores, 60 cases, 300 independent repetitions (own data, own 1000
    resamples): the 95 % percentile interval must cover the true mean in >= 92 % of them
    (percentile intervals run slightly narrow; about 94 % is expected)."""
    rng = np.random.default_rng(2024)
    true_mean, n_cases, repetitions = 0.7, 60, 300
    values = rng.normal(true_mean, 0.1, size=(n_cases, repetitions))
    covered = 0
    for r in range(repetitions):
        index = resample_index(n_cases, 1000, seed=rng)
        low, high = percentile_interval(resampled_aggregates(values[:, [r]], Mean(), index))
        covered += bool(low[0] <= true_mean <= high[0])
    assert covered / repetitions >= 0.92


def test_stratified_resamples_keep_each_stratum_size():
    strata = np.array([0, 0, 0, 1, 1, 2, 2])
    index = resample_index(7, 50, strata=strata, seed=1)
    assert index.shape == (50, 7)
    for row in index:
        assert np.bincount(strata[row], minlength=3).tolist() == [3, 2, 2]


def test_a_single_case_stratum_turns_stratification_off():
    # Stratified, the lone case of stratum 2 would be in every resample: a zero-width interval.
    strata = np.array([0, 0, 0, 1, 1, 2])
    index = resample_index(6, 200, strata=strata, seed=1)
    assert not (index[:, 5] == 5).all()
    assert {np.bincount(strata[row], minlength=3)[2] for row in index} != {1}


def test_same_seed_same_index():
    np.testing.assert_array_equal(resample_index(20, 10, seed=3), resample_index(20, 10, seed=3))
    assert not np.array_equal(resample_index(20, 10, seed=3), resample_index(20, 10, seed=4))


def test_mean_fast_path_equals_gathering():
    rng = np.random.default_rng(0)
    values = rng.random((15, 4))
    index = resample_index(15, 30, seed=0)
    fast = resampled_aggregates(values, Mean(), index)
    slow = resampled_aggregates(values, CaseFunction("mean", np.mean), index)
    np.testing.assert_allclose(fast, slow)
    np.testing.assert_allclose(fast, values[index].mean(axis=1))


def test_interval_is_ordered_and_caveats_name_the_reason():
    low, high = percentile_interval(np.arange(100.0)[:, None], 0.9)
    assert low[0] == pytest.approx(4.95) and high[0] == pytest.approx(94.05)
    assert "only 2 cases" in interval_caveat(2)
    assert "only 1 case;" in interval_caveat(1)
    assert "single case" in interval_caveat(30, np.array([0] * 29 + [1]))
    assert interval_caveat(30, np.array([0] * 15 + [1] * 15)) is None
