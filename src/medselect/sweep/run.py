"""Run a planned sweep on an executor, reporting progress from the store."""

from __future__ import annotations

from collections.abc import Callable

from medselect.store import Workspace, shareable_url
from medselect.sweep.executors.base import Executor
from medselect.sweep.jobs import RunJob
from medselect.sweep.plan import SweepPlan
from medselect.sweep.progress import SweepMonitor, SweepSnapshot

EXECUTORS = ("local", "ray", "inprocess")


def make_executor(
    name: str, *, workers: int = 1, threads: int = 1, address: str | None = None,
    gpus_per_run: float = 0,
) -> Executor:
    """The executor called ``name``; ValueError names the choices.

    Args:
        gpus_per_run: GPUs a Ray run requests (the local executor assigns one per slot).
    """
    if name == "local":
        from medselect.sweep.executors.local import LocalExecutor

        return LocalExecutor(workers=workers, threads=threads)
    if name == "ray":
        from medselect.sweep.executors.ray import RayExecutor

        return RayExecutor(address=address, threads=threads, gpus=gpus_per_run,
                           num_cpus=None if address else workers * threads)
    if name == "inprocess":
        from medselect.sweep.executors.inprocess import InProcessExecutor

        return InProcessExecutor()
    raise ValueError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")


def run_sweep(
    ws: Workspace,
    plan: SweepPlan,
    executor: Executor,
    *,
    on_progress: Callable[[SweepSnapshot], None] | None = None,
) -> SweepSnapshot:
    """Train the plan's runs still to train; return the sweep's final state."""
    url = shareable_url(ws.engine.url).render_as_string(hide_password=False)  # no secrets
    jobs = [RunJob(r.run_id, str(ws.root), url=url) for r in plan.to_train]
    monitor = SweepMonitor(ws, [r.run_id for r in plan.runs])
    poll = (lambda: on_progress(monitor.snapshot())) if on_progress else None
    if jobs:
        executor.run(jobs, poll=poll)
    return monitor.snapshot()
