"""Decide what a ``sweep run`` trains: register every configuration, skip what is done.

Run ids derive from the configuration and the dataset version, so planning the same sweep
again finds the same rows: finished runs are skipped, interrupted (and stale running) runs
resume from their last checkpoint, failed runs are retried only when asked.
Every configuration is checked against the data before anything trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from medselect.config import Experiment, RunConfig, config_hash, run_id
from medselect.errors import ConfigError, NotFound
from medselect.store import Workspace, get_cases, get_run, upsert_run
from medselect.sweep.space import expand_space

RESUMABLE = ("pending", "interrupted", "running")


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    config: RunConfig
    status: str  # as stored before this sweep; "pending" for a new run


@dataclass(frozen=True)
class SweepPlan:
    """The sweep's runs, and which of them this invocation trains."""

    name: str
    task: str
    dataset_version: str
    runs: list[PlannedRun]
    retry_failed: bool = False

    @property
    def to_train(self) -> list[PlannedRun]:
        wanted = RESUMABLE + (("failed",) if self.retry_failed else ())
        return [r for r in self.runs if r.status in wanted]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)


def plan_sweep(
    ws: Workspace, experiment: Experiment, dataset_version: str, *, retry_failed: bool = False
) -> SweepPlan:
    """Expand the experiment's sweep, check it against the data and register its runs.

    Raises:
        ConfigError: a configuration cannot train on this data (names the field and values).
    """
    sweep = experiment.sweep
    configs = expand_space(
        sweep.strategy, sweep.space.axes(), configs=sweep.config_dicts(),
        samples=sweep.samples, seed=sweep.seed, fixed=sweep.fixed(),
    )
    with ws.connect() as conn:
        cases = get_cases(conn, dataset_version)
    n_train = sum(c["split"] == "train" for c in cases)
    for config in configs:
        check_trainable(config, experiment.task.spatial_dims, n_train)
    runs = []
    with ws.begin() as conn:
        for config in configs:
            rid = run_id(config, dataset_version)
            try:
                status = get_run(conn, rid)["status"]
            except NotFound:
                upsert_run(conn, {
                    "id": rid, "task": experiment.task.name, "dataset_version": dataset_version,
                    "sweep": sweep.name, "config": config.model_dump(mode="json"),
                    "config_hash": config_hash(config), "status": "pending",
                    "details": run_details(config, experiment.task.spatial_dims),
                })
                status = "pending"
            runs.append(PlannedRun(rid, config, status))
    return SweepPlan(sweep.name, experiment.task.name, dataset_version, runs, retry_failed)


def check_trainable(config: RunConfig, spatial_dims: int, n_train: int) -> None:
    """Refuse, before any training, a configuration that cannot train on this data."""
    from medselect.train.zoo import check_network_input

    where = f"sweep: {config.architecture.value}/{config.loss.value}"
    if n_train == 0:
        raise ConfigError(f"{where}: the dataset has no training cases")
    if config.batch_size > n_train:
        raise ConfigError(
            f"{where}: batch_size {config.batch_size} is larger than the {n_train} training "
            "cases; lower sweep.space.batch_size"
        )
    try:
        check_network_input(config, spatial_dims)
    except ConfigError as exc:
        raise ConfigError(f"{where}: sweep.space.{exc}") from None


def run_details(config: RunConfig, spatial_dims: int) -> dict:
    """What the config names, spelled out for the run record (augmentation contents)."""
    from medselect.train.augment import describe_preset

    return {"augmentation_preset": describe_preset(config.augmentation, spatial_dims)}
