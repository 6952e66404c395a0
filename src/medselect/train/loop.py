"""Train one run: the function a sweep worker calls, for any task kind.

The loop knows nothing of segmentation: output channels, loss, target preparation and
validation metrics come from the task plugin. Each epoch is reported to ``on_epoch`` (the
caller stores it) and then checkpointed, ``best.pt`` when the chosen metric improved and
``last.pt`` always; a run that is called again resumes after the last checkpointed epoch.
Each epoch reseeds torch, the shuffling and the augmentation from ``(seed, epoch)``, so a
resumed run draws what an uninterrupted one would have. A caller's ``should_stop`` (a sweep's
pruner, which the loop knows only as a callback) may end a run after any checkpointed epoch.
Every epoch records its learning rate and augmentation strength (the run's schedules) and,
on CUDA, the GPU's utilisation and peak memory. A population-based training member gets a
:class:`~medselect.train.online.Continuation`: the state it continues from (possibly another
member's) and the values it trains with, and keeps snapshots for the other members.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from medselect.config.choices import AugmentationPreset, did_you_mean
from medselect.config.run import RunConfig, config_hash
from medselect.errors import ConfigError, TrainingError
from medselect.tasks.base import MetricGoal, as_task_info
from medselect.train.checkpoint import load_checkpoint, save_checkpoint
from medselect.train.dataset import CaseDataset, StoredCases, TrainingData, build_dataset
from medselect.train.device import grad_scaler, limit_threads, seed_everything, select_device
from medselect.train.gpu_usage import GpuUsage
from medselect.train.loader import loader_workers, make_loader
from medselect.train.online import Continuation, snapshot_path, start_path
from medselect.train.optim import build_optimizer, build_scheduler
from medselect.train.records import BestTracker, EpochRecord, TrainResult
from medselect.train.steps import Trainee, train_epoch, validate
from medselect.train.zoo import build_network, check_network_input, count_parameters

if TYPE_CHECKING:
    from medselect.tasks.base import TaskLike, TaskPlugin

BEST, LAST = "best.pt", "last.pt"


def train_model(
    config: RunConfig,
    plugin: TaskPlugin,
    task: TaskLike,
    train: TrainingData | StoredCases,
    val: TrainingData | StoredCases,
    *,
    out_dir: Path,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    resume: bool = True,
    early_stopping_metric: str | None = None,
    threads: int | None = None,
    device: str | None = None,
    deterministic: bool = False,
    should_stop: Callable[[EpochRecord], bool] | None = None,
    workers: int | None = None,
    continuation: Continuation | None = None,
) -> TrainResult:
    """Train ``config`` on ``train``, validating on ``val`` every epoch.

    An empty ``val`` (a cross-validation refit on all of train + val) trains without
    validation: every epoch's checkpoint becomes ``best.pt``, so the last epoch is kept.

    Args:
        out_dir: where ``best.pt`` and ``last.pt`` are written (one folder per run).
        on_epoch: called with each finished epoch's record, before it is checkpointed.
        resume: continue after the epoch saved in ``out_dir/last.pt`` when it exists.
        early_stopping_metric: the validation metric that picks the best epoch and stops the
            run after ``config.early_stopping_patience`` epochs without improvement; the
            plugin's primary metric when None (``val_loss`` is also accepted).
        threads: CPU threads torch may use in this process.
        device: ``cpu``, ``cuda`` or ``cuda:N``; CUDA when present if None.
        deterministic: ask torch for deterministic kernels (slower on GPU).
        should_stop: asked after each checkpointed epoch whether to stop the run there (a
            sweep's pruner); a run it stops is ``pruned`` in the result.
        workers: data-loader worker processes (:mod:`medselect.train.loader`); None: none on
            CPU, a few with pinned memory and prefetch on CUDA.
        continuation: values set from outside (population-based training): the snapshot to
            continue from instead of ``last.pt``, the learning rate, weight decay and
            augmentation strength to train with, and which epochs to keep as snapshots.

    Raises:
        ConfigError: the configuration cannot train on this task (sizes, batch size, metric).
        DataError: a case does not fit the task (the message names it).
        TrainingError: the loss became NaN, or ``last.pt`` cannot be resumed from.
    """
    task = as_task_info(task)
    goal = check_run(config, plugin, task, len(train), early_stopping_metric=early_stopping_metric)
    train.check(task, "training set")
    validating = len(val) > 0
    if validating:
        val.check(task, "validation set")
    elif config.early_stopping_patience is not None:
        raise ConfigError("early_stopping_patience: a run without validation cases (a refit on "
                          "all of train + val) cannot stop early; leave it unset")
    limit_threads(threads)
    where = select_device(device)
    seed_everything(config.seed, deterministic=deterministic)

    train_set = build_dataset(train, config, plugin, task, training=True)
    val_set = build_dataset(val, config, plugin, task, training=False)
    model = build_network(config, spatial_dims=task.spatial_dims, in_channels=task.in_channels,
                          out_channels=plugin.out_channels(task), plugin=plugin).to(where)
    optimizer = build_optimizer(config, model.parameters())
    trainee = Trainee(model, plugin.build_loss(config.loss, task), optimizer,
                      build_scheduler(config, optimizer), grad_scaler(where), where)
    tracker = BestTracker(goal.name, goal.mode, config.early_stopping_patience)
    out_dir = Path(out_dir)
    fingerprint = _fingerprint(config)
    start = 0
    online = continuation or Continuation()
    if online.start is not None:
        start = _continue(online, out_dir, trainee, tracker, fingerprint)
    elif resume and (out_dir / LAST).exists():
        start = _restore(out_dir / LAST, trainee, tracker, fingerprint)
    online.apply(trainee)

    pruned = False
    feed = _Feed(train_set, val_set, config.batch_size, loader_workers(where, workers),
                 GpuUsage(where))
    for epoch in range(start + 1, config.epochs + 1):
        if tracker.should_stop or pruned:
            break
        record = _run_epoch(trainee, feed, plugin, config, epoch, online)
        improved = (tracker.update(epoch, record.metrics()[goal.name]) if validating
                    else tracker.keep_latest(epoch))
        if on_epoch is not None:
            on_epoch(record)
        state = (trainee.state_dict() | tracker.state_dict() | {"fingerprint": fingerprint}
                 | online.state())
        kept = online.snapshots(out_dir, epoch) if epoch < config.epochs else []
        copies = [*([out_dir / BEST] if improved else []), *kept]
        save_checkpoint(out_dir / LAST, state, copies=copies)
        stop = should_stop is not None and should_stop(record)  # asked at every epoch
        pruned = stop and epoch < config.epochs

    return TrainResult(
        epochs_run=tracker.epoch, resumed_from=start, metric=goal.name,
        best_metric=tracker.best, best_epoch=tracker.best_epoch,
        best_checkpoint=out_dir / BEST, last_checkpoint=out_dir / LAST,
        n_parameters=count_parameters(model), device=str(where),
        stopped_early=tracker.should_stop and tracker.epoch < config.epochs, pruned=pruned,
    )


def check_run(
    config: RunConfig, plugin: TaskPlugin, task: TaskLike, n_train_cases: int,
    *, early_stopping_metric: str | None = None,
) -> MetricGoal:
    """Every check of a run that needs neither data nor a network; the metric that will pick
    its best epoch. :func:`train_model` calls it first; a sweep can call it for every
    configuration before any training starts.

    Raises:
        ConfigError: naming the field: input size, loss, classes, batch size or stopping metric.
    """
    task = as_task_info(task)
    goal = stopping_goal(plugin, early_stopping_metric)
    check_network_input(config, task.spatial_dims, plugin)
    plugin.out_channels(task)
    plugin.check_loss(config.loss)
    _check_batch_size(config, n_train_cases)
    return goal


class _Feed(NamedTuple):
    """The datasets of a run, how their batches are loaded, and what the device measures."""

    train: CaseDataset
    val: CaseDataset
    batch_size: int
    workers: int
    usage: GpuUsage


def augmentation_strength(config: RunConfig, epoch: int) -> float | None:
    """The share of the preset's probabilities epoch ``epoch`` augments with: rising linearly to
    1 over ``augmentation_ramp`` epochs; None without online augmentation."""
    if config.augmentation == AugmentationPreset.NONE:
        return None
    return min(1.0, epoch / config.augmentation_ramp) if config.augmentation_ramp else 1.0


def _run_epoch(
    trainee: Trainee, feed: _Feed, plugin: TaskPlugin, config: RunConfig, epoch: int,
    online: Continuation,
) -> EpochRecord:
    started = time.perf_counter()
    seed = (config.seed * 10_000 + epoch) % 2**32
    torch.manual_seed(seed)
    feed.train.reseed(seed)
    strength = online.strength(augmentation_strength(config, epoch))
    if strength is not None:
        feed.train.set_strength(strength)
    device = trainee.device
    shuffled = make_loader(feed.train, batch_size=feed.batch_size, device=device,
                           workers=feed.workers, shuffle_seed=seed)
    in_order = make_loader(feed.val, batch_size=feed.batch_size, device=device,
                           workers=feed.workers)
    learning_rate = trainee.learning_rate
    feed.usage.start()
    train_loss = train_epoch(trainee, shuffled, epoch)
    val_loss, metrics = validate(trainee, in_order, plugin, epoch)
    measured = feed.usage.stop()
    if trainee.scheduler is not None:
        trainee.scheduler.step()
    return EpochRecord(epoch, train_loss, val_loss, metrics, learning_rate,
                       time.perf_counter() - started, strength, measured)


def stopping_goal(plugin: TaskPlugin, name: str | None) -> MetricGoal:
    """The metric and mode that pick a run's best epoch (and stop it early): ``name``, or the
    plugin's primary metric when None.

    Raises:
        ConfigError: the plugin reports no metric ``name``.
    """
    if name is None:
        return plugin.primary_metric
    modes: dict[str, Any] = {"val_loss": "min", **plugin.metrics}
    if name not in modes:
        raise ConfigError(
            f"early_stopping_metric: {plugin.kind} training reports no metric {name!r}; "
            f"{did_you_mean(name, list(modes))}choose one of: {', '.join(modes)}"
        )
    return MetricGoal(name, modes[name])


def _check_batch_size(config: RunConfig, n_cases: int) -> None:
    samples = n_cases * (1 + config.offline_augmentation)
    if config.batch_size > samples:
        copies = f" x (1 + {config.offline_augmentation} offline copies)"
        raise ConfigError(
            f"batch_size {config.batch_size} is larger than the training set ({n_cases} cases"
            f"{copies if config.offline_augmentation else ''} = {samples} samples); "
            "lower batch_size"
        )


def _fingerprint(config: RunConfig) -> str:
    """The configuration a checkpoint belongs to; ``epochs`` may grow between attempts. The
    members of a population share it: they differ only by values a continuation sets."""
    update: dict[str, Any] = {"epochs": 1}
    if config.population is not None:
        update |= {"population": None, "learning_rate": 1.0, "weight_decay": 0.0}
    return config_hash(config.model_copy(update=update))


def _continue(online: Continuation, out_dir: Path, trainee: Trainee, tracker: BestTracker,
              fingerprint: str) -> int:
    """Load ``online.start``; the run's own curve (its tracker) comes from its own snapshot of
    that epoch. Continuing from another run's snapshot, keep the state started from."""
    path = Path(online.start)  # type: ignore[arg-type]
    epoch = _restore(path, trainee, tracker, fingerprint)
    own = snapshot_path(out_dir, epoch)
    if own.resolve() != path.resolve():
        if own.exists():
            tracker.load_state_dict(load_checkpoint(own, fingerprint=fingerprint))
        online.apply(trainee)
        save_checkpoint(start_path(out_dir, epoch),
                        trainee.state_dict() | tracker.state_dict()
                        | {"fingerprint": fingerprint} | online.state())
    return epoch


def _restore(path: Path, trainee: Trainee, tracker: BestTracker, fingerprint: str) -> int:
    state = load_checkpoint(path, map_location=trainee.device, fingerprint=fingerprint)
    try:
        trainee.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise TrainingError(
            f"checkpoint {path} does not fit this run's model ({exc}); delete it to start over"
        ) from exc
    tracker.load_state_dict(state)
    return tracker.epoch
