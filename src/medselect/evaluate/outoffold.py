"""Out-of-fold evaluation: each fold run scored on the fold it held out.

With ``ranking.selection.folds`` K, each configuration is trained K times (fold runs,
``cv.fold`` 1..K). Fold k of the dataset version's train + val cases is stored as a case set of
its own (kind ``custom``, id :func:`medselect.choose.fold_case_set_id`, name ``cv fold k/K``),
and every fold-k run is evaluated on it like any model on any case set (per-case metrics,
predictions, overlays; idempotent). The test split is never touched. The out-of-fold table that
ranks configurations on these evaluations is :func:`medselect.choose.out_of_fold_table`.

Example::

    reports = evaluate_folds(ws, experiment.task, experiment.ranking.selection)
"""

from __future__ import annotations

from typing import Any

from medselect.choose.crossval import (
    check_folds,
    cv_configurations,
    fold_case_set_id,
    latest_version,
)
from medselect.config import EvaluationSpec, SelectionSpec
from medselect.data.folds import case_folds
from medselect.evaluate.engine import DEFAULT_CASES_PER_BATCH, ProgressFn, evaluate_models
from medselect.evaluate.policy import MetricPolicy
from medselect.evaluate.results import EvaluationReport
from medselect.evaluate.trained import TrainedPredictor
from medselect.evaluate.workflow import TaskArg, _spec_and_task
from medselect.store import Workspace, add_case_set, case_set_members, get_cases

__all__ = ["evaluate_folds", "fold_case_sets"]


def evaluate_folds(
    ws: Workspace,
    task: TaskArg,
    selection: SelectionSpec,
    *,
    spec: EvaluationSpec | None = None,
    dataset_version: str | None = None,
    force: bool = False,
    overlays: bool | None = None,
    device: str | None = None,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> list[EvaluationReport]:
    """Evaluate every finished fold run on the fold it held out; one report per fold.

    Args:
        task: the task (its name or spec); None for the workspace's only task.
        selection: ``ranking.selection`` with ``folds`` set.
        spec: metrics, tolerances, overlays; default: the task kind's default metrics.
        dataset_version: default: the task's latest training version.
        force, overlays, device, cases_per_batch: as :func:`~medselect.evaluate.evaluate_runs`.
        on_progress: (done, total) over every fold's (model, case) pairs.

    Raises:
        ConfigError: ``selection.folds`` is not set.
        NotFound: no such task or dataset version.
        DataError: the folds cannot be made (too few patients).
    """
    check_folds(selection)
    spec, task_spec = _spec_and_task(ws, task, spec)
    with ws.connect() as conn:
        version = dataset_version or latest_version(conn, task_spec.name)
    policy = MetricPolicy.for_task(task_spec, spec)
    overlays = spec.overlays if overlays is None else overlays
    case_sets = fold_case_sets(ws, task_spec.name, version, selection)
    with ws.connect() as conn:
        configurations = cv_configurations(conn, task_spec.name, version, selection)
    work = [(case_set, [TrainedPredictor(ws, c.runs[k], task_spec, device=device,
                                         saliency=overlays)
                        for c in configurations if c.finished(k)])
            for k, case_set in enumerate(case_sets, start=1)]
    with ws.connect() as conn:  # at most this many pairs per fold: reused ones are not redone
        bounds = [len(case_set_members(conn, c["id"])) * len(p) for c, p in work]
    reports, before, totals = [], 0, {}
    for k, (case_set, predictors) in enumerate(work):
        def progress(done: int, total: int, k: int = k, base: int = before) -> None:
            totals[k] = total
            if on_progress:
                on_progress(base + done, base + total + sum(bounds[k + 1:]))

        reports.append(evaluate_models(ws, task_spec, predictors, case_set, policy, force=force,
                                       overlays=overlays, cases_per_batch=cases_per_batch,
                                       on_progress=progress))
        before += totals.get(k, 0)
    return reports


def fold_case_sets(ws: Workspace, task: str, dataset_version: str,
                   selection: SelectionSpec) -> list[dict[str, Any]]:
    """The K fold case sets of ``dataset_version`` (fold 1 first), stored if not yet.

    Raises:
        DataError: the folds cannot be made (too few patients).
    """
    folds = check_folds(selection)
    with ws.connect() as conn:
        fold_of = case_folds(get_cases(conn, dataset_version), folds, selection.seed)
    with ws.begin() as conn:
        return [add_case_set(conn, {
            "id": fold_case_set_id(dataset_version, selection, k), "name": f"cv fold {k}/{folds}",
            "task": task, "dataset_version": dataset_version, "kind": "custom",
        }, sorted(case for case, f in fold_of.items() if f == k)) for k in range(1, folds + 1)]


