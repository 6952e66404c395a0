"""Sweeps: expand a search space into runs and train them on local processes or Ray; with
cross-validation, the K fold runs of every configuration and the chosen one's final model."""

from medselect.sweep.executors.base import Executor
from medselect.sweep.final import fold_runs, plan_refit, refit_epochs, register_ensemble
from medselect.sweep.jobs import RunJob, RunOutcome
from medselect.sweep.plan import (
    PlannedRun,
    SweepPlan,
    check_trainable,
    plan_sweep,
    register_runs,
)
from medselect.sweep.progress import SweepMonitor, SweepSnapshot
from medselect.sweep.run import EXECUTORS, make_executor, run_sweep
from medselect.sweep.space import expand_space

__all__ = [
    "EXECUTORS",
    "Executor",
    "PlannedRun",
    "RunJob",
    "RunOutcome",
    "SweepMonitor",
    "SweepPlan",
    "SweepSnapshot",
    "check_trainable",
    "expand_space",
    "fold_runs",
    "make_executor",
    "plan_refit",
    "plan_sweep",
    "refit_epochs",
    "register_ensemble",
    "register_runs",
    "run_sweep",
]
