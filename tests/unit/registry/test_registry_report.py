"""The decision report: JSON and a standalone HTML page, written atomically, text escaped."""

from __future__ import annotations

import json

from markupsafe import escape  # what the Jinja pages escape with
from registry_tables import BASE_DICE, DIRECTIONS, criteria, shifted, table

from medselect.registry import evaluate_gate, render_html, write_decision_report
from medselect.registry.report import decision_report

EVIL = "<script>alert('x')</script>"


def _decision(candidate="new"):
    models = {"old": {"dice": BASE_DICE}, candidate: {"dice": shifted(BASE_DICE, -0.05)}}
    return evaluate_gate(candidate, ["old"], table(models), criteria(site_margin=0.01),
                         directions=DIRECTIONS,
                         data={"reference_case_set": "ref", "reference_hash": "abc123"})


def test_report_files_hold_the_criteria_figures_decision_and_data(tmp_path):
    decision = _decision()
    json_path, html_path = write_decision_report(tmp_path / "out", decision,
                                                 outcome={"version": 3, "status": "rejected",
                                                          "evidence": {"big": 1}})
    report = json.loads(json_path.read_text())
    assert report["decision"] == decision.to_dict()
    assert report["outcome"] == {"version": 3, "status": "rejected"}  # evidence not repeated
    page = html_path.read_text()
    assert "Promotion decision for new: REJECTED" in page
    assert "abc123" in page and "compare_with" in page and "all_versions" in page
    primary = decision.results[1]
    assert f"{primary.statistic:.4g}" in page and f"{primary.ci[0]:.4g} to" in page
    assert all(escape(r.explanation) in page for r in decision.results)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "decision.html", "decision.json"]  # no temporary files left


def test_every_text_is_escaped():
    decision = _decision(candidate=EVIL)
    page = render_html(decision_report(decision))
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_a_stored_decision_renders_the_same(tmp_path):
    decision = _decision()
    stored = json.loads(json.dumps(decision.to_dict()))
    assert decision_report(stored)["decision"] == decision_report(decision)["decision"]
    _, html_path = write_decision_report(tmp_path, stored, name="v3")
    assert html_path.name == "v3.html" and "REJECTED" in html_path.read_text()


def test_the_look_and_every_criterions_level_are_shown(tmp_path):
    look = criteria().look(2, chosen_from=3, chosen_on="picked on the reference set from 3")
    models = {"old": {"dice": BASE_DICE}, "new": {"dice": shifted(BASE_DICE, 0.05)}}
    decision = evaluate_gate("new", ["old"], table(models), criteria(), directions=DIRECTIONS,
                             data={"reference_case_set": "ref"}, look=look)
    json_path, html_path = write_decision_report(tmp_path, decision)
    stored = json.loads(json_path.read_text())["decision"]
    assert stored["look"]["description"] == look.description
    assert {r["level"] for r in stored["results"] if r["name"] == "primary"} == {look.alpha}
    page = html_path.read_text()
    assert "Look at the reference set" in page and escape(look.description) in page
    assert "<th>level</th>" in page and f"<td>{look.alpha:.4g}</td>" in page
    assert "picked on the reference set from 3" in page
