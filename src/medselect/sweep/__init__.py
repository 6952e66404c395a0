"""Sweeps: expand a search space into runs and train them on local processes or Ray."""

from medselect.sweep.executors.base import Executor
from medselect.sweep.jobs import RunJob, RunOutcome
from medselect.sweep.plan import PlannedRun, SweepPlan, check_trainable, plan_sweep
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
    "make_executor",
    "plan_sweep",
    "run_sweep",
]
