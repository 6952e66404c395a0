"""Model versions per task and scope: the champion, promotion through the gate, rollback.

A scope is ``global`` or ``site:<name>``. Each promotion attempt becomes a numbered version:
``champion`` (at most one per task and scope), ``retired`` (an earlier champion), ``rejected``
(the gate said no, or it was rolled back) or ``candidate`` (registered, not yet judged). Every
change appends an audit event in the same transaction, so the registry and its log are either
both changed or both not; :func:`promote` and :func:`rollback` run in one write transaction
(on SQLite ``BEGIN IMMEDIATE``), so concurrent promotions queue and the later one finds the
registry changed and is refused.

Example::

    decision = gate_for(conn, "knee", "global", "run-b", criteria, case_set="ref")
    version = promote(ws, "knee", "global", "run-b", decision=decision, actor="alice",
                      dataset_version="v2")
    version.status  # "champion" or "rejected"
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from medselect.errors import RegistryError
from medselect.registry.audit import append_event, canonical_json
from medselect.registry.checks import (
    check_decision_current,
    check_evaluated,
    check_look_current,
    check_promotable,
    check_reference,
    check_same_reference,
)
from medselect.registry.criteria import CompareWith
from medselect.registry.decision import GateDecision
from medselect.registry.looks import looks_before
from medselect.registry.scope import parse_scope
from medselect.store import (
    REGISTRY_LOCK,
    VersionStatus,
    Workspace,
    add_model_version,
    list_model_versions,
    serialize,
    update_model_version,
    utcnow,
)

__all__ = [
    "ModelVersion",
    "apply_promotion",
    "current_champion",
    "history",
    "incumbents",
    "promote",
    "register_version",
    "rollback",
]


@dataclass(frozen=True)
class ModelVersion:
    """One registry row. ``evidence`` is the gate decision (``GateDecision.to_dict()``)."""

    id: int
    task: str
    scope: str
    version: int
    model_ref: str
    dataset_version: str | None
    status: str
    evidence: Mapping[str, Any]
    created_by: str
    created_at: datetime
    reason: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelVersion:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        return out


def register_version(
    conn: sa.Connection,
    task: str,
    scope: str,
    model_ref: str,
    *,
    actor: str,
    dataset_version: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Record ``model_ref`` as a ``candidate`` version (promote it later through the gate).

    Raises:
        RegistryError: the scope is unknown or the model cannot be promoted in ``task``.
    """
    scope = parse_scope(scope)
    check_promotable(conn, task, model_ref)
    row = add_model_version(conn, {
        "task": task, "scope": scope, "model_ref": model_ref, "status": VersionStatus.CANDIDATE,
        "dataset_version": dataset_version, "evidence": dict(evidence or {}),
        "created_by": actor})
    version = ModelVersion.from_row(row)
    append_event(conn, actor, "register", _payload(version))
    return version


def current_champion(conn: sa.Connection, task: str, scope: str) -> ModelVersion | None:
    """The champion of ``task`` in ``scope``, or None before the first promotion.

    Raises:
        RegistryError: the store holds several champions (it was edited outside medselect).
    """
    rows = list_model_versions(conn, task, parse_scope(scope), VersionStatus.CHAMPION)
    if len(rows) > 1:
        raise RegistryError(f"task {task!r} has {len(rows)} champions in scope {scope!r} "
                            f"(versions {[r['version'] for r in rows]}); the registry was edited "
                            "outside medselect, check `medselect audit verify`")
    return ModelVersion.from_row(rows[0]) if rows else None


def history(conn: sa.Connection, task: str, scope: str | None = None) -> list[ModelVersion]:
    """Every version of ``task`` (in one scope, or all), ordered by scope and version."""
    scope = None if scope is None else parse_scope(scope)
    return [ModelVersion.from_row(r) for r in list_model_versions(conn, task, scope)]


