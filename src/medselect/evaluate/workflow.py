"""The two ways to evaluate: trained runs of a task, and predictions made elsewhere.

Both resolve the task, the case set and the metric policy the same way, then hand their models
to :func:`medselect.evaluate.engine.evaluate_models`, so an external model is scored with the
same metrics on the same cases and ranks beside the trained runs. :func:`evaluate_runs` and
:func:`evaluate_external` score one case set; :func:`evaluate_runs_on_sets` and
:func:`evaluate_external_on_sets` score every set the evaluation section lists (by default
``val``, which selects the model, then ``test``, which confirms it), skipping a ``val`` set
the data does not have with a note.

Example::

    ws = Workspace.open("medselect-workspace")
    report = evaluate_runs(ws, top=3, case_set="reference")
    report = evaluate_external(ws, "nnunet_out/", "nnunet-2d", case_set="reference")
    reports = evaluate_runs_on_sets(ws, spec=experiment.evaluation)  # val, then test
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medselect.config import DEFAULT_METRICS, EvaluationSpec, TaskSpec
from medselect.data import latest_training_version, named_case_set
from medselect.data.tasks import task_spec
from medselect.errors import ConfigError, NotFound
from medselect.evaluate.casesets import TEST, VAL, resolve_case_set
from medselect.evaluate.engine import DEFAULT_CASES_PER_BATCH, ProgressFn, evaluate_models
from medselect.evaluate.external import ExternalPredictions
from medselect.evaluate.policy import MetricPolicy, spec_of_policy
from medselect.evaluate.results import EvaluationReport, ModelOutcome
from medselect.evaluate.trained import TrainedPredictor, select_runs
from medselect.store import (
    Workspace,
    get_external_model,
    latest_metric_policy,
    put_external_model,
)

CaseSetArg = str | os.PathLike[str] | None
TaskArg = str | TaskSpec | None


@dataclass(frozen=True)
class SkippedCaseSet:
    """A listed case set that was not evaluated, and why (one line)."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class CaseSetReports:
    """Every listed case set's report, in the order listed, and the sets skipped.

    Args:
        task: the task's name.
        names: the name each report was asked for (``val``, ``test``, a path, ...), one per
            report.
        reports: one :class:`EvaluationReport` per evaluated case set.
        skipped: listed sets not evaluated (a ``val`` set the data does not have).
    """

    task: str
    names: list[str]
    reports: list[EvaluationReport]
    skipped: list[SkippedCaseSet]

    @property
    def failed(self) -> list[tuple[str, ModelOutcome]]:
        """(case set id, outcome) of every model that failed on a case set."""
        return [(r.case_set, o) for r in self.reports for o in r.failed]

    @property
    def n_outcomes(self) -> int:
        return sum(len(r.outcomes) for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task,
                "reports": [{"name": name, **report.to_dict()}
                            for name, report in zip(self.names, self.reports, strict=True)],
                "skipped": [s.to_dict() for s in self.skipped]}


