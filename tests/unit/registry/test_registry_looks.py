"""Looks counted from the registry's history: which earlier gates spent the scope's alpha, the
level the next one runs at, the budget of a scope, and the refusals that keep the count honest."""

from __future__ import annotations

import pytest
from registry_tables import BASE_DICE, CASES, WOBBLE, criteria, shifted

from medselect.registry import RegistryError, gate_for, promote
from medselect.registry.looks import count_looks, looks_before, scope_budget
from medselect.store import add_case_set, get_case_set

SCORES = {"r1": BASE_DICE,
          "r2": shifted(shifted(BASE_DICE, 0.05), WOBBLE),
          "r3": shifted(BASE_DICE, -0.05),
          "r4": shifted(shifted(BASE_DICE, 0.10), WOBBLE)}


@pytest.fixture
def evaluated(ws, evaluate):
    """r1..r4 on the reference set "ref": r3 < r1 < r2 < r4 on every case."""
    for run, dice in SCORES.items():
        evaluate(run, dice=dice)
    return ws


def _gate(ws, run, scope="global", **kwargs):
    options = {k: kwargs.pop(k) for k in ("case_set", "choice") if k in kwargs}
    with ws.connect() as conn:
        return gate_for(conn, "knee", scope, run, criteria(margin=0.01, **kwargs), **options)


def _promote(ws, run, decision=None, scope="global", force_reason=None, **kwargs):
    decision = decision or _gate(ws, run, scope, **kwargs)
    return promote(ws, "knee", scope, run, decision=decision, actor="alice",
                   dataset_version="v1", force_reason=force_reason)


def _looks(ws, scope="global", reference="ref"):
    with ws.connect() as conn:
        return looks_before(conn, "knee", scope, get_case_set(conn, reference)["content_hash"])


def test_which_stored_decisions_are_looks():
    judged = {"incumbents": ["r1"], "data": {"reference_hash": "h"}}
    assert count_looks([judged, {**judged, "accepted": False}], "h") == 2  # a rejection counts
    assert count_looks([{"incumbents": [], "data": {"reference_hash": "h"}}], "h") == 0  # first
    assert count_looks([judged], "other") == 0  # judged on another reference set
    assert count_looks([{}], "h") == 0  # a registered candidate, not judged yet


def test_every_gate_against_an_incumbent_is_a_look_and_runs_lower(evaluated):
    first = _promote(evaluated, "r1")
    assert _looks(evaluated) == 0 and first.evidence["look"]["number"] == 1  # spent nothing
    rejected = _promote(evaluated, "r3")
    assert rejected.status == "rejected" and _looks(evaluated) == 1
    accepted = _promote(evaluated, "r2")
    assert accepted.status == "champion" and _looks(evaluated) == 2
    decision = _gate(evaluated, "r4")
    assert decision.look.number == 3 and decision.look.alpha == pytest.approx(0.05 / 8)
    assert [r.level for r in decision.results if r.name == "primary"] == [
        pytest.approx(0.05 / 8)] * 2  # against r2 and r1
    assert decision.to_dict()["look"]["budget"]["looks"] == 2
    assert _looks(evaluated, scope="site:A") == 0  # every scope has its own budget


def test_forced_promotions_count(evaluated):
    _promote(evaluated, "r1")
    forced = _promote(evaluated, "r3", force_reason="the site asked for it")
    assert forced.status == "champion" and _looks(evaluated) == 1


def test_another_reference_set_has_its_own_count(evaluated, evaluate):
    _promote(evaluated, "r1")
    _promote(evaluated, "r2")
    ten = CASES[:10]
    with evaluated.begin() as conn:
        add_case_set(conn, {"id": "ref2", "name": "new reference", "task": "knee",
                            "dataset_version": "v1", "kind": "reference"}, ten)
    for run in ("r1", "r2", "r4"):
        evaluate(run, case_set="ref2", cases=ten, dice=SCORES[run][:10])
    assert _looks(evaluated) == 1 and _looks(evaluated, reference="ref2") == 0
    assert _gate(evaluated, "r4", case_set="ref2").look.number == 1


def test_a_spent_bonferroni_budget_refuses_with_the_advice(evaluated):
    spending = {"alpha_spending": "bonferroni", "max_looks": 1}
    _promote(evaluated, "r1", **spending)
    assert _promote(evaluated, "r2", **spending).status == "champion"  # look 1 at alpha / 1
    decision = _gate(evaluated, "r4", **spending)
    assert decision.look.exhausted and not decision.accepted
    budget = next(r for r in decision.results if r.name == "budget")
    assert not budget.passed and budget.level == 0.0
    assert "error budget is spent (1 looks, bonferroni spending)" in budget.explanation
    assert "medselect upgrade --new-reference" in decision.summary
    assert _promote(evaluated, "r4", decision).status == "rejected"


def test_a_decision_overtaken_by_another_look_is_refused(evaluated):
    _promote(evaluated, "r1")
    for_r2, for_r3 = _gate(evaluated, "r2"), _gate(evaluated, "r3")
    assert for_r2.look.number == for_r3.look.number == 1
    _promote(evaluated, "r3", for_r3)  # rejected, but it was look 1
    with pytest.raises(RegistryError, match=r"ran as look 1 .* has had 1 look.*run the gate "
                                            r"again at the level of look 2"):
        _promote(evaluated, "r2", for_r2)
    assert _promote(evaluated, "r2").evidence["look"]["number"] == 2


def test_the_budget_of_a_scope(evaluated):
    _promote(evaluated, "r1")
    _promote(evaluated, "r3")
    with evaluated.connect() as conn:
        reference = get_case_set(conn, "ref")
        recorded = scope_budget(conn, "knee", "global", reference)
        given = scope_budget(conn, "knee", "global", reference,
                             {"alpha": 0.1, "alpha_spending": "bonferroni", "max_looks": 2})
        fresh = scope_budget(conn, "knee", "site:A", reference)
    assert recorded.budget.looks == 1 and recorded.budget.spent == pytest.approx(0.025)
    assert recorded.protocol == "the newest gate decision in this scope"
    assert recorded.budget.advice is None
    assert (given.budget.spent, given.budget.next_alpha) == (pytest.approx(0.05),
                                                             pytest.approx(0.05))
    assert fresh.budget.looks == 0 and fresh.protocol == "the promotion section's defaults"
    _promote(evaluated, "r2")  # 0.025 + 0.0125 = 75% of alpha spent: refresh advised
    with evaluated.connect() as conn:
        advised = scope_budget(conn, "knee", "global", reference)
    assert "75% of the reference set's alpha is spent" in advised.budget.advice
    assert advised.to_dict()["reference_case_set"] == "ref"
