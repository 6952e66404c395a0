"""Train one run of the store: the function every executor calls, in whatever process.

It opens the workspace itself, records its own progress (status, epochs, checkpoints, errors)
and never lets an exception escape, so one bad configuration cannot stop a sweep. A job of an
Optuna study also reports to its trial (:mod:`medselect.sweep.trial_report`), a member of a
population to its Ray Tune trial (:mod:`medselect.sweep.member`). torch, Optuna and Ray are
imported only inside, so executors that merely import this module stay light.
"""

from __future__ import annotations

import os
import socket
import sys
import traceback as tb
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from medselect.store import (
    RunStatus,
    Workspace,
    add_epoch_metrics,
    get_cases,
    get_run,
    get_task,
    serialize,
    set_run_status,
    upsert_run,
)
from medselect.sweep.jobs import RunJob, RunOutcome


def execute_run(job: RunJob) -> RunOutcome:
    """Train ``job.run_id`` to the end (resuming from its last checkpoint) and record the result;
    with ``job.trial``, report it to its Optuna trial as it trains and tell the trial the end;
    with ``job.member``, report it to its Ray Tune trial and continue where Tune says."""
    ws = job.open_workspace()
    try:
        restarted = job.member is not None and job.member.source is not None
        claimed = claim_run(ws, job.run_id, take_over=restarted)
        if isinstance(claimed, RunOutcome):
            return claimed
        run, task, cases = claimed
        with ExitStack() as stack:
            trial = None
            continuation = None
            try:
                if job.trial is not None:
                    from medselect.sweep.trial_report import TrialReport

                    trial = stack.enter_context(TrialReport(ws, job.trial))
                elif job.member is not None:
                    from medselect.sweep.member import MemberReport

                    trial = stack.enter_context(MemberReport(ws, job.run_id, job.member))
                    continuation = trial.continuation
                result = _train(ws, run, task, cases, job,
                                should_stop=trial.should_stop if trial else None,
                                continuation=continuation)
            except KeyboardInterrupt:
                return _record_end(ws, job.run_id, RunStatus.INTERRUPTED,
                                   "interrupted; resumes on the next run")
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}".splitlines()[0]
                outcome = _record_end(ws, job.run_id, RunStatus.FAILED, message, tb.format_exc())
            else:
                status = RunStatus.PRUNED if result.pruned else RunStatus.FINISHED
                with ws.begin() as conn:
                    set_run_status(
                        conn, job.run_id, status,
                        checkpoint_uri=ws.relative(result.best_checkpoint),
                        best_metric=result.best_metric, n_parameters=result.n_parameters,
                        device=result.device,
                    )
                outcome = RunOutcome(job.run_id, status)
            if trial is not None:
                trial.settle(job.run_id)
            return outcome
    finally:
        ws.dispose()


def claim_run(ws: Workspace, run_id: str, *, take_over: bool = False
              ) -> RunOutcome | tuple[dict, dict, list[dict]]:
    """Mark ``run_id`` running for this process and return it with its task and cases; or the
    outcome to report when it is finished or another live worker trains it.

    One write transaction that holds the run's lock from the read to the write, so of several
    sweeps claiming the same run (on any engine) exactly one trains it.

    Args:
        take_over: claim a running run even when its worker may still live (a population
            member that Ray Tune paused and restarts: the old worker is Tune's to stop).
    """
    with ws.begin() as conn:
        serialize(conn, f"run:{run_id}")
        run = get_run(conn, run_id)
        if run["status"] == RunStatus.FINISHED or (run["status"] == RunStatus.RUNNING
                                         and not take_over and worker_alive(run["worker"])):
            return RunOutcome(run_id, run["status"], f"left to {run['worker']}"
                              if run["status"] == RunStatus.RUNNING else None)
        if not (take_over and run["status"] == RunStatus.RUNNING):  # a restart: same attempt
            run = set_run_status(conn, run_id, RunStatus.RUNNING)
        upsert_run(conn, {"id": run_id, "worker": this_worker()})
        return run, get_task(conn, run["task"]), get_cases(conn, run["dataset_version"])


def this_worker(pid: int | None = None) -> str:
    """``host:pid`` of a worker process, as the run row records it; inside a Ray task
    ``host/ray-<node>:pid``, so the row also says which Ray node trains the run."""
    node = _ray_node()
    host = f"{socket.gethostname()}/ray-{node}" if node else socket.gethostname()
    return f"{host}:{pid or os.getpid()}"


def _ray_node() -> str | None:
    """The first characters of this process's Ray node id, when it is a Ray worker."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    return ray.get_runtime_context().get_node_id()[:8]


def worker_alive(worker: str | None) -> bool:
    """Whether the process recorded as training a run still runs on this host.

    A worker on another host cannot be checked from here and counts as gone, so a run left
    ``running`` by a crashed node is taken over by the next sweep.
    """
    host, _, pid = (worker or "").rpartition(":")
    host = host.split("/ray-")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _train(ws: Workspace, run: dict[str, Any], task: dict[str, Any], cases, job: RunJob,
           should_stop: Callable[[Any], bool] | None = None, continuation=None):
    from medselect.config import RunConfig, TaskSpec
    from medselect.data.folds import run_cases
    from medselect.tasks import plugin_for_task
    from medselect.train import StoredCases, cache_folder, case_reader, train_model

    config = RunConfig.model_validate(run["config"])
    spec = TaskSpec.model_validate(task["config"])
    plugin = plugin_for_task(spec, config)
    details = run.get("details") or {}
    cache = (cache_folder(ws.root, run["dataset_version"]) if job.pipeline.cache else None)
    read = case_reader(ws.path, plugin.target_attribute)
    roles = {"train": "training set", "val": "validation set"}
    data = {split: StoredCases(part, read, cache, role=roles[split])
            for split, part in run_cases(cases, config.cv).items()}

    def record_epoch(epoch) -> None:
        with ws.begin() as conn:
            add_epoch_metrics(conn, run["id"], epoch.epoch, epoch.metrics())

    return train_model(
        config, plugin, spec, data["train"], data["val"],
        out_dir=ws.path(f"runs/{run['id']}"), on_epoch=record_epoch, resume=True,
        early_stopping_metric=details.get("early_stopping_metric"),
        deterministic=bool(details.get("deterministic", False)),
        threads=job.threads, device=job.device, should_stop=should_stop,
        workers=job.pipeline.loader_workers, continuation=continuation,
    )


def _record_end(
    ws: Workspace, run_id: str, status: str, error: str, traceback: str | None = None
) -> RunOutcome:
    with ws.begin() as conn:
        set_run_status(conn, run_id, status, error=error, traceback=traceback)
    return RunOutcome(run_id, status, error)
