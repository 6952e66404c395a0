"""Model cards on a workspace whose models are already evaluated: written at promotion, with
the figures per site (value, interval, patients) the ranking computes, the decision and the
version it beat, the worst cases, and the limits (few patients, reviewers' rejections)."""

from __future__ import annotations

import json
import statistics

import pytest
from registry_tables import BASE_DICE, CASES, SITES, TASK, WOBBLE, criteria, shifted

from medselect.registry import (
    RegistryError,
    model_card,
    promote_through_gate,
    render_card_html,
    render_card_markdown,
)
from medselect.store import add_review

BETTER = shifted(shifted(BASE_DICE, 0.05), WOBBLE)


@pytest.fixture
def promoted(ws, evaluate):
    """r1, then r2 (better on every case), champions of global: r2 is v2 and beat v1."""
    evaluate("r1", dice=BASE_DICE)
    evaluate("r2", dice=BETTER)
    outcomes = [promote_through_gate(ws, TASK, "global", run, criteria(margin=0.01),
                                     actor="alice") for run in ("r1", "r2")]
    return ws, outcomes


def test_a_card_is_written_at_every_promotion_with_figures_per_site(promoted):
    ws, (first, second) = promoted
    markdown, html = second.card_paths
    assert markdown == ws.path("registry/cards/knee/global/v2.md") and html.suffix == ".html"
    assert first.card_paths[0].name == "v1.md"  # v1's card stays as it was written
    with ws.connect() as conn:
        card = model_card(conn, "knee")
    assert card.version.version == 2 and card.version.model_ref == "r2"
    overall, *sites = [f for f in card.figures if f.metric == "dice"]
    assert (overall.group, overall.n_patients, overall.n_cases) == ("(all)", 12, 12)
    assert overall.value == pytest.approx(statistics.mean(BETTER))
    assert overall.ci_low < overall.value < overall.ci_high
    for figure, site in zip(sites, ("A", "B"), strict=True):
        own = [v for v, s in zip(BETTER, SITES, strict=True) if s == site]
        assert (figure.group, figure.n_patients) == (site, 6)
        assert figure.value == pytest.approx(statistics.mean(own))
        assert figure.ci_low <= figure.value <= figure.ci_high
    assert [(b.version, b.model_ref, b.status) for b in card.beaten] == [(1, "r1", "retired")]
    assert card.decision["accepted"] and card.decision["incumbents"] == ["r1"]
    worst = [w.case_id for w in card.worst_cases]
    assert worst == [c for _, c in sorted(zip(BETTER, CASES, strict=True))][:5]
    assert any("site 'A': 6 patient(s) on the reference set, fewer than 10" in limit
               for limit in card.limits)

    text = markdown.read_text()
    assert text.startswith("# Model card: knee, global, v2")
    assert f"| dice | mean | A | {statistics.mean(BETTER[:6]):.4g} |" in text
    assert "v1 (r1, now retired)" in text and "r2 is accepted" in text
    assert "[../../../decisions/knee-global-v2.html](../../../decisions/knee-global-v2.html)" \
        in text  # the decision report, linked relative to the card
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h2>Known limits</h2>" in page
    assert "v1 (r1, now retired)" in page


def test_reviewers_rejections_and_their_words_are_limits(promoted, run_cli, tmp_path):
    ws, _ = promoted
    with ws.begin() as conn:
        for case, reviewer, verdict, comment in (
                ("c00", "bob", "not_acceptable", "misses the <patella> | rim"),
                ("c00", "eve", "acceptable", ""), ("c01", "bob", "not_acceptable", "")):
            add_review(conn, model_ref="r2", case_set="ref", case_id=case, reviewer=reviewer,
                       verdict=verdict, comment=comment)
        card = model_card(conn, "knee")
    assert "reviewers judged 2 of 3 reviewed prediction(s) not acceptable" in card.limits
    assert "reviewer bob on case c00: misses the <patella> | rim" in card.limits
    assert card.worst_cases[0].case_id == "c00" and card.worst_cases[0].verdicts == (1, 2)
    assert "misses the &lt;patella&gt; | rim" in render_card_html(card)  # escaped
    assert "1 of 2 accepted" in render_card_markdown(card)

    written = run_cli("card", "-w", ws.root, "--out", tmp_path, "--json")
    assert written.code == 0, written.stderr
    shown = json.loads(written.stdout)
    assert shown["files"]["html"] == str(tmp_path / "knee-global-v2.html")
    assert shown["version"]["version"] == 2 and shown["figures"][0]["n_patients"] == 12
    old = run_cli("card", "-w", ws.root, "--version", "1", "--out", tmp_path)
    assert old.code == 0 and "knee global v1 (r1, retired)" in old.stdout


def test_a_scope_without_champion_or_version_is_named(promoted, run_cli):
    ws, _ = promoted
    with ws.connect() as conn, pytest.raises(
            RegistryError, match=r"no champion in scope 'site:A'.*`medselect promote RUN "
                                 r"--scope site:A`"):
        model_card(conn, "knee", "site:A")
    missing = run_cli("card", "-w", ws.root, "--version", "9")
    assert missing.code == 1
    assert "scope 'global' of task 'knee' has no version 9" in missing.stderr