def evaluate_runs(
    ws: Workspace,
    *,
    task: TaskArg = None,
    runs: list[str] | None = None,
    top: int | None = None,
    case_set: CaseSetArg = None,
    spec: EvaluationSpec | None = None,
    force: bool = False,
    overlays: bool | None = None,
    device: str | None = None,
    sliding_window: bool = False,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> EvaluationReport:
    """Evaluate finished runs of a task on one case set.

    Args:
        task: the task (its name or spec); None for the workspace's only task.
        runs: evaluate these run ids only; None for every finished run of the task.
        top: only the ``top`` runs with the best validation score (default ``spec.top_k``).
        case_set: ``val``, ``test``, ``reference``, a case set id, a path of new cases or a
            :class:`~medselect.evaluate.casesets.NewCases` (default ``test``;
            :func:`evaluate_runs_on_sets` evaluates every set ``spec.case_sets`` lists). Never
            cases the runs may have learnt from: ``train``, ``all`` and new cases in the
            task's training data are refused.
        spec: metrics, NSD tolerances, overlays; default: the task kind's default metrics.
        force: recompute evaluations already finished.
        overlays: write overlays (default ``spec.overlays``).
        device: where networks run; None picks CUDA when present.
        sliding_window: predict cases larger than a run's input size with sliding windows
            (for models trained on patches; the default resizing matches how runs train).
            Refused for image-level (classification) tasks: their networks see the whole image.

    Raises:
        NotFound: no such task, run or case set, or no finished run.
        ConfigError: a bad metric, run or option (the message names it), e.g.
            ``sliding_window`` for an image-level task.
        DataError: new cases that cannot be imported.
        LeakageError: the case set holds the task's training data (see ``case_set``).
    """
    from medselect.tasks import plugin_for_task

    spec, task_spec = _spec_and_task(ws, task, spec)
    if sliding_window:
        check_sliding_window(task_spec)
    policy = MetricPolicy.for_task(task_spec, spec, sliding_window=sliding_window)
    mode = plugin_for_task(task_spec).primary_metric.mode
    with ws.connect() as conn:
        selected = select_runs(conn, task_spec.name, run_ids=runs,
                               top=spec.top_k if top is None else top, mode=mode)
    rows = resolve_case_set(ws, task_spec, TEST if case_set is None else case_set)
    overlays = spec.overlays if overlays is None else overlays
    predictors = [TrainedPredictor(ws, run, task_spec, device=device, saliency=overlays,
                                   sliding_window=sliding_window) for run in selected]
    return evaluate_models(ws, task_spec, predictors, rows, policy, force=force,
                           overlays=overlays, cases_per_batch=cases_per_batch,
                           on_progress=on_progress)


def check_sliding_window(task: TaskSpec) -> None:
    """Refuse sliding-window inference for a task whose networks are image-level.

    Raises:
        ConfigError: the task's plugin is ``image_level`` (a classifier: one answer per image).
    """
    from medselect.tasks import plugin_for_task

    if plugin_for_task(task).image_level:
        raise ConfigError(f"task {task.name!r} is {task.kind}, whose networks see the whole "
                          "image resized to their input size and give one answer per image, so "
                          "there are no windows to stitch; leave sliding windows off",
                          param="sliding_window")


def evaluate_external(
    ws: Workspace,
    folder: str | os.PathLike[str],
    name: str,
    case_set: CaseSetArg = None,
    *,
    task: TaskArg = None,
    spec: EvaluationSpec | None = None,
    force: bool = False,
    overlays: bool | None = None,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> EvaluationReport:
    """Evaluate a folder of prediction masks made elsewhere as model ``external:<name>``.

    A case without a prediction file is recorded as ``missing`` (NULL metric values, ranked
    worst); a prediction of another shape than its case as an ``error`` naming the case and
    both shapes; the other cases go on. The model never trained on the task's data, so it may
    be scored on any cases: ``train`` and ``all`` too (stored on first use), and new cases
    that are in the training data.

    Args:
        folder: one mask per case, ``<case_id>.nii.gz`` / ``.png`` (nnU-Net's output layout).
        name: the external model's name.
        case_set: as :func:`evaluate_runs` (default ``test``), or ``train`` / ``all``.
        task, spec, force, overlays: as :func:`evaluate_runs`.

    Raises:
        ConfigError: the name is unusable or already names a model of another task.
        DataError: the folder is missing or holds no prediction file.
        NotFound: no such task or case set.
    """
    spec, task_spec = _spec_and_task(ws, task, spec)
    policy = MetricPolicy.for_task(task_spec, spec)
    predictor = ExternalPredictions(folder, name)
    rows = resolve_case_set(ws, task_spec, TEST if case_set is None else case_set,
                            allow_training_cases=True)
    _register_external(ws, predictor, task_spec)
    return evaluate_models(
        ws, task_spec, [predictor], rows, policy, force=force,
        overlays=spec.overlays if overlays is None else overlays,
        cases_per_batch=cases_per_batch, on_progress=on_progress,
    )


def evaluate_runs_on_sets(
    ws: Workspace,
    *,
    task: TaskArg = None,
    runs: list[str] | None = None,
    top: int | None = None,
    case_sets: Sequence[CaseSetArg] | None = None,
    spec: EvaluationSpec | None = None,
    force: bool = False,
    overlays: bool | None = None,
    device: str | None = None,
    sliding_window: bool = False,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> CaseSetReports:
    """Evaluate finished runs on every case set listed, in order; a set a model was already
    evaluated on is reused, not recomputed (unless ``force``).

    Args:
        case_sets: names, ids or paths (default ``spec.case_sets``: ``val`` then ``test``).
            A ``val`` the task's latest dataset version does not have (no validation cases)
            is skipped with a note; any other set that cannot be resolved is an error.
        on_progress: called with (done, total) over all sets evaluated so far.
        task, runs, top, spec, force, overlays, device, sliding_window, cases_per_batch: as
            :func:`evaluate_runs`.

    Raises:
        NotFound: no listed set exists (nothing to evaluate), or as :func:`evaluate_runs`.
        ConfigError, DataError: as :func:`evaluate_runs`.
    """
    spec, task_spec = _spec_and_task(ws, task, spec)

    def one(case_set: CaseSetArg, progress: ProgressFn | None) -> EvaluationReport:
        return evaluate_runs(ws, task=task_spec, runs=runs, top=top, case_set=case_set,
                             spec=spec, force=force, overlays=overlays, device=device,
                             sliding_window=sliding_window, cases_per_batch=cases_per_batch,
                             on_progress=progress)

    return _on_sets(ws, task_spec, spec.case_sets if case_sets is None else case_sets, one,
                    on_progress)


def evaluate_external_on_sets(
    ws: Workspace,
    folder: str | os.PathLike[str],
    name: str,
    case_sets: Sequence[CaseSetArg] | None = None,
    *,
    task: TaskArg = None,
    spec: EvaluationSpec | None = None,
    force: bool = False,
    overlays: bool | None = None,
    cases_per_batch: int = DEFAULT_CASES_PER_BATCH,
    on_progress: ProgressFn | None = None,
) -> CaseSetReports:
    """Evaluate a folder of predictions made elsewhere on every case set listed, in order.

    A case of a set without a prediction file is ``missing`` (ranked worst), as in
    :func:`evaluate_external`; ``case_sets`` and the skipped ``val`` as in
    :func:`evaluate_runs_on_sets`.

    Raises:
        NotFound: no listed set exists, or as :func:`evaluate_external`.
        ConfigError, DataError: as :func:`evaluate_external`.
    """
    spec, task_spec = _spec_and_task(ws, task, spec)

    def one(case_set: CaseSetArg, progress: ProgressFn | None) -> EvaluationReport:
        return evaluate_external(ws, folder, name, case_set, task=task_spec, spec=spec,
                                 force=force, overlays=overlays,
                                 cases_per_batch=cases_per_batch, on_progress=progress)

    return _on_sets(ws, task_spec, spec.case_sets if case_sets is None else case_sets, one,
                    on_progress)


def _on_sets(
    ws: Workspace,
    task: TaskSpec,
    case_sets: Sequence[CaseSetArg],
    evaluate_one: Callable[[CaseSetArg, ProgressFn | None], EvaluationReport],
    on_progress: ProgressFn | None,
) -> CaseSetReports:
    """Evaluate each set in turn (a missing ``val`` skipped); progress adds up over sets."""
    names: list[str] = []
    reports: list[EvaluationReport] = []
    skipped: list[SkippedCaseSet] = []
    finished = [0, 0]  # (model, case) pairs of the sets done; the total of the current one

    def progress(done: int, total: int) -> None:
        finished[1] = total
        on_progress(finished[0] + done, finished[0] + total)

    for case_set in case_sets:
        name = os.fspath(case_set)
        if name == VAL and (why := _no_val(ws, task.name)) is not None:
            skipped.append(SkippedCaseSet(name, why))
            continue
        reports.append(evaluate_one(case_set, None if on_progress is None else progress))
        names.append(name)
        finished[0], finished[1] = finished[0] + finished[1], 0
    if not reports:
        listed = ", ".join(os.fspath(c) for c in case_sets)
        raise NotFound(f"task {task.name!r} has none of the case sets to evaluate ({listed}): "
                       f"{'; '.join(s.reason for s in skipped)}")
    return CaseSetReports(task.name, names, reports, skipped)


def _no_val(ws: Workspace, task: str) -> str | None:
    """Why the task's latest training version has no ``val`` set, or None when it has one
    (or has no version at all: that is an error the evaluation itself reports)."""
    with ws.connect() as conn:
        version = latest_training_version(conn, task)
        if version is None:
            return None
        try:
            named_case_set(conn, task, VAL)
        except NotFound:
            return (f"dataset version {version['id']!r} of task {task!r} has no validation "
                    f"cases, so there is no 'val' set to select models on; select on another "
                    f"set (ranking.selection.case_set), or import the data with "
                    f"data.split.fractions.val above 0 as a new task")
    return None


def load_task(ws: Workspace, name: str | None = None) -> TaskSpec:
    """The stored spec of task ``name``, or of the workspace's only task when None
    (:func:`medselect.data.tasks.task_spec`)."""
    with ws.connect() as conn:
        return task_spec(conn, name)


def _spec_and_task(ws: Workspace, task: TaskArg, spec: EvaluationSpec | None
                   ) -> tuple[EvaluationSpec, TaskSpec]:
    """The task, and the settings to evaluate with: ``spec``, else those of the task's newest
    evaluation (an upload or ``evaluate`` without the experiment file computes the same values
    as the experiment did), else the task kind's defaults."""
    task_spec = task if isinstance(task, TaskSpec) else load_task(ws, task)
    if spec is None:
        with ws.connect() as conn:
            policy = latest_metric_policy(conn, task_spec.name)
        spec = spec_of_policy(policy) if policy else EvaluationSpec(
            metrics=list(DEFAULT_METRICS[task_spec.family]))
    return spec, task_spec


def _register_external(ws: Workspace, predictor: ExternalPredictions, task: TaskSpec) -> None:
    source = Path(predictor.folder).resolve().as_uri()
    with ws.begin() as conn:
        try:
            known: dict[str, Any] | None = get_external_model(conn, predictor.name)
        except NotFound:
            known = None
        if known is not None and known["task"] != task.name:
            raise ConfigError(f"external model {predictor.name!r} already belongs to task "
                              f"{known['task']!r}; give another name", param="name")
        put_external_model(conn, {"name": predictor.name, "task": task.name,
                                  "source_uri": source,
                                  "description": f"predictions from {predictor.folder}"})
