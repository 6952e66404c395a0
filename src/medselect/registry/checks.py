"""Refusals: what must hold before a model is gated or promoted, each with a clear message.

A candidate must be a finished run (or a recorded external model) of the task, with a finished
evaluation on the reference set; the reference set must still hold the cases it held when it
was recorded, and the ones the champion was judged on (unless a recorded refresh replaced
them); and a gate decision must still be current when it is applied (no other promotion, and
no other look at the reference set, in between).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from medselect.errors import NotFound, RegistryError
from medselect.registry.refresh import refreshed_since
from medselect.store import (
    RunStatus,
    case_set_hash,
    case_set_members,
    get_case_set,
    get_external_model,
    get_run,
    latest_evaluations,
)
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = [
    "check_decision_current",
    "check_evaluated",
    "check_look_current",
    "check_promotable",
    "check_reference",
    "check_same_reference",
]


def check_promotable(conn: sa.Connection, task: str, model_ref: str) -> dict[str, Any]:
    """The run (or external model) row of ``model_ref``, if it may be promoted in ``task``.

    Raises:
        RegistryError: it is not in the workspace, belongs to another task, or is a run that
            did not finish.
    """
    external = model_ref.startswith(EXTERNAL_PREFIX)
    try:
        row = get_external_model(conn, model_ref) if external else get_run(conn, model_ref)
    except NotFound:
        kind = "external model" if external else "run"
        raise RegistryError(f"{kind} {model_ref!r} is not in the workspace; promote a run id "
                            f"or '{EXTERNAL_PREFIX}<name>' of a recorded external model") from None
    if row["task"] != task:
        raise RegistryError(f"{model_ref!r} belongs to task {row['task']!r}, not {task!r}")
    if not external and row["status"] != RunStatus.FINISHED:
        why = f" ({row['error']})" if row.get("error") else ""
        raise RegistryError(f"run {model_ref!r} is {row['status']}{why}; only a finished run "
                            "can be promoted: train it to the end and evaluate it first")
    return row


def check_reference(conn: sa.Connection, case_set: str) -> dict[str, Any]:
    """The case set row, after checking its members still hash to its recorded content hash.

    Raises:
        RegistryError: the case set is missing, or a member case changed since it was recorded
            (the frozen reference set is no longer what earlier versions were judged on).
    """
    try:
        row = get_case_set(conn, case_set)
    except NotFound as exc:
        raise RegistryError(f"{exc}; name an existing reference case set") from None
    members = [m["case_id"] for m in case_set_members(conn, case_set)]
    try:
        now = case_set_hash(conn, row["dataset_version"], members)
    except NotFound as exc:
        now = f"unavailable ({exc})"
    if now != row["content_hash"]:
        raise RegistryError(
            f"reference case set {case_set!r} changed since it was recorded: its content hash "
            f"was {row['content_hash']!r} and is now {now!r}; results on it can no longer be "
            "compared with earlier ones. Restore the cases, or record a new reference set and "
            "re-evaluate every version on it")
    return row


def check_same_reference(
    conn: sa.Connection, champion: Any, data: Mapping[str, Any], *, forced: bool
) -> None:
    """Refuse a decision judged on other reference cases than the champion was, unless
    forced or a recorded refresh (:mod:`medselect.registry.refresh`) leads from the champion's
    reference set to this one (the champion was then evaluated on the new one too).

    Args:
        champion: the current champion (a :class:`~medselect.registry.versions.ModelVersion`)
            or None.
        data: the decision's data versions (``reference_case_set``, ``reference_hash``).
    """
    if champion is None or forced:
        return
    before = (champion.evidence.get("data") or {}).get("reference_hash")
    now = data.get("reference_hash")
    if before is None or before == now or now in refreshed_since(conn, champion.task, before):
        return
    raise RegistryError(
        f"the reference set changed since champion v{champion.version} "
        f"({champion.model_ref!r}) was evaluated: it was judged on content hash {before!r}, "
        f"this decision on {now!r} (case set {data.get('reference_case_set')!r}) and no "
        "recorded refresh leads from one to the other. The reference set is frozen: gate on "
        "the same reference set, refresh it with never-seen patients (`medselect upgrade "
        "--new-reference`), or promote with `force=` and a written reason to move on")


def check_evaluated(
    conn: sa.Connection, case_set: str, model_refs: Iterable[str]
) -> dict[str, str]:
    """``{model_ref: evaluation id}`` of the newest finished evaluation of each on ``case_set``.

    Raises:
        RegistryError: a model has no finished evaluation there.
    """
    refs = list(dict.fromkeys(model_refs))
    found = latest_evaluations(conn, case_set, refs)
    missing = [r for r in refs if r not in found]
    if missing:
        raise RegistryError(f"{missing} have no finished evaluation on reference case set "
                            f"{case_set!r}; run `medselect evaluate` on it first")
    return {ref: found[ref]["id"] for ref in refs}


def check_decision_current(decision: Any, required: Iterable[str]) -> None:
    """Refuse a decision that did not compare with every version it must beat now.

    Another promotion between running the gate and applying it makes the decision stale.
    """
    missing = [r for r in required if r not in decision.incumbents]
    if missing:
        compared = list(decision.incumbents) or "no earlier version"
        raise RegistryError(
            f"the gate decision for {decision.candidate!r} compared it with {compared}, but it "
            f"must now also beat {missing} (the registry changed since the gate ran, e.g. "
            "another promotion); run the gate again")


def check_look_current(decision: Any, looks_before: int) -> None:
    """Refuse a decision that ran at another look than the scope's next one (another gate on
    the same reference set was recorded since), so that no look goes uncounted."""
    if decision.incumbents and decision.look.number != looks_before + 1:
        raise RegistryError(
            f"the gate decision for {decision.candidate!r} ran as look {decision.look.number} "
            f"at its reference set, but the scope has had {looks_before} look(s) there now (the "
            "registry changed since the gate ran); run the gate again at the level of look "
            f"{looks_before + 1}")
