"""How a candidate came to the gate: named on the selection set (K = 1) or picked on the
reference set from K models, for ``medselect promote`` and for an upgrade's candidates.

On the reference set "ref" r4 beats r2 beats r1; on the selection set "v1-val" r2 beats r4."""

from __future__ import annotations

import pytest
from registry_tables import BASE_DICE, TASK, VAL_CASES, WOBBLE, criteria, shifted

from medselect.config import RankingSpec
from medselect.registry import promote_through_gate
from medselect.registry.candidates import (
    CandidateChoice,
    named_choice,
    pick_candidate,
    selection_case_set,
)
from medselect.store import add_case_set

RANKING = RankingSpec(metric="dice", bootstrap_resamples=200)
REFERENCE = {"r1": BASE_DICE, "r2": shifted(shifted(BASE_DICE, 0.05), WOBBLE),
             "r3": shifted(BASE_DICE, -0.05), "r4": shifted(shifted(BASE_DICE, 0.10), WOBBLE)}
VAL = BASE_DICE[:8]
SELECTION = {"r2": shifted(shifted(VAL, 0.10), WOBBLE[:8]), "r4": shifted(VAL, 0.02)}


@pytest.fixture
def scored(ws, evaluate):
    """Store the reference and selection figures of the given runs."""

    def store(*runs: str, selection: bool = True) -> None:
        for run in runs:
            evaluate(run, dice=REFERENCE[run])
            if selection and run in SELECTION:
                evaluate(run, case_set="v1-val", cases=VAL_CASES, dice=SELECTION[run])

    return store


def _named(ws, candidate, scope="global", incumbents=()):
    with ws.connect() as conn:
        return named_choice(conn, "knee", scope, candidate, "ref", RANKING,
                            incumbents=incumbents)


def test_the_selection_set_is_the_validation_split_of_the_reference_version(ws, selection):
    with ws.connect() as conn:
        assert selection_case_set(conn, "knee") == selection == "v1-val"
        assert selection_case_set(conn, "knee", "v1") == "v1-val"
        assert selection_case_set(conn, "nope") is None
    with ws.begin() as conn:
        add_case_set(conn, {"id": "v9-val", "name": "val", "task": "knee",
                            "dataset_version": "v1", "kind": "val"}, [])
    with ws.connect() as conn:
        assert selection_case_set(conn, "knee", "v9") is None  # empty: no selection set


def test_the_selection_sets_first_was_named_before_looking(ws, selection, scored):
    scored("r2", "r4")
    assert _named(ws, "r2") == CandidateChoice(1, "chosen on the selection set v1-val")
    chosen = _named(ws, "r4")  # the best on the reference set, but not the selection choice
    assert chosen.chosen_from == 2 and chosen.chosen_on.startswith(
        "picked on the reference set from 2 models")
    assert "the selection set v1-val ranks r2 first" in chosen.chosen_on


def test_without_a_selection_set_the_level_is_divided_by_k(ws, scored):
    scored("r1", "r2", "r4", selection=False)
    chosen = _named(ws, "r2")
    assert chosen.chosen_from == 3 and "no selection set" in chosen.chosen_on


def test_a_model_seen_only_on_the_reference_set_could_have_been_picked(ws, selection, scored):
    scored("r2", "r4")
    scored("r3", "r1", selection=False)
    chosen = _named(ws, "r2", incumbents=["r1"])
    assert chosen.chosen_from == 4
    assert "['r3'] were evaluated on the reference set but not on the selection set" in (
        chosen.chosen_on)
    assert "['r1']" not in chosen.chosen_on  # a version to beat was not picked
    assert _named(ws, "r3").chosen_from == 4  # no evaluation on the selection set at all


def test_promote_divides_the_level_by_k_unless_named_before(ws, selection, scored):
    scored("r1", "r2", "r4")
    first = promote_through_gate(ws, TASK, "global", "r1", criteria(margin=0.01), actor="qa")
    assert first.first_version
    picked = promote_through_gate(ws, TASK, "global", "r4", criteria(margin=0.01), actor="qa")
    look = picked.decision.look
    assert (look.number, look.chosen_from) == (1, 3) and look.alpha == pytest.approx(0.025 / 3)
    assert "divided by 3 (Bonferroni)" in look.description
    assert picked.to_dict()["decision"]["look"]["description"] == look.description
    named = promote_through_gate(ws, TASK, "global", "r2", criteria(margin=0.0), actor="qa")
    look = named.decision.look
    assert (look.number, look.chosen_from) == (2, 1) and look.alpha == pytest.approx(0.0125)
    assert "named before this look (chosen on the selection set v1-val)" in look.description


def test_an_upgrade_ranks_its_candidates_on_the_selection_set(ws, selection, scored):
    scored("r2", "r4")
    with ws.connect() as conn:
        ranked, chosen = pick_candidate(conn, "knee", "global", ["r2", "r4"], RANKING,
                                        reference="ref", selection=selection)
        assert (ranked, chosen) == (["r2", "r4"], CandidateChoice.on_selection("v1-val"))
        ranked, chosen = pick_candidate(conn, "knee", "global", ["r2", "r4"], RANKING,
                                        reference="ref", selection=None)
    assert ranked == ["r4", "r2"] and chosen.chosen_from == 2
    assert chosen.chosen_on == ("picked on the reference set from 2 models (the new dataset "
                                "version has no validation case)")


def test_a_site_without_selection_cases_falls_back_to_the_reference_set(ws, evaluate, scored):
    scored("r2", "r4", selection=False)
    with ws.begin() as conn:
        add_case_set(conn, {"id": "val-A", "name": "val", "task": "knee",
                            "dataset_version": "v1", "kind": "val"}, VAL_CASES[:4])
    for run, dice in SELECTION.items():
        evaluate(run, case_set="val-A", cases=VAL_CASES[:4], dice=dice[:4])
    with ws.connect() as conn:
        at_a = pick_candidate(conn, "knee", "site:A", ["r2", "r4"], RANKING,
                              reference="ref", selection="val-A")
        at_b = pick_candidate(conn, "knee", "site:B", ["r2", "r4"], RANKING,
                              reference="ref", selection="val-A")
    assert at_a[0][0] == "r2" and at_a[1].chosen_from == 1
    assert at_b[0][0] == "r4" and at_b[1].chosen_from == 2
    assert "no validation case at site 'B'" in at_b[1].chosen_on
