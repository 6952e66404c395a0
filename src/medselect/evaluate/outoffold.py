"""Out-of-fold evaluation: each fold run scored on the fold it held out, and the per-case table
that ranks configurations by their cross-validation score.

With ``ranking.selection.folds`` K, each configuration is trained K times (fold runs,
``cv.fold`` 1..K). Fold k of the dataset version's train + val cases is stored as a case set of
its own (kind ``custom``, id ``<version>-cv<K>s<seed>-fold<k>``, name ``cv fold k/K``), and
every fold-k run is evaluated on it like any model on any case set (per-case metrics,
predictions, overlays; idempotent). The test split is never touched.

The **out-of-fold table** (:func:`out_of_fold_table`) is the per-case table of
:mod:`medselect.casetable` in which ``model`` is a configuration, ``cv:<first 12 hex digits of
its config hash>``, and each train + val case appears once per configuration, scored by the fold
run that did not see it; a ``fold`` column (a case attribute) says which fold that was.
``medselect.rank`` ranks it like any table: the aggregate of a configuration over all its
out-of-fold cases is its CV score, with patient-level intervals and tests. A fold run that did
not finish leaves its cases without rows, which ranking counts as the worst value.

Example::

    reports = evaluate_folds(ws, experiment.task, experiment.ranking.selection)
    table = out_of_fold_table(ws, "knee", experiment.ranking)
    report = rank_table(table, experiment.ranking, directions(table["metric"]), ...)
    fold_means(table, "dice")            # configuration x fold
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from medselect.casetable import ATTRIBUTE_COLUMNS, KEY_COLUMNS, MEAN_LABEL
from medselect.config import (
    EvaluationSpec,
    RankingSpec,
    RunConfig,
    SelectionSpec,
    TaskSpec,
    config_hash,
    stored_cv,
)
from medselect.data.folds import case_folds
from medselect.data.importer import latest_training_version
from medselect.errors import ConfigError, NotFound
from medselect.evaluate.engine import DEFAULT_CASES_PER_BATCH, ProgressFn, evaluate_models
from medselect.evaluate.evaluations import TaskArg, _spec_and_task
from medselect.evaluate.policy import MetricPolicy
from medselect.evaluate.results import EvaluationReport
from medselect.evaluate.trained import TrainedPredictor
from medselect.store import (
    Workspace,
    add_case_set,
    case_metric_table,
    case_set_members,
    get_case_set,
    get_cases,
    list_runs,
)

__all__ = [
    "CV_PREFIX",
    "FOLD",
    "CVConfiguration",
    "cv_configurations",
    "cv_model",
    "evaluate_folds",
    "fold_case_set_id",
    "fold_case_sets",
    "fold_means",
    "out_of_fold_table",
]

CV_PREFIX = "cv:"
"""Model names of configurations in the out-of-fold table: ``cv:<config hash[:12]>``."""

FOLD = "fold"
"""Case attribute of the out-of-fold table: the fold (1..K) that held the case out."""


@dataclass(frozen=True)
class CVConfiguration:
    """One configuration of a cross-validation and its registered fold runs.

    Attributes:
        model: its name in the out-of-fold table (:func:`cv_model`).
        config: the configuration itself (no ``cv``).
        runs: fold (1..K) -> that fold run's row, for the folds registered so far.
    """

    model: str
    config: RunConfig
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)

    def finished(self, fold: int) -> bool:
        run = self.runs.get(fold)
        return run is not None and run["status"] == "finished"


def cv_model(config: RunConfig) -> str:
    """``cv:<first 12 hex of the configuration's hash>``, whichever of its runs ``config`` is."""
    return CV_PREFIX + config_hash(config.model_copy(update={"cv": None}))[:12]


def fold_case_set_id(dataset_version: str, selection: SelectionSpec, fold: int) -> str:
    """The id of the case set of fold ``fold`` (1..K) of ``dataset_version``."""
    return f"{dataset_version}-cv{selection.folds}s{selection.seed}-fold{fold}"


