"""One ranking rule and honest statistics on the dashboard.

- The task's stored ranking section decides the dashboard's chosen model exactly as
  ``medselect rank`` (``medselect.choose``) does: its tie-break, margins and constraints.
- Every board says cases and patients, each model's standing, why a model could not be
  separated from the top one (never painted green), the margin and the weighting.
- The default board is the confirmation set's (the test split: the chosen model's figure on
  cases that played no part in the choice); the selection set's board (the validation split)
  is the very ranking that chose; a workspace evaluated on the test split only labels the
  figure as biased by the choice and gives it bias-corrected.
"""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape

import pytest

from medselect.choose import choose_model, ranking_inputs, task_ranking
from medselect.dashboard.views.choice import choice_summary
from medselect.testing.sample import CASE_SET, VAL_CASE_SET, build_sample_workspace

RESAMPLES = 300
# wide margins: the two equally good models (and perhaps the third) are shown equivalent, so
# the tie-break decides; the old hard-coded "fewer parameters" would pick run-000
RULES = {"metric": "dice", "equivalence": {"dice": 0.1}, "tie_break": ["max:parameters"],
         "by": ["site"], "bootstrap_resamples": RESAMPLES}


def build(tmp_path_factory, name: str, **options):
    return build_sample_workspace(tmp_path_factory.mktemp(name) / "ws", **options)


@pytest.fixture(scope="module")
def val_ws(tmp_path_factory):
    """12 validation and 12 test cases (10 patients each), the rules above stored."""
    ws = build(tmp_path_factory, "val", n_val_cases=12, ranking=RULES)
    yield ws
    ws.dispose()


@pytest.fixture(scope="module")
def val_client(val_ws, make_client):
    return make_client(val_ws, n_resamples=None)  # the rules' own bootstrap, as the CLI's


def standings(board) -> list[tuple[str, str]]:
    return [(r["model"], r["standing"]) for r in board["rows"]]


VAL = {"case_set": VAL_CASE_SET}


def test_the_default_board_is_the_confirmation_set(val_client):
    board = val_client.get("/api/leaderboard").json()
    assert board["case_set"]["id"] == CASE_SET and board["choice"]["role"] == "confirmation"
    assert val_client.get("/api/leaderboard", params={"case_set": "val"}).json()[
        "case_set"]["id"] == VAL_CASE_SET  # a name of the task's sets works too


def test_the_dashboard_chooses_as_medselect_rank_does(val_ws, val_client):
    board = val_client.get("/api/leaderboard", params=VAL).json()
    with val_ws.connect() as conn:
        choice = choose_model(conn, "knee")
        spec = task_ranking(conn, "knee")
        report = ranking_inputs(conn, "knee", VAL_CASE_SET).rank(spec)
    assert board["case_set"]["id"] == VAL_CASE_SET == choice.selection_set
    assert board["best"] == choice.chosen == report.leaderboard.best
    assert board["best"] != "run-000" and board["decided_by_tie_break"]
    assert "max:parameters" in board["reason"] and board["tie_break"] == ["max:parameters"]
    assert len(board["best_group"]) >= 2 and board["rules"] == "experiment"
    assert (board["margin"], board["margin_source"]) == (0.1, "experiment")
    assert standings(board) == [(r.model, r.standing.value) for r in report.leaderboard.rows]
    assert board["n_resamples"] == RESAMPLES
    # a site's board is that site's ranking in the selection by site
    north = val_client.get("/api/leaderboard", params={**VAL, "site": "north"}).json()
    site = report.selections["site"].rankings["north"].leaderboard
    assert north["best"] == site.best and north["n_patients"] == site.n_patients == 5
    assert standings(north) == [(r.model, r.standing.value) for r in site.rows]


def test_without_a_tie_break_the_top_point_estimate_is_chosen(tmp_path_factory, make_client):
    ws = build(tmp_path_factory, "plain", ranking={**RULES, "tie_break": []})
    try:
        board = make_client(ws).get("/api/leaderboard").json()
        with ws.connect() as conn:
            chosen = choose_model(conn, "knee", task_ranking(conn, "knee").model_copy(
                update={"bootstrap_resamples": 200})).chosen
    finally:
        ws.dispose()
    assert board["best"] == board["rows"][0]["model"] == chosen
    assert not board["decided_by_tie_break"] and board["tie_break"] == []


def test_chosen_on_val_and_confirmed_on_test(val_client):
    board = val_client.get("/api/leaderboard", params=VAL).json()
    choice = board["choice"]
    assert (choice["role"], choice["this_board"], choice["same_set"]) == ("selection", True,
                                                                          False)
    assert (choice["selection_set"], choice["confirmation_set"]) == (VAL_CASE_SET, CASE_SET)
    assert (choice["selection_name"], choice["confirmation_name"]) == ("val", "test")
    assert (choice["selection_n_cases"], choice["selection_n_patients"]) == (12, 10)
    figure = choice["figures"][0]
    assert (figure["model"], figure["case_set"], figure["site"]) == (board["best"], CASE_SET,
                                                                     None)
    assert (figure["n_cases"], figure["n_patients"]) == (12, 10)
    assert figure["ci_low"] <= figure["value"] <= figure["ci_high"]
    assert figure["corrected"] is None
    html = val_client.get("/", params=VAL).text
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    assert "Chosen on val (10 patients, 12 cases)" in text
    assert "confirmed on test" in text and "these cases played no part in the choice" in text
    assert f'href="/?case_set={CASE_SET}"' in html and "· confirms" in html


