"""The hash-chained audit log: appends verify; any edit, deletion, insertion or reordering made
with raw SQL is found, at the first sequence number it breaks."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from medselect.registry import RegistryError, append_event, event_hash, verify_chain
from medselect.store import audit_head, list_audit_events


@pytest.fixture
def logged(ws):
    """Four events: seq 1..4."""
    with ws.begin() as conn:
        for i in range(1, 5):
            append_event(conn, "alice", "promote", {"version": i, "scores": (0.5, i)})
    return ws


def _sql(ws, *statements: str) -> None:
    with ws.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def _verify(ws):
    with ws.connect() as conn:
        return verify_chain(conn)


def test_appended_events_link_and_verify(logged):
    with logged.connect() as conn:
        events = list_audit_events(conn)
        assert [e["seq"] for e in events] == [1, 2, 3, 4]
        assert events[0]["prev_hash"] is None
        assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
        assert events[0]["payload"] == {"version": 1, "scores": [0.5, 1]}  # stored canonical
        assert audit_head(conn) == (4, events[-1]["hash"])
        first = events[0]
        assert first["hash"] == event_hash(None, 1, first["ts"], "alice", "promote",
                                           first["payload"])
    report = _verify(logged)
    assert report.ok and report.n_events == 4 and report.first_bad_seq is None
    assert report.head_seq == 4 and report.head_hash == events[-1]["hash"]


def test_an_empty_log_verifies(ws):
    report = _verify(ws)
    assert report.ok and report.n_events == 0 and report.head_hash is None


def test_edited_payload_is_found(logged):
    _sql(logged, """UPDATE audit_event SET payload = '{"version": 99, "scores": [0.5, 2]}'
                    WHERE seq = 2""")
    report = _verify(logged)
    assert not report.ok and report.first_bad_seq == 2
    assert "does not match its hash: its content was edited" in report.problem


def test_edited_actor_or_time_is_found(logged):
    _sql(logged, "UPDATE audit_event SET actor = 'mallory' WHERE seq = 3")
    assert _verify(logged).first_bad_seq == 3


def test_edit_with_recomputed_hash_breaks_the_next_link(logged):
    with logged.begin() as conn:
        event = next(e for e in list_audit_events(conn) if e["seq"] == 2)
        forged = event_hash(event["prev_hash"], 2, event["ts"], "alice", "promote", {"x": 1})
        conn.execute(sa.text("UPDATE audit_event SET payload = '{\"x\": 1}', hash = :h "
                             "WHERE seq = 2"), {"h": forged})
    report = _verify(logged)
    assert report.first_bad_seq == 3 and "does not link to event 2" in report.problem


def test_deleted_event_in_the_middle_is_found(logged):
    _sql(logged, "DELETE FROM audit_event WHERE seq = 2")
    report = _verify(logged)
    assert report.first_bad_seq == 2 and "event 2 is missing" in report.problem


def test_deleted_first_event_is_found(logged):
    _sql(logged, "DELETE FROM audit_event WHERE seq = 1")
    assert _verify(logged).first_bad_seq == 1


def test_deleted_last_events_are_found_through_the_recorded_head(logged):
    _sql(logged, "DELETE FROM audit_event WHERE seq >= 3")
    report = _verify(logged)
    assert report.first_bad_seq == 3 and "events at the end were deleted" in report.problem


def test_deleted_head_record_is_found(logged):
    _sql(logged, "DELETE FROM meta WHERE key = 'audit_head'")
    assert "head record was deleted" in _verify(logged).problem


def test_reordered_events_are_found(logged):
    _sql(logged, "UPDATE audit_event SET seq = -1 WHERE seq = 2",
         "UPDATE audit_event SET seq = 2 WHERE seq = 3",
         "UPDATE audit_event SET seq = 3 WHERE seq = -1")
    report = _verify(logged)
    assert report.first_bad_seq == 2 and "does not link to event 1" in report.problem


def test_inserted_event_is_found(logged):
    with logged.begin() as conn:
        events = list_audit_events(conn)
        conn.execute(sa.text("UPDATE audit_event SET seq = seq + 10 WHERE seq >= 3"))
        conn.execute(sa.text("UPDATE audit_event SET seq = seq - 9 WHERE seq >= 13"))
        ts = events[1]["ts"]
        forged = event_hash(events[1]["hash"], 3, ts, "mallory", "promote", {})
        conn.execute(sa.text("INSERT INTO audit_event (seq, ts, actor, action, payload, "
                             "prev_hash, hash) VALUES (3, :ts, 'mallory', 'promote', '{}', "
                             ":prev, :hash)"),
                     {"ts": ts.replace(tzinfo=None), "prev": events[1]["hash"], "hash": forged})
    report = _verify(logged)
    assert report.n_events == 5 and report.first_bad_seq == 4


def test_event_forged_at_the_end_is_found(logged):
    with logged.begin() as conn:
        last = list_audit_events(conn)[-1]
        forged = event_hash(last["hash"], 5, last["ts"], "mallory", "promote", {})
        conn.execute(sa.text("INSERT INTO audit_event (seq, ts, actor, action, payload, "
                             "prev_hash, hash) VALUES (5, :ts, 'mallory', 'promote', '{}', "
                             ":prev, :hash)"),
                     {"ts": last["ts"].replace(tzinfo=None), "prev": last["hash"],
                      "hash": forged})
    report = _verify(logged)
    assert report.first_bad_seq == 5 and "not the recorded newest event 4" in report.problem


@pytest.mark.parametrize(("actor", "action", "payload", "message"), [
    ("", "promote", {}, "non-empty actor and action"),
    ("alice", " ", {}, "non-empty actor and action"),
    ("alice", "promote", {"score": float("nan")}, "not plain JSON"),
    ("alice", "promote", {"when": object()}, "not plain JSON"),
    ("alice", "promote", ["not", "a", "dict"], "must be a dict"),
])
def test_bad_events_are_refused(ws, actor, action, payload, message):
    with pytest.raises(RegistryError, match=message), ws.begin() as conn:
        append_event(conn, actor, action, payload)
    assert _verify(ws).n_events == 0
