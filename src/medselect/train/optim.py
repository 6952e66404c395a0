"""Optimisers and learning-rate schedules named by a run configuration.

Schedules step once per epoch and are torch's own classes (no lambdas), so their state dicts
hold plain numbers and load with ``weights_only=True``:

- ``cosine``: cosine annealing from ``learning_rate`` to 0 over ``epochs``;
- ``step``: divide by 10 every third of the run (at least every epoch);
- ``poly``: ``(1 - epoch / epochs) ** 0.9``, nnU-Net's schedule.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from medselect.config.choices import Optimizer, Scheduler
from medselect.config.run import RunConfig

#: Momentum of SGD (Nesterov off), the common default for segmentation networks.
SGD_MOMENTUM = 0.9


def build_optimizer(
    config: RunConfig, parameters: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """The optimiser of ``config`` with its learning rate and weight decay."""
    options = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    if config.optimizer == Optimizer.ADAM:
        return torch.optim.Adam(parameters, **options)
    if config.optimizer == Optimizer.ADAMW:
        return torch.optim.AdamW(parameters, **options)
    return torch.optim.SGD(parameters, momentum=SGD_MOMENTUM, **options)


def build_scheduler(
    config: RunConfig, optimizer: torch.optim.Optimizer
) -> lr_scheduler.LRScheduler | None:
    """The per-epoch schedule of ``config``, or None for a constant learning rate."""
    if config.scheduler == Scheduler.COSINE:
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == Scheduler.STEP:
        return lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    if config.scheduler == Scheduler.POLY:
        return lr_scheduler.PolynomialLR(optimizer, total_iters=config.epochs, power=0.9)
    return None
