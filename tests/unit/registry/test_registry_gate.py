"""The gate on hand-made per-case tables whose verdicts can be read off the numbers."""

from __future__ import annotations

import json
import math

import pytest
from registry_tables import BASE_DICE, DIRECTIONS, WOBBLE, criteria, shifted, table

from medselect.registry import GateCriteria, MetricMargin, RegistryError, evaluate_gate

BASE_HD = [3.0, 2.8, 3.4, 2.6, 3.1, 2.9, 3.3, 2.7, 3.0, 3.2, 2.5, 3.6]


def _gate(models, crit, candidate="new", incumbents=("old",)):
    return evaluate_gate(candidate, incumbents, table(models), crit, directions=DIRECTIONS)


def test_clearly_better_candidate_is_accepted_with_every_figure():
    decision = _gate({"old": {"dice": BASE_DICE},
                      "new": {"dice": shifted(shifted(BASE_DICE, 0.05), WOBBLE)}},
                     criteria(margin=0.02))
    assert decision.accepted
    assert decision.n_cases == 12
    primary = next(r for r in decision.results if r.name == "primary")
    assert primary.statistic == pytest.approx(0.05 + sum(WOBBLE) / 12)
    assert 0.02 < primary.ci[0] < primary.statistic < primary.ci[1]
    assert primary.threshold == 0.02 and primary.incumbent == "old" and primary.passed
    assert "must beat 'old' by more than 0.02" in primary.explanation
    assert [r.name for r in decision.results] == ["min_patients", "primary"]


def test_clearly_worse_candidate_is_rejected_on_the_primary_metric():
    decision = _gate({"old": {"dice": BASE_DICE}, "new": {"dice": shifted(BASE_DICE, -0.05)}},
                     criteria())
    assert not decision.accepted
    assert [r.name for r in decision.failed] == ["primary"]
    assert decision.failed[0].statistic == pytest.approx(-0.05)
    assert decision.summary.startswith("new is rejected: dice (mean, higher is better)")


def test_better_overall_but_worse_at_one_site_fails_the_site_check():
    # +0.08 at site A, -0.02 at site B: +0.03 on average
    steps = [0.08] * 6 + [-0.02] * 6
    models = {"old": {"dice": BASE_DICE}, "new": {"dice": shifted(BASE_DICE, steps)}}
    decision = _gate(models, criteria(margin=0.01, site_margin=0.01))
    assert not decision.accepted
    sites = {r.site: r for r in decision.results if r.name == "site"}
    assert sites["A"].passed and sites["A"].statistic == pytest.approx(0.08)
    assert not sites["B"].passed and sites["B"].statistic == pytest.approx(-0.02)
    assert sites["B"].threshold == -0.01 and "beyond the allowed loss of 0.01" in (
        sites["B"].explanation)
    assert next(r for r in decision.results if r.name == "primary").passed
    assert _gate(models, criteria(margin=0.01, site_margin=0.03)).accepted


def test_worse_on_a_guard_metric_is_rejected():
    models = {"old": {"dice": BASE_DICE, "hd95": BASE_HD},
              "new": {"dice": shifted(BASE_DICE, 0.05), "hd95": shifted(BASE_HD, 2.0)}}
    crit = criteria(guards=(MetricMargin("hd95", margin=1.0),))
    decision = _gate(models, crit)
    assert not decision.accepted
    (guard,) = decision.failed
    assert guard.name == "guard" and guard.metric == "hd95"
    assert guard.statistic == pytest.approx(-2.0)  # hd95 is lower-better: 2 mm worse
    assert guard.threshold == -1.0
    # 0.5 mm worse is within a 1 mm margin
    models["new"]["hd95"] = shifted(shifted(BASE_HD, 0.5), [w * 10 for w in WOBBLE])
    assert _gate(models, crit).accepted


def test_lower_is_better_primary_metric_counts_smaller_values_as_better():
    models = {"old": {"hd95": BASE_HD}, "new": {"hd95": shifted(BASE_HD, -1.0)}}
    crit = GateCriteria(MetricMargin("hd95", margin=0.5), min_patients=5, n_resamples=200)
    decision = _gate(models, crit)
    assert decision.accepted
    assert decision.results[1].statistic == pytest.approx(1.0)
    assert not _gate({"old": models["new"], "new": models["old"]}, crit).accepted


