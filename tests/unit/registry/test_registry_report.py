"""The decision report: JSON and a standalone HTML page, written atomically, text escaped."""

from __future__ import annotations

import json

import pytest
from markupsafe import escape  # what the Jinja pages escape with
from registry_tables import BASE_DICE, DIRECTIONS, criteria, shifted, table

from medselect.metrics.display import number_text
from medselect.registry import (
    GateCriteria,
    MetricMargin,
    evaluate_gate,
    render_html,
    write_decision_report,
)
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
    assert f"<td>{number_text(primary.statistic, 4)}</td>" in page  # dice: no unit
    assert f"<td>{number_text(primary.ci[0], 4)} to " in page
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
    assert "<th>level</th>" in page and f"<td>{number_text(look.alpha, 4)}</td>" in page
    assert "picked on the reference set from 3" in page


def test_numbers_are_shown_in_their_units_without_exponents(tmp_path):
    # hd95 0.0001 mm better on average: Python's .4g would print 9.999e-05
    base = [3.0, 2.8, 3.4, 2.6, 3.1, 2.9, 3.3, 2.7, 3.0, 3.2, 2.5, 3.6]
    steps = [-0.0002, 0.0] * 6
    models = {"old": {"hd95": base}, "new": {"hd95": shifted(base, steps)}}
    decision = evaluate_gate("new", ["old"], table(models),
                             GateCriteria(MetricMargin("hd95", margin=0.5), min_patients=5,
                                          n_resamples=200), directions=DIRECTIONS)
    primary = decision.results[1]
    assert primary.statistic == pytest.approx(1e-4)
    assert "mean improvement +0.0001 mm over 12 patients" in primary.explanation
    assert "must beat 'old' by more than 0.5 mm" in primary.explanation
    assert "p-value 1 for an improvement above +0.5 mm" in primary.explanation
    assert "e-0" not in decision.summary
    _, html_path = write_decision_report(tmp_path, decision)
    page = html_path.read_text()
    assert "<td>+0.0001 mm</td>" not in page and "<td>0.0001 mm</td>" in page
    assert "<td>0.5 mm</td>" in page and "e-0" not in page
