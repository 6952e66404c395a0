"""The best-group rule: only models *shown* equivalent to the top one stand beside it.

A model that few patients cannot separate from the best is ``unresolved`` (not enough
evidence), never a tie; the tie-break chooses only among the best and those shown equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from medselect.rank import Standing, Statistics, leaderboard

MARGIN = 0.01  # the default Dice margin (medselect.metrics.EQUIVALENCE_MARGINS)
SLICE = (-0.004, 0.004)  # two slices per patient, either side of the patient's value


def patient_table(per_patient: Mapping[str, Sequence[float]], site: str = "A") -> pd.DataFrame:
    """Per-case Dice table from ``{model: [value per patient]}``, two slices per patient."""
    rows = [
        {"model": model, "case_id": f"p{i:02d}-s{k}", "metric": "dice", "label": "mean",
         "value": v + step, "patient_id": f"p{i:02d}", "site": site}
        for model, values in per_patient.items()
        for i, v in enumerate(values)
        for k, step in enumerate(SLICE)
    ]
    return pd.DataFrame(rows)


def board(table: pd.DataFrame, *, test: str = "wilcoxon", seed: int = 0, **kwargs):
    return leaderboard(table, "dice", "higher",
                       statistics=Statistics(n_resamples=400, seed=seed, test=test), **kwargs)


# One site, six patients: a good model, a second as good, and one 0.37 Dice worse.
GOOD = [0.95, 0.94, 0.96, 0.93, 0.95, 0.94]  # mean 0.945
TWIN = [0.94, 0.95, 0.95, 0.94, 0.94, 0.94]  # mean 0.943
POOR = [0.57, 0.60, 0.52, 0.61, 0.55, 0.57]  # mean 0.57


@pytest.mark.parametrize("test", ["wilcoxon", "bootstrap"])
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("margin", [MARGIN, None])
def test_a_far_worse_model_is_never_beside_the_best_on_six_patients(test, seed, margin):
    table = patient_table({"good": GOOD, "twin": TWIN, "poor": POOR})
    result = board(table, test=test, seed=seed, margin=margin)
    poor = result.row("poor")
    assert result.rows[0].model == "good"
    assert "poor" not in result.best_group
    assert poor.standing in (Standing.WORSE, Standing.UNRESOLVED)
    assert not poor.in_best_group
    assert result.best != "poor"


def test_six_patients_leave_a_far_worse_model_unresolved_by_wilcoxon():
    """Six patients give a two-sided signed-rank p-value of at least 2 / 64; Holm over two
    comparisons doubles it past 0.05, so the poor model cannot be shown worse, and 0.37 Dice
    apart it cannot be shown equivalent: it is unresolved, and the reason says so."""
    result = board(patient_table({"good": GOOD, "twin": TWIN, "poor": POOR}), margin=MARGIN)
    poor = result.row("poor")
    assert poor.p_vs_best == pytest.approx(2 * 2 / 64)
    assert poor.p_equivalent > 0.05
    assert poor.standing == Standing.UNRESOLVED
    assert "poor" in result.unresolved
    assert "not enough evidence" in result.reason


def test_nearly_identical_models_on_forty_patients_are_equivalent():
    rng = np.random.default_rng(3)
    base = np.clip(rng.normal(0.85, 0.06, 40), 0, 1)
    near = base + rng.normal(0, 0.002, 40)
    result = board(patient_table({"a": base, "b": near}), margin=MARGIN)
    other = result.rows[1]
    assert other.standing == Standing.EQUIVALENT
    assert other.p_equivalent < 0.05
    assert set(result.best_group) == {"a", "b"}
    assert result.unresolved == ()


def test_models_equal_on_every_case_are_tied_even_without_a_margin():
    result = board(patient_table({"a": GOOD, "b": GOOD}))
    assert result.rows[1].standing == Standing.TIED
    assert set(result.best_group) == {"a", "b"}


def test_a_model_the_data_cannot_separate_is_unresolved():
    """Eight patients, a per-patient difference of SD 0.05: the 0.01 margin is far inside the
    interval of the difference, and the difference is not significant either."""
    rng = np.random.default_rng(5)
    base = np.clip(rng.normal(0.85, 0.06, 8), 0, 1)
    noise = rng.normal(0, 0.05, 8)
    vague = base + noise - noise.mean() - 0.005
    result = board(patient_table({"a": base, "vague": vague}), margin=MARGIN)
    row = result.row("vague")
    assert row.standing == Standing.UNRESOLVED
    assert row.p_vs_best > 0.05 and row.p_equivalent > 0.05
    assert result.unresolved == ("vague",)
    assert result.best_group == ("a",)
    assert "not enough evidence" in result.reason
    assert "vague" in result.reason


def _tie_break_table(with_twin: bool) -> pd.DataFrame:
    """40 patients: 'big' on top, 'twin' within 0.002 of it on every patient (shown
    equivalent), 'vague' 0.005 lower with a per-patient spread of 0.06 (unresolved)."""
    rng = np.random.default_rng(11)
    base = np.clip(rng.normal(0.85, 0.05, 40), 0, 0.99)
    noise = rng.normal(0, 0.06, 40)
    models = {"big": base, "vague": base + noise - noise.mean() - 0.005}
    if with_twin:
        models["twin"] = base - 0.001 + rng.uniform(-0.001, 0.001, 40)
    return patient_table(models)


INFO = pd.DataFrame({"parameters": [10_000_000, 5_000_000, 1_000_000]},
                    index=pd.Index(["big", "twin", "vague"], name="model"))


def test_tie_break_chooses_inside_the_best_group_only():
    result = board(_tie_break_table(with_twin=True), margin=MARGIN,
                   tie_break=["fewer_parameters"], model_info=INFO)
    assert result.row("vague").standing == Standing.UNRESOLVED
    assert result.row("twin").standing == Standing.EQUIVALENT
    assert set(result.best_group) == {"big", "twin"}
    assert result.best == "twin"  # fewer parameters than 'big'; 'vague' has fewer still
    assert result.decided_by_tie_break


def test_tie_break_cannot_choose_an_unresolved_model():
    result = board(_tie_break_table(with_twin=False), margin=MARGIN,
                   tie_break=["fewer_parameters"], model_info=INFO)
    assert result.row("vague").standing == Standing.UNRESOLVED
    assert result.best_group == ("big",)
    assert result.best == "big"
    assert not result.decided_by_tie_break
    assert "not enough evidence" in result.reason
