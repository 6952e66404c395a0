"""Selection by cross-validation: rank configurations on their out-of-fold cases, then build the
chosen configuration's model, ready for the test split and the gate.

With ``ranking.selection.folds`` K, ``medselect sweep run`` trains every configuration K times
(one fold run per fold of train + val). :func:`finalize_cv` then

1. evaluates every fold run on the fold it held out (finished evaluations are reused);
2. ranks the configurations on the out-of-fold table with the experiment's ranking (the gate's
   primary metric when the ranking names none): a configuration's CV score is its aggregate
   over every train + val case, each scored by the fold model that did not see it, with
   patient-level intervals and tests;
3. builds the chosen configuration's model (``selection.final``): its fold ensemble
   (registered at once, no training) or a refit on all of train + val (trained by the
   executor).

The test split took no part, so evaluating the final model there (``medselect evaluate``)
confirms the choice without the winner's curse, and ``medselect promote`` gates it like any
run. The evidence of the choice is stored in the final model's ``details.selection``.

Example::

    result = finalize_cv(ws, experiment, executor=make_executor("local", workers=2))
    result.chosen, result.model_ref, result.report.leaderboard.rows
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from medselect.choose import (
    CVConfiguration,
    RankingInputs,
    cv_configurations,
    cv_model_info,
    fold_means,
    out_of_fold_table,
)
from medselect.config import Experiment, RunConfig
from medselect.data.importer import latest_training_version
from medselect.errors import NotFound
from medselect.evaluate import ProgressFn, evaluate_folds
from medselect.rank import RankReport
from medselect.registry.retrain import ranking_spec
from medselect.store import Workspace, get_run, upsert_run
from medselect.sweep import (
    Executor,
    SweepSnapshot,
    fold_runs,
    make_executor,
    plan_refit,
    refit_epochs,
    register_ensemble,
    run_sweep,
)

__all__ = ["CVSelection", "finalize_cv"]


@dataclass(frozen=True, eq=False)
class CVSelection:
    """The configurations ranked by cross-validation, the one chosen and the model it became.

    Attributes:
        report: the ranking of the configurations (``cv:<hash>``) on the out-of-fold table.
        configurations: each configuration's name -> the configuration.
        fold_means: configurations x folds: the mean of the ranked metric per fold (missing
            values left out; empty for a set metric).
        incomplete: configuration -> the folds without a finished fold run (their cases count
            as the worst value in the ranking).
        chosen: the chosen configuration's name.
        final: ``ensemble`` or ``refit``; ``model_ref`` is its run id, ``status`` its status
            (``finished``, or ``failed`` for a refit that did not train).
    """

    task: str
    dataset_version: str
    folds: int
    seed: int
    report: RankReport
    configurations: dict[str, RunConfig]
    fold_means: pd.DataFrame
    incomplete: dict[str, list[int]]
    chosen: str
    final: str
    model_ref: str
    status: str
    error: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        means = {model: {str(k): _number(v) for k, v in row.items()}
                 for model, row in self.fold_means.iterrows()}
        return {"task": self.task, "dataset_version": self.dataset_version,
                "folds": self.folds, "seed": self.seed, "chosen": self.chosen,
                "final": self.final, "model_ref": self.model_ref, "status": self.status,
                "error": self.error, "evidence": self.evidence,
                "configurations": {name: config.model_dump(mode="json")
                                   for name, config in self.configurations.items()},
                "incomplete": self.incomplete, "fold_means": means,
                "ranking": self.report.to_dict()}


def finalize_cv(
    ws: Workspace,
    experiment: Experiment,
    *,
    executor: Executor | None = None,
    retry_failed: bool = False,
    device: str | None = None,
    on_evaluation: ProgressFn | None = None,
    on_training: Callable[[SweepSnapshot], None] | None = None,
) -> CVSelection:
    """Rank the experiment's configurations by cross-validation and build the chosen one's
    final model (see the module docstring).

    Args:
        executor: trains a refit (default: one local worker); unused for an ensemble.
        retry_failed: train a refit again that failed before.
        device: where the fold runs are evaluated.
        on_evaluation: progress of the out-of-fold evaluation, (done, total) pairs.
        on_training: progress of a refit's training.

    Raises:
        ConfigError: the experiment does not cross-validate (``ranking.selection.folds``).
        NotFound: no dataset version, or no fold run evaluated on its fold yet.
        RankingError: the ranking cannot be made (e.g. constraints exclude every
            configuration).
        TrainingError: a fold run of the chosen configuration did not finish.
    """
    task, selection = experiment.task, experiment.ranking.selection
    spec = ranking_spec(experiment)
    evaluate_folds(ws, task, selection, spec=experiment.evaluation, device=device,
                   on_progress=on_evaluation)
    with ws.connect() as conn:
        version = latest_training_version(conn, task.name)["id"]  # evaluate_folds found one
        configurations = cv_configurations(conn, task.name, version, selection)
        table = out_of_fold_table(conn, task.name, spec, dataset_version=version)
    if table.empty:
        raise NotFound(f"task {task.name!r} has no fold run evaluated on its held-out fold on "
                       f"{version}; train the fold runs with `medselect sweep run "
                       f"EXPERIMENT.yaml` first")
    report = RankingInputs.of(table, f"out-of-fold ({selection.folds} folds)",
                              cv_model_info(configurations)).rank(spec)
    board = report.leaderboard
    by_name = {c.model: c for c in configurations}
    chosen = by_name[board.best]
    evidence = _evidence(report, chosen, selection.folds, selection.seed)
    if selection.final == "ensemble":
        row = register_ensemble(ws, experiment, version, chosen.config,
                                details={"selection": evidence})
    else:
        row = _refit(ws, experiment, version, chosen.config, evidence,
                     executor or make_executor("local", workers=1),
                     retry_failed=retry_failed, on_training=on_training)
    return CVSelection(
        task=task.name, dataset_version=version, folds=selection.folds, seed=selection.seed,
        report=report, configurations={c.model: c.config for c in configurations},
        fold_means=fold_means(table, board.metric, board.label) if board.metric in set(
            table["metric"]) else pd.DataFrame(),
        incomplete={c.model: [k for k in range(1, selection.folds + 1) if not c.finished(k)]
                    for c in configurations
                    if not all(c.finished(k) for k in range(1, selection.folds + 1))},
        chosen=chosen.model, final=selection.final, model_ref=row["id"], status=row["status"],
        error=row["error"], evidence=evidence,
    )


def _refit(ws: Workspace, experiment: Experiment, version: str, config: RunConfig,
           evidence: dict[str, Any], executor: Executor, *, retry_failed: bool,
           on_training: Callable[[SweepSnapshot], None] | None) -> dict[str, Any]:
    """Train (or find) the refit of ``config`` and store the evidence with it."""
    epochs = refit_epochs(ws, experiment, fold_runs(ws, experiment, version, config))
    plan = plan_refit(ws, experiment, version, config, epochs=epochs, retry_failed=retry_failed)
    run_sweep(ws, plan, executor, on_progress=on_training)
    [planned] = plan.runs
    with ws.begin() as conn:
        row = get_run(conn, planned.run_id)
        upsert_run(conn, {"id": row["id"], "details": {**(row["details"] or {}),
                                                       "selection": evidence}})
        return get_run(conn, row["id"])


def _evidence(report: RankReport, chosen: CVConfiguration, folds: int,
              seed: int) -> dict[str, Any]:
    """What the final model's ``details.selection`` records about why it was chosen."""
    board = report.leaderboard
    row = board.row(chosen.model)
    return {"by": "cross-validation", "folds": folds, "seed": seed,
            "configuration": chosen.model, "fold_runs": [chosen.runs[k]["id"]
                                                         for k in sorted(chosen.runs)],
            "metric": board.metric, "label": board.label, "aggregate": board.aggregate,
            "cv_score": _number(row.aggregate), "ci": [_number(row.ci_low), _number(row.ci_high)],
            "n_cases": row.n_cases, "n_patients": row.n_patients, "reason": board.reason,
            "compared": [r.model for r in board.rows]}


def _number(value: Any) -> float | None:
    """A JSON-safe number: NaN and None as None."""
    if value is None or math.isnan(float(value)):
        return None
    return float(value)
