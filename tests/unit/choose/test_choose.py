"""Choosing on the selection set and confirming on another; one rule for every reader."""

import json

import pytest

from medselect.choose import choose_model, ranking_inputs, task_ranking
from medselect.config import RankingSpec
from medselect.errors import NotFound
from medselect.store.schema import case

OFFSETS = {"r-good": 0.05, "r-twin": 0.05, "r-fair": 0.0, "r-poor": -0.3}


def test_chosen_on_val_and_confirmed_on_test(knee):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    # on the test cases the twin would win: confirmation must not change the choice
    evaluate("v1-test", {**OFFSETS, "r-twin": 0.07}, seed=2)
    with ws.connect() as conn:
        choice = choose_model(conn, "knee")
    assert (choice.selection_set, choice.confirmation_set) == ("v1-val", "v1-test")
    board = choice.report.leaderboard
    # r-good and r-twin are shown equivalent; the stored tie-break picks fewer parameters
    assert set(board.best_group) == {"r-good", "r-twin"}
    assert choice.chosen == "r-twin" and board.decided_by_tie_break
    assert board.n_patients == 24 and board.n_cases == 48
    confirmed = choice.confirmations[0]
    assert confirmed.case_set == "v1-test" and confirmed.model == "r-twin"
    assert not confirmed.same_set and confirmed.corrected is None
    assert confirmed.n_patients == 24 and confirmed.ci_low < confirmed.value < confirmed.ci_high
    sites = {c.group: c for c in choice.groups["site"]}
    assert set(sites) == {"a", "b"} and all(c.n_patients == 12 for c in sites.values())
    json.dumps(choice.to_dict(), allow_nan=False)


def test_without_val_evaluations_the_choice_falls_back_and_is_bias_corrected(knee):
    ws, evaluate = knee
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        choice = choose_model(conn, "knee")
    assert choice.same_set and choice.selection_set == "v1-test"
    assert "nothing to rank on the selection set 'v1-val' (no evaluation" in choice.notes[0]
    confirmed = choice.confirmations[0]
    assert confirmed.same_set and confirmed.corrected is not None
    assert confirmed.corrected.method.startswith("bootstrap bias correction")


def test_asking_for_one_set_chooses_and_reports_there(knee):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.connect() as conn:
        choice = choose_model(conn, "knee", selection="test", confirmation="test")
    assert choice.same_set and choice.confirmations[0].corrected is not None


def test_the_stored_ranking_is_the_default_and_inputs_carry_margins(knee):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS)
    with ws.connect() as conn:
        spec = task_ranking(conn, "knee")
        inputs = ranking_inputs(conn, "knee", "v1-val")
    assert spec.tie_break == ["fewer_parameters"] and spec.selection.case_set == "val"
    assert inputs.margins["dice"] == 0.02 and inputs.directions["dice"] == "higher"
    assert inputs.model_info.loc["r-twin", "parameters"] == 100
    assert set(inputs.table["patient_id"]) >= {"val-a-p0"}


def test_a_missing_confirmation_set_is_named(knee):
    ws, _ = knee
    with ws.connect() as conn, pytest.raises(NotFound, match="no case set 'nope'"):
        choose_model(conn, "knee", RankingSpec(metric="dice"), confirmation="nope")


def test_a_site_without_training_patients_is_named(knee):
    ws, evaluate = knee
    evaluate("v1-val", OFFSETS, seed=1)
    evaluate("v1-test", OFFSETS, seed=2)
    with ws.begin() as conn:  # site b's training cases leave: only site a was learnt from
        conn.execute(case.update().where(case.c.split == "train", case.c.site == "b")
                     .values(split="val"))
    with ws.connect() as conn:
        choice = choose_model(conn, "knee")
    assert any(n.startswith("site 'b' has no training patient") for n in choice.notes)
    assert not any("site 'a'" in n for n in choice.notes)
