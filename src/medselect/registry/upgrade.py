"""``medselect upgrade``: retrain on new data, gate the result per scope, report why.

Steps, each of which is idempotent so an interrupted upgrade can simply be run again:

1. a new dataset version of the old cases plus the new ones (:mod:`.newdata`; new cases split
   by the same rules, none of the reference set's patients or images in training);
2. retrain ``upgrade.retrain``'s configurations on it (:mod:`.retrain`);
3. evaluate the candidates and every version they must beat on the frozen reference set, and
   backfill every registered version and the candidates on the new version's test set, so the
   new test cases have figures for old and new models alike (:mod:`.backfill`);
4. per scope of ``promotion.scopes`` (``per_site``: each site of the reference set), gate the
   candidate the ranking puts first on that scope's reference cases, and promote or reject it
   (:mod:`.promotion`); a candidate that already has a version in the scope is not judged again;
5. write the upgrade report (JSON and HTML) beside the per-scope decision reports.

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

from medselect.config import Experiment
from medselect.errors import ConfigError, RegistryError
from medselect.registry.audit import verify_chain
from medselect.registry.backfill import BackfillResult, backfill, ensure_evaluated
from medselect.registry.criteria import GateCriteria
from medselect.registry.evidence import reference_case_set
from medselect.registry.figures import upgrade_figures
from medselect.registry.newdata import NewData, import_new_cases
from medselect.registry.ordering import rank_models
from medselect.registry.promotion import DECISIONS_DIR, PromotionOutcome, promote_through_gate
from medselect.registry.retrain import RetrainChoice, choose_retrain, plan_retrain, ranking_spec
from medselect.registry.scope import expand_scopes, scope_site
from medselect.registry.upgrade_report import write_upgrade_report
from medselect.registry.versions import ModelVersion, current_champion, history, incumbents
from medselect.store import Workspace, case_set_members, get_run
from medselect.sweep import Executor, SweepSnapshot, run_sweep

__all__ = ["ScopeOutcome", "UpgradeResult", "upgrade"]


@dataclass(frozen=True)
class ScopeOutcome:
    """What the upgrade decided in one scope.

    Attributes:
        status: ``promoted``, ``rejected``, ``unchanged`` (the candidate already has a version
            there), ``skipped`` (nothing to judge) or ``refused`` (the registry refused it).
        message: one sentence saying why.
        candidate: the candidate judged (the ranking's first on the scope's reference cases).
        promotion: the gate's decision and the version recorded, when it was judged now.
        earlier: the candidate's version in the scope when an earlier run of the same upgrade
            judged it (its evidence is that decision).
    """

    scope: str
    status: str
    message: str
    candidate: str | None = None
    promotion: PromotionOutcome | None = None
    earlier: ModelVersion | None = None

    @property
    def champion(self) -> bool:
        """Whether the candidate is the scope's champion now (by this run or an earlier one)."""
        version = self.promotion.version if self.promotion else self.earlier
        return version is not None and version.status == "champion"

    def to_dict(self) -> dict[str, Any]:
        out = {"scope": self.scope, "status": self.status, "message": self.message,
               "candidate": self.candidate, "champion": self.champion}
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
            "retrain": self.retrain.to_dict(), "runs": [dict(r) for r in self.runs],
            "candidates": list(self.candidates), "criteria": dict(self.criteria),
            "previous_champions": dict(self.previous_champions),
            "scopes": [s.to_dict() for s in self.scopes],
            "figures": [dict(f) for f in self.figures], "backfill": self.backfill.to_dict(),
            "audit_head": self.audit_head,
            "report": None if self.report_paths is None else
            {"json": str(self.report_paths[0]), "html": str(self.report_paths[1])},
        }


