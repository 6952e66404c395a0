"""Run a planned sweep on an executor, reporting progress from the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from medselect.store import Workspace, shareable_url
from medselect.sweep.executors.base import Executor
from medselect.sweep.plan import SweepPlan
from medselect.sweep.population import PopulationPlan
from medselect.sweep.progress import SweepMonitor, SweepSnapshot

if TYPE_CHECKING:
    from medselect.sweep.trials import StudyPlan

EXECUTORS = ("local", "ray", "inprocess")


def make_executor(
    name: str, *, workers: int = 1, threads: int = 1, address: str | None = None,
    gpus_per_run: float = 0, runs_per_gpu: int = 1,
) -> Executor:
    """The executor called ``name``; ValueError names the choices.

    Args:
        gpus_per_run: GPUs a Ray run requests (the local executor assigns one per slot).
        runs_per_gpu: runs one GPU trains at once: the local executor's cap per GPU; for Ray,
            ``1 / runs_per_gpu`` GPU per run when ``gpus_per_run`` is 0.
    """
    if name == "local":
        from medselect.sweep.executors.local import LocalExecutor

        return LocalExecutor(workers=workers, threads=threads, runs_per_gpu=runs_per_gpu)
    if name == "ray":
        from medselect.sweep.executors.ray import RayExecutor

        gpus = gpus_per_run or (1 / runs_per_gpu if runs_per_gpu > 1 else 0)
        return RayExecutor(address=address, threads=threads, gpus=gpus,
                           num_cpus=None if address else workers * threads, workers=workers)
    if name == "inprocess":
        from medselect.sweep.executors.inprocess import InProcessExecutor

        return InProcessExecutor()
    raise ValueError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


def run_sweep(
    ws: Workspace,
    plan: SweepPlan | StudyPlan | PopulationPlan,
    executor: Executor,
    *,
    on_progress: Callable[[SweepSnapshot], None] | None = None,
) -> SweepSnapshot:
    """Train the plan's runs still to train (a study's: the trials it asks for meanwhile; a
    population's: under Ray Tune); return the sweep's final state."""
    url = shareable_url(ws.engine.url).render_as_string(hide_password=False)  # no secrets
    monitor = SweepMonitor(ws, plan.run_ids)
    poll = (lambda: on_progress(monitor.snapshot())) if on_progress else None
    if isinstance(plan, PopulationPlan):  # a population trains as one, under Ray Tune
        plan.train(executor, str(ws.root), url, poll=poll)
    else:
        executor.run(plan.jobs(str(ws.root), url), poll=poll)
    plan.settle()
    return monitor.snapshot()
