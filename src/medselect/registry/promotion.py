"""A promotion from start to finish: evaluate what is missing, gate, apply, write the report.

:func:`promote_through_gate` is what ``medselect promote`` and ``medselect upgrade`` call for
one model in one scope. The candidate is refused before anything is computed if it cannot be
promoted (unknown, failed, already champion); then it and every version it must beat are
evaluated on the frozen reference set where they lack an evaluation; the gate judges it there
at the scope's next look, its level divided by K when the candidate was picked as the best of
K models on the reference set rather than named on the selection set
(:mod:`medselect.registry.candidates`); :func:`~medselect.registry.versions.promote` applies the
decision in one transaction, and the decision report (JSON and HTML) is written under
``<workspace>/registry/decisions/``, and a new champion's model card under
``<workspace>/registry/cards/`` (:mod:`medselect.registry.cards`).

Example::

    outcome = promote_through_gate(ws, task, "global", "run-b", criteria, actor="alice")
    outcome.promoted, outcome.report_paths
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medselect.config import (
    DEFAULT_METRICS,
    EvaluationSpec,
    Experiment,
    PromotionSpec,
    RankingSpec,
    TaskSpec,
)
from medselect.errors import NotFound, RegistryError
from medselect.evaluate import load_task
from medselect.registry.backfill import ensure_evaluated
from medselect.registry.candidates import CandidateChoice, named_choice
from medselect.registry.card_render import write_model_card
from medselect.registry.cards import model_card
from medselect.registry.checks import check_promotable
from medselect.registry.criteria import GateCriteria
from medselect.registry.decision import GateDecision
from medselect.registry.evidence import gate_for, reference_case_set
from medselect.registry.locations import DECISIONS_DIR, report_name
from medselect.registry.report import write_decision_report
from medselect.registry.scope import parse_scope
from medselect.registry.versions import ModelVersion, current_champion, incumbents, promote
from medselect.store import VersionStatus, Workspace, get_external_model, get_run
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = ["DECISIONS_DIR", "PromotionOutcome", "promote_through_gate", "promotion_inputs",
           "report_name"]


def promotion_inputs(
    ws: Workspace, model_ref: str, experiment: Experiment | None = None
) -> tuple[TaskSpec, GateCriteria, EvaluationSpec | None]:
    """The task, gate criteria and evaluation spec for promoting ``model_ref``: the
    experiment's ``promotion:`` and ``evaluation:`` sections, or without an experiment the
    gate's defaults on the first default metric of the task's kind.

    Raises:
        RegistryError: ``model_ref`` is not a run or external model of the workspace, or the
            experiment describes another task.
    """
    with ws.connect() as conn:
        try:
            row = (get_external_model(conn, model_ref) if model_ref.startswith(EXTERNAL_PREFIX)
                   else get_run(conn, model_ref))
        except NotFound:
            raise RegistryError(f"{model_ref!r} is not a run or external model of workspace "
                                f"{ws.root}; `medselect runs list` shows the runs") from None
    if experiment is None:
        task = load_task(ws, row["task"])
        metric = DEFAULT_METRICS[task.family][0]
        return task, GateCriteria.from_spec(PromotionSpec(), metric=metric), None
    if experiment.task.name != row["task"]:
        raise RegistryError(f"{model_ref!r} belongs to task {row['task']!r} but the experiment "
                            f"describes task {experiment.task.name!r}; give that task's "
                            "experiment file")
    return experiment.task, GateCriteria.from_spec(experiment.promotion), experiment.evaluation


@dataclass(frozen=True)
class PromotionOutcome:
    """The gate's decision on a candidate, what the registry made of it, and the report.

    Attributes:
        first_version: the scope had no version to compare with, so only the absolute
            criteria (the number of cases) were checked.
        report_paths: the decision report's JSON and HTML files.
        card_paths: the new champion's model card (Markdown and HTML); None when not promoted.
    """

    decision: GateDecision
    version: ModelVersion
    report_paths: tuple[Path, Path]
    first_version: bool
    card_paths: tuple[Path, Path] | None = None

    @property
    def promoted(self) -> bool:
        return self.version.status == VersionStatus.CHAMPION

    @property
    def forced(self) -> bool:
        return self.promoted and not self.decision.accepted

    def to_dict(self) -> dict[str, Any]:
        version = {k: v for k, v in self.version.to_dict().items() if k != "evidence"}
        return {"promoted": self.promoted, "forced": self.forced,
                "first_version": self.first_version, "version": version,
                "decision": self.decision.to_dict(),
                "report": {"json": str(self.report_paths[0]),
                           "html": str(self.report_paths[1])},
                "card": None if self.card_paths is None else {
                    "markdown": str(self.card_paths[0]), "html": str(self.card_paths[1])}}


def promote_through_gate(
    ws: Workspace,
    task: TaskSpec,
    scope: str,
    model_ref: str,
    criteria: GateCriteria,
    *,
    actor: str,
    spec: EvaluationSpec | None = None,
    ranking: RankingSpec | None = None,
    choice: CandidateChoice | None = None,
    dataset_version: str | None = None,
    force_reason: str | None = None,
    device: str | None = None,
) -> PromotionOutcome:
    """Gate ``model_ref`` in ``scope`` on the frozen reference set and apply the decision.

    The gate runs at the scope's next look at the reference set, its level divided by K when
    the candidate was not named before the reference set was looked at
    (:func:`~medselect.registry.candidates.named_choice`).

    Args:
        spec: how missing evaluations are computed (default: the task kind's metrics).
        ranking: the experiment's ranking, which says whether the candidate is the selection
            set's choice (default: ranked by the gate's primary metric).
        choice: how the candidate was chosen, when the caller knows (an upgrade ranks its
            candidates on the selection set itself); default decided by ``named_choice``.
        dataset_version: recorded with the version (None: the run's dataset version).
        force_reason: promote even if the gate rejects it; the reason goes to the audit log.

    Raises:
        RegistryError: the model cannot be promoted (unknown, failed run, already champion),
            a model it must beat or itself cannot be evaluated on the reference set, the
            reference set changed, or the decision could not be applied (see
            :func:`~medselect.registry.versions.apply_promotion`).
    """
    scope = parse_scope(scope)
    with ws.connect() as conn:
        check_promotable(conn, task.name, model_ref)
        champion = current_champion(conn, task.name, scope)
        if champion is not None and champion.model_ref == model_ref:
            raise RegistryError(f"{model_ref!r} is already the champion (v{champion.version}) "
                                f"of task {task.name!r} in scope {scope!r}")
        reference = reference_case_set(conn, task.name)
        others = incumbents(conn, task.name, scope, criteria.compare_with)
    ensure_evaluated(ws, task, reference, [model_ref, *others], metrics=criteria.metrics,
                     spec=spec, device=device)
    with ws.connect() as conn:
        if choice is None:
            ranking = ranking or RankingSpec(metric=criteria.primary.metric,
                                             label=criteria.primary.label)
            choice = named_choice(conn, task.name, scope, model_ref, reference, ranking,
                                  incumbents=others)
        decision = gate_for(conn, task.name, scope, model_ref, criteria, case_set=reference,
                            choice=choice)
    version = promote(ws, task.name, scope, model_ref, decision=decision, actor=actor,
                      dataset_version=dataset_version, force_reason=force_reason)
    paths = write_decision_report(ws.path(DECISIONS_DIR), decision, outcome=version,
                                  name=report_name(version))
    card = None
    if version.status == VersionStatus.CHAMPION:
        with ws.connect() as conn:
            card = write_model_card(ws, model_card(conn, task.name, scope, version.version))
    return PromotionOutcome(decision, version, paths, first_version=not decision.incumbents,
                            card_paths=card)
