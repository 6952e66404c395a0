"""A sweep's progress as the store tells it: the same view for local and Ray executors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from medselect.config import stored_cv
from medselect.store import RunStatus, Workspace, latest_epoch_metrics, list_runs

ENDED = (RunStatus.FINISHED, RunStatus.PRUNED, RunStatus.FAILED)
"""Statuses of runs a sweep is done with."""


@dataclass(frozen=True)
class RunningRun:
    run_id: str
    label: str  # architecture/loss/augmentation[ fold k/K]
    epoch: int | None
    epochs: int
    loss: float | None


@dataclass(frozen=True)
class SweepSnapshot:
    """Counts by status, the running runs' latest epoch, and an ETA."""

    total: int
    counts: dict[str, int]
    running: list[RunningRun] = field(default_factory=list)
    eta_s: float | None = None

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ENDED)


class SweepMonitor:
    """Reads the progress of ``run_ids`` from the store; ETA from this session's pace.

    ``run_ids`` is read at every snapshot, so a collection that grows while the sweep runs (a
    study's runs) is followed as it grows.
    """

    def __init__(self, ws: Workspace, run_ids: Collection[str]):
        self.ws = ws
        self.run_ids = run_ids
        self.started = time.monotonic()
        self._done_at_start: int | None = None

    def snapshot(self) -> SweepSnapshot:
        with self.ws.connect() as conn:
            runs = [r for r in list_runs(conn) if r["id"] in self.run_ids]
            running = [r for r in runs if r["status"] == RunStatus.RUNNING]
            epochs = latest_epoch_metrics(conn, [r["id"] for r in running])
        counts = Counter(r["status"] for r in runs)
        done = sum(counts[s] for s in ENDED)
        if self._done_at_start is None:
            self._done_at_start = done
        finished_now = done - self._done_at_start
        remaining = len(runs) - done
        elapsed = time.monotonic() - self.started
        eta = elapsed / finished_now * remaining if finished_now and remaining else None
        return SweepSnapshot(
            total=len(runs), counts=dict(counts), eta_s=eta,
            running=[_running(r, epochs.get(r["id"])) for r in running],
        )


def _running(row, latest) -> RunningRun:
    config = row["config"]
    epoch, values = latest if latest else (None, {})
    cv = stored_cv(config)
    return RunningRun(
        run_id=row["id"],
        label=f"{config['architecture']}/{config['loss']}/{config['augmentation']}"
              + (f" {cv.describe()}" if cv else ""),
        epoch=epoch, epochs=int(config["epochs"]), loss=values.get("train_loss"),
    )
