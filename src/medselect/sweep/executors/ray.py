"""Train jobs as Ray tasks, on a local Ray started here or on an existing cluster.

Each run is one task with its CPU/GPU resources; workers write to the same store as local
runs, so the store URL must be reachable from every node (a shared folder for SQLite, or
PostgreSQL). Ray is an optional extra: ``pip install 'medselect[ray]'``.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from medselect.errors import ConfigError
from medselect.sweep.executors.base import Poll, settle_lost_run
from medselect.sweep.jobs import RunJob, RunOutcome
from medselect.sweep.worker import execute_run

POLL_SECONDS = 0.5
START_ATTEMPTS = 3
"""Tries to start a local Ray whose node timed out registering (a busy machine)."""


class RayExecutor:
    """A list of jobs is submitted at once (Ray schedules them by their resources); an
    iterator is drawn as runs end, ``workers`` in flight at a time.

    Args:
    address: an existing cluster (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); None starts
        a local Ray for this sweep, listening on 127.0.0.1 only, and stops it afterwards.
    threads: CPUs per run.
    gpus: GPUs per run (fractions allowed); 0 trains on CPU.
    num_cpus: CPUs of the local Ray (ignored with ``address``).
    workers: runs in flight when jobs come from an iterator.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        threads: int = 1,
        gpus: float = 0,
        num_cpus: int | None = None,
        workers: int = 1,
    ):
        self.address = address
        self.threads = threads
        self.gpus = gpus
        self.num_cpus = num_cpus
        self.workers = workers

    def run(self, jobs: Iterable[RunJob], *, poll: Poll | None = None) -> list[RunOutcome]:
        queue = iter(jobs)
        first = next(queue, None)
        if first is None:  # nothing to train: no Ray to start
            return []
        in_flight = len(jobs) if isinstance(jobs, Sequence) else self.workers
        queue = itertools.chain([first], queue)
        ray = import_ray()
        with stdout_to_stderr():  # Ray writes to the terminal: never into --json output
            return self._run(ray, queue, in_flight, poll)

    @contextmanager
    def session(self, ray) -> Iterator[None]:
        """Ray connected (to ``address``, or a local Ray started here) for the block; a Ray
        this process had already initialised is used and left running."""
        started_here = not ray.is_initialized()
        if started_here:
            self._connect(ray)
        try:
            yield
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, queue: Iterator[RunJob], in_flight: int,
             poll: Poll | None) -> list[RunOutcome]:
        with self.session(ray):
            task = ray.remote(num_cpus=self.threads, num_gpus=self.gpus, max_retries=0)(
                execute_run
            )
            device = "cuda" if self.gpus else "cpu"
            drawn: list[RunJob] = []
            pending: dict = {}
            outcomes: dict[str, RunOutcome] = {}
            try:
                while True:
                    while len(pending) < in_flight and (job := next(queue, None)) is not None:
                        drawn.append(job)
                        ref = task.remote(replace(job, threads=self.threads, device=device))
                        pending[ref] = job
                    if not pending:
                        break
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                    for ref in ready:
                        job = pending.pop(ref)
                        outcomes[job.run_id] = _collect(ray, ref, job)
                    if poll:
                        poll()
            except BaseException:
                for ref, job in pending.items():
                    ray.cancel(ref, force=True)
                    outcomes[job.run_id] = settle_lost_run(job, "the sweep was interrupted")
                raise
            return [outcomes[job.run_id] for job in drawn if job.run_id in outcomes]

    def _connect(self, ray) -> None:
        if self.address and self.address != "auto":
            check_reachable(self.address)
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                self._start_local(ray)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray"
            raise ConfigError(
                f"cannot start or reach {where}: {exc}".splitlines()[0], param="address"
            ) from exc

    def _start_local(self, ray) -> None:
        """A Ray of its own ("local", even when another runs on this machine), listening on
        127.0.0.1 only. Ray gives its node a fixed 30 s to register, which a machine loaded
        far beyond its cores can miss: that one failure is tried again."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                with single_machine_mode():
                    ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False,
                             log_to_driver=False)
                break
            except Exception as exc:  # Ray raises a bare Exception for this one
                if "timed out during startup" not in str(exc) or attempt == START_ATTEMPTS:
                    raise
                ray.shutdown()
        if not ipaddress.ip_address(address := ray.util.get_node_ip_address()).is_loopback:
            ray.shutdown()
            raise RuntimeError(f"Ray {ray.__version__} gave its node the address {address}, "
                               "not a loopback address: start a head with `ray start --head` "
                               "and pass --address to use it")


@contextmanager
def single_machine_mode() -> Iterator[None]:
    """Ray's single-machine mode while a local Ray starts, so that its node's address is
    127.0.0.1 and every server of it (GCS, raylet, workers, agents) listens there only.

    Ray replaces a node address of 127.0.0.1 (``ray.init(_node_ip_address=...)``,
    ``ray start --node-ip-address``) by the machine's network address so that other machines
    can join, except in this mode, the one Ray uses on macOS and Windows, which
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` selects. The variable reaches the processes Ray
    starts; Ray's constant, read when ``ray`` was first imported, is set for the block too.
    """
    from ray._private import ray_constants

    saved_env = os.environ.get(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR)
    saved_constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_constant
        if saved_env is None:
            os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
        else:
            os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = saved_env


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what is written to file descriptor 1 (by Python, C code or child processes started
    meanwhile) to descriptor 2 until the block ends."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast, before Ray's own long retries, when nothing listens at ``address``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{address!r} is not HOST:PORT, ray://HOST:PORT or auto",
                          param="address")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach a Ray cluster at {address!r} ({exc.strerror or exc}); start one with "
            "`ray start --head` or fix the address", param="address"
        ) from None


def _collect(ray, ref, job: RunJob) -> RunOutcome:
    try:
        return ray.get(ref)
    except Exception as exc:  # the worker process died (RayTaskError, WorkerCrashedError)
        return settle_lost_run(job, f"Ray worker died: {type(exc).__name__}")


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "`executor=` ray needs Ray: pip install 'medselect[ray]' (or -e '.[ray]')"
        ) from None
    return ray
