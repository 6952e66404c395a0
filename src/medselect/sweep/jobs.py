"""What an executor hands to a worker, and what it gets back.

Jobs are small picklable values: a worker opens the workspace itself, because database
connections and models must not cross process (or Ray node) boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from medselect.config.search import PrunerSpec
from medselect.config.sweep import SweepSpec
from medselect.store import Workspace, database_url

EXPLOITS = "population_exploits"
"""Key of a population member's run details: its exploit events, in order (each: ``epoch``,
``donor``, ``donor_epoch``, ``donor_checkpoint``, and the mutated values ``from`` -> ``to``)."""


class StudyObjective(NamedTuple):
    """One value a study optimises: a validation metric at the run's best epoch (or
    ``parameters``), and ``maximize`` or ``minimize``."""

    metric: str
    direction: str


@dataclass(frozen=True)
class StudySpec:
    """What a worker needs of a sweep's Optuna study (strategy ``optuna``).

    Args:
        name: the study's name in the workspace database (``<sweep>@<dataset version>``).
        objectives: what the study optimises, in order.
        best_epoch_metric: the metric and mode (``max``/``min``) that pick a run's best epoch,
            where the objectives are read.
        pruner: how losing runs are stopped.
        max_epochs: the most epochs a run of the space trains (the halving pruners' resource).
    """

    name: str
    objectives: tuple[StudyObjective, ...]
    best_epoch_metric: tuple[str, str]
    pruner: PrunerSpec
    max_epochs: int


@dataclass(frozen=True)
class TrialRef:
    """The trial of ``study`` whose run a job trains: the worker reports each epoch to it and
    tells it how the run ended."""

    study: StudySpec
    number: int


@dataclass(frozen=True)
class MemberRef:
    """A job's place in a population (strategy ``pbt``), as a Ray Tune trial starts it.

    Args:
        snapshot_every: the perturbation interval: every such epoch's state is kept and
            offered to Tune's scheduler.
        metric: the validation metric the scheduler compares members by.
        epochs: the members' epochs; the last is not reported (nothing follows to exploit).
        values: the trial's mutated values now, ``(name, value)`` pairs.
        source: ``(run id, epoch)`` of the snapshot to continue from (the member's own, or a
            donor's after an exploit); None for a first start.
    """

    snapshot_every: int
    metric: str
    epochs: int
    values: tuple[tuple[str, float], ...] = ()
    source: tuple[str, int] | None = None


@dataclass(frozen=True)
class DataPipeline:
    """How a worker feeds its run (the sweep's ``cache`` and ``loader_workers``).

    Args:
        cache: read prepared cases from the workspace's cache, and leave there those it
            prepares, so the runs of a sweep prepare each case once (:mod:`medselect.train.cache`).
        loader_workers: data-loader worker processes; None: none on CPU, a few with pinned
            memory and prefetch on CUDA (:mod:`medselect.train.loader`).
    """

    cache: bool = True
    loader_workers: int | None = None

    @classmethod
    def of(cls, sweep: SweepSpec) -> DataPipeline:
        """The pipeline an experiment's ``sweep`` section asks for."""
        return cls(cache=sweep.cache, loader_workers=sweep.loader_workers)


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
        trial: the Optuna trial the run answers (strategy ``optuna``), else None.
        pipeline: how the run's cases are prepared and loaded.
        member: the run's place in a population (strategy ``pbt``), else None.
    """

    run_id: str
    workspace: str
    url: str | None = None
    threads: int = 1
    device: str | None = None
    trial: TrialRef | None = None
    pipeline: DataPipeline = DataPipeline()
    member: MemberRef | None = None

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
