import json

import numpy as np
import pandas as pd
import pytest

from medselect.rank import Preference, RankingError, Statistics, select

FAST = Statistics(n_resamples=200)
DIRECTIONS = {"dice": "higher", "hd95": "lower"}


@pytest.fixture
def two_site_table(table_of):
    """alpha is best at site A, beta at site B, gamma decent everywhere (best overall);
    site C has only 2 cases."""
    rng = np.random.default_rng(3)
    sites = ["A"] * 25 + ["B"] * 25 + ["C"] * 2
    at_a = np.array([s == "A" for s in sites])
    noise = lambda: rng.normal(0, 0.01, len(sites))  # noqa: E731
    return table_of({
        "alpha": np.where(at_a, 0.90, 0.70) + noise(),
        "beta": np.where(at_a, 0.70, 0.90) + noise(),
        "gamma": 0.82 + noise(),
    }, sites=sites)


def test_best_model_differs_between_sites(two_site_table):
    sel = select(two_site_table, Preference({"dice": 1}), DIRECTIONS, statistics=FAST)
    assert sel.models()["A"] == "alpha" and sel.models()["B"] == "beta"
    assert sel.overall.model == "gamma" and sel.differs
    a = next(c for c in sel.choices if c.group == "A")
    assert a.runner_up == "gamma" and a.win_significant and a.p_vs_runner_up < 0.001
    assert a.margin == pytest.approx(0.08, abs=0.01)
    assert 0 < a.margin_ci_low < a.margin < a.margin_ci_high < 0.1  # patients resampled
    assert a.gain_over_overall == pytest.approx(0.08, abs=0.01) and a.p_vs_overall < 0.001
    assert a.p_best == pytest.approx(1.0) and a.ci_reliable and a.n_cases == 25
    assert sel.largest_gain == pytest.approx(0.08, abs=0.01)
    assert "differs between site values" in sel.summary and "beats the overall choice gamma" \
        in sel.summary
    json.dumps(sel.to_dict(), allow_nan=False)
    frame = sel.to_frame()
    assert list(frame.index) == ["A", "B", "C", "(all)"] and frame.loc["B", "model"] == "beta"


def test_site_with_two_cases_is_flagged_not_crashed(two_site_table):
    sel = select(two_site_table, Preference({"dice": 1}), DIRECTIONS, statistics=FAST)
    c = next(c for c in sel.choices if c.group == "C")
    assert c.n_cases == 2 and c.model is not None
    assert not c.ci_reliable and "only 2 patients" in c.ci_note
    assert any("C (2)" in note for note in sel.notes)
    wilcoxon = select(two_site_table, Preference({"dice": 1}), DIRECTIONS,
                      statistics=Statistics(n_resamples=200, test="wilcoxon"))
    c = next(c for c in wilcoxon.choices if c.group == "C")
    assert c.win_significant is False  # two patients: signed ranks cannot reach alpha


def test_same_model_everywhere(noisy_table):
    sel = select(noisy_table, Preference({"dice": 1}), DIRECTIONS, statistics=FAST)
    assert sel.models() == {"A": "good", "B": "good"} and not sel.differs
    assert sel.summary == "the same model, good, is best at every site (dice mean)"
    for c in sel.choices:
        assert c.margin_ci_low <= c.margin <= c.margin_ci_high
    assert all(c.gain_over_overall == 0 for c in sel.choices)


def test_constraint_failing_at_one_site_gives_an_empty_choice(two_site_table, table_of):
    cases = two_site_table.drop_duplicates("case_id")
    hd95 = table_of({m: np.where(cases["site"] == "B", 6.0, 2.0) for m in
                     ("alpha", "beta", "gamma")}, "hd95", sites=list(cases["site"]))
    table = pd.concat([two_site_table, hd95])
    sel = select(table, Preference({"dice": 1}, constraints=("hd95 <= 5",)), DIRECTIONS,
                 statistics=FAST)
    b = next(c for c in sel.choices if c.group == "B")
    assert b.model is None and "no model meets the constraints" in b.reason
    assert sel.models()["A"] == "alpha"


def test_unknown_attribute(noisy_table):
    with pytest.raises(RankingError, match=r"cannot select by 'scanner'.*\['site'\]"):
        select(noisy_table, Preference({"dice": 1}), DIRECTIONS, by="scanner", statistics=FAST)


def test_a_report_refuses_an_unknown_attribute_before_ranking_any_group(noisy_table):
    from medselect.rank import rank_cases

    with pytest.raises(RankingError, match=r"cannot select by 'scanner'.*\['site'\]"):
        rank_cases(noisy_table, "dice", by=["site", "scanner"])
    report = rank_cases(noisy_table, "dice", by=["site"])
    assert list(report.selections) == ["site"]  # a known attribute: ranked when read
