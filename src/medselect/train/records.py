"""What training reports: one record per epoch, one result per run, and the best-epoch tracker."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch; :meth:`metrics` is the row the caller stores.

    Args:
        epoch: 1-based epoch number.
        train_loss: mean training loss over the epoch's batches.
        val_loss: mean validation loss over the validation cases.
        val_metrics: the task plugin's validation metrics (``val_dice``, ...).
        learning_rate: the rate the epoch trained with (before the schedule stepped).
        epoch_time_s: wall time of training plus validation.
        augmentation_strength: the share (0..1) of the preset's probabilities the epoch
            augmented with (``augmentation_ramp``); None without online augmentation.
        device_metrics: what the device measured (``gpu_utilization``, percent;
            ``gpu_memory_peak_mb``); empty where it cannot tell (CPU).
    """

    epoch: int
    train_loss: float
    val_loss: float
    val_metrics: dict[str, float]
    learning_rate: float
    epoch_time_s: float
    augmentation_strength: float | None = None
    device_metrics: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Every number of the epoch by name, ready for ``store.add_epoch_metrics``."""
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            **self.val_metrics,
            "learning_rate": self.learning_rate,
            "epoch_time_s": self.epoch_time_s,
            **({} if self.augmentation_strength is None
               else {"augmentation_strength": self.augmentation_strength}),
            **self.device_metrics,
        }


@dataclass(frozen=True)
class TrainResult:
    """How a run ended.

    Args:
        epochs_run: the last epoch trained (counting epochs of earlier, resumed attempts).
        resumed_from: the epoch restored from ``last.pt`` (0 for a fresh start).
        metric: the validation metric that chose the best epoch.
        best_metric: its best value (NaN if it never had one).
        best_epoch: the epoch of ``best_checkpoint``.
        stopped_early: early stopping ended the run before ``epochs``.
        device: where it trained (``cpu``, ``cuda:0``).
        pruned: the caller's ``should_stop`` (a sweep's pruner) ended the run.
    """

    epochs_run: int
    resumed_from: int
    metric: str
    best_metric: float
    best_epoch: int
    best_checkpoint: Path
    last_checkpoint: Path
    n_parameters: int
    device: str
    stopped_early: bool
    pruned: bool = False


@dataclass
class BestTracker:
    """Follows one metric across epochs: the best value, its epoch, and when to stop.

    An epoch improves on the best when its value is strictly better; a NaN never improves
    (but the first epoch is always the best so far, so ``best.pt`` always exists).
    """

    metric: str
    mode: Literal["max", "min"]
    patience: int | None = None
    best: float = math.nan
    best_epoch: int = 0
    epoch: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record ``value`` for ``epoch``; True if it is the new best."""
        self.epoch = epoch
        better = (
            self.best_epoch == 0
            or (not math.isnan(value) and math.isnan(self.best))
            or (value > self.best if self.mode == "max" else value < self.best)
        )
        if better:
            self.best, self.best_epoch = float(value), epoch
        return better

    def keep_latest(self, epoch: int) -> bool:
        """Record ``epoch`` as the best without a value: a run with no validation cases (a
        refit on all of train + val) keeps its last epoch. Always True."""
        self.epoch = self.best_epoch = epoch
        return True

    @property
    def should_stop(self) -> bool:
        """``patience`` epochs have passed without improvement."""
        return self.patience is not None and self.epoch - self.best_epoch >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best_metric": self.best, "best_epoch": self.best_epoch, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])
        self.epoch = int(state["epoch"])