def test_wilcoxon_test_decides_by_its_one_sided_p_value():
    models = {"old": {"dice": BASE_DICE},
              "new": {"dice": shifted(shifted(BASE_DICE, 0.01), WOBBLE)}}
    accepted = _gate(models, criteria(test="wilcoxon"))
    primary = accepted.results[1]
    assert accepted.accepted and primary.p_value < 0.05
    # every improvement (0.006 .. 0.014) is below a margin of 0.02: p is large
    rejected = _gate(models, criteria(margin=0.02, test="wilcoxon"))
    assert not rejected.accepted and rejected.results[1].p_value > 0.5


def test_every_version_must_be_beaten_with_all_versions():
    models = {"v1": {"dice": shifted(BASE_DICE, 0.10)}, "v2": {"dice": BASE_DICE},
              "new": {"dice": shifted(BASE_DICE, 0.05)}}
    decision = _gate(models, criteria(), incumbents=("v2", "v1"))
    by_incumbent = {r.incumbent: r.passed for r in decision.results if r.name == "primary"}
    assert by_incumbent == {"v2": True, "v1": False}
    assert not decision.accepted


def test_missing_predictions_count_as_the_worst_value():
    # 0.05 better on 6 cases; no prediction on c00..c05, which count as 0.70 (the worst)
    # and so lose 0, 0.02, ..., 0.10 against 'old': the mean improvement is 0
    new = shifted(BASE_DICE, 0.05)
    new[:6] = [math.nan] * 6
    decision = _gate({"old": {"dice": BASE_DICE}, "new": {"dice": new}}, criteria())
    assert not decision.accepted
    assert decision.results[1].statistic == pytest.approx(0.0)
    assert any("worst observed value 0.7" in note and "'new': 6" in note
               for note in decision.notes)


def test_different_case_sets_are_refused_naming_the_cases():
    frame = table({"old": {"dice": BASE_DICE}, "new": {"dice": BASE_DICE}})
    frame = frame[~((frame["model"] == "new") & frame["case_id"].isin(["c03", "c07"]))]
    with pytest.raises(RegistryError, match=r"not evaluated on the same cases.*2 case\(s\) "
                                            r"\(c03, c07\) only 'old' has"):
        evaluate_gate("new", ["old"], frame, criteria(), directions=DIRECTIONS)


def test_a_model_without_values_is_refused():
    with pytest.raises(RegistryError, match=r"no per-case values for \['old'\]"):
        _gate({"new": {"dice": BASE_DICE}}, criteria())
    with pytest.raises(RegistryError, match="has no 'hd95'"):
        _gate({"old": {"dice": BASE_DICE}, "new": {"dice": BASE_DICE}},
              criteria(guards=(MetricMargin("hd95", margin=1.0),)))


def test_too_few_cases_fail_min_patients():
    models = {"old": {"dice": BASE_DICE}, "new": {"dice": shifted(BASE_DICE, 0.05)}}
    decision = _gate(models, criteria(min_patients=20))
    assert [r.name for r in decision.failed] == ["min_patients"]
    assert decision.failed[0].explanation.startswith("12 patients (12 cases) were evaluated")


def test_first_version_has_only_the_min_patients_check():
    decision = _gate({"new": {"dice": BASE_DICE}}, criteria(), incumbents=())
    assert decision.accepted and [r.name for r in decision.results] == ["min_patients"]
    assert any("no earlier version" in note for note in decision.notes)


def test_candidate_listed_as_incumbent_is_refused():
    with pytest.raises(RegistryError, match="compared with itself"):
        _gate({"new": {"dice": BASE_DICE}}, criteria(), incumbents=("new",))


def test_unknown_direction_is_refused():
    sharp = GateCriteria(MetricMargin("sharpness"), min_patients=5, n_resamples=400)
    with pytest.raises(RegistryError, match="no direction for metric 'sharpness'"):
        evaluate_gate("new", ["old"], table({"old": {"sharpness": BASE_DICE},
                                             "new": {"sharpness": BASE_DICE}}),
                      sharp, directions={})
    known = evaluate_gate("new", ["old"], table({"old": {"dice": BASE_DICE},
                                                 "new": {"dice": BASE_DICE}}),
                          criteria(), directions={})  # dice: the catalogue's direction
    assert known.candidate == "new"


