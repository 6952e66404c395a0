"""The registry at a glance: per task and scope the champion (since when, by whom), the error
budget on the reference set, every version newest first, and the rollbacks and reference
refreshes from the audit log.

What the dashboard's registry page shows; built from :func:`~.versions.history`,
:func:`~.looks.scope_budget` (as ``medselect registry show`` computes it, with the spending
rule recorded with the scope's newest decision unless one is given) and the audit log.
Read-only: one connection, no write.

Example::

    with ws.connect() as conn:
        for task in registry_overview(conn):
            for scope in task.scopes:
                scope.champion, scope.budget, scope.versions
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from medselect.errors import NotFound, RegistryError
from medselect.registry.evidence import reference_case_set
from medselect.registry.locations import decision_report_uri
from medselect.registry.looks import ScopeBudget, scope_budget
from medselect.registry.refresh import REFERENCE_REFRESHED
from medselect.registry.versions import ModelVersion, history
from medselect.store import VersionStatus, get_case_set, list_audit_events, list_model_versions

__all__ = [
    "EVENT_ACTIONS",
    "ROLLBACK",
    "ChampionSince",
    "RegistryEvent",
    "ScopeOverview",
    "TaskOverview",
    "decision_report_uri",
    "registry_overview",
]

ROLLBACK = "rollback"
EVENT_ACTIONS = (ROLLBACK, REFERENCE_REFRESHED)
"""Audit actions listed beside the versions: they change a scope without a gate decision."""

_BECAME_CHAMPION = ("promote", ROLLBACK)


@dataclass(frozen=True)
class ChampionSince:
    """When and how the champion became champion.

    Attributes:
        action: ``promote`` (through the gate, or forced), ``rollback`` (restored), or
            ``recorded`` (no audit event names it: the version's own date and author).
    """

    at: datetime
    actor: str
    action: str


@dataclass(frozen=True)
class RegistryEvent:
    """A rollback or a refresh of the reference set, as the audit log recorded it.

    Attributes:
        scope: the scope a rollback changed; None for a refresh (every scope of the task).
        payload: the event's payload as stored.
    """

    seq: int
    at: datetime
    actor: str
    action: str
    task: str
    scope: str | None
    reason: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class ScopeOverview:
    """One scope of a task.

    Attributes:
        versions: every version, newest first.
        budget: the scope's error budget on the task's current reference set; None when the
            task has none (``budget_problem`` says why).
    """

    task: str
    scope: str
    champion: ModelVersion | None
    since: ChampionSince | None
    versions: tuple[ModelVersion, ...]
    budget: ScopeBudget | None
    budget_problem: str | None


@dataclass(frozen=True)
class TaskOverview:
    """A task's scopes (``global`` first) and its rollbacks and refreshes, newest first."""

    task: str
    reference_case_set: str | None
    scopes: tuple[ScopeOverview, ...]
    events: tuple[RegistryEvent, ...]


def registry_overview(
    conn: sa.Connection,
    task: str | None = None,
    spending: Mapping[str, Any] | None = None,
) -> list[TaskOverview]:
    """Every task with registered versions (or only ``task``), by name.

    Args:
        spending: ``alpha``, ``alpha_spending`` and ``max_looks`` for every budget (an
            experiment's promotion section); default each scope's recorded rule
            (:func:`~medselect.registry.looks.scope_budget`).
    """
    pairs = dict.fromkeys((v["task"], v["scope"]) for v in list_model_versions(conn, task))
    events = _events(conn)
    became = _became_champion(conn)
    out = []
    for name in sorted({t for t, _ in pairs}):
        reference, problem = _reference(conn, name)
        scopes = sorted((s for t, s in pairs if t == name), key=lambda s: (s != "global", s))
        out.append(TaskOverview(
            task=name,
            reference_case_set=None if reference is None else reference["id"],
            scopes=tuple(_scope(conn, name, s, reference, problem, spending, became)
                         for s in scopes),
            events=tuple(e for e in events if e.task == name)))
    return out


def _scope(
    conn: sa.Connection,
    task: str,
    scope: str,
    reference: Mapping[str, Any] | None,
    problem: str | None,
    spending: Mapping[str, Any] | None,
    became: Mapping[tuple[str, str, int], ChampionSince],
) -> ScopeOverview:
    versions = tuple(reversed(history(conn, task, scope)))
    champions = [v for v in versions if v.status == VersionStatus.CHAMPION]
    if len(champions) > 1:  # as current_champion refuses it
        raise RegistryError(f"task {task!r} has {len(champions)} champions in scope {scope!r} "
                            f"(versions {sorted(v.version for v in champions)}); the registry "
                            "was edited outside medselect, check `medselect audit verify`")
    champion = champions[0] if champions else None
    since = None
    if champion is not None:
        since = became.get((task, scope, champion.version)) or ChampionSince(
            champion.created_at, champion.created_by, "recorded")
    budget = None if reference is None else scope_budget(conn, task, scope, reference, spending)
    return ScopeOverview(task=task, scope=scope, champion=champion, since=since,
                         versions=versions, budget=budget, budget_problem=problem)


def _reference(conn: sa.Connection, task: str) -> tuple[dict[str, Any] | None, str | None]:
    """The task's current reference case set row, or None and why there is none."""
    try:
        return get_case_set(conn, reference_case_set(conn, task)), None
    except (RegistryError, NotFound) as exc:
        return None, str(exc)


def _became_champion(conn: sa.Connection) -> dict[tuple[str, str, int], ChampionSince]:
    """(task, scope, version) -> the newest event that made that version champion."""
    out: dict[tuple[str, str, int], ChampionSince] = {}
    for action in _BECAME_CHAMPION:
        for event in list_audit_events(conn, action=action):
            p = event["payload"]
            if action == "promote" or p.get("status") == VersionStatus.CHAMPION:
                key = (p.get("task"), p.get("scope"), p.get("version"))
                if key not in out or out[key].at < event["ts"]:
                    out[key] = ChampionSince(event["ts"], event["actor"], action)
    return out


def _events(conn: sa.Connection) -> list[RegistryEvent]:
    """Rollbacks and refreshes of every task, newest first."""
    rows = [e for action in EVENT_ACTIONS for e in list_audit_events(conn, action=action)]
    rows.sort(key=lambda e: e["seq"], reverse=True)
    return [RegistryEvent(seq=e["seq"], at=e["ts"], actor=e["actor"], action=e["action"],
                          task=e["payload"].get("task", ""),
                          scope=e["payload"].get("scope") if e["action"] == ROLLBACK else None,
                          reason=e["payload"].get("reason", ""), payload=e["payload"])
            for e in rows]
