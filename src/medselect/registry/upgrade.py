"""``medselect upgrade``: retrain on new data, gate the result per scope, report why.

Steps, each of which is idempotent so an interrupted upgrade can simply be run again:

1. a new dataset version of the old cases plus the new ones (:mod:`.newdata`; new cases split
   by the same rules, none of the reference set's patients or images in training), and the
   reviewed cases of sets of new cases (``reviewed``, :mod:`.reviewed`), always in the training
   split and recorded in the audit log;
2. retrain ``upgrade.retrain``'s configurations on it (:mod:`.retrain`);
3. with ``new_reference``, the new version's never-seen test patients replace the reference
   set, recorded and audited, and every registered version is evaluated on them
   (:mod:`.refresh`); the scopes' error budgets start afresh;
4. evaluate the candidates on the new version's selection set (its validation split), and
   the candidates and every version they must beat on the frozen reference set, and backfill
   every registered version and the candidates on the new version's test set, so the new test
   cases have figures for old and new models alike (:mod:`.backfill`);
5. per scope of ``promotion.scopes`` (``per_site``: each site of the reference set), gate the
   candidate the ranking puts first on that scope's *selection* cases (chosen before the
   reference set is looked at, so K = 1), and promote or reject it (:mod:`.promotion`);
   without selection cases there, the first on the reference cases is gated with its level
   divided by the number of candidates (:mod:`.choice`). A candidate that already has a
   version in the scope is not judged again;
6. write the upgrade report (JSON and HTML) beside the per-scope decision reports.

Example::

    result = upgrade(ws, experiment, "site-d/manifest.csv",
                     executor=make_executor("local", workers=2), actor="alice")
    result.promoted, result.report_paths
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from medselect.config import Experiment, RankingSpec
from medselect.errors import ConfigError, RegistryError
from medselect.metrics.display import number_text
from medselect.rank import preference_from_spec
from medselect.registry.audit import append_event, verify_chain
from medselect.registry.backfill import BackfillResult, backfill, ensure_evaluated
from medselect.registry.candidates import CandidateChoice, pick_candidate, selection_case_set
from medselect.registry.criteria import GateCriteria
from medselect.registry.evidence import reference_case_set
from medselect.registry.figures import upgrade_figures
from medselect.registry.looks import scope_budget
from medselect.registry.newdata import NewData, import_new_cases
from medselect.registry.promotion import DECISIONS_DIR, PromotionOutcome, promote_through_gate
from medselect.registry.refresh import Refresh, fresh_reference_cases, refresh_reference
from medselect.registry.retrain import RetrainChoice, choose_retrain, plan_retrain, ranking_spec
from medselect.registry.reviewed import (
    REVIEWED_CASES_ADDED,
    ReviewedCase,
    check_reviewed_unseen,
    reviewed_cases,
    training_records,
)
from medselect.registry.scope import expand_scopes, scope_site
from medselect.registry.upgrade_report import write_upgrade_report
from medselect.registry.versions import ModelVersion, current_champion, history, incumbents
from medselect.store import (
    RunStatus,
    VersionStatus,
    Workspace,
    case_set_members,
    get_case_set,
    get_run,
    list_audit_events,
)
from medselect.sweep import Executor, SweepSnapshot, run_sweep

__all__ = ["ScopeOutcome", "UpgradeResult", "upgrade"]


@dataclass(frozen=True)
class ScopeOutcome:
    """What the upgrade decided in one scope.

    Attributes:
        status: ``promoted``, ``rejected``, ``unchanged`` (the candidate already has a version
            there), ``skipped`` (nothing to judge) or ``refused`` (the registry refused it).
        message: one sentence saying why.
        candidate: the candidate judged (the ranking's first on the scope's selection cases).
        choice: how it was chosen (on the selection set, or on the reference set from K).
        promotion: the gate's decision and the version recorded, when it was judged now.
        earlier: the candidate's version in the scope when an earlier run of the same upgrade
            judged it (its evidence is that decision).
    """

    scope: str
    status: str
    message: str
    candidate: str | None = None
    choice: CandidateChoice | None = None
    promotion: PromotionOutcome | None = None
    earlier: ModelVersion | None = None

    @property
    def champion(self) -> bool:
        """Whether the candidate is the scope's champion now (by this run or an earlier one)."""
        version = self.promotion.version if self.promotion else self.earlier
        return version is not None and version.status == VersionStatus.CHAMPION

    def to_dict(self) -> dict[str, Any]:
        out = {"scope": self.scope, "status": self.status, "message": self.message,
               "candidate": self.candidate, "champion": self.champion,
               "choice": None if self.choice is None else self.choice.to_dict()}
        if self.promotion is not None:
            return out | self.promotion.to_dict()
        if self.earlier is not None:
            version = {k: v for k, v in self.earlier.to_dict().items() if k != "evidence"}
            return out | {"version": version, "decision": dict(self.earlier.evidence)}
        return out


