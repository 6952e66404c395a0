"""Cross-validation as a selection set: the out-of-fold table that ranks configurations.

With ``ranking.selection.folds`` K, each configuration is trained K times (fold runs,
``cv.fold`` 1..K) and each fold run is evaluated on the fold of train + val it held out
(:func:`medselect.evaluate.evaluate_folds`; fold k is the case set
:func:`fold_case_set_id`). The **out-of-fold table** is the per-case table of
:mod:`medselect.casetable` in which ``model`` is a configuration, ``cv:<first 12 hex digits of
its config hash>``, and each train + val case appears once per configuration, scored by the fold
run that did not see it; a ``fold`` column (a case attribute) says which fold that was. Ranked
like any table, a configuration's aggregate over all its out-of-fold cases is its CV score, with
patient-level intervals and tests. A fold run that did not finish leaves its cases without rows,
which ranking counts as the worst value. The chosen configuration becomes a model through
``medselect sweep finalize`` (a fold ensemble or a refit: :func:`final_model_ref`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from medselect.casetable import ATTRIBUTE_COLUMNS, KEY_COLUMNS, MEAN_LABEL
from medselect.config import RankingSpec, RunConfig, SelectionSpec, config_hash, stored_cv
from medselect.config.run import final_config, run_id
from medselect.data import latest_training_version
from medselect.errors import ConfigError, NotFound
from medselect.store import RunStatus, case_metric_table, get_case_set, list_runs

__all__ = [
    "CV_PREFIX",
    "FOLD",
    "CVConfiguration",
    "check_folds",
    "cv_configurations",
    "cv_model",
    "cv_model_info",
    "final_model_ref",
    "fold_case_set_id",
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
        return run is not None and run["status"] == RunStatus.FINISHED


def cv_model(config: RunConfig) -> str:
    """``cv:<first 12 hex of the configuration's hash>``, whichever of its runs ``config`` is."""
    return CV_PREFIX + config_hash(config.model_copy(update={"cv": None}))[:12]


def fold_case_set_id(dataset_version: str, selection: SelectionSpec, fold: int) -> str:
    """The id of the case set of fold ``fold`` (1..K) of ``dataset_version``."""
    return f"{dataset_version}-cv{selection.folds}s{selection.seed}-fold{fold}"


def cv_configurations(conn: sa.Connection, task: str, dataset_version: str,
                      selection: SelectionSpec) -> list[CVConfiguration]:
    """The configurations with fold runs of this K and seed on ``dataset_version``, in the order
    their first fold run was registered."""
    folds = check_folds(selection)
    found: dict[str, CVConfiguration] = {}
    for run in list_runs(conn, task=task, dataset_version=dataset_version):
        cv = stored_cv(run["config"] or {})
        if cv is None or cv.fold is None or (cv.folds, cv.seed) != (folds, selection.seed):
            continue
        config = RunConfig.model_validate(run["config"]).model_copy(update={"cv": None})
        entry = found.setdefault(cv_model(config), CVConfiguration(cv_model(config), config))
        entry.runs[cv.fold] = run
    return list(found.values())


def final_model_ref(configuration: CVConfiguration, selection: SelectionSpec,
                    dataset_version: str) -> str:
    """The run id the configuration's final model (``selection.final``: a fold ensemble or a
    refit) has or will have once ``medselect sweep finalize`` builds it."""
    final = final_config(configuration.config, selection.final, selection.folds, selection.seed)
    return run_id(final, dataset_version)


def out_of_fold_table(
    conn: sa.Connection, task: str, ranking: RankingSpec, *,
    dataset_version: str | None = None,
) -> pd.DataFrame:
    """The out-of-fold per-case table of ``task``'s cross-validation that ``ranking`` asks for.

    Each configuration (``model`` ``cv:<hash>``) has each train + val case of the dataset
    version once, from the fold run that held it out, in the columns of
    :mod:`medselect.casetable` plus :data:`FOLD`; empty when nothing was evaluated on the
    folds yet (``medselect evaluate EXPERIMENT.yaml`` or ``medselect sweep finalize``).

    Args:
        task: the task's name.
        ranking: the ranking section; its ``selection.folds`` and ``selection.seed`` say which
            cross-validation.
        dataset_version: default: the task's latest training version.

    Raises:
        ConfigError: ``ranking.selection.folds`` is not set.
        NotFound: the task has no dataset version.
    """
    selection = ranking.selection
    folds = check_folds(selection)
    version = dataset_version or latest_version(conn, task)
    configurations = cv_configurations(conn, task, version, selection)
    frames = []
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


def cv_model_info(configurations: list[CVConfiguration]) -> pd.DataFrame | None:
    """Per-configuration attributes for tie-breaks: parameters (of one fold model) and
    architecture, indexed by the configuration's ``cv:`` name."""
    rows = [{"model": c.model, "architecture": c.config.architecture.value,
             "parameters": next((r["n_parameters"] for r in c.runs.values()
                                 if r["n_parameters"] is not None), None)}
            for c in configurations]
    return pd.DataFrame(rows).set_index("model") if rows else None


def fold_means(table: pd.DataFrame, metric: str, label: str = MEAN_LABEL) -> pd.DataFrame:
    """Each configuration's mean of ``metric`` (at ``label``) per fold: configurations x folds.

    Missing values are left out of these means (the leaderboard counts them as the worst);
    a metric with no per-case rows (a set metric such as AUC) gives an empty frame.
    """
    rows = table[(table["metric"] == metric) & (table["label"] == label)]
    return rows.groupby(["model", FOLD])["value"].mean().unstack(FOLD)


def check_folds(selection: SelectionSpec) -> int:
    """``selection.folds``.

    Raises:
        ConfigError: it is not set.
    """
    if not selection.folds:
        raise ConfigError("ranking.selection.folds is not set: the experiment selects on "
                          f"{selection.case_set!r}, not by cross-validation; set "
                          "ranking.selection.folds (e.g. 5) to cross-validate")
    return selection.folds


def latest_version(conn: sa.Connection, task: str) -> str:
    """The id of the task's latest training version.

    Raises:
        NotFound: the task has none.
    """
    version = latest_training_version(conn, task)
    if version is None:
        raise NotFound(f"task {task!r} has no dataset version; run `medselect data import` or "
                       f"`medselect sweep run` first")
    return version["id"]


def _exists(conn: sa.Connection, case_set: str) -> bool:
    try:
        get_case_set(conn, case_set)
    except NotFound:
        return False
    return True
