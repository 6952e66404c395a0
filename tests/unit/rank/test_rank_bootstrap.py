import numpy as np
import pytest
from scipy import stats

from medselect.rank import (
    CaseFunction,
    Clusters,
    Mean,
    Median,
    Percentile,
    TrimmedMean,
    percentile_interval,
    resample_weights,
    resampled_aggregates,
    tail_pvalue,
)
from medselect.rank.bootstrap import (
    interval_caveat,
    patient_resampled_aggregates,
    resample_counts,
)


def test_ci_covers_the_true_mean_in_at_least_93_percent_of_300_repetitions():
    """Normal per-case scores, 20 patients, 300 independent repetitions (own data, own 1000
    resamples): the expanded 95 % interval covers the true mean in >= 93 % of them (a plain
    percentile interval runs at about 92 % with 20 patients)."""
    rng = np.random.default_rng(2024)
    true_mean, n, repetitions = 0.7, 20, 300
    values = rng.normal(true_mean, 0.1, size=(n, repetitions))
    clusters = Clusters.of(n)
    covered = 0
    for r in range(repetitions):
        weights = resample_weights(clusters, 1000, seed=rng)
        samples = resampled_aggregates(values[:, [r]], Mean(), weights)
        low, high = percentile_interval(samples, 0.95, clusters)
        covered += bool(low[0] <= true_mean <= high[0])
    assert covered / repetitions >= 0.93


def test_eight_identical_slices_per_patient_give_the_interval_of_one_slice_per_patient():
    rng = np.random.default_rng(5)
    per_patient = rng.normal(0.8, 0.05, size=(12, 2))
    one = Clusters.of(12, [f"p{i}" for i in range(12)])
    eight = Clusters.of(96, [f"p{i}" for i in range(12) for _ in range(8)])
    sliced = np.repeat(per_patient, 8, axis=0)
    a = resampled_aggregates(per_patient, Mean(), resample_weights(one, 500, seed=3))
    b = resampled_aggregates(sliced, Mean(), resample_weights(eight, 500, seed=3))
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(percentile_interval(a, 0.95, one),
                               percentile_interval(b, 0.95, eight), atol=1e-12)
    assert eight.n_patients == 12 and not eight.assumed and one.assumed


@pytest.mark.parametrize("aggregate", [Mean(), Median(), TrimmedMean(0.2)])
@pytest.mark.parametrize("patients", [None, [f"p{i % 7}" for i in range(23)]])
def test_patient_counts_give_the_aggregates_of_the_case_weights(aggregate, patients):
    """Means from per-patient sums, and the other aggregates from the counts spread over each
    patient's cases, equal the case-weight computation on the same draw."""
    rng = np.random.default_rng(8)
    values = rng.normal(0.8, 0.1, size=(23, 4))
    clusters = Clusters.of(23, patients, ["x", "y"] * 11 + ["x"])
    counts = resample_counts(clusters, 300, seed=4)
    np.testing.assert_array_equal(counts[:, clusters.of_case],
                                  resample_weights(clusters, 300, seed=4))
    np.testing.assert_allclose(
        patient_resampled_aggregates(values, aggregate, counts, clusters),
        resampled_aggregates(values, aggregate, resample_weights(clusters, 300, seed=4)),
        rtol=0, atol=1e-12)