@dataclass(frozen=True)
class UpgradeResult:
    """Everything an upgrade did, as its report shows it.

    Attributes:
        runs: the retrained runs (``run_id``, ``status``, ``error``, ``epochs``).
        candidates: the finished ones.
        previous_champions: scope -> champion before the upgrade.
        figures: per model and gate metric, the mean on the reference set, on the new test
            cases (also per site) and on the whole new test set.
        audit_head: hash of the newest audit event after the upgrade (quote it to anchor the
            log).
        selection_case_set: the case set the candidates were ranked on (None: the new version
            has no validation cases, so they were ranked on the reference set).
        refresh: the refresh of the reference set (``new_reference``), else None.
        reviewed: the cases of the ``reviewed`` sets of new cases, those that joined the
            training split and those left out (with why).
    """

    task: str
    data: NewData
    retrain: RetrainChoice
    runs: tuple[Mapping[str, Any], ...]
    candidates: tuple[str, ...]
    reference_case_set: str
    previous_champions: Mapping[str, str]
    scopes: tuple[ScopeOutcome, ...]
    figures: tuple[Mapping[str, Any], ...]
    backfill: BackfillResult
    audit_head: str | None = None
    report_paths: tuple[Path, Path] | None = None
    criteria: Mapping[str, Any] = field(default_factory=dict)
    selection_case_set: str | None = None
    refresh: Refresh | None = None
    reviewed: tuple[ReviewedCase, ...] = ()

    @property
    def promoted(self) -> bool:
        """Whether a candidate of this upgrade is champion in at least one scope."""
        return any(s.champion for s in self.scopes)

    @property
    def summary(self) -> str:
        """One line: the outcome per scope."""
        parts = [f"{s.scope}: {s.status}" + (f" ({s.candidate})" if s.candidate else "")
                 for s in self.scopes]
        head = "promoted" if self.promoted else "not promoted"
        return f"upgrade to {self.data.version_id} {head}: {'; '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "summary": self.summary, "promoted": self.promoted,
            "data": self.data.to_dict(), "reference_case_set": self.reference_case_set,
            "selection_case_set": self.selection_case_set,
            "refresh": None if self.refresh is None else self.refresh.to_dict(),
            "retrain": self.retrain.to_dict(), "runs": [dict(r) for r in self.runs],
            "candidates": list(self.candidates), "criteria": dict(self.criteria),
            "previous_champions": dict(self.previous_champions),
            "scopes": [s.to_dict() for s in self.scopes],
            "figures": [dict(f) for f in self.figures], "backfill": self.backfill.to_dict(),
            "audit_head": self.audit_head,
            "reviewed": [c.to_dict() for c in self.reviewed],
            "report": None if self.report_paths is None else
            {"json": str(self.report_paths[0]), "html": str(self.report_paths[1])},
        }


