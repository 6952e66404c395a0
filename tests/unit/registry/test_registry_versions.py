"""Registry versions on a real workspace: promotion, rejection, force, rollback, refusals,
crash atomicity and concurrent promotions."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import sqlalchemy as sa
from registry_tables import BASE_DICE, WOBBLE, criteria, shifted

from medselect.errors import StoreError
from medselect.registry import (
    RegistryError,
    apply_promotion,
    current_champion,
    gate_for,
    history,
    incumbents,
    parse_scope,
    promote,
    register_version,
    rollback,
    scope_site,
    verify_chain,
    verify_registry,
)
from medselect.store import Workspace, add_case_set, list_audit_events, utcnow
from medselect.store.schema import model_version

SCORES = {"r1": BASE_DICE,
          "r2": shifted(shifted(BASE_DICE, 0.05), WOBBLE),
          "r3": shifted(BASE_DICE, -0.05),
          "r4": shifted(shifted(BASE_DICE, 0.10), WOBBLE)}


@pytest.fixture
def evaluated(ws, evaluate):
    """r1..r4 evaluated on the reference set: r3 < r1 < r2 < r4 on every case."""
    for run, dice in SCORES.items():
        evaluate(run, dice=dice)
    return ws


def _gate(ws, run, scope="global", **kwargs):
    with ws.connect() as conn:
        return gate_for(conn, "knee", scope, run, criteria(margin=0.01), **kwargs)


def _promote(ws, run, decision=None, scope="global", **kwargs):
    decision = decision or _gate(ws, run, scope)
    return promote(ws, "knee", scope, run, decision=decision, actor="alice",
                   dataset_version="v1", **kwargs)


def _statuses(ws, scope="global"):
    with ws.connect() as conn:
        return [(v.version, v.model_ref, v.status) for v in history(conn, "knee", scope)]


def _events(ws):
    with ws.connect() as conn:
        return list_audit_events(conn)


def _state(ws):
    return _statuses(ws), [e["hash"] for e in _events(ws)]


def test_first_promotion_makes_the_first_champion(evaluated):
    decision = _gate(evaluated, "r1")
    assert decision.accepted and decision.incumbents == ()
    assert decision.data["reference_case_set"] == "ref"
    assert decision.data["evaluations"] == {"r1": "e-r1-ref"}
    version = _promote(evaluated, "r1", decision)
    assert (version.version, version.status, version.dataset_version) == (1, "champion", "v1")
    assert version.evidence == decision.to_dict() and version.created_by == "alice"
    with evaluated.connect() as conn:
        assert current_champion(conn, "knee", "global") == version
        assert verify_chain(conn).ok
    (event,) = _events(evaluated)
    assert event["action"] == "promote" and event["actor"] == "alice"
    assert event["payload"]["previous_champion"] is None
    assert event["payload"]["reference_hash"] == decision.data["reference_hash"]


def test_better_candidate_retires_the_champion(evaluated):
    _promote(evaluated, "r1")
    version = _promote(evaluated, "r2")
    assert version.status == "champion" and version.evidence["incumbents"] == ["r1"]
    assert _statuses(evaluated) == [(1, "r1", "retired"), (2, "r2", "champion")]
    assert _events(evaluated)[-1]["payload"]["previous_champion"] == {
        "version": 1, "model_ref": "r1"}


def test_rejected_candidate_is_stored_with_its_evidence(evaluated):
    _promote(evaluated, "r1")
    version = _promote(evaluated, "r3")
    assert version.status == "rejected" and version.evidence["accepted"] is False
    assert version.evidence["results"][1]["statistic"] == pytest.approx(-0.05)
    assert _statuses(evaluated) == [(1, "r1", "champion"), (2, "r3", "rejected")]
    event = _events(evaluated)[-1]
    assert event["action"] == "reject" and event["payload"]["accepted"] is False


def test_force_needs_a_written_reason_which_is_audited(evaluated):
    _promote(evaluated, "r1")
    with pytest.raises(RegistryError, match="a forced promotion needs a written reason"):
        _promote(evaluated, "r3", force_reason="   ")
    assert _statuses(evaluated) == [(1, "r1", "champion")]
    version = _promote(evaluated, "r3", force_reason="site B asked for the smaller model")
    assert version.status == "champion" and version.reason == "site B asked for the smaller model"
    payload = _events(evaluated)[-1]["payload"]
    assert payload["forced"] is True and payload["accepted"] is False
    assert payload["reason"] == "site B asked for the smaller model"


def test_rollback_restores_the_previous_champion(evaluated):
    with pytest.raises(RegistryError, match="has no champion"):
        rollback(evaluated, "knee", "global", "bob", "broken")
    _promote(evaluated, "r1")
    _promote(evaluated, "r2")
    with pytest.raises(RegistryError, match="a rollback needs a written reason"):
        rollback(evaluated, "knee", "global", "bob", "")
    restored = rollback(evaluated, "knee", "global", "bob", "contours leak at site A")
    assert (restored.version, restored.model_ref, restored.status) == (1, "r1", "champion")
    assert _statuses(evaluated) == [(1, "r1", "champion"), (2, "r2", "rejected")]
    with evaluated.connect() as conn:
        rolled = history(conn, "knee", "global")[1]
        assert rolled.evidence["rolled_back"]["reason"] == "contours leak at site A"
        assert incumbents(conn, "knee", "global", "all_versions") == ["r1"]
        assert verify_chain(conn).ok
    event = _events(evaluated)[-1]
    assert event["action"] == "rollback" and event["payload"]["rolled_back"]["model_ref"] == "r2"
    with pytest.raises(RegistryError, match="first champion"):
        rollback(evaluated, "knee", "global", "bob", "again")


def test_failed_or_unknown_runs_are_refused(evaluated):
    with pytest.raises(RegistryError, match=r"run 'rfail' is failed \(out of memory\)"):
        _gate(evaluated, "rfail")
    about_nope = replace(_gate(evaluated, "r1"), candidate="nope")
    with pytest.raises(RegistryError, match="run 'nope' is not in the workspace"):
        _promote(evaluated, "nope", about_nope)
    with pytest.raises(RegistryError, match="external model 'external:x' is not in"):
        _gate(evaluated, "external:x")


def test_candidate_without_evaluation_on_the_reference_set_is_refused(ws, evaluate):
    evaluate("r1", dice=SCORES["r1"])
    _promote(ws, "r1")
    with pytest.raises(RegistryError, match=r"\['r2'\] have no finished evaluation on "
                                            "reference case set 'ref'"):
        _gate(ws, "r2")


def test_a_changed_reference_case_is_refused(evaluated):
    _promote(evaluated, "r1")
    decision = _gate(evaluated, "r2")
    with evaluated.begin() as conn:
        conn.execute(sa.text("UPDATE \"case\" SET content_hash = 'edited' "
                             "WHERE case_id = 'c03'"))
    with pytest.raises(RegistryError, match="reference case set 'ref' changed since it was "
                                            "recorded"):
        _gate(evaluated, "r2")
    with pytest.raises(RegistryError, match="changed since it was recorded"):
        _promote(evaluated, "r2", decision)
    assert _statuses(evaluated) == [(1, "r1", "champion")]


def test_champion_judged_on_another_reference_set_needs_force(evaluated, evaluate):
    _promote(evaluated, "r1")
    ten = [f"c{i:02d}" for i in range(10)]
    with evaluated.begin() as conn:
        add_case_set(conn, {"id": "ref2", "name": "new reference", "task": "knee",
                            "dataset_version": "v1", "kind": "reference"}, ten)
    for run in ("r1", "r2"):
        evaluate(run, case_set="ref2", cases=ten, dice=SCORES[run][:10])
    decision = _gate(evaluated, "r2", case_set="ref2")
    assert decision.accepted
    assert any("reference set changed since champion v1" in note for note in decision.notes)
    with pytest.raises(RegistryError, match="reference set changed since champion v1"):
        _promote(evaluated, "r2", decision)
    version = _promote(evaluated, "r2", decision, force_reason="new reference set agreed")
    assert version.status == "champion"


def test_stale_decision_is_refused(evaluated):
    _promote(evaluated, "r1")
    for_r2, for_r4 = _gate(evaluated, "r2"), _gate(evaluated, "r4")
    _promote(evaluated, "r4", for_r4)
    with pytest.raises(RegistryError, match=r"must now also beat \['r4'\].*run the gate again"):
        _promote(evaluated, "r2", for_r2)


def test_mismatched_or_repeated_promotions_are_refused(evaluated):
    decision = _gate(evaluated, "r1")
    with pytest.raises(RegistryError, match="decision is about 'r1', not 'r2'"):
        _promote(evaluated, "r2", decision)
    _promote(evaluated, "r1", decision)
    with pytest.raises(RegistryError, match="'r1' is already the champion"):
        _promote(evaluated, "r1", decision)


def test_registered_candidate_keeps_its_version_when_promoted(evaluated):
    _promote(evaluated, "r1")
    with evaluated.begin() as conn:
        candidate = register_version(conn, "knee", "global", "r2", actor="ci")
    assert (candidate.version, candidate.status) == (2, "candidate")
    version = _promote(evaluated, "r2")
    assert (version.id, version.version, version.status) == (candidate.id, 2, "champion")
    assert [e["action"] for e in _events(evaluated)] == ["promote", "register", "promote"]


def test_incumbents_are_the_champion_and_earlier_champions(evaluated):
    _promote(evaluated, "r1")
    _promote(evaluated, "r3")  # rejected: never an incumbent
    _promote(evaluated, "r2")
    with evaluated.connect() as conn:
        assert incumbents(conn, "knee", "global", "all_versions") == ["r2", "r1"]
        assert incumbents(conn, "knee", "global", "champion") == ["r2"]
    decision = _gate(evaluated, "r4")
    assert decision.incumbents == ("r2", "r1") and decision.accepted


def test_site_scope_is_judged_on_its_own_cases(evaluated):
    _promote(evaluated, "r1", scope="site:A")
    decision = _gate(evaluated, "r2", scope="site:A")
    assert decision.n_cases == 6 and decision.data["scope"] == "site:A"
    assert _promote(evaluated, "r2", decision, scope="site:A").status == "champion"
    assert _statuses(evaluated, "site:A") == [(1, "r1", "retired"), (2, "r2", "champion")]
    assert _statuses(evaluated, "global") == []
    with pytest.raises(RegistryError, match="has no values for site 'Z'"):
        _gate(evaluated, "r2", scope="site:Z")


@pytest.mark.parametrize("scope", ["everywhere", "site:", "per_site"])
def test_unknown_scopes_are_refused(scope):
    with pytest.raises(RegistryError, match="use 'global' or 'site:<name>'"):
        parse_scope(scope)


def test_scope_site():
    assert scope_site("site:St Olav") == "St Olav" and scope_site("global") is None


def test_a_crash_in_the_middle_leaves_the_registry_as_before(evaluated):
    _promote(evaluated, "r1")
    before = _state(evaluated)
    decision = _gate(evaluated, "r2")
    # the audit insert is the last write of a promotion: fail it after the versions changed
    with evaluated.begin() as conn:
        conn.execute(sa.text("CREATE TRIGGER crash BEFORE INSERT ON audit_event "
                             "BEGIN SELECT RAISE(ABORT, 'simulated crash'); END"))
    with pytest.raises(StoreError, match="simulated crash"):
        _promote(evaluated, "r2", decision)
    with evaluated.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER crash"))
    assert _state(evaluated) == before


def test_an_exception_after_the_promotion_rolls_it_back(evaluated):
    _promote(evaluated, "r1")
    before = _state(evaluated)
    decision = _gate(evaluated, "r2")
    with pytest.raises(RuntimeError, match="power cut"), evaluated.begin() as conn:
        apply_promotion(conn, "knee", "global", "r2", decision=decision, actor="alice",
                        dataset_version="v1")
        raise RuntimeError("power cut")
    assert _state(evaluated) == before


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("first", [None, "r1"])
def test_concurrent_promotions_leave_exactly_one_champion(evaluated, first):
    if first:
        _promote(evaluated, first)
    decisions = {run: _gate(evaluated, run) for run in ("r2", "r4")}
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def attempt(run: str) -> None:
        workspace = Workspace.open(evaluated.root)  # its own engine, like another process
        try:
            start.wait()
            outcome[run] = _promote(workspace, run, decisions[run]).status
        except RegistryError as exc:
            outcome[run] = exc
        finally:
            workspace.dispose()

    threads = [threading.Thread(target=attempt, args=(run,)) for run in decisions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [run for run, result in outcome.items() if result == "champion"]
    lost = [result for result in outcome.values() if isinstance(result, RegistryError)]
    assert len(won) == 1 and len(lost) == 1 and "run the gate again" in str(lost[0])
    champions = [s for s in _statuses(evaluated) if s[2] == "champion"]
    assert champions == [(2 if first else 1, won[0], "champion")]
    with evaluated.connect() as conn:
        assert verify_chain(conn).ok


def _edit(ws, statement):
    with ws.begin() as conn:
        conn.execute(statement)
    with ws.connect() as conn:
        return verify_registry(conn)


def test_the_audit_log_vouches_for_the_registry_tables(evaluated):
    """Promotions, a rejection and a rollback replay to the tables; an UPDATE, INSERT or
    DELETE on model_version made outside medselect is named, though the chain is intact."""
    _promote(evaluated, "r1")
    _promote(evaluated, "r2")
    _promote(evaluated, "r3")  # worse: rejected
    rollback(evaluated, "knee", "global", "bob", "contours leak at site A")
    with evaluated.connect() as conn:
        report = verify_registry(conn)
    assert report.ok and report.differences == []
    assert _statuses(evaluated) == [(1, "r1", "champion"), (2, "r2", "rejected"),
                                    (3, "r3", "rejected")]
    table = model_version
    revived = _edit(evaluated, table.update().where(table.c.version == 2)
                    .values(status="champion"))  # the rolled-back model made champion again
    assert not revived.ok and verify_chain_ok(evaluated)
    assert revived.differences == [
        "knee global v2: the table says r2 is 'champion' but the audit log says r2 is "
        "'rejected': the table was edited"]
    _edit(evaluated, table.update().where(table.c.version == 2).values(status="rejected"))
    forged = _edit(evaluated, table.insert().values(
        task="knee", scope="global", version=4, model_ref="r4", status="champion",
        evidence={}, created_by="mallory", created_at=utcnow(), reason=""))
    assert forged.differences == ["knee global v4 (r4, champion) is in the table but no audit "
                                  "event records it: it was inserted by hand"]
    gone = _edit(evaluated, table.delete().where(table.c.version >= 3))
    assert gone.differences == ["knee global v3 (r3) is recorded by the audit log but missing "
                                "from the table: it was deleted"]


def verify_chain_ok(ws) -> bool:
    with ws.connect() as conn:
        return verify_chain(conn).ok


def test_audit_verify_names_an_edited_registry(run_cli, evaluated):
    _promote(evaluated, "r1")
    assert run_cli("audit", "verify", "-w", evaluated.root).code == 0
    _edit(evaluated, model_version.update().values(model_ref="r3"))
    result = run_cli("audit", "verify", "-w", evaluated.root)
    assert result.code == 1
    assert "knee global v1: the table says r3 is 'champion' but the audit log says r1" \
        in result.stderr
    assert "differ from the audit log in 1 version(s)" in result.stderr
