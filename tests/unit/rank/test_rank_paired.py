import warnings

import numpy as np
import pytest
from scipy import stats

from medselect.rank import (
    Clusters,
    equivalence_pvalues,
    holm,
    significance_matrix,
    wilcoxon_pvalues,
)
from medselect.rank.paired import bootstrap_pvalues


def test_holm_hand_worked():
    """p = 0.01, 0.04, 0.03, 0.005 (m = 4). Sorted: 0.005 * 4 = 0.02; 0.01 * 3 = 0.03;
    0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> running max 0.06. Back in input order:
    0.03, 0.06, 0.06, 0.02; at alpha 0.05 the first and last are rejected."""
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_array_equal(adjusted < 0.05, [True, False, False, True])


def test_holm_caps_at_one_skips_nan_and_keeps_shape():
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    out = holm(np.array([[0.01, np.nan], [0.02, 0.04]]))
    assert np.isnan(out[0, 1])
    np.testing.assert_allclose(out[[0, 1, 1], [0, 0, 1]], [0.03, 0.04, 0.04])


def scipy_pvalues(diffs):
    out = []
    for row in diffs:
        if not row.any():
            out.append(1.0)  # scipy: NaN (nothing to test); here p = 1
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(stats.wilcoxon(row).pvalue)
    return np.array(out)


@pytest.mark.parametrize(("n_cases", "n_rows"), [
    (6, 40), (10, 8), (13, 4), (14, 40), (30, 40), (50, 40), (51, 40), (120, 40),
])
def test_wilcoxon_equals_scipy_with_ties_and_zeros(n_cases, n_rows):
    """Each of scipy's paths: exact (no ties, <= 50 cases), sign flips (ties or zeros, <= 13
    cases; scipy's permutation test is slow, hence few rows), normal approximation."""
    rng = np.random.default_rng(n_cases)
    diffs = np.round(rng.normal(0.15, 1, (n_rows, n_cases)), 1)  # ties and zeros
    diffs[: n_rows // 4] = rng.normal(0.15, 1, (n_rows // 4, n_cases))  # no ties
    diffs[n_rows // 4] = 0.0
    p, sign = wilcoxon_pvalues(diffs)
    np.testing.assert_allclose(p, scipy_pvalues(diffs), rtol=1e-12, atol=1e-15)
    assert p[n_rows // 4] == 1.0 and sign[n_rows // 4] == 0


def test_wilcoxon_sign_says_which_model_is_larger():
    rng = np.random.default_rng(0)
    d = rng.normal(0.5, 0.2, (2, 80))
    d[1] *= -1
    p, sign = wilcoxon_pvalues(d)
    assert sign.tolist() == [1.0, -1.0]
    assert (p < 1e-6).all()


def test_significance_matrix(noisy_table):
    values = noisy_table.pivot(index="case_id", columns="model", values="value")
    models = tuple(values.columns)  # fair, good, poor
    sig = significance_matrix(values.to_numpy(), models)
    assert np.isnan(np.diag(sig.pvalues)).all()
    np.testing.assert_array_equal(sig.pvalues, sig.pvalues.T)
    iu = np.triu_indices(3, 1)
    np.testing.assert_allclose(sig.adjusted[iu], holm(sig.pvalues[iu]))
    good, fair, poor = models.index("good"), models.index("fair"), models.index("poor")
    assert sig.better[good, fair] and sig.better[good, poor] and sig.better[fair, poor]
    assert not sig.better[poor].any()
    assert sig.to_frame().loc["good", "poor"] == sig.adjusted[good, poor]
    assert sig.to_dict()["adjusted"][0][0] is None


def test_bootstrap_pvalues_studentize_the_difference_by_its_bootstrap_se():
    rng = np.random.default_rng(0)
    difference = rng.normal(0.3, 0.1, 4000)
    samples = np.column_stack([difference, np.zeros(4000), np.zeros(4000)])
    point = np.array([0.3, 0.0, 0.0])
    p, sign = bootstrap_pvalues(point, samples, np.array([0, 1]), np.array([1, 2]))
    # z = 0.3 / 0.1 = 3, two-sided normal p = 0.0027: below any count of 4000 resamples allows
    assert p[0] == pytest.approx(2 * stats.norm.sf(3), rel=0.05) and sign[0] == 1
    assert p[1] == 1.0 and sign[1] == 0  # identical
    # with 10 patients: a wider SE and t quantiles, so a larger p
    ten = bootstrap_pvalues(point, samples, np.array([0]), np.array([1]), Clusters.of(10))[0]
    expected = 2 * stats.t.sf(3 / np.sqrt(10 / 9), 9)
    assert ten[0] == pytest.approx(expected, rel=0.05)


def test_equivalence_is_shown_only_inside_the_margin():
    rng = np.random.default_rng(1)
    close = rng.normal(0.002, 0.003, 2000)  # difference 0.002 +/- 0.003
    samples = np.column_stack([close, np.zeros(2000)])
    point = np.array([0.002, 0.0])
    shown = equivalence_pvalues(point, samples, np.array([0]), np.array([1]), 0.01)
    assert shown[0] < 0.01
    not_shown = equivalence_pvalues(point, samples, np.array([0]), np.array([1]), 0.003)
    assert not_shown[0] > 0.3