def cv_configurations(ws: Workspace, task: str, dataset_version: str,
                      selection: SelectionSpec) -> list[CVConfiguration]:
    """The configurations with fold runs of this K and seed on ``dataset_version``, in the order
    their first fold run was registered."""
    folds = _folds(selection)
    found: dict[str, CVConfiguration] = {}
    with ws.connect() as conn:
        runs = list_runs(conn, task=task, dataset_version=dataset_version)
    for run in runs:
        cv = stored_cv(run["config"] or {})
        if cv is None or cv.fold is None or (cv.folds, cv.seed) != (folds, selection.seed):
            continue
        config = RunConfig.model_validate(run["config"]).model_copy(update={"cv": None})
        entry = found.setdefault(cv_model(config), CVConfiguration(cv_model(config), config))
        entry.runs[cv.fold] = run
    return list(found.values())


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
    _folds(selection)
    spec, task_spec = _spec_and_task(ws, task, spec)
    version = dataset_version or _latest_version(ws, task_spec.name)
    policy = MetricPolicy.for_task(task_spec, spec)
    overlays = spec.overlays if overlays is None else overlays
    case_sets = fold_case_sets(ws, task_spec.name, version, selection)
    configurations = cv_configurations(ws, task_spec.name, version, selection)
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
    folds = _folds(selection)
    with ws.connect() as conn:
        fold_of = case_folds(get_cases(conn, dataset_version), folds, selection.seed)
    with ws.begin() as conn:
        return [add_case_set(conn, {
            "id": fold_case_set_id(dataset_version, selection, k), "name": f"cv fold {k}/{folds}",
            "task": task, "dataset_version": dataset_version, "kind": "custom",
        }, sorted(case for case, f in fold_of.items() if f == k)) for k in range(1, folds + 1)]


def out_of_fold_table(
    ws: Workspace, task: str | TaskSpec, ranking: RankingSpec, *,
    dataset_version: str | None = None,
) -> pd.DataFrame:
    """The out-of-fold per-case table of ``task``'s cross-validation that ``ranking`` asks for.

    Each configuration (``model`` ``cv:<hash>``) has each train + val case of the dataset
    version once, from the fold run that held it out, in the columns of
    :mod:`medselect.casetable` plus :data:`FOLD`; empty when nothing was evaluated on the
    folds yet (``medselect evaluate EXPERIMENT.yaml`` or ``medselect sweep finalize``).

    Args:
        task: the task's name or spec.
        ranking: the ranking section; its ``selection.folds`` and ``selection.seed`` say which
            cross-validation.
        dataset_version: default: the task's latest training version.

    Raises:
        ConfigError: ``ranking.selection.folds`` is not set.
        NotFound: the task has no dataset version.
    """
    selection = ranking.selection
    folds = _folds(selection)
    name = task.name if isinstance(task, TaskSpec) else task
    version = dataset_version or _latest_version(ws, name)
    configurations = cv_configurations(ws, name, version, selection)
    frames = []
    with ws.connect() as conn:
        for k in range(1, folds + 1):
            refs = {c.runs[k]["id"]: c.model for c in configurations if k in c.runs}
            case_set = fold_case_set_id(version, selection, k)
            if not refs or not _exists(conn, case_set):
                continue
            table = case_metric_table(conn, case_set=case_set, model_refs=list(refs))
            frames.append(table.assign(model=table["model"].map(refs), **{FOLD: k}))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *ATTRIBUTE_COLUMNS, FOLD])
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["model", "case_id", "metric", "label"], kind="stable",
                             ignore_index=True)


def fold_means(table: pd.DataFrame, metric: str, label: str = MEAN_LABEL) -> pd.DataFrame:
    """Each configuration's mean of ``metric`` (at ``label``) per fold: configurations x folds.

    Missing values are left out of these means (the leaderboard counts them as the worst);
    a metric with no per-case rows (a set metric such as AUC) gives an empty frame.
    """
    rows = table[(table["metric"] == metric) & (table["label"] == label)]
    return rows.groupby(["model", FOLD])["value"].mean().unstack(FOLD)


def _folds(selection: SelectionSpec) -> int:
    if not selection.folds:
        raise ConfigError("ranking.selection.folds is not set: the experiment selects on "
                          f"{selection.case_set!r}, not by cross-validation; set "
                          "ranking.selection.folds (e.g. 5) to cross-validate")
    return selection.folds


def _latest_version(ws: Workspace, task: str) -> str:
    with ws.connect() as conn:
        version = latest_training_version(conn, task)
    if version is None:
        raise NotFound(f"task {task!r} has no dataset version; run `medselect data import` or "
                       f"`medselect sweep run` first")
    return version["id"]


def _exists(conn, case_set: str) -> bool:
    try:
        get_case_set(conn, case_set)
    except NotFound:
        return False
    return True