def upgrade(
    ws: Workspace,
    experiment: Experiment,
    source: str | os.PathLike[str] | None,
    *,
    executor: Executor,
    actor: str,
    reviewed: Sequence[str] = (),
    new_reference: bool = False,
    device: str | None = None,
    on_step: Callable[[str], None] | None = None,
    on_progress: Callable[[SweepSnapshot], None] | None = None,
) -> UpgradeResult:
    """Run the whole upgrade with the new cases of ``source`` (a manifest or nnU-Net folder)
    and the reviewed cases of the ``reviewed`` sets.

    Args:
        source: None for reviewed cases only.
        executor: trains the retrained runs (``medselect.sweep.make_executor``).
        actor: who the registry records as promoting or rejecting.
        reviewed: ids of sets of new cases whose reviewed cases join the training split
            (:mod:`.reviewed`).
        new_reference: replace the reference set by the new version's never-seen test
            patients before gating (:mod:`.refresh`).
        on_step: called with one line per step (for the CLI).
        on_progress: called with the training progress.

    Raises:
        RegistryError: no dataset, reference set or run to start from, a model cannot be
            evaluated, or (``new_reference``) too few never-seen test patients, checked
            before anything is trained.
        LeakageError: a new training case shares a patient or image with the reference set,
            or a reviewed case's patient is in a test, validation or reference set.
        DataError, DatasetInvalid: the new cases cannot be read or used.
        ConfigError: a configuration cannot train on the new data, or the experiment selects
            by cross-validation (``ranking.selection.folds``), which upgrades do not do yet.
    """
    if experiment.ranking.selection.folds:
        raise ConfigError("ranking.selection.folds: an upgrade retrains and gates single runs "
                          "and does not cross-validate yet; run `medselect sweep run` and "
                          "`medselect sweep finalize` on the new data, then `medselect "
                          "promote` the final model")
    say = on_step or (lambda _line: None)
    task, spec = experiment.task, experiment.evaluation
    criteria = GateCriteria.from_spec(experiment.promotion)
    ranking = ranking_spec(experiment)
    added = tuple(c for case_set in reviewed for c in reviewed_cases(ws, task.name, case_set))
    joining = training_records(added)
    if reviewed and not joining and source is None:
        raise RegistryError(f"no reviewed case of {', '.join(reviewed)} can join training: "
                            f"{added[0].reason if added else 'the sets are empty'}")
    check_reviewed_unseen(ws, task.name, added)
    data = import_new_cases(ws, experiment, source, reviewed=joining)
    if joining:
        _audit_reviewed(ws, actor, task.name, data, added)
        say(f"{len(joining)} reviewed case(s) of {', '.join(reviewed)} added to the training "
            f"split ({len(added) - len(joining)} left out); none can enter a test or "
            "reference set (recorded in the audit log)")
    say(f"dataset version {data.version_id}: {len(data.new_cases)} new case(s), "
        f"{len(data.new_test_cases)} of them in test, added to {data.parent_id}; no patient "
        "or image of the reference set is in training")
    if new_reference:
        with ws.connect() as conn:
            fresh_reference_cases(conn, task.name, data.version_id, criteria.min_patients)
    choice = choose_retrain(ws, experiment, exclude_version=data.version_id, device=device)
    plan = plan_retrain(ws, experiment, data.version_id, choice)
    say(f"retraining {len(plan.runs)} configuration(s) ({choice.mode}) on {data.version_id}: "
        f"{len(plan.to_train)} to train")
    if plan.to_train:
        run_sweep(ws, plan, executor, on_progress=on_progress)
    with ws.connect() as conn:
        runs = [get_run(conn, r.run_id) for r in plan.runs]
    candidates = tuple(r["id"] for r in runs if r["status"] == RunStatus.FINISHED)
    refresh = None
    if new_reference:
        refresh = _refresh(ws, experiment, criteria, data, candidates, actor, device)
        say(f"reference set {refresh.old_case_set} replaced by {refresh.new_case_set} "
            f"({refresh.n_patients} never-seen patients, {refresh.n_cases} cases); every "
            "registered version evaluated on it")
    with ws.connect() as conn:
        reference = reference_case_set(conn, task.name)
        selection = selection_case_set(conn, task.name, data.version_id,
                                       which=experiment.ranking.selection.case_set)
        sites = {c["site"] for c in case_set_members(conn, reference)}
        scopes = expand_scopes(experiment.promotion.scopes, sites)
        before = {s: v.model_ref for s in scopes
                  if (v := current_champion(conn, task.name, s)) is not None}
        earlier = [r for s in scopes
                   for r in incumbents(conn, task.name, s, criteria.compare_with)]
        roles = _roles(conn, task.name)
    say(f"evaluating {len(candidates)} candidate(s) on the selection set "
        f"{selection or '(none: no validation case)'}, with the registered versions on the "
        f"reference set {reference} and on the test set {data.imported.test_case_set}")
    if candidates:
        if selection is not None:
            ensure_evaluated(ws, task, selection, candidates,
                             metrics=[m for m, _ in preference_from_spec(ranking).needs()],
                             spec=spec, device=device)
        ensure_evaluated(ws, task, reference, [*candidates, *earlier],
                         metrics=criteria.metrics, spec=spec, device=device)
    backfilled = backfill(ws, task, case_set=data.imported.test_case_set, spec=spec,
                          extra=candidates, device=device)
    judge = _Judge(ws, experiment, criteria, ranking, reference, selection, sites, candidates,
                   actor, data, device)
    outcomes = tuple(judge(scope) for scope in scopes)
    everyone: dict[str, list[str]] = {c: ["candidate"] for c in candidates}
    for ref, held in roles.items():
        everyone.setdefault(ref, []).extend(held)
    with ws.connect() as conn:
        figures = upgrade_figures(conn, criteria, reference, data.imported.test_case_set,
                                  data.new_test_cases, everyone)
        head = verify_chain(conn).head_hash
    result = UpgradeResult(
        task=task.name, data=data, retrain=choice,
        runs=tuple({"run_id": r["id"], "status": r["status"], "error": r["error"],
                    "epochs": r["config"].get("epochs")} for r in runs),
        candidates=candidates, reference_case_set=reference, previous_champions=before,
        scopes=outcomes, figures=tuple(figures), backfill=backfilled, audit_head=head,
        criteria=criteria.to_dict(), selection_case_set=selection, refresh=refresh,
        reviewed=added)
    paths = write_upgrade_report(ws.path(DECISIONS_DIR), result.to_dict(),
                                 name=f"upgrade-{task.name}-{data.version_id}")
    return replace(result, report_paths=paths)


