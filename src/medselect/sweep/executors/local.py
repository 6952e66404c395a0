"""Train jobs in local worker processes, one process per run, N at a time.

A process per run isolates failures completely: a segfault, an out-of-memory kill or a leaked
CUDA context ends that run only. Processes are forked from a ``forkserver`` that has already
imported torch and MONAI, so starting one costs milliseconds instead of seconds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from medselect.store import RunStatus
from medselect.sweep.executors.base import Poll, settle_lost_run
from medselect.sweep.jobs import RunJob, RunOutcome
from medselect.sweep.worker import this_worker

#: Imported once by the forkserver, so no run pays for them. ``torch._inductor.config`` is what
#: ``torch.use_deterministic_algorithms`` (deterministic sweeps, the default) imports: 1-2 s.
_PRELOAD = [
    "torch", "torch._inductor.config", "monai.networks.nets", "monai.losses",
    "medselect.sweep.worker", "medselect.train", "medselect.tasks", "medselect.data.loading",
    "medselect.sweep.trial_report",  # Optuna, when installed (a failed preload is skipped)
]
POLL_SECONDS = 0.5


class LocalExecutor:
    """Up to ``workers`` runs at once, each limited to ``threads`` CPU threads; a job is drawn
    from ``jobs`` only when a slot is free. With GPUs, at most ``runs_per_gpu`` runs share one.

    Args:
        workers: concurrent runs.
        threads: CPU threads per run (torch intra-op and OpenMP).
        gpus: GPU count to spread runs over (the slots take them in turn); None detects CUDA.
        runs_per_gpu: runs one GPU trains at once; with GPUs, the slots are at most
            ``gpus * runs_per_gpu``.
    """

    name = "local"

    def __init__(self, workers: int = 1, threads: int = 1, gpus: int | None = None,
                 runs_per_gpu: int = 1):
        if workers < 1 or runs_per_gpu < 1:
            raise ValueError(f"workers and runs_per_gpu must be >= 1, got {workers} and "
                             f"{runs_per_gpu}")
        self.workers = workers
        self.threads = threads
        self.gpus = gpus
        self.runs_per_gpu = runs_per_gpu

    def warm_up(self) -> None:
        """Start the forkserver and wait for its imports, which :meth:`run` otherwise does on
        demand; a no-op process is forked to know it is ready."""
        proc = _context().Process(target=os.getpid, name="medselect-warm-up")
        proc.start()
        proc.join()

    def run(self, jobs: Iterable[RunJob], *, poll: Poll | None = None) -> list[RunOutcome]:
        ctx = _context()
        gpus = _cuda_devices() if self.gpus is None else self.gpus
        free_slots = list(range(self.slots(gpus)))
        queue = iter(jobs)
        drawn: list[RunJob] = []
        running: dict[int, tuple[BaseProcess, RunJob, int]] = {}
        outcomes: dict[str, RunOutcome] = {}
        try:
            while True:
                while free_slots and (job := next(queue, None)) is not None:
                    drawn.append(job)
                    slot = free_slots.pop(0)
                    job = replace(job, threads=self.threads, device=slot_device(slot, gpus))
                    proc = ctx.Process(target=_child, args=(job,), name=f"medselect-{job.run_id}")
                    proc.start()
                    running[proc.sentinel] = (proc, job, slot)
                if not running:
                    break
                for sentinel in wait(list(running), timeout=POLL_SECONDS):
                    proc, job, slot = running.pop(sentinel)  # type: ignore[index]
                    proc.join()
                    free_slots.append(slot)
                    outcomes[job.run_id] = _ending(job, proc)
                if poll:
                    poll()
        except BaseException:
            _stop(running.values())
            for proc, job, _ in running.values():
                outcomes[job.run_id] = settle_lost_run(job, "the sweep was interrupted",
                                                       this_worker(proc.pid))
            raise
        return [outcomes[job.run_id] for job in drawn if job.run_id in outcomes]


    def slots(self, gpus: int) -> int:
        """Runs at once with ``gpus`` GPUs: ``workers``, at most ``runs_per_gpu`` per GPU."""
        return min(self.workers, gpus * self.runs_per_gpu) if gpus else self.workers


def slot_device(slot: int, gpus: int) -> str:
    """The device of worker slot ``slot``: the GPUs taken in turn (slot 2 of 2 GPUs shares
    ``cuda:0`` with slot 0), or ``cpu`` without GPUs."""
    return f"cuda:{slot % gpus}" if gpus else "cpu"


def _child(job: RunJob) -> None:
    from medselect.sweep.worker import execute_run

    outcome = execute_run(job)
    os._exit(0 if outcome.status != RunStatus.INTERRUPTED else 130)


def _ending(job: RunJob, proc: BaseProcess) -> RunOutcome:
    exitcode = proc.exitcode
    if exitcode is not None and exitcode < 0:
        reason = f"worker process was killed by signal {-exitcode} (out of memory, or stopped)"
    else:
        reason = f"worker process exited with code {exitcode} before recording an ending"
    return settle_lost_run(job, reason, this_worker(proc.pid))


def _stop(children) -> None:
    for proc, _, _ in children:
        if proc.is_alive():
            proc.terminate()
    for proc, _, _ in children:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _context() -> mp.context.BaseContext:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return mp.get_context("spawn")


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0
