"""Replay the audit log into the registry it implies, and compare that with the tables.

A hash chain proves the log was not edited; it says nothing about the ``model_version`` table
beside it. Someone with database access can make a rejected or rolled-back model champion with
one UPDATE and leave the log intact. Every registry write appends its event in the same
transaction, so the log implies, for each version of each task and scope, its model and its
status; :func:`registry_differences` replays the events and names every version whose row
says otherwise, or that only one of the two knows.

Example::

    >>> registry_differences(conn)
    ["knee global v1: the table says 'champion' but the audit log says 'rejected' ..."]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from medselect.store import VersionStatus, list_audit_events, list_model_versions

__all__ = ["registry_differences", "replay_versions"]

Key = tuple[str, str, int]  # task, scope, version
State = dict[str, str]  # model_ref, status


def replay_versions(events: Iterable[Mapping[str, Any]]) -> dict[Key, State]:
    """Each version's model and status as the events, applied in order, leave them."""
    versions: dict[Key, State] = {}
    for event in events:
        payload, action = event["payload"], event["action"]
        if action not in ("register", "promote", "reject", "rollback"):
            continue  # reference refreshes and other events move no version
        task, scope = payload["task"], payload["scope"]
        versions[(task, scope, payload["version"])] = {"model_ref": payload["model_ref"],
                                                      "status": payload["status"]}
        previous = payload.get("previous_champion")
        if action == "promote" and previous:
            _set_status(versions, (task, scope, previous["version"]), VersionStatus.RETIRED)
        if action == "rollback":
            rolled_back = payload["rolled_back"]["version"]
            _set_status(versions, (task, scope, rolled_back), VersionStatus.REJECTED)
    return versions


def _set_status(versions: dict[Key, State], key: Key, status: str) -> None:
    """A version the log never recorded stays unknown to it (and is named as such)."""
    if key in versions:
        versions[key]["status"] = status


def registry_differences(conn: sa.Connection) -> list[str]:
    """Every version whose row differs from what the audit log implies, in one sentence each
    (empty when the tables and the log agree)."""
    implied = replay_versions(list_audit_events(conn))
    stored = {(r["task"], r["scope"], r["version"]): r for r in list_model_versions(conn)}
    differences = []
    for key in sorted(implied.keys() | stored.keys()):
        name = f"{key[0]} {key[1]} v{key[2]}"
        log, row = implied.get(key), stored.get(key)
        if log is None:
            differences.append(f"{name} ({row['model_ref']}, {row['status']}) is in the table "
                               "but no audit event records it: it was inserted by hand")
        elif row is None:
            differences.append(f"{name} ({log['model_ref']}) is recorded by the audit log but "
                               "missing from the table: it was deleted")
        elif (row["model_ref"], row["status"]) != (log["model_ref"], log["status"]):
            differences.append(f"{name}: the table says {row['model_ref']} is "
                               f"'{row['status']}' but the audit log says {log['model_ref']} "
                               f"is '{log['status']}': the table was edited")
    return differences