def _audit_reviewed(ws: Workspace, actor: str, task: str, data: NewData,
                    cases: Sequence[ReviewedCase]) -> None:
    """Record which reviewed cases entered the version's training split, once per version."""
    joined = [c for c in cases if c.record is not None]
    with ws.begin() as conn:
        if any(e["payload"].get("dataset_version") == data.version_id
               for e in list_audit_events(conn, action=REVIEWED_CASES_ADDED)):
            return
        append_event(conn, actor, REVIEWED_CASES_ADDED, {
            "task": task, "dataset_version": data.version_id, "parent_version": data.parent_id,
            "split": "train",
            "guarantee": "added to the training split only, fixed before splitting; no "
                         "patient of a test, validation or reference set, and no image of "
                         "the reference set (checked before the import and by it)",
            "cases": [{"case_id": c.case_id, "patient_id": c.patient_id, "site": c.site,
                       "case_set": c.case_set, "label_source": c.label_source,
                       "verdicts": [list(v) for v in c.verdicts]} for c in joined]})


def _refresh(ws: Workspace, experiment: Experiment, criteria: GateCriteria, data: NewData,
             candidates: Sequence[str], actor: str, device: str | None) -> Refresh:
    """Refresh the reference set with the new version's never-seen test patients; the audit
    event's reason quotes each scope's budget on the reference set it replaces."""
    task = experiment.task
    with ws.connect() as conn:
        old = get_case_set(conn, reference_case_set(conn, task.name))
        sites = {c["site"] for c in case_set_members(conn, old["id"])}
        spent = [scope_budget(conn, task.name, s, old, criteria.to_dict())
                 for s in expand_scopes(experiment.promotion.scopes, sites)]
    used = "; ".join(f"{b.scope}: {b.budget.looks} look(s), {number_text(b.budget.spent)} of alpha "
                     f"{b.budget.alpha:g} spent" for b in spent)
    reason = (f"medselect upgrade --new-reference to dataset version {data.version_id}: its "
              f"never-seen test patients replace reference set {old['id']} ({used})")
    return refresh_reference(ws, task, data.version_id, actor=actor, reason=reason,
                             min_patients=criteria.min_patients, candidates=candidates,
                             metrics=criteria.metrics, spec=experiment.evaluation,
                             device=device)