def upgrade(
    ws: Workspace,
    experiment: Experiment,
    source: str | os.PathLike[str],
    *,
    executor: Executor,
    actor: str,
    device: str | None = None,
    on_step: Callable[[str], None] | None = None,
    on_progress: Callable[[SweepSnapshot], None] | None = None,
) -> UpgradeResult:
    """Run the whole upgrade with the new cases of ``source`` (a manifest or nnU-Net folder).

    Args:
        executor: trains the retrained runs (``medselect.sweep.make_executor``).
        actor: who the registry records as promoting or rejecting.
        on_step: called with one line per step (for the CLI).
        on_progress: called with the training progress.

    Raises:
        RegistryError: no dataset, reference set or run to start from, or a model cannot be
            evaluated.
        LeakageError: a new training case shares a patient or image with the reference set.
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
    data = import_new_cases(ws, experiment, source)
    say(f"dataset version {data.version_id}: {len(data.new_cases)} new case(s), "
        f"{len(data.new_test_cases)} of them in test, added to {data.parent_id}; no patient "
        "or image of the reference set is in training")
    choice = choose_retrain(ws, experiment, exclude_version=data.version_id, device=device)
    plan = plan_retrain(ws, experiment, data.version_id, choice)
    say(f"retraining {len(plan.runs)} configuration(s) ({choice.mode}) on {data.version_id}: "
        f"{len(plan.to_train)} to train")
    if plan.to_train:
        run_sweep(ws, plan, executor, on_progress=on_progress)
    with ws.connect() as conn:
        runs = [get_run(conn, r.run_id) for r in plan.runs]
        reference = reference_case_set(conn, task.name)
        sites = {c["site"] for c in case_set_members(conn, reference)}
        scopes = expand_scopes(experiment.promotion.scopes, sites)
        before = {s: v.model_ref for s in scopes
                  if (v := current_champion(conn, task.name, s)) is not None}
        earlier = [r for s in scopes
                   for r in incumbents(conn, task.name, s, criteria.compare_with)]
        roles = _roles(conn, task.name)
    candidates = tuple(r["id"] for r in runs if r["status"] == "finished")
    say(f"evaluating {len(candidates)} candidate(s) and the registered versions on the "
        f"reference set {reference} and on the test set {data.imported.test_case_set}")
    if candidates:
        ensure_evaluated(ws, task, reference, [*candidates, *earlier],
                         metrics=criteria.metrics, spec=spec, device=device)
    backfilled = backfill(ws, task, case_set=data.imported.test_case_set, spec=spec,
                          extra=candidates, device=device)
    judge = _Judge(ws, experiment, criteria, reference, sites, candidates, actor, data, device)
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
        criteria=criteria.to_dict())
    paths = write_upgrade_report(ws.path(DECISIONS_DIR), result.to_dict(),
                                 name=f"upgrade-{task.name}-{data.version_id}")
    return replace(result, report_paths=paths)


@dataclass(frozen=True)
class _Judge:
    """Decides one scope: rank the candidates there, gate the first, promote or reject."""

    ws: Workspace
    experiment: Experiment
    criteria: GateCriteria
    reference: str
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
        best = None
        try:
            with self.ws.connect() as conn:
                ranked = rank_models(conn, task.name, self.reference, self.candidates,
                                     ranking_spec(self.experiment), site=site)
                if not ranked:
                    return ScopeOutcome(scope, "skipped", "the ranking's constraints exclude "
                                                          "every candidate")
                best = ranked[0]
                known = [v for v in history(conn, task.name, scope) if v.model_ref == best]
            if known:
                v = known[-1]
                return ScopeOutcome(scope, "unchanged", (
                    f"{best} already has version v{v.version} ({v.status}) in this scope; it "
                    "is not judged again"), candidate=best, earlier=v)
            outcome = promote_through_gate(
                self.ws, task, scope, best, self.criteria, actor=self.actor,
                spec=self.experiment.evaluation, dataset_version=self.data.version_id,
                device=self.device)
        except RegistryError as exc:
            return ScopeOutcome(scope, "refused", str(exc), candidate=best)
        message = outcome.decision.summary
        if outcome.first_version:
            message += (" (first version of this scope: only the absolute criteria, the "
                        "number of cases, were checked)")
        return ScopeOutcome(scope, "promoted" if outcome.promoted else "rejected", message,
                            candidate=best, promotion=outcome)


def _roles(conn, task: str) -> dict[str, list[str]]:
    """Model ref -> its registry versions before the upgrade, e.g. ``champion v1 (global)``."""
    roles: dict[str, list[str]] = {}
    for v in history(conn, task):
        roles.setdefault(v.model_ref, []).append(f"{v.status} v{v.version} ({v.scope})")
    return roles
