"""One training epoch and one validation pass, for any task kind (the plugin does the rest)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from medselect.errors import TrainingError
from medselect.train.device import autocast

if TYPE_CHECKING:
    from torch.optim.lr_scheduler import LRScheduler

    from medselect.tasks.base import TaskPlugin

Batch = dict[str, torch.Tensor]


@dataclass
class Trainee:
    """Everything an epoch updates: the model and the objects that move it."""

    model: torch.nn.Module
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: LRScheduler | None
    scaler: torch.amp.GradScaler
    device: torch.device

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def train_epoch(trainee: Trainee, batches: Iterable[Batch], epoch: int) -> float:
    """One pass over the training batches; the mean batch loss.

    Raises:
        TrainingError: a loss is NaN or infinite (the message names the epoch and batch).
    """
    trainee.model.train()
    total, count = 0.0, 0
    for index, batch in enumerate(batches, start=1):
        image, target = _to(batch, trainee.device)
        trainee.optimizer.zero_grad(set_to_none=True)
        with autocast(trainee.device):
            loss = trainee.loss_fn(trainee.model(image), target)
        _check_finite(loss, "training", epoch, index)
        trainee.scaler.scale(loss).backward()
        trainee.scaler.step(trainee.optimizer)
        trainee.scaler.update()
        total, count = total + loss.item(), count + 1
    return total / max(count, 1)


@torch.no_grad()
def validate(
    trainee: Trainee, batches: Iterable[Batch], plugin: TaskPlugin, epoch: int
) -> tuple[float, dict[str, float]]:
    """Mean validation loss and the plugin's metrics, each averaged over cases.

    Batch values are weighted by batch size; a metric that is NaN for a batch (undefined there)
    is left out of its mean, and is NaN only if it is undefined for every batch.
    """
    trainee.model.eval()
    sums: dict[str, float] = {}
    weights: dict[str, int] = {}
    for index, batch in enumerate(batches, start=1):
        image, target = _to(batch, trainee.device)
        with autocast(trainee.device):
            logits = trainee.model(image)
            loss = trainee.loss_fn(logits, target)
        _check_finite(loss, "validation", epoch, index)
        values = {"val_loss": loss.item()} | plugin.validation_metrics(logits.float(), target)
        for name, value in values.items():
            if not math.isnan(value):
                sums[name] = sums.get(name, 0.0) + value * len(image)
                weights[name] = weights.get(name, 0) + len(image)
    means = {name: sums[name] / weights[name] for name in sums}
    metrics = {name: means.get(name, math.nan) for name in plugin.metrics}
    return means.get("val_loss", math.nan), metrics


def _to(batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return (batch["image"].to(device, non_blocking=True),
            batch["label"].to(device, non_blocking=True))


def _check_finite(loss: torch.Tensor, phase: str, epoch: int, batch: int) -> None:
    if not torch.isfinite(loss):
        what = "NaN" if torch.isnan(loss) else "infinite"
        raise TrainingError(
            f"{phase} loss became {what} at epoch {epoch} (batch {batch}); lower learning_rate, "
            "try another loss or check the images for NaN values"
        )