@dataclass(frozen=True)
class _Judge:
    """Decides one scope: rank the candidates on its selection cases, gate the first, promote
    or reject."""

    ws: Workspace
    experiment: Experiment
    criteria: GateCriteria
    ranking: RankingSpec
    reference: str
    selection: str | None
    sites: set[str]
    candidates: Sequence[str]
    actor: str
    data: NewData
    device: str | None

    def __call__(self, scope: str) -> ScopeOutcome:
        task = self.experiment.task
        site = scope_site(scope)
        if not self.candidates:
            return ScopeOutcome(scope, "skipped", "no retrained run finished, so there is no "
                                                  "candidate; `medselect runs list` shows why")
        if site is not None and site not in self.sites:
            return ScopeOutcome(scope, "skipped", (
                f"site {site!r} has no case in the frozen reference set {self.reference!r}, "
                "so no model can be gated there; its new test cases are in the report's "
                "figures"))
        best = choice = None
        try:
            with self.ws.connect() as conn:
                ranked, choice = pick_candidate(conn, task.name, scope, self.candidates,
                                                self.ranking, reference=self.reference,
                                                selection=self.selection)
                if not ranked:
                    return ScopeOutcome(scope, "skipped", "the ranking's constraints exclude "
                                                          "every candidate", choice=choice)
                best = ranked[0]
                known = [v for v in history(conn, task.name, scope) if v.model_ref == best]
            if known:
                v = known[-1]
                return ScopeOutcome(scope, "unchanged", (
                    f"{best} already has version v{v.version} ({v.status}) in this scope; it "
                    "is not judged again"), candidate=best, choice=choice, earlier=v)
            outcome = promote_through_gate(
                self.ws, task, scope, best, self.criteria, actor=self.actor,
                spec=self.experiment.evaluation, choice=choice,
                dataset_version=self.data.version_id, device=self.device)
        except RegistryError as exc:
            return ScopeOutcome(scope, "refused", str(exc), candidate=best, choice=choice)
        message = f"{best} {choice.chosen_on}: {outcome.decision.summary}"
        if outcome.first_version:
            message += (" (first version of this scope: only the absolute criteria, the "
                        "number of patients, were checked)")
        return ScopeOutcome(scope, "promoted" if outcome.promoted else "rejected", message,
                            candidate=best, choice=choice, promotion=outcome)


def _roles(conn, task: str) -> dict[str, list[str]]:
    """Model ref -> its registry versions before the upgrade, e.g. ``champion v1 (global)``."""
    roles: dict[str, list[str]] = {}
    for v in history(conn, task):
        roles.setdefault(v.model_ref, []).append(f"{v.status} v{v.version} ({v.scope})")
    return roles
