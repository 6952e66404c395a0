"""Refreshing the reference set: which test cases may form it, the refusal when they are too
few, and the whole flow: recorded and audited in one transaction, earlier versions evaluated
on it, the budget afresh, and the next promotion accepted although the champion was judged on
the old reference set.

Dataset version "v2" holds v1's cases and new ones: test cases n00..n07 of new patients, n08
of a patient v1 already has, n09 with an image v1 already has, and a training case t00."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from registry_tables import (
    BASE_DICE,
    CASES,
    SITES,
    TASK,
    VAL_CASES,
    VAL_SITES,
    WOBBLE,
    case_rows,
    criteria,
    shifted,
)

from medselect.registry import (
    RegistryError,
    current_champion,
    promote_through_gate,
    reference_case_set,
    verify_chain,
)
from medselect.registry.looks import looks_before
from medselect.registry.refresh import (
    REFERENCE_REFRESHED,
    fresh_reference_cases,
    refresh_reference,
    refreshed_since,
)
from medselect.store import (
    add_case_set,
    add_dataset_version,
    get_case_set,
    get_dataset_version,
    list_audit_events,
    list_case_sets,
    set_reference_case_set,
)

NEW = [f"n{i:02d}" for i in range(8)]
NEW_SITES = ["A"] * 4 + ["B"] * 4
SCORES = {"r1": BASE_DICE, "r2": shifted(shifted(BASE_DICE, 0.05), WOBBLE),
          "r3": shifted(BASE_DICE, -0.05), "r4": shifted(shifted(BASE_DICE, 0.10), WOBBLE)}
ON_NEW = {"r1": BASE_DICE[:8], "r2": shifted(shifted(BASE_DICE[:8], 0.05), WOBBLE[:8]),
          "r4": shifted(shifted(BASE_DICE[:8], 0.12), WOBBLE[:8])}


@pytest.fixture
def v2(ws):
    """Dataset version "v2" (see the module's docstring), still judged on "ref"."""
    seen_patient = {**case_rows(["n08"], ["A"], "test")[0], "patient_id": "p-c00"}
    seen_image = {**case_rows(["n09"], ["B"], "test")[0], "image_uris": ["images/c01.nii.gz"]}
    cases = (case_rows(CASES, SITES, "test") + case_rows(VAL_CASES, VAL_SITES, "val")
             + case_rows(NEW, NEW_SITES, "test") + [seen_patient, seen_image]
             + case_rows(["t00"], ["A"], "train"))
    with ws.begin() as conn:
        add_dataset_version(conn, {"id": "v2", "task": "knee", "parent_id": "v1"}, cases)
        set_reference_case_set(conn, "v2", "ref")
    return "v2"


@pytest.fixture
def history(ws, evaluate):
    """r1 champion, then r2 promoted (look 1) and r3 rejected (look 2) on "ref"."""
    for run, dice in SCORES.items():
        evaluate(run, dice=dice)
    for run in ("r1", "r2", "r3"):
        promote_through_gate(ws, TASK, "global", run, criteria(margin=0.01), actor="qa")
    return ws


def _refresh(ws, **kwargs):
    kwargs.setdefault("min_patients", 5)
    return refresh_reference(ws, TASK, "v2", actor="qa", reason="budget spent",
                             metrics=["dice"], **kwargs)


def _state(ws):
    with ws.connect() as conn:
        return (get_dataset_version(conn, "v2")["reference_case_set"],
                len(list_audit_events(conn)))


def test_only_test_cases_of_never_seen_patients_and_images_qualify(ws, v2):
    with ws.connect() as conn:
        fresh = fresh_reference_cases(conn, "knee", v2, min_patients=8)
        assert [c["case_id"] for c in fresh] == NEW
        with pytest.raises(RegistryError, match=r"would hold 8 never-seen patient\(s\) \(8 of "
                                                r"its 22 test cases\), fewer than "
                                                "promotion.min_patients = 9"):
            fresh_reference_cases(conn, "knee", v2, min_patients=9)


def test_too_few_patients_records_nothing(history, v2):
    before = _state(history)
    with pytest.raises(RegistryError, match=r"fewer than promotion\.min_patients = 20"):
        _refresh(history, min_patients=20)
    assert _state(history) == before
    with history.connect() as conn:
        assert "v2-reference" not in {c["id"] for c in list_case_sets(conn, "knee")}


def test_the_new_reference_set_replaces_the_old_one(history, v2, evaluate):
    with history.connect() as conn:
        old = get_case_set(conn, "ref")
        assert looks_before(conn, "knee", "global", old["content_hash"]) == 2
    with pytest.raises(RegistryError, match=r"'r1' could not be evaluated on case set "
                                            r"'v2-reference'.*no checkpoint"):
        _refresh(history, candidates=["r4"])  # the earlier versions are evaluated on it
    with history.connect() as conn:  # ... but the refresh is recorded, with its audit event
        assert reference_case_set(conn, "knee") == "v2-reference"
        new = get_case_set(conn, "v2-reference")
        [event] = list_audit_events(conn, action=REFERENCE_REFRESHED)
        assert verify_chain(conn).ok
    assert (new["kind"], new["frozen"], new["dataset_version"]) == ("reference", True, "v2")
    assert event["actor"] == "qa" and event["payload"] == {
        "task": "knee", "dataset_version": "v2", "old_case_set": "ref",
        "old_hash": old["content_hash"], "new_case_set": "v2-reference",
        "new_hash": new["content_hash"], "n_cases": 8, "n_patients": 8,
        "reason": "budget spent"}

    for run, dice in ON_NEW.items():  # as `medselect evaluate` would store them
        evaluate(run, case_set="v2-reference", cases=NEW, dice=dice)
    again = _refresh(history, candidates=["r4"])  # the re-run evaluates what is missing only
    assert not again.recorded and (again.old_case_set, again.new_case_set) == (
        "ref", "v2-reference")
    assert set(again.evaluated) == {"r1", "r2", "r4"}  # champion, retired, candidate; not r3
    with history.connect() as conn:
        assert len(list_audit_events(conn, action=REFERENCE_REFRESHED)) == 1
        assert looks_before(conn, "knee", "global", new["content_hash"]) == 0  # afresh
        assert refreshed_since(conn, "knee", old["content_hash"]) == {new["content_hash"]}

    outcome = promote_through_gate(history, TASK, "global", "r4", criteria(margin=0.01),
                                   actor="qa")
    assert outcome.promoted and outcome.decision.look.number == 1
    assert outcome.decision.data["reference_case_set"] == "v2-reference"
    assert outcome.decision.incumbents == ("r2", "r1")
    assert not [n for n in outcome.decision.notes if "reference set changed" in n]
    with history.connect() as conn:
        assert current_champion(conn, "knee", "global").model_ref == "r4"


def test_without_a_recorded_refresh_the_champion_still_needs_force(history, v2, evaluate):
    with history.begin() as conn:  # the same cases made the reference set by hand, unaudited
        add_case_set(conn, {"id": "by-hand", "name": "reference", "task": "knee",
                            "dataset_version": "v2", "kind": "reference"}, NEW)
        set_reference_case_set(conn, "v2", "by-hand")
    for run, dice in ON_NEW.items():
        evaluate(run, case_set="by-hand", cases=NEW, dice=dice)
    with pytest.raises(RegistryError, match="no recorded refresh leads from one to the other"):
        promote_through_gate(history, TASK, "global", "r4", criteria(margin=0.01), actor="qa")
    with history.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM model_version")).scalar_one() == 3
