"""The model a configuration chosen by cross-validation becomes: a refit run or a fold ensemble.

- ``refit``: one run of the configuration on all of train + val (``cv.final: refit``), trained
  like any run by an executor. It has no validation cases, so it trains a fixed number of
  epochs: the median of the epochs its fold runs' best checkpoints come from (what cross-
  validation measured), and keeps the last.
- ``ensemble``: a run row (``cv.final: ensemble``) that is finished as soon as its K fold runs
  are: it trains nothing, its configuration names its members (:func:`~medselect.config.
  fold_run_ids`, also listed in ``details.members``) and its weights are theirs. Evaluation
  loads the members' checkpoints and averages their outputs
  (:class:`~medselect.train.EnsembleNetwork`), so the store, ``runs list``, evaluation, the
  registry and the dashboard treat it as the run it is.

Both have deterministic ids (configuration + dataset version), so finalising again finds them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from medselect.config import (
    Experiment,
    FinalModel,
    RunConfig,
    config_hash,
    final_config,
    fold_run_ids,
    run_id,
)
from medselect.errors import ConfigError, NotFound, TrainingError
from medselect.store import (
    RunStatus,
    Workspace,
    get_epoch_metrics,
    get_run,
    set_run_status,
    upsert_run,
)
from medselect.sweep.plan import SweepPlan, register_runs, run_details

__all__ = ["fold_runs", "plan_refit", "refit_epochs", "register_ensemble"]


def fold_runs(ws: Workspace, experiment: Experiment, dataset_version: str,
              config: RunConfig) -> list[dict[str, Any]]:
    """The K fold run rows of ``config`` (fold 1 first), all finished.

    Raises:
        ConfigError: the experiment does not cross-validate (no ``ranking.selection.folds``).
        TrainingError: a fold run is missing or not finished (names them and the fix).
    """
    members = fold_run_ids(_final(experiment, config, "ensemble"), dataset_version)
    rows, missing = [], []
    with ws.connect() as conn:
        for member in members:
            try:
                rows.append(get_run(conn, member))
            except NotFound:
                missing.append(member)
    unfinished = missing + [f"{r['id']} ({r['status']})" for r in rows
                            if r["status"] != RunStatus.FINISHED]
    if unfinished:
        raise TrainingError(
            f"configuration {config_hash(config)[:12]}: fold runs {unfinished} are not "
            f"finished; train them with `medselect sweep run EXPERIMENT.yaml` (with "
            f"`retry_failed=` for failed ones) before finalising")
    return rows


def refit_epochs(ws: Workspace, experiment: Experiment, runs: Sequence[Mapping[str, Any]]) -> int:
    """The median (rounded half up) of the epochs the fold runs' best checkpoints come from:
    the first epoch whose value of the metric that picked the checkpoint equals the run's
    ``best_metric`` (a run without one counts its last epoch)."""
    from medselect.tasks import plugin_for_task

    epochs = []
    with ws.connect() as conn:
        for run in runs:
            config = RunConfig.model_validate(run["config"])
            metric = ((run.get("details") or {}).get("early_stopping_metric")
                      or plugin_for_task(experiment.task, config).primary_metric.name)
            rows = get_epoch_metrics(conn, run["id"])
            trained = [r["epoch"] for r in rows] or [config.epochs]
            best = run["best_metric"]
            hits = [r["epoch"] for r in rows if r["name"] == metric and best is not None
                    and not math.isnan(best) and r["value"] == best]
            epochs.append(min(hits) if hits else max(trained))
    return max(1, math.floor(statistics.median(epochs) + 0.5))


def plan_refit(ws: Workspace, experiment: Experiment, dataset_version: str, config: RunConfig,
               *, epochs: int, retry_failed: bool = False) -> SweepPlan:
    """Register the refit of ``config`` on all of train + val for ``epochs`` epochs, without
    early stopping (nothing is held out to stop on); an executor trains it like any run
    (``retry_failed``: again, if it failed before).

    Raises:
        ConfigError: the experiment does not cross-validate, or the refit cannot train.
    """
    refit = _final(experiment, config, "refit").model_copy(
        update={"epochs": epochs, "early_stopping_patience": None})
    return register_runs(ws, experiment, dataset_version, [refit], retry_failed=retry_failed)


def register_ensemble(ws: Workspace, experiment: Experiment, dataset_version: str,
                      config: RunConfig, *, details: Mapping[str, Any] | None = None
                      ) -> dict[str, Any]:
    """Record the fold ensemble of ``config`` as a finished run; return its row.

    Its ``n_parameters`` is the members' total, its ``best_metric`` their mean validation
    score; ``details`` (e.g. the cross-validation evidence) is stored beside ``members``.

    Raises:
        ConfigError: the experiment does not cross-validate.
        TrainingError: a fold run is missing or not finished.
    """
    ensemble = _final(experiment, config, "ensemble")
    members = fold_runs(ws, experiment, dataset_version, config)
    rid = run_id(ensemble, dataset_version)
    parameters = [m["n_parameters"] for m in members]
    scores = [m["best_metric"] for m in members
              if m["best_metric"] is not None and not math.isnan(m["best_metric"])]
    with ws.begin() as conn:
        upsert_run(conn, {
            "id": rid, "task": experiment.task.name, "dataset_version": dataset_version,
            "sweep": experiment.sweep.name, "config": ensemble.model_dump(mode="json"),
            "config_hash": config_hash(ensemble),
            "details": {**run_details(experiment, ensemble),
                        "members": [m["id"] for m in members], **(details or {})},
        })
        if get_run(conn, rid)["status"] != RunStatus.FINISHED:
            set_run_status(conn, rid, RunStatus.FINISHED,
                           n_parameters=None if None in parameters else sum(parameters),
                           best_metric=statistics.fmean(scores) if scores else None)
        return get_run(conn, rid)


def _final(experiment: Experiment, config: RunConfig, final: FinalModel) -> RunConfig:
    selection = experiment.ranking.selection
    if not selection.folds:
        raise ConfigError("ranking.selection.folds is not set: the experiment does not "
                          "cross-validate, so it has no final model to build; set "
                          "ranking.selection.folds (e.g. 5)")
    return final_config(config.model_copy(update={"cv": None}), final, selection.folds,
                        selection.seed)