def incumbents(
    conn: sa.Connection, task: str, scope: str, compare_with: CompareWith | str
) -> list[str]:
    """Model refs a candidate must beat: the champion, then (``all_versions``) every earlier
    champion, newest first, each once. Rolled-back and rejected versions are not included."""
    versions = history(conn, task, scope)
    champions = [v for v in versions if v.status == VersionStatus.CHAMPION]
    earlier = [v for v in versions if v.status == VersionStatus.RETIRED]
    if CompareWith(compare_with) == CompareWith.CHAMPION:
        earlier = []
    ordered = champions + sorted(earlier, key=lambda v: v.version, reverse=True)
    return list(dict.fromkeys(v.model_ref for v in ordered))


def promote(
    ws: Workspace,
    task: str,
    scope: str,
    model_ref: str,
    *,
    decision: GateDecision,
    actor: str,
    dataset_version: str | None,
    force_reason: str | None = None,
) -> ModelVersion:
    """Apply a gate decision in one write transaction; see :func:`apply_promotion`."""
    with ws.begin() as conn:
        return apply_promotion(conn, task, scope, model_ref, decision=decision, actor=actor,
                               dataset_version=dataset_version, force_reason=force_reason)


def apply_promotion(
    conn: sa.Connection,
    task: str,
    scope: str,
    model_ref: str,
    *,
    decision: GateDecision,
    actor: str,
    dataset_version: str | None,
    force_reason: str | None = None,
) -> ModelVersion:
    """Make ``model_ref`` the champion if the gate accepted it (or it is forced), else record
    it as rejected with the evidence; return its version. Call inside ``Workspace.begin()``.

    Accepted or forced: the previous champion becomes ``retired`` and the candidate (its
    ``candidate`` row, or a new version) ``champion``. Rejected: the candidate is stored as
    ``rejected``. Either way ``decision.to_dict()`` is stored as evidence and one audit event
    (``promote`` or ``reject``) records it.

    Args:
        decision: the gate's decision on ``model_ref``, computed on the reference set
            (``decision.data`` names it: see :func:`~medselect.registry.evidence.gate_for`).
        dataset_version: the dataset version the model was trained on (None: the run's).
        force_reason: promote even though the gate rejected it, or the reference set moved;
            must be a non-empty written reason, recorded in the row and the audit log.

    Raises:
        RegistryError: the run failed or is unknown, has no evaluation on the reference set,
            the reference set changed, the model is already champion, the decision is for
            another model or stale (the registry changed since the gate ran: another
            promotion, or another look at the reference set), or ``force_reason`` is empty.
    """
    scope = parse_scope(scope)
    reason = None if force_reason is None else _written(force_reason, "a forced promotion")
    serialize(conn, REGISTRY_LOCK)  # concurrent promotions read the champion one at a time
    if decision.candidate != model_ref:
        raise RegistryError(f"the gate decision is about {decision.candidate!r}, not "
                            f"{model_ref!r}; run the gate for {model_ref!r}")
    run = check_promotable(conn, task, model_ref)
    data = decision.data
    if not data.get("reference_case_set"):
        raise RegistryError("the gate decision records no reference case set; run the gate on "
                            "the workspace's reference set (registry.gate_for)")
    reference = check_reference(conn, data["reference_case_set"])
    if reference["content_hash"] != data.get("reference_hash"):
        raise RegistryError(f"the gate ran on reference case set {reference['id']!r} with "
                            f"content hash {data.get('reference_hash')!r}, but it now has "
                            f"{reference['content_hash']!r}; run the gate again")
    check_evaluated(conn, reference["id"], [model_ref])
    champion = current_champion(conn, task, scope)
    if champion is not None and champion.model_ref == model_ref:
        raise RegistryError(f"{model_ref!r} is already the champion (v{champion.version}) of "
                            f"task {task!r} in scope {scope!r}")
    compare_with = decision.criteria.compare_with
    check_decision_current(decision, [r for r in incumbents(conn, task, scope, compare_with)
                                      if r != model_ref])
    check_look_current(decision, looks_before(conn, task, scope, reference["content_hash"]))
    forced = reason is not None and not decision.accepted
    check_same_reference(conn, champion, data, forced=reason is not None)
    evidence = decision.to_dict()
    status = VersionStatus.CHAMPION if decision.accepted or forced else VersionStatus.REJECTED
    if status == VersionStatus.CHAMPION and champion is not None:
        update_model_version(conn, champion.id, {"status": VersionStatus.RETIRED})
    values = {"status": status, "evidence": evidence, "reason": reason or ""}
    pending = list_model_versions(conn, task, scope, VersionStatus.CANDIDATE, model_ref=model_ref)
    if pending:
        row = update_model_version(conn, pending[-1]["id"], values)
    else:
        row = add_model_version(conn, {
            "task": task, "scope": scope, "model_ref": model_ref, "created_by": actor,
            "dataset_version": dataset_version or run.get("dataset_version"), **values})
    version = ModelVersion.from_row(row)
    append_event(conn, actor, "promote" if status == VersionStatus.CHAMPION else "reject", {
        **_payload(version),
        "accepted": decision.accepted,
        "forced": forced,
        "summary": decision.summary,
        "previous_champion": None if champion is None else _ref(champion),
        "reference_case_set": reference["id"],
        "reference_hash": reference["content_hash"],
        "look": decision.look.number if decision.incumbents else None,
        "level": decision.look.alpha if decision.incumbents else None,
        "evidence_sha256": hashlib.sha256(canonical_json(evidence).encode()).hexdigest(),
    })
    return version


