"""What an executor hands to a worker, and what it gets back.

Jobs are small picklable values: a worker opens the workspace itself, because database
connections and models must not cross process (or Ray node) boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medselect.store import Workspace, database_url

#: Run statuses after a worker is done with a job.
FINISHED, FAILED, INTERRUPTED = "finished", "failed", "interrupted"


@dataclass(frozen=True)
class RunJob:
    """Train one run of the store.

    Args:
        run_id: the run row to train (its config and dataset version are in the store).
        workspace: workspace folder.
        url: the database URL without its password (a worker finds the password in its own
            environment: PGPASSWORD, ~/.pgpass or MEDSELECT_DB_URL), so none travels in jobs;
            None: the folder's own database (its workspace.toml, else its SQLite file).
        threads: CPU threads the worker may use.
        device: ``cpu``, ``cuda`` or ``cuda:N``; None picks CUDA when present.
    """

    run_id: str
    workspace: str
    url: str | None = None
    threads: int = 1
    device: str | None = None

    def open_workspace(self) -> Workspace:
        """The job's workspace on the job's database; without a URL the folder's own, never a
        MEDSELECT_DB_URL the worker process happened to inherit (a pool outlives commands)."""
        root = Path(self.workspace)
        return Workspace.open(root, self.url or database_url(root, environment=False))


@dataclass(frozen=True)
class RunOutcome:
    """How a job ended; the store holds the details (epochs, error, traceback)."""

    run_id: str
    status: str
    error: str | None = None
