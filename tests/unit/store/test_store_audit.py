"""Audit event rows and the recorded head of their chain (hashing is the registry's job)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_audit_event,
    audit_head,
    get_audit_event,
    last_audit_event,
    list_audit_events,
    utcnow,
)


def _event(seq: int, action: str = "promote", **extra) -> dict:
    return {"seq": seq, "ts": utcnow(), "actor": "alice", "action": action,
            "payload": {"n": seq}, "prev_hash": f"h{seq - 1}" if seq > 1 else None,
            "hash": f"h{seq}", **extra}


def test_events_are_stored_and_move_the_head(ws):
    with ws.begin() as conn:
        assert last_audit_event(conn) is None and audit_head(conn) is None
        row = add_audit_event(conn, _event(1))
        add_audit_event(conn, _event(2, action="reject"))
        assert row["payload"] == {"n": 1} and row["ts"].tzinfo is not None
        assert audit_head(conn) == (2, "h2")
        assert last_audit_event(conn)["seq"] == 2
        assert get_audit_event(conn, 1)["hash"] == "h1"
        assert [e["seq"] for e in list_audit_events(conn)] == [1, 2]
        assert [e["seq"] for e in list_audit_events(conn, action="reject")] == [2]
        assert [e["seq"] for e in list_audit_events(conn, since=2)] == [2]


def test_missing_event_is_not_found(ws):
    with ws.connect() as conn, pytest.raises(NotFound, match="audit event 7"):
        get_audit_event(conn, 7)


@pytest.mark.parametrize(("row", "message"), [
    ({**_event(1), "seq": 0}, "'seq' must be a positive integer"),
    ({k: v for k, v in _event(1).items() if k != "actor"},
     r"missing required field\(s\) \['actor'\]"),
    ({**_event(1), "colour": "red"}, r"unknown field\(s\) \['colour'\]"),
])
def test_bad_rows_are_refused(ws, row, message):
    with pytest.raises(StoreError, match=message), ws.begin() as conn:
        add_audit_event(conn, row)


def test_taken_sequence_number_is_refused(ws):
    with ws.begin() as conn:
        add_audit_event(conn, _event(1))
    with pytest.raises(StoreError, match="audit event 1 was rejected"), ws.begin() as conn:
        add_audit_event(conn, _event(1, hash="other"))


def test_malformed_head_record_is_reported(ws):
    with ws.begin() as conn:
        add_audit_event(conn, _event(1))
        conn.execute(sa.text("UPDATE meta SET value = 'garbage' WHERE key = 'audit_head'"))
        with pytest.raises(StoreError, match="head record was altered"):
            audit_head(conn)