def test_decision_to_dict_is_strict_json():
    models = {"old": {"dice": BASE_DICE}, "new": {"dice": shifted(BASE_DICE, 0.05)}}
    decision = evaluate_gate("new", ["old"], table(models), criteria(site_margin=0.0),
                             directions=DIRECTIONS, data={"reference_case_set": "ref"})
    out = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert out["accepted"] is True and out["data"] == {"reference_case_set": "ref"}
    assert out["criteria"]["primary"] == {"metric": "dice", "label": "mean", "margin": 0.0}
    assert {r["name"] for r in out["results"]} == {"min_patients", "primary", "site"}
    assert all(len(r["ci"]) == 2 for r in out["results"] if r["name"] != "min_patients")


def test_same_seed_gives_the_same_decision():
    models = {"old": {"dice": BASE_DICE},
              "new": {"dice": shifted(shifted(BASE_DICE, 0.003), WOBBLE)}}
    first, second = _gate(models, criteria()), _gate(models, criteria())
    assert first.to_dict() == second.to_dict()


def _classification_table():
    """'sharp' separates two classes well and 'coin' not at all, on 40 cases of three sites;
    site C holds 'normal' cases only, so an AUC is undefined there."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    reference = np.where(np.arange(40) % 2 == 0, "thinning", "normal")
    scores = {"sharp": np.clip(np.where(reference == "thinning", 0.8, 0.2)
                               + rng.normal(0, 0.15, 40), 0, 1),
              "coin": rng.uniform(0, 1, 40)}
    return pd.DataFrame([
        {"model": model, "case_id": f"c{i:02d}", "metric": "class_probability",
         "label": "thinning", "value": p[i], "site": _site(i, reference[i]),
         "reference": reference[i]}
        for model, p in scores.items() for i in range(40)])


def _site(i, reference):
    return "A" if i < 20 else "C" if i >= 32 and reference == "normal" else "B"


def test_a_set_metric_is_gated_on_the_difference_of_its_values():
    from medselect.metrics import SET_METRICS

    table = _classification_table()
    crit = GateCriteria(MetricMargin("auc", "thinning", 0.1), test="wilcoxon", site_margin=0.05,
                        n_resamples=300)
    decision = evaluate_gate("sharp", ["coin"], table, crit, directions={"auc": "higher"},
                             set_metrics=SET_METRICS)
    assert decision.accepted
    primary = next(r for r in decision.results if r.name == "primary")
    assert primary.metric == "auc" and primary.ci[0] > 0.1
    assert "cluster-bootstrap (auc has no per-case values" in primary.explanation
    sites = {r.site: r for r in decision.results if r.name == "site"}
    assert sites["A"].passed and sites["A"].statistic > 0
    assert sites["C"].passed and math.isnan(sites["C"].statistic)
    assert "could not be checked" in sites["C"].explanation
    backwards = evaluate_gate("coin", ["sharp"], table, crit, directions={"auc": "higher"},
                              set_metrics=SET_METRICS)
    assert not backwards.accepted
    assert next(r for r in backwards.results if r.name == "primary").statistic < -0.3


def test_mean_label_stands_for_the_case_value_of_a_classification_metric():
    table = _classification_table().assign(metric="probability", label="case")
    crit = GateCriteria(MetricMargin("probability"), n_resamples=200)
    decision = evaluate_gate("sharp", ["coin"], table, crit, directions={"probability": "higher"})
    primary = next(r for r in decision.results if r.name == "primary")
    assert (primary.metric, primary.label) == ("probability", "case")


def test_a_one_vs_rest_criterion_without_a_class_says_so():
    from medselect.metrics import SET_METRICS

    crit = GateCriteria(MetricMargin("auc"), n_resamples=100)
    with pytest.raises(RegistryError, match="auc is computed one class against the rest: give "
                                            "the criterion the class as its label, one of: "
                                            "thinning"):
        evaluate_gate("sharp", ["coin"], _classification_table(), crit,
                      directions={"auc": "higher"}, set_metrics=SET_METRICS)
