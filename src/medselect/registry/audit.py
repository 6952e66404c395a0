"""The append-only audit log: every registry change, each event chained to the one before.

An event's hash is ``sha256(prev_hash + canonical JSON of [seq, ts, actor, action, payload])``
(``prev_hash`` is the empty string for the first event; canonical JSON has sorted keys, no
spaces, UTF-8, no NaN). Editing any field, deleting, inserting or reordering events breaks
either a hash or a link, and :func:`verify_chain` names the first sequence number where that
happens. The head (newest ``seq`` and hash) is also recorded in the store, so deleting the last
events is detected; print :attr:`AuditReport.head_hash` somewhere else (a decision report, a
ticket) to anchor the whole log against someone who can rewrite the database.

Append events inside the transaction that makes the change they record::

    with ws.begin() as conn:
        ...  # change the registry
        append_event(conn, "alice", "promote", {"task": "knee", "version": 3})
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from medselect.errors import RegistryError, StoreError
from medselect.registry.replay import registry_differences
from medselect.store.audit import add_audit_event, audit_head, last_audit_event, list_audit_events
from medselect.store.engine import REGISTRY_LOCK, serialize
from medselect.store.timestamps import utcnow

__all__ = ["AuditReport", "append_event", "canonical_json", "event_hash", "verify_chain"]


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value`` that is hashed: sorted keys, no spaces, no NaN.

    Raises:
        RegistryError: ``value`` holds something JSON cannot represent (NaN, an object).
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"audit payload is not plain JSON ({exc}); pass str, numbers, "
                            "booleans, None, lists and dicts with string keys only") from None


def event_hash(
    prev_hash: str | None, seq: int, ts: datetime, actor: str, action: str, payload: Any
) -> str:
    """The hash an event with these fields must carry."""
    stamp = ts.astimezone(UTC).isoformat(timespec="microseconds")
    body = canonical_json([seq, stamp, actor, action, payload])
    return hashlib.sha256(((prev_hash or "") + body).encode()).hexdigest()


def append_event(
    conn: sa.Connection, actor: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Append one event after the newest one; return its stored row.

    The payload is stored as its canonical JSON decodes (tuples become lists), so what is
    read back hashes to what was written. Use a write transaction (``Workspace.begin()``):
    appends queue on the registry's lock (:func:`~medselect.store.serialize`) instead of
    forking the chain.

    Raises:
        RegistryError: ``actor`` or ``action`` is empty, or the payload is not plain JSON.
        StoreError: another writer appended the same sequence number first.
    """
    if not str(actor).strip() or not str(action).strip():
        raise RegistryError(f"an audit event needs a non-empty actor and action, got actor "
                            f"{actor!r} and action {action!r}")
    if not isinstance(payload, dict):
        raise RegistryError(f"audit payload must be a dict, got {type(payload).__name__}")
    payload = json.loads(canonical_json(payload))
    serialize(conn, REGISTRY_LOCK)  # the next sequence number is read, then written
    last = last_audit_event(conn)
    seq = 1 if last is None else last["seq"] + 1
    prev_hash = None if last is None else last["hash"]
    ts = utcnow()
    digest = event_hash(prev_hash, seq, ts, actor, action, payload)
    return add_audit_event(conn, {"seq": seq, "ts": ts, "actor": actor, "action": action,
                                  "payload": payload, "prev_hash": prev_hash, "hash": digest})


@dataclass(frozen=True)
class AuditReport:
    """The result of :func:`verify_chain`.

    Attributes:
        ok: every event is intact and linked, and the chain ends at the recorded head.
        n_events: events read.
        first_bad_seq: the first sequence number where the chain breaks (None when ok).
        problem: one sentence saying what is wrong there (None when ok).
        head_seq, head_hash: the newest event as read (None for an empty log).
        differences: registry rows that differ from what the log implies
            (:func:`verify_registry`; empty from :func:`verify_chain`).
    """

    ok: bool
    n_events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    differences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(conn: sa.Connection) -> AuditReport:
    """Walk the log in sequence order and check every hash and link, and the recorded head."""
    events = list_audit_events(conn)
    last = events[-1] if events else None
    head = {"n_events": len(events), "head_seq": None if last is None else last["seq"],
            "head_hash": None if last is None else last["hash"]}

    def broken(seq: int, problem: str) -> AuditReport:
        return AuditReport(ok=False, first_bad_seq=seq, problem=problem, **head)

    prev_hash: str | None = None
    for expected, event in enumerate(events, start=1):
        seq = event["seq"]
        if seq != expected:
            return broken(expected, f"event {expected} is missing: the log goes from event "
                                    f"{expected - 1} to event {seq} (deleted or renumbered)")
        if event["prev_hash"] != prev_hash:
            return broken(seq, f"event {seq} does not link to event {seq - 1} (an event before "
                               "it was deleted, inserted, replaced or moved)")
        digest = event_hash(prev_hash, seq, event["ts"], event["actor"], event["action"],
                            event["payload"])
        if digest != event["hash"]:
            return broken(seq, f"event {seq} ({event['action']!r} by {event['actor']!r}) does "
                               "not match its hash: its content was edited")
        prev_hash = event["hash"]
    try:
        recorded = audit_head(conn)
    except StoreError as exc:
        return broken(len(events) + 1, str(exc))
    if recorded is not None and (last is None or (last["seq"], last["hash"]) != recorded):
        seq, _ = recorded
        if last is None or last["seq"] < seq:
            return broken(len(events) + 1, f"the log ends at event {len(events)} but event "
                                           f"{seq} was recorded as the newest: events at the "
                                           "end were deleted")
        return broken(last["seq"], f"event {last['seq']} is not the recorded newest event "
                                   f"{seq}: events were added or replaced at the end")
    if recorded is None and last is not None:
        return broken(1, "the log has events but no recorded head: the head record was deleted")
    return AuditReport(ok=True, **head)


def verify_registry(conn: sa.Connection) -> AuditReport:
    """:func:`verify_chain`, then the registry tables against the log it vouches for: the
    report is ok only when the chain is intact and every version's model and status are what
    the log implies (:func:`~medselect.registry.replay.registry_differences`)."""
    report = verify_chain(conn)
    if not report.ok:
        return report
    differences = registry_differences(conn)
    if not differences:
        return report
    return replace(report, ok=False, differences=differences,
                   problem=f"the registry tables differ from the audit log: {differences[0]}"
                           + (f" (and {len(differences) - 1} more)" if len(differences) > 1
                              else ""))