def rollback(ws: Workspace, task: str, scope: str, actor: str, reason: str) -> ModelVersion:
    """Restore the previous champion of ``task`` in ``scope``; return it.

    The current champion becomes ``rejected`` (so a later rollback never brings it back) with
    ``evidence["rolled_back"]`` saying who, when and why; the newest ``retired`` version below
    it becomes champion again. One write transaction with its ``rollback`` audit event.

    Raises:
        RegistryError: the reason is empty, there is no champion, or no earlier one.
    """
    scope = parse_scope(scope)
    reason = _written(reason, "a rollback")
    with ws.begin() as conn:
        serialize(conn, REGISTRY_LOCK)
        champion = current_champion(conn, task, scope)
        if champion is None:
            raise RegistryError(f"task {task!r} has no champion in scope {scope!r}; there is "
                                "nothing to roll back")
        earlier = [v for v in history(conn, task, scope)
                   if v.status == VersionStatus.RETIRED and v.version < champion.version]
        if not earlier:
            raise RegistryError(f"v{champion.version} ({champion.model_ref!r}) is the first "
                                f"champion of task {task!r} in scope {scope!r}; there is no "
                                "earlier version to roll back to")
        previous = earlier[-1]
        note = {"by": actor, "at": utcnow().isoformat(), "reason": reason}
        update_model_version(conn, champion.id, {
            "status": VersionStatus.REJECTED,
            "evidence": {**champion.evidence, "rolled_back": note}})
        restored = ModelVersion.from_row(
            update_model_version(conn, previous.id, {"status": VersionStatus.CHAMPION}))
        append_event(conn, actor, "rollback", {
            **_payload(restored), "rolled_back": _ref(champion), "reason": reason})
        return restored


def _written(reason: str | None, what: str) -> str:
    """A non-empty reason, stripped, or a refusal naming what needs it."""
    if reason is None or not str(reason).strip():
        raise RegistryError(f"{what} needs a written reason (it goes to the audit log); "
                            "say why in a sentence")
    return str(reason).strip()


def _ref(version: ModelVersion) -> dict[str, Any]:
    return {"version": version.version, "model_ref": version.model_ref}


def _payload(version: ModelVersion) -> dict[str, Any]:
    return {"task": version.task, "scope": version.scope, **_ref(version),
            "status": version.status, "dataset_version": version.dataset_version,
            "reason": version.reason}
