"""The gate's paired tests against scipy, on inputs small enough to check by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from medselect.rank import Clusters, Mean, resample_weights, resampled_aggregates
from medselect.registry.improvement import bootstrap_pvalue, interval, wilcoxon_greater


def test_signed_rank_statistic_counts_walsh_averages():
    # Walsh averages of (1, 2, -0.5): 1, 2, -0.5, 1.5, 0.25, 0.75 -> five above 0
    assert wilcoxon_greater(np.array([1.0, 2.0, -0.5]), 0.0)[0] == 5.0
    # against threshold 1: (0, 1, -1.5): averages 0, 1, -1.5, 0.5, -0.75, -0.25 -> 2 + 1/2
    assert wilcoxon_greater(np.array([1.0, 2.0, -0.5]), 1.0)[0] == 2.5


@pytest.mark.parametrize("seed", range(5))
def test_wilcoxon_equals_scipy_without_ties(seed):
    x = np.random.default_rng(seed).normal(0.2, 1.0, 25)
    t_plus, p = wilcoxon_greater(x, 0.1)
    ref = stats.wilcoxon(x - 0.1, alternative="greater", zero_method="zsplit",
                         method="approx", correction=False)
    assert t_plus == ref.statistic
    assert p == pytest.approx(ref.pvalue, rel=1e-12)


def test_wilcoxon_statistic_equals_scipy_zsplit_with_ties_and_zeros():
    x = np.array([0.0, 0.0, 1.0, -1.0, 2.0, 2.0, -2.0, 3.0, 0.5, 0.5])
    ref = stats.wilcoxon(x, alternative="greater", zero_method="zsplit", method="approx")
    assert wilcoxon_greater(x, 0.0)[0] == ref.statistic


def test_wilcoxon_p_value_never_falls_as_the_threshold_rises():
    x = np.array([3.0, 1.0, 1.0, 2.0, 1.0, 0.0, 3.0, 2.0, 3.0, 2.0, 2.0, 4.0, 1.0, 0.0])
    # every Walsh average is a multiple of 0.5: hit each exactly, and the gaps between
    thresholds = np.union1d(np.arange(-2, 9) / 2, np.linspace(-1, 4, 101))
    p = [wilcoxon_greater(x, t)[1] for t in thresholds]
    assert all(b >= a for a, b in itertools.pairwise(p))


def test_bootstrap_interval_and_p_value_of_a_constant_improvement():
    weights = resample_weights(Clusters.of(5), 100, seed=0)
    means = resampled_aggregates(np.full((5, 1), 0.3), Mean(), weights)[:, 0]
    assert interval(means, 0.95) == pytest.approx((0.3, 0.3))
    # no spread at all: certainly above 0.2, not above 0.3 itself
    assert bootstrap_pvalue(0.3, means, 0.2) == 0.0
    assert bootstrap_pvalue(0.3, means, 0.3) == 1.0


def test_bootstrap_p_value_widens_with_few_patients():
    rng = np.random.default_rng(0)
    means = rng.normal(0.05, 0.02, 1000)
    assert bootstrap_pvalue(0.05, means, 0.0, Clusters.of(5)) > \
        bootstrap_pvalue(0.05, means, 0.0, Clusters.of(500)) > 0
