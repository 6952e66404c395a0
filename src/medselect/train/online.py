"""Values set on a run from outside while it trains (population-based training).

The training loop knows no population: a caller gives a :class:`Continuation`, the state to
start from (the run's own snapshot, or another run's: an exploit) and the values to train with
from then on, and the loop keeps a snapshot of every ``snapshot_every``-th epoch under
``snapshots/`` in the run's folder, where the other members (any process or Ray node sharing the
workspace) can take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from medselect.train.steps import Trainee

SNAPSHOTS = "snapshots"


def snapshot_path(run_dir: Path, epoch: int) -> Path:
    """The snapshot of the run in ``run_dir`` after ``epoch``."""
    return Path(run_dir) / SNAPSHOTS / f"epoch-{epoch:04d}.pt"


def start_path(run_dir: Path, epoch: int) -> Path:
    """The state a run continued from after ``epoch`` when it was another run's (an exploit):
    the donor's weights and optimizer state with the run's new values."""
    return Path(run_dir) / SNAPSHOTS / f"start-{epoch:04d}.pt"


@dataclass(frozen=True)
class Continuation:
    """Where a run continues and with which values.

    Args:
        snapshot_every: keep the state after every such epoch as a snapshot (None: none).
        values: ``learning_rate``, ``weight_decay`` (set on the optimizer) and
            ``augmentation_strength`` (the share of the preset's probabilities), from the
            first epoch trained on; a value not given follows the run's configuration.
        start: a snapshot to continue from (this run's, or another run's with the same
            network), None to start afresh (or resume from ``last.pt``).
    """

    snapshot_every: int | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    start: Path | None = None

    def apply(self, trainee: Trainee) -> None:
        """Set the optimizer's values."""
        keys = {"learning_rate": "lr", "weight_decay": "weight_decay"}
        for name, key in keys.items():
            if name in self.values:
                for group in trainee.optimizer.param_groups:
                    group[key] = float(self.values[name])

    def strength(self, scheduled: float | None) -> float | None:
        """The augmentation strength of an epoch whose schedule says ``scheduled``."""
        if scheduled is None or "augmentation_strength" not in self.values:
            return scheduled
        return min(1.0, max(0.0, float(self.values["augmentation_strength"])))

    def snapshots(self, run_dir: Path, epoch: int) -> list[Path]:
        """Where the state after ``epoch`` is kept besides ``last.pt``."""
        every = self.snapshot_every
        return [snapshot_path(run_dir, epoch)] if every and epoch % every == 0 else []

    def state(self) -> dict[str, dict[str, float]]:
        """What a checkpoint records of the continuation: the values it trained with."""
        return {"values": dict(self.values)} if self.values else {}