def test_percentile_interval_is_nanpercentile_with_or_without_nan():
    samples = np.random.default_rng(3).normal(size=(200, 3))
    expected = np.nanpercentile(samples, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(percentile_interval(samples), expected, rtol=0, atol=1e-12)
    samples[::7, 1] = np.nan
    samples[:, 2] = np.nan
    bounds = percentile_interval(samples)
    np.testing.assert_allclose(bounds[:, :2], np.nanpercentile(samples[:, :2], [2.5, 97.5],
                                                               axis=0), rtol=0, atol=1e-12)
    assert np.isnan(bounds[:, 2]).all()


def test_patients_not_cases_are_resampled_within_their_site():
    patients = ["a", "a", "b", "c", "c", "c", "d", "e"]
    sites = ["x", "x", "x", "x", "x", "x", "y", "y"]
    clusters = Clusters.of(8, patients, sites)
    assert clusters.n_patients == 5 and clusters.n_strata == 2
    weights = resample_weights(clusters, 200, seed=1)
    assert weights.shape == (200, 8)
    # a patient's cases are drawn together
    np.testing.assert_array_equal(weights[:, 0], weights[:, 1])
    np.testing.assert_array_equal(weights[:, 3], weights[:, 5])
    # every resample draws 3 patients of site x and 2 of site y
    np.testing.assert_array_equal(weights[:, [0, 2, 3]].sum(axis=1), 3)
    np.testing.assert_array_equal(weights[:, [6, 7]].sum(axis=1), 2)


def test_cases_without_a_patient_id_are_their_own_patients():
    clusters = Clusters.of(4, ["p", None, np.nan, "p"])
    assert clusters.n_patients == 3 and not clusters.assumed
    assert Clusters.of(3).assumed and Clusters.of(3).n_patients == 3


def test_a_single_patient_stratum_turns_stratification_off():
    # Stratified, the lone patient of site z would be in every resample: a zero-width interval.
    clusters = Clusters.of(6, list("abcdef"), ["x", "x", "x", "y", "y", "z"])
    assert clusters.n_strata == 1 and "single patient" in clusters.unstratified_because
    weights = resample_weights(clusters, 200, seed=1)
    assert not (weights[:, 5] == 1).all()


def test_same_seed_same_weights():
    clusters = Clusters.of(20)
    np.testing.assert_array_equal(resample_weights(clusters, 10, seed=3),
                                  resample_weights(clusters, 10, seed=3))
    assert not np.array_equal(resample_weights(clusters, 10, seed=3),
                              resample_weights(clusters, 10, seed=4))


@pytest.mark.parametrize("aggregate", [Mean(), Median(), Percentile(10), Percentile(90),
                                       TrimmedMean(0.1), TrimmedMean(0.25)])
def test_weighted_aggregates_equal_gathering_the_repeated_cases(aggregate):
    rng = np.random.default_rng(0)
    values = rng.random((15, 4))
    values[3] = values[7]  # ties
    clusters = Clusters.of(15, [f"p{i // 2}" for i in range(15)])
    weights = resample_weights(clusters, 30, seed=0)
    fast = resampled_aggregates(values, aggregate, weights)
    slow = resampled_aggregates(values, CaseFunction("gathered", aggregate_of_one(aggregate)),
                                weights)
    np.testing.assert_allclose(fast, slow, atol=1e-12)


def aggregate_of_one(aggregate):
    return lambda column: float(aggregate(column[:, None])[0])


def test_expanded_interval_widens_with_few_patients_and_not_with_many():
    samples = np.random.default_rng(1).normal(size=(20000, 1))
    plain = percentile_interval(samples, 0.95)
    few = percentile_interval(samples, 0.95, Clusters.of(10))
    many = percentile_interval(samples, 0.95, Clusters.of(5000))
    # 10 patients: the percentiles of Phi(sqrt(10/9) t_9)
    z = np.sqrt(10 / 9) * stats.t.ppf(0.975, 9)
    assert few[1, 0] == pytest.approx(z, abs=0.05) and few[1, 0] > plain[1, 0] * 1.2
    assert many[1, 0] == pytest.approx(plain[1, 0], abs=0.02)
    assert np.isnan(percentile_interval(samples, 0.95, Clusters.of(1))).all()


def test_tail_pvalue_of_a_mean_is_the_one_sample_t_test():
    rng = np.random.default_rng(2)
    values = rng.normal(0.02, 0.03, size=(12, 1))
    clusters = Clusters.of(12)
    samples = resampled_aggregates(values, Mean(), resample_weights(clusters, 20000, seed=1))
    p = tail_pvalue(values.mean(axis=0), samples, 0.0, clusters)[0]
    t_test = stats.ttest_1samp(values[:, 0], 0.0, alternative="greater").pvalue
    assert p == pytest.approx(t_test, rel=0.05)
    # not floored at 1 / B: a clear effect gets a p far below the resamples' resolution
    assert tail_pvalue(values.mean(axis=0) + 1, samples + 1, 0.0, clusters)[0] < 1e-6


def test_interval_caveats_name_the_reason():
    assert "only 2 patients" in interval_caveat(Clusters.of(2))
    assert "only 1 patient;" in interval_caveat(Clusters.of(1))
    lone = Clusters.of(30, None, ["x"] * 29 + ["y"])
    assert "single patient" in interval_caveat(lone)
    assert interval_caveat(Clusters.of(30, None, ["x"] * 15 + ["y"] * 15)) is None
