"""The small pieces of the upgrade flow: scopes, the ranking order, backfill of external models,
the retrain choice's configurations, and the upgrade report's HTML."""

from __future__ import annotations

import pytest
from registry_tables import BASE_DICE, TASK, WOBBLE, shifted, table

from medselect.choose import RankingInputs
from medselect.config import RankingSpec
from medselect.errors import RankingError
from medselect.registry import RegistryError, backfill, expand_scopes
from medselect.registry.ordering import ranked_order
from medselect.registry.upgrade_report import render_upgrade_html
from medselect.store import add_model_version, put_external_model

EVIL = "<script>alert(1)</script>"


def test_per_site_expands_to_one_scope_per_site():
    assert expand_scopes(["global", "per_site"], ["b", "a", "b"]) == [
        "global", "site:a", "site:b"]
    assert expand_scopes(["site:a", "per_site"], ["a"]) == ["site:a"]
    with pytest.raises(RegistryError, match="unknown scope"):
        expand_scopes(["everywhere"], [])


def inputs_of(frame):
    from medselect.metrics import directions, margins
    return RankingInputs(case_set="ref", table=frame, directions=directions(frame["metric"]),
                         margins=margins(frame["metric"]), model_info=None)


def test_ranked_order_puts_the_best_first():
    models = {"low": {"dice": shifted(BASE_DICE, -0.05)}, "mid": {"dice": BASE_DICE},
              "top": {"dice": shifted(shifted(BASE_DICE, 0.05), WOBBLE)}}
    spec = RankingSpec(metric="dice", bootstrap_resamples=200)
    assert ranked_order(inputs_of(table(models)), spec) == ["top", "mid", "low"]
    assert ranked_order(inputs_of(table({"only": {"dice": BASE_DICE}})), spec) == ["only"]
    limited = spec.model_copy(update={"constraints": ["dice >= 0.74"]})
    assert ranked_order(inputs_of(table(models)), limited) == ["top", "mid"]
    with pytest.raises(RankingError):
        ranked_order(inputs_of(table(models)), spec.model_copy(update={"metric": "hd95"}))


def test_backfill_skips_external_models_it_cannot_rerun(ws):
    with ws.begin() as conn:
        put_external_model(conn, {"name": "nnunet", "task": "knee"})
        add_model_version(conn, {"task": "knee", "scope": "global", "model_ref": "external:nnunet",
                                 "status": "champion", "created_by": "alice"})
    result = backfill(ws, TASK, case_set="ref")
    assert result.report is None and list(result.skipped) == ["external:nnunet"]
    assert result.to_dict() == {"task": "knee", "case_set": "ref", "models": [],
                                "skipped": dict(result.skipped)}


def test_the_upgrade_page_escapes_every_text():
    decision = {"candidate": EVIL, "accepted": False, "summary": EVIL, "results": [
        {"name": "primary", "passed": False, "explanation": EVIL}], "data": {"x": EVIL}}
    report = {
        "task": "knee", "summary": EVIL, "promoted": False,
        "data": {"dataset_version": "dv-2", "parent_version": "dv-1", "source": EVIL,
                 "new_cases": ["c1"], "new_test_cases": ["c1"], "counts": {}},
        "retrain": {"mode": "sweep"}, "runs": [{"run_id": "r", "status": "failed",
                                                 "error": EVIL}],
        "figures": [{"model": EVIL, "new_test_cases_by_site": {"site-d": 0.123456}}],
        "scopes": [{"scope": "global", "status": "rejected", "message": EVIL,
                    "decision": decision, "version": {"version": 2},
                    "report": {"html": "/w/registry/decisions/knee-global-v2.html"}}],
        "backfill": {"case_set": "dv-2-test", "models": []}, "audit_head": "abc",
    }
    page = render_upgrade_html(report)
    assert "<script>" not in page and page.count("&lt;script&gt;") >= 6
    assert "NOT PROMOTED" in page and 'href="knee-global-v2.html"' in page
    assert "site-d: 0.1235" in page


def test_the_upgrade_page_shows_the_refresh_and_where_candidates_were_chosen():
    refresh = {"old_case_set": "dv-1-reference", "old_hash": "aaa",
               "new_case_set": "dv-2-reference", "new_hash": "bbb", "n_cases": 9,
               "n_patients": 7, "reason": EVIL, "evaluated": {"r1": "e1"}, "skipped": {}}
    report = {"task": "knee", "summary": "s", "promoted": True, "selection_case_set": None,
              "refresh": refresh, "data": {"dataset_version": "dv-2"}, "retrain": {},
              "scopes": [], "backfill": {}}
    page = render_upgrade_html(report)
    assert "Reference set refreshed" in page and "dv-1-reference (aaa)" in page
    assert "dv-2-reference (bbb)" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert "the reference set (the new version has no validation case)" in page
    chosen = render_upgrade_html({**report, "selection_case_set": "dv-2-val", "refresh": None})
    assert "dv-2-val" in chosen and "Reference set refreshed" not in chosen


def test_a_population_member_is_not_retrained_alone():
    """Its learning rate and augmentation came from its population's schedule, not its config."""
    from medselect.config import RunConfig, parse_experiment
    from medselect.config.run import PopulationMember
    from medselect.errors import ConfigError
    from medselect.registry.retrain import RetrainChoice, plan_retrain

    experiment = parse_experiment("task: {name: knee, kind: segmentation, classes: [bg, fg]}\n"
                                  "data: {source: {kind: phantom}}\n", "exp.yaml")
    member = RunConfig(population=PopulationMember(population="pbt-1", member=0))
    with pytest.raises(ConfigError, match=r"upgrade\.retrain: top_k chose a member of "
                                          r"population pbt-1"):
        plan_retrain(None, experiment, "dv-new", RetrainChoice("top_k", configs=(member,)))
