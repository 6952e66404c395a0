"""The selection-bias correction of a model chosen on the cases that report it."""

import numpy as np
import pandas as pd
import pytest

from medselect.rank import RankingError, Statistics, bbc, score_matrix


def equal_models(rng, n_patients=40, n_models=8, slices=1):
    """Models of equal true quality (mean Dice 0.85): whichever wins, won by luck."""
    patient = rng.normal(0, 0.06, n_patients)
    rows = []
    for m in range(n_models):
        suited = rng.normal(0, 0.02, n_patients)
        for p in range(n_patients):
            for s in range(slices):
                rows.append({"model": f"m{m}", "case_id": f"p{p}-s{s}", "patient_id": f"p{p}",
                             "metric": "dice", "label": "mean", "site": "a",
                             "value": 0.85 + patient[p] + suited[p] + rng.normal(0, 0.02)})
    return score_matrix(pd.DataFrame(rows), "dice", "higher")


def test_the_correction_removes_the_winners_curse():
    rng = np.random.default_rng(4)
    raw, corrected = [], []
    for seed in range(40):
        result = bbc(equal_models(rng), statistics=Statistics(n_resamples=300, seed=seed))
        raw.append(result.raw - 0.85)
        corrected.append(result.corrected - 0.85)
        assert result.bias == pytest.approx(result.raw - result.corrected)
        assert result.ci_low < result.corrected < result.ci_high
    # the luckiest of 8 is flattered by about half a point of Dice; corrected, it is not
    assert np.mean(raw) > 0.003
    assert abs(np.mean(corrected)) < abs(np.mean(raw)) / 3


def test_the_top_model_and_its_raw_figure_are_the_leaderboards():
    matrix = equal_models(np.random.default_rng(0), n_patients=12, slices=3)
    result = bbc(matrix, statistics=Statistics(n_resamples=200))
    means = matrix.values.mean(axis=0)
    assert result.model == matrix.models[int(np.argmax(means))]
    assert result.raw == pytest.approx(means.max())
    assert 0 < result.n_resamples <= 200
    assert result.to_dict()["method"].startswith("bootstrap bias correction")


def test_one_patient_cannot_be_corrected():
    matrix = equal_models(np.random.default_rng(0), n_patients=1, slices=4)
    with pytest.raises(RankingError, match="at least 2 patients"):
        bbc(matrix)
