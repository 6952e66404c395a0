"""Refreshing the reference set: never-seen test patients replace a spent one.

Each gate on the frozen reference set spends part of the scope's alpha
(:mod:`medselect.registry.looks`), and over many upgrades the choices adapt to its noise. When
an upgrade brings new test patients (``medselect upgrade --new-reference``), they become the
new frozen reference set:

- its cases are the new dataset version's test cases whose patient, and every image, no
  earlier dataset version of the task holds (so no model was trained, tuned or judged on
  them); it must hold at least ``promotion.min_patients`` patients;
- it is recorded on the new dataset version as its reference set, and a
  ``reference_refreshed`` audit event (old and new case set and content hash, patients, the
  reason) is appended in the same transaction;
- every registered champion and retired version of the task, and the given candidates, are
  then evaluated on it, so the next gate compares them there; the budget starts afresh (it is
  keyed by the reference content hash), and :func:`refreshed_since` lets
  :func:`~medselect.registry.checks.check_same_reference` accept a champion judged on the
  reference set the refresh replaced.

Running it again on the same dataset version finds the refresh already recorded and only
evaluates what is missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from medselect.config import EvaluationSpec, TaskSpec
from medselect.errors import RegistryError
from medselect.registry.audit import append_event
from medselect.registry.backfill import ensure_evaluated
from medselect.store import (
    VersionStatus,
    Workspace,
    add_case_set,
    case_set_members,
    get_case_set,
    get_cases,
    get_dataset_version,
    list_audit_events,
    list_dataset_versions,
    list_model_versions,
    set_reference_case_set,
)
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = ["REFERENCE_REFRESHED", "Refresh", "fresh_reference_cases", "refresh_reference",
           "refreshed_since"]

REFERENCE_REFRESHED = "reference_refreshed"
"""Audit action of a refresh of the reference set."""

_JUDGED = (VersionStatus.CHAMPION, VersionStatus.RETIRED)
"""Statuses of the registered versions evaluated on a new reference set."""


@dataclass(frozen=True)
class Refresh:
    """A refresh of the reference set, as recorded, and what was evaluated on the new one.

    Attributes:
        recorded: this call recorded it (False: an earlier run of the same upgrade had).
        evaluated: model ref -> its evaluation on the new reference set.
        skipped: external models (they cannot be re-run) -> what to do.
    """

    task: str
    dataset_version: str
    old_case_set: str
    old_hash: str
    new_case_set: str
    new_hash: str
    n_cases: int
    n_patients: int
    reason: str
    recorded: bool
    evaluated: Mapping[str, str] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "dataset_version": self.dataset_version,
                "old_case_set": self.old_case_set, "old_hash": self.old_hash,
                "new_case_set": self.new_case_set, "new_hash": self.new_hash,
                "n_cases": self.n_cases, "n_patients": self.n_patients, "reason": self.reason,
                "recorded": self.recorded, "evaluated": dict(self.evaluated),
                "skipped": dict(self.skipped)}


def fresh_reference_cases(
    conn: sa.Connection, task: str, version: str, min_patients: int
) -> list[dict[str, Any]]:
    """The test cases of dataset ``version`` that could form a new reference set: their
    patient and every image are in no other dataset version of ``task``.

    Raises:
        RegistryError: they hold fewer than ``min_patients`` patients.
    """
    seen_patients: set[str] = set()
    seen_images: set[str] = set()
    for other in list_dataset_versions(conn, task):
        if other["id"] != version:
            for case in get_cases(conn, other["id"]):
                seen_patients.add(case["patient_id"])
                seen_images.update(case["image_uris"])
    tests = get_cases(conn, version, split="test")
    fresh = [c for c in tests if c["patient_id"] not in seen_patients
             and not seen_images.intersection(c["image_uris"])]
    n_patients = len({c["patient_id"] for c in fresh})
    if n_patients < min_patients:
        raise RegistryError(
            f"a new reference set from dataset version {version!r} would hold {n_patients} "
            f"never-seen patient(s) ({len(fresh)} of its {len(tests)} test cases), fewer than "
            f"promotion.min_patients = {min_patients}; bring more new test patients, or "
            "upgrade without `new_reference=`")
    return fresh


def refresh_reference(
    ws: Workspace,
    task: TaskSpec,
    version: str,
    *,
    actor: str,
    reason: str,
    min_patients: int,
    candidates: Iterable[str] = (),
    metrics: Iterable[str] = (),
    spec: EvaluationSpec | None = None,
    device: str | None = None,
) -> Refresh:
    """Make dataset ``version``'s never-seen test patients its frozen reference set, record it
    with its audit event in one transaction, and evaluate every champion and retired version
    of the task and ``candidates`` on it.

    Raises:
        RegistryError: too few never-seen patients (nothing is recorded), or a run cannot be
            evaluated on the new reference set (the refresh stays recorded; run again).
    """
    new_id = f"{version}-reference"
    with ws.begin() as conn:
        row = get_dataset_version(conn, version)
        if not row["reference_case_set"]:
            raise RegistryError(f"dataset version {version!r} has no reference set to refresh; "
                                "freeze one first (data.split.freeze_reference: true)")
        already = row["reference_case_set"] == new_id
        if already:
            old, cases = _replaced(conn, task.name, new_id), case_set_members(conn, new_id)
        else:
            old = get_case_set(conn, row["reference_case_set"])
            cases = fresh_reference_cases(conn, task.name, version, min_patients)
        new = add_case_set(conn, {"id": new_id, "name": "reference", "task": task.name,
                                  "dataset_version": version, "kind": "reference",
                                  "frozen": True}, [c["case_id"] for c in cases])
        refresh = Refresh(task=task.name, dataset_version=version, old_case_set=old["id"],
                          old_hash=old["content_hash"], new_case_set=new["id"],
                          new_hash=new["content_hash"], n_cases=len(cases),
                          n_patients=len({c["patient_id"] for c in cases}), reason=reason,
                          recorded=not already)
        if not already:
            set_reference_case_set(conn, version, new_id)
            payload = {k: v for k, v in refresh.to_dict().items()
                       if k not in ("recorded", "evaluated", "skipped")}
            append_event(conn, actor, REFERENCE_REFRESHED, payload)
        judged = [v["model_ref"] for v in list_model_versions(conn, task.name)
                  if v["status"] in _JUDGED]
    refs = list(dict.fromkeys([*judged, *candidates]))
    runs = [r for r in refs if not r.startswith(EXTERNAL_PREFIX)]
    evaluated = ensure_evaluated(ws, task, new_id, runs, metrics=metrics, spec=spec,
                                 device=device)
    skipped = {r: f"an external model cannot be re-run; evaluate its predictions on {new_id} "
                  "with `medselect evaluate --predictions`" for r in refs if r not in runs}
    return replace(refresh, evaluated=evaluated, skipped=skipped)


def refreshed_since(conn: sa.Connection, task: str, reference_hash: str) -> set[str]:
    """Reference content hashes that recorded refreshes of ``task`` lead to from
    ``reference_hash`` (directly or through several refreshes)."""
    successors: dict[str, set[str]] = {}
    for event in list_audit_events(conn, action=REFERENCE_REFRESHED):
        payload = event["payload"]
        if payload.get("task") == task:
            successors.setdefault(payload["old_hash"], set()).add(payload["new_hash"])
    reached: set[str] = set()
    todo: Sequence[str] = [reference_hash]
    while todo:
        todo = [n for h in todo for n in successors.get(h, ()) if n not in reached]
        reached.update(todo)
    return reached


def _replaced(conn: sa.Connection, task: str, new_id: str) -> dict[str, Any]:
    """The case set the recorded refresh to ``new_id`` replaced."""
    for event in reversed(list_audit_events(conn, action=REFERENCE_REFRESHED)):
        payload = event["payload"]
        if payload.get("task") == task and payload.get("new_case_set") == new_id:
            return get_case_set(conn, payload["old_case_set"])
    raise RegistryError(f"case set {new_id!r} is the reference set but no refresh to it is in "
                        "the audit log; check `medselect audit verify`")
