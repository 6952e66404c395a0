"""The audit log's rows: append-only events and the recorded head of their hash chain.

Only storage lives here; :mod:`medselect.registry.audit` computes the hashes and verifies the
chain. Events are never updated or deleted by medselect. Besides the rows, the ``meta`` table
keeps the sequence number and hash of the newest event (key :data:`HEAD_KEY`), written in the
same transaction, so that deleting the newest events is detectable too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store._rows import complete_row, fetch_all, fetch_one, rejected
from medselect.store.schema import audit_event, meta

HEAD_KEY = "audit_head"
"""``meta`` key of the chain head, stored as ``"<seq>:<hash>"``."""


def add_audit_event(conn: sa.Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert one event with its sequence number and hashes, and move the head to it.

    Args:
        row: ``audit_event`` columns; ``seq``, ``ts``, ``actor``, ``action``, ``payload`` and
            ``hash`` are required (the caller computed the hash over them).

    Raises:
        StoreError: a field is missing or unknown, or the database refused the row (the
            sequence number or hash is taken: another writer appended first).
    """
    seq = row.get("seq")
    what = f"audit event {seq!r}"
    if not isinstance(seq, int) or seq < 1:
        raise StoreError(f"{what}: 'seq' must be a positive integer")
    values = complete_row(audit_event, row, what)
    try:
        conn.execute(audit_event.insert(), values)
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    head = f"{seq}:{values['hash']}"
    updated = conn.execute(meta.update().where(meta.c.key == HEAD_KEY).values(value=head))
    if updated.rowcount == 0:
        conn.execute(meta.insert().values(key=HEAD_KEY, value=head))
    return get_audit_event(conn, seq)


def get_audit_event(conn: sa.Connection, seq: int) -> dict[str, Any]:
    """Raises: NotFound."""
    return fetch_one(conn, sa.select(audit_event).where(audit_event.c.seq == seq),
                     "audit event", seq)


def last_audit_event(conn: sa.Connection) -> dict[str, Any] | None:
    """The event with the highest sequence number, or None when the log is empty."""
    stmt = sa.select(audit_event).order_by(audit_event.c.seq.desc()).limit(1)
    rows = fetch_all(conn, stmt)
    return rows[0] if rows else None


def list_audit_events(
    conn: sa.Connection, *, action: str | None = None, since: int | None = None
) -> list[dict[str, Any]]:
    """Events in sequence order, optionally of one action or from sequence number ``since``."""
    stmt = sa.select(audit_event).order_by(audit_event.c.seq)
    if action is not None:
        stmt = stmt.where(audit_event.c.action == action)
    if since is not None:
        stmt = stmt.where(audit_event.c.seq >= since)
    return fetch_all(conn, stmt)


def audit_head(conn: sa.Connection) -> tuple[int, str] | None:
    """``(seq, hash)`` of the newest event as recorded when it was appended, or None.

    Raises:
        StoreError: the recorded head is not of the form ``"<seq>:<hash>"``.
    """
    value = conn.execute(sa.select(meta.c.value).where(meta.c.key == HEAD_KEY)).scalar()
    if value is None:
        return None
    seq, sep, digest = value.partition(":")
    if not (sep and seq.isdigit() and digest):
        raise StoreError(f"meta {HEAD_KEY!r} holds {value!r}, not '<seq>:<hash>'; the audit "
                         "log's head record was altered")
    return int(seq), digest