def test_the_confirmation_sets_board_marks_the_model_chosen_elsewhere(val_client):
    board = val_client.get("/api/leaderboard", params={"case_set": CASE_SET}).json()
    choice = board["choice"]
    assert (choice["role"], choice["this_board"]) == ("confirmation", False)
    html = val_client.get("/", params={"case_set": CASE_SET}).text
    row = re.search(rf'<tr [^>]*data-model="{choice["model"]}".*?</tr>', html, re.S).group(0)
    assert "chosen on val" in row
    assert "This is the confirmation set" in html and "Best on this leaderboard" in html


def test_a_sites_board_also_gives_that_sites_choice(val_client):
    choice = val_client.get("/api/leaderboard", params={**VAL, "site": "south"}).json()[
        "choice"]
    overall, south = choice["figures"]
    assert overall["site"] is None and south["site"] == "south"
    assert south["case_set"] == CASE_SET and south["n_patients"] == 5


def test_a_test_only_workspace_labels_the_figure_biased_and_corrects_it(client):
    board = client.get("/api/leaderboard").json()
    choice = board["choice"]
    assert board["case_set"]["id"] == CASE_SET
    assert (choice["role"], choice["same_set"], choice["this_board"]) == ("both", True, True)
    corrected = choice["figures"][0]["corrected"]
    assert corrected["method"].startswith("bootstrap bias correction")
    assert corrected["value"] is not None and choice["notes"]  # why it fell back
    html = client.get("/").text
    assert "biased upwards by the choice" in html and "bias-corrected (bootstrap bias" in html


def test_unresolved_models_are_said_so_and_never_green(tmp_path_factory, make_client):
    # with no room for equivalence, the equally good run-001 cannot be shown equivalent
    ws = build(tmp_path_factory, "strict", ranking={"metric": "dice", "equivalence": {"dice": 0},
                                                   "by": ["site"]})
    try:
        client = make_client(ws)
        board = client.get("/api/leaderboard").json()
        html = client.get("/").text
    finally:
        ws.dispose()
    top = board["rows"][0]["model"]
    assert board["unresolved"] == ["run-001"] and board["best_group"] == [top]
    row = next(r for r in board["rows"] if r["model"] == "run-001")
    assert row["standing"] == "unresolved" and not row["in_best_group"]
    assert board["unresolved_note"] == (
        f"not enough evidence to separate run-001 from {top} (neither shown worse nor shown "
        "equivalent within ±0)")
    assert board["unresolved_note"] in html and 'id="unresolved-note"' in html
    tr = re.search(r'<tr class="([^"]*)" data-model="run-001"', html).group(1)
    assert "standing-unresolved" in tr and "best-group" not in tr
    assert '<span class="badge standing unresolved"' in html


def test_patients_assumed_and_too_few_patients_are_said(tmp_path_factory, make_client):
    ws = build(tmp_path_factory, "single", paired_patients=0, n_cases=8)
    try:
        client = make_client(ws)
        board = client.get("/api/leaderboard").json()
        html = client.get("/").text
    finally:
        ws.dispose()
    assert board["patients_assumed"] and board["n_patients"] == board["n_cases"] == 8
    assert any("each case counts as its own patient" in n for n in board["notes"])
    assert "only 8 patients" in board["ci_note"]
    assert "Confidence intervals are unreliable" in html
    assert "each case counted as its own patient" in html


def test_constraints_exclude_and_a_weighted_rule_is_named(tmp_path_factory, make_client):
    ws = build(tmp_path_factory, "rules", ranking={
        "weights": {"dice": 1, "hd95": 1}, "constraints": ["dice >= 0.85"], "by": ["site"]})
    try:
        client = make_client(ws)
        board = client.get("/api/leaderboard").json()
        html = client.get("/").text
    finally:
        ws.dispose()
    assert board["metric"] == "dice"  # one metric a page; the choice weighs both
    assert board["choice"]["metric"] == "weighted_rank"
    assert "run-002" in board["excluded"] and "needs >= 0.85" in board["excluded"]["run-002"]
    assert "run-002" not in [r["model"] for r in board["rows"]]
    assert any("weigh several metrics (dice ×1, hd95 ×1" in n for n in board["notes"])
    assert "Excluded by the constraints (dice &gt;= 0.85" in html


def test_the_ranking_rules_are_stated_on_the_page(client):
    html = client.get("/").text
    rules = re.search(r'<p class="rules" id="ranking-rules">(.*?)</p>', html, re.S).group(1)
    text = unescape(" ".join(re.sub(r"<[^>]+>", " ", rules).split()))
    assert "the task family's default" in text and "tie-break none" in text
    assert "equivalence margin ±" in text and "each case counts once" in text
    assert "bootstrap resamples of the 10 patients" in text
    assert '<th data-key="patients"' in html and '<th data-key="standing"' in html


def test_a_cross_validated_choice_is_named_by_its_out_of_fold_table(val_ws):
    with val_ws.connect() as conn:
        made = choose_model(conn, "knee", task_ranking(conn, "knee"))
        folds = "out-of-fold (5 folds of dv-sample)"  # what a cross-validation selects on
        summary = choice_summary(conn, replace(made, selection_set=folds), CASE_SET, None,
                                 this_board=False)
    assert (summary.selection_set, summary.selection_name) == (folds, folds)
    assert (summary.role, summary.confirmation_name) == ("confirmation", "test")
