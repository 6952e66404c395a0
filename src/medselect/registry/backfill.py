"""Scores the registry needs: evaluate what a case set lacks, and re-score registered versions.

The gate compares models only on cases every one of them was evaluated on, so before a gate
runs :func:`ensure_evaluated` evaluates each model that has no finished evaluation (with the
gate's metrics) on the reference set. :func:`backfill` re-scores every registered version on a
case set, by default the test set of the task's newest dataset version: when a new version
adds test cases, earlier versions get figures on them too. Finished evaluations are reused,
so both are cheap to call again.

Runs are evaluated with :func:`medselect.evaluate.evaluate_runs`; an external model cannot be
re-run, so it must have been evaluated from its prediction files already (``medselect
evaluate --predictions``).

Example::

    ensure_evaluated(ws, task, "dv-1-reference", ["run-a", "run-b"], metrics=["dice"])
    result = backfill(ws, "knee")
    result.report.outcomes, result.skipped
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from medselect.config import EvaluationSpec, TaskSpec
from medselect.data.importer import latest_training_version
from medselect.errors import RegistryError
from medselect.evaluate import EvaluationReport, evaluate_runs, load_task
from medselect.metrics import SET_METRICS
from medselect.rank import source_metrics
from medselect.store import (
    Workspace,
    evaluated_metrics,
    get_case_set,
    latest_evaluations,
    list_model_versions,
)
from medselect.store.evaluations import EXTERNAL_PREFIX

__all__ = ["BackfillResult", "backfill", "ensure_evaluated"]


@dataclass(frozen=True)
class BackfillResult:
    """What :func:`backfill` did.

    Attributes:
        task, case_set: where the registered versions were scored.
        report: the evaluation of the runs (None when there was none to evaluate).
        skipped: model ref -> why it was not scored (external models without an evaluation
            there).
    """

    task: str
    case_set: str
    report: EvaluationReport | None
    skipped: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "case_set": self.case_set,
                "models": [] if self.report is None else
                [o.to_dict() for o in self.report.outcomes],
                "skipped": dict(self.skipped)}


def ensure_evaluated(
    ws: Workspace,
    task: TaskSpec,
    case_set: str,
    model_refs: Iterable[str],
    *,
    metrics: Iterable[str] = (),
    spec: EvaluationSpec | None = None,
    device: str | None = None,
) -> dict[str, str]:
    """Evaluate on ``case_set`` each model lacking a finished evaluation with ``metrics``;
    return ``{model_ref: evaluation id}`` of each model's newest finished evaluation there.

    Args:
        spec: how runs are evaluated (metrics, tolerances, overlays); default the task kind's
            default metrics.

    Raises:
        RegistryError: an external model has no such evaluation (it cannot be re-run), or a
            run could not be evaluated (the message names it and says why).
    """
    refs = list(dict.fromkeys(model_refs))
    metrics = source_metrics(list(metrics), SET_METRICS)  # a set metric is stored as its input
    missing = _lacking(ws, case_set, refs, set(metrics))
    external = [r for r in missing if r.startswith(EXTERNAL_PREFIX)]
    if external:
        raise RegistryError(
            f"{external} have no finished evaluation with metrics {sorted(metrics)} on case set "
            f"{case_set!r}, and an external model cannot be re-run; evaluate its predictions "
            f"there first (`medselect evaluate --predictions FOLDER --name NAME --cases "
            f"{case_set}`)")
    if missing:
        report = evaluate_runs(ws, task=task, runs=missing, top=len(missing),
                               case_set=case_set, spec=spec, device=device)
        _raise_failed(report)
    still = _lacking(ws, case_set, refs, set(metrics))
    if still:
        raise RegistryError(f"{still} were evaluated on case set {case_set!r} but lack some of "
                            f"the metrics {sorted(metrics)}; add them to evaluation.metrics")
    with ws.connect() as conn:
        return {ref: row["id"] for ref, row in latest_evaluations(conn, case_set, refs).items()}


def backfill(
    ws: Workspace,
    task: str | TaskSpec | None,
    *,
    case_set: str | None = None,
    spec: EvaluationSpec | None = None,
    extra: Iterable[str] = (),
    device: str | None = None,
) -> BackfillResult:
    """Score every registered version of ``task`` (and the runs in ``extra``) on ``case_set``.

    Args:
        task: the task, its name, or None for the workspace's only task.
        case_set: default the test set of the task's newest dataset version.
        extra: further model refs to score with them (e.g. an upgrade's candidates).

    Raises:
        RegistryError: the task has no dataset version, or a run could not be evaluated.
    """
    task_spec = task if isinstance(task, TaskSpec) else load_task(ws, task)
    with ws.connect() as conn:
        if case_set is None:
            version = latest_training_version(conn, task_spec.name)
            if version is None:
                raise RegistryError(f"task {task_spec.name!r} has no dataset version; there "
                                    "are no test cases to score on")
            case_set = f"{version['id']}-test"
        get_case_set(conn, case_set)
        registered = [v["model_ref"] for v in list_model_versions(conn, task_spec.name)]
    refs = list(dict.fromkeys([*registered, *extra]))
    missing = set(_lacking(ws, case_set, refs, set()))
    skipped = {r: "an external model cannot be re-run; evaluate its predictions on this case "
                  "set with `medselect evaluate --predictions`"
               for r in refs if r.startswith(EXTERNAL_PREFIX) and r in missing}
    runs = [r for r in refs if not r.startswith(EXTERNAL_PREFIX)]
    report = None
    if runs:
        report = evaluate_runs(ws, task=task_spec, runs=runs, top=len(runs), case_set=case_set,
                               spec=spec, device=device)
        _raise_failed(report)
    return BackfillResult(task_spec.name, case_set, report, skipped)


def _lacking(ws: Workspace, case_set: str, refs: list[str], metrics: set[str]) -> list[str]:
    """Refs without a finished evaluation on ``case_set`` holding every metric in ``metrics``."""
    with ws.connect() as conn:
        latest = latest_evaluations(conn, case_set, refs)
        have = {ref: {m for m, _ in evaluated_metrics(conn, row["id"])} if metrics else set()
                for ref, row in latest.items()}
    return [r for r in refs if r not in latest or not metrics <= have[r]]


def _raise_failed(report: EvaluationReport) -> None:
    if report.failed:
        first = report.failed[0]
        raise RegistryError(f"{first.model_ref!r} could not be evaluated on case set "
                            f"{report.case_set!r}: {first.error}")
