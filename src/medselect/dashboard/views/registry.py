"""The registry page: per task and scope the champion, the error budget on the reference set,
every version newest first with its gate decision, the rollbacks and reference refreshes, and
whether the audit log they are recorded in is intact (checked on every view, as
``medselect audit verify`` checks it: a log edited behind medselect's back shows at once).

The figures come from :func:`medselect.registry.overview.registry_overview` (the budget as
``medselect registry show`` computes it); this module only shapes them for the page, the JSON
API and the static export, and says where each model's page and decision report are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa

from medselect.dashboard import queries
from medselect.dashboard.context import Dashboard
from medselect.dashboard.files import served
from medselect.dashboard.schemas import (
    AuditState,
    RegistryBudget,
    RegistryEvent,
    RegistryPage,
    RegistryScope,
    RegistryTask,
    RegistryVersion,
    RolledBack,
)
from medselect.registry import overview, verify_chain
from medselect.registry.budget import ADVISE_REFRESH_AT
from medselect.registry.looks import ScopeBudget
from medselect.registry.versions import ModelVersion
from medselect.store import VersionStatus, latest_evaluations


def registry_view(dash: Dashboard, conn: sa.Connection) -> RegistryPage:
    """Every task with registered versions; an empty list before the first promotion."""
    root = dash.workspace.root
    tasks = []
    for task in overview.registry_overview(conn):
        pages = model_pages(conn, task.task, task.reference_case_set)
        tasks.append(RegistryTask(
            task=task.task, reference_case_set=task.reference_case_set,
            scopes=[scope_out(s, root, pages) for s in task.scopes],
            events=[event_out(e) for e in task.events]))
    return RegistryPage(tasks=tasks, advise_refresh_at=ADVISE_REFRESH_AT,
                        audit=AuditState(**verify_chain(conn).to_dict()))


def model_pages(conn: sa.Connection, task: str, reference: str | None) -> dict[str, str]:
    """Model ref -> the case set its model page opens on: the one the dashboard opens on for
    ``task`` when the model was evaluated there, else the reference set."""
    sets = [s for s in (queries.task_case_set(conn, task), reference) if s is not None]
    pages: dict[str, str] = {}
    for case_set in reversed(sets):  # the default case set wins
        pages.update(dict.fromkeys(latest_evaluations(conn, case_set), case_set))
    return pages


def scope_out(s: overview.ScopeOverview, root: Path, pages: Mapping[str, str]) -> RegistryScope:
    versions = [version_out(v, root, pages) for v in s.versions]
    champion = next((v for v in versions if v.status == VersionStatus.CHAMPION), None)
    return RegistryScope(
        scope=s.scope, champion=champion,
        champion_since=None if s.since is None else s.since.at,
        champion_by=None if s.since is None else s.since.actor,
        champion_how=None if s.since is None else s.since.action,
        budget=None if s.budget is None else budget_out(s.budget),
        budget_note=None if s.budget is not None else s.budget_problem,
        versions=versions)


def budget_out(scope: ScopeBudget) -> RegistryBudget:
    b = scope.budget
    state = "exhausted" if b.exhausted else ("low" if b.advice else "ok")
    return RegistryBudget(
        reference_case_set=scope.reference_case_set, reference_hash=scope.reference_hash,
        alpha=b.alpha, rule=b.rule.value, max_looks=b.max_looks, protocol=scope.protocol,
        looks=b.looks, spent=b.spent, spent_share=b.spent / b.alpha if b.alpha else 0.0,
        next_alpha=b.next_alpha, exhausted=b.exhausted, advice=b.advice, state=state)


def version_out(v: ModelVersion, root: Path, pages: Mapping[str, str]) -> RegistryVersion:
    """A version with its stored gate decision read out (``GateDecision.to_dict()``)."""
    evidence = v.evidence or {}
    judged = bool(evidence.get("incumbents"))  # a first version had no look
    look = (evidence.get("look") or {}) if judged else {}
    back = evidence.get("rolled_back")
    uri = overview.decision_report_uri(v)
    return RegistryVersion(
        version=v.version, model_ref=v.model_ref, status=v.status,
        dataset_version=v.dataset_version, created_at=v.created_at, created_by=v.created_by,
        summary=evidence.get("summary"), accepted=evidence.get("accepted"),
        forced=bool(v.reason) and evidence.get("accepted") is False, reason=v.reason,
        rolled_back=None if not back else RolledBack(
            by=str(back.get("by", "")), at=str(back.get("at", "")),
            reason=str(back.get("reason", ""))),
        look=look.get("number"), level=look.get("alpha"), chosen_from=look.get("chosen_from"),
        chosen_on=look.get("chosen_on"),
        reference_case_set=(evidence.get("data") or {}).get("reference_case_set"),
        report_uri=uri if served(root, uri) else None,
        model_case_set=pages.get(v.model_ref))


def event_out(e: overview.RegistryEvent) -> RegistryEvent:
    p = e.payload
    if e.action == overview.ROLLBACK:
        back = p.get("rolled_back") or {}
        summary = (f"v{p.get('version')} ({p.get('model_ref')}) is champion again; "
                   f"v{back.get('version')} ({back.get('model_ref')}) was rolled back")
    else:
        summary = (f"reference set {p.get('old_case_set')} replaced by {p.get('new_case_set')} "
                   f"({p.get('n_patients')} never-seen patients, {p.get('n_cases')} cases, "
                   f"dataset version {p.get('dataset_version')}); every scope's error budget "
                   "starts afresh")
    return RegistryEvent(seq=e.seq, at=e.at, actor=e.actor, action=e.action, scope=e.scope,
                         reason=e.reason, summary=summary)
