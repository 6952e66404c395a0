"""The contract every executor meets, and the bookkeeping they share.

An executor trains :class:`RunJob` s and returns one :class:`RunOutcome` per job, in the order it
drew them. A list is all known at once; an iterator is drawn one job per free worker slot, so
each job may depend on how the ones before it ended (an Optuna study asks its next trial only
then). The worker writes status, epochs and errors to the store itself; the executor only
notices workers that died without saying so (killed, out of memory) and records those runs as
interrupted, so the next ``sweep run`` resumes them from their last checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from medselect.store import RunStatus, get_run, upsert_run
from medselect.sweep.jobs import RunJob, RunOutcome

#: A worker that dies this many times on one run gets the run marked failed, not retried.
MAX_ATTEMPTS = 3

Poll = Callable[[], None]


class Executor(Protocol):
    """Runs training jobs somewhere and reports how each ended."""

    name: str

    def run(self, jobs: Iterable[RunJob], *, poll: Poll | None = None) -> list[RunOutcome]:
        """Train every job; call ``poll`` about twice a second so callers can show progress."""
        ...


def settle_lost_run(job: RunJob, reason: str, worker: str | None = None) -> RunOutcome:
    """Record a run whose worker vanished: interrupted (resumable) or, after repeats, failed.

    Args:
        worker: ``host:pid`` of the vanished process when known; a run another process has
            claimed since is left alone.
    """
    ws = job.open_workspace()
    try:
        with ws.begin() as conn:
            row = get_run(conn, job.run_id)
            if row["status"] != RunStatus.RUNNING or (worker and row["worker"] != worker):
                return RunOutcome(job.run_id, row["status"], row["error"])
            status = (RunStatus.FAILED if row["attempts"] >= MAX_ATTEMPTS
                      else RunStatus.INTERRUPTED)
            error = f"{reason} (attempt {row['attempts']} of {MAX_ATTEMPTS})"
            upsert_run(conn, {"id": job.run_id, "status": status, "error": error})
            return RunOutcome(job.run_id, status, error)
    finally:
        ws.dispose()
