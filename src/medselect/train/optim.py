"""Optimisers and learning-rate schedules named by a run configuration.

Schedules step once per epoch and are torch's own classes (no lambdas), so their state dicts
hold plain numbers and load with ``weights_only=True``:

- ``cosine``: cosine annealing from ``learning_rate`` to 0 over ``epochs``;
- ``step``: divide by 10 every third of the run (at least every epoch);
- ``poly``: ``(1 - epoch / epochs) ** 0.9``, nnU-Net's schedule;
- ``one_cycle``: Smith's one cycle (``OneCycleLR``): from ``learning_rate / 25`` up to
  ``learning_rate`` over the first ``warmup_epochs`` (default 30 % of the run), then cosine
  down to ``learning_rate / 25e4``; it also cycles the momentum (SGD) or Adam's beta1.

``warmup_epochs`` w puts a linear warm-up before any other schedule: epoch e <= w trains at
``learning_rate * e / (w + 1)``, and the schedule then runs over the remaining ``epochs - w``
epochs from the full rate (``LinearLR`` then the schedule, in a ``SequentialLR``). MONAI's
``WarmupCosineSchedule`` is not used: it trains its first epoch at a rate of 0 and has no
warm-up for the other schedules.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from medselect.config.choices import Optimizer, Scheduler
from medselect.config.run import RunConfig

#: Momentum of SGD (Nesterov off), the common default for segmentation networks.
SGD_MOMENTUM = 0.9
#: One cycle's share of the epochs spent rising when ``warmup_epochs`` is not given
#: (``OneCycleLR``'s default).
ONE_CYCLE_RISE = 0.3


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
    """The per-epoch schedule of ``config`` (warm-up included), or None for a constant rate."""
    if config.scheduler == Scheduler.ONE_CYCLE:
        rise = (config.warmup_epochs / config.epochs if config.warmup_epochs
                else ONE_CYCLE_RISE)
        return lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate,
                                       total_steps=config.epochs, pct_start=rise)
    warmup = config.warmup_epochs or 0
    main = _schedule(config.scheduler, optimizer, config.epochs - warmup)
    if not warmup:
        return main
    rising = lr_scheduler.LinearLR(optimizer, start_factor=1 / (warmup + 1), total_iters=warmup)
    if main is None:
        return rising
    return lr_scheduler.SequentialLR(optimizer, [rising, main], milestones=[warmup])


def _schedule(
    name: Scheduler, optimizer: torch.optim.Optimizer, epochs: int
) -> lr_scheduler.LRScheduler | None:
    if name == Scheduler.COSINE:
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == Scheduler.STEP:
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == Scheduler.POLY:
        return lr_scheduler.PolynomialLR(optimizer, total_iters=epochs, power=0.9)
    return None
