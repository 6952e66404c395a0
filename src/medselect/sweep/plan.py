"""Decide what a ``sweep run`` trains: register every configuration, skip what is done.

Run ids derive from the configuration and the dataset version, so planning the same sweep
again finds the same rows: finished runs are skipped, interrupted (and stale running) runs
resume from their last checkpoint, failed runs are retried only when asked.
Every configuration is checked against the data before anything trains. With
``ranking.selection.folds`` K, every configuration is trained K times, once per fold of train +
val (:mod:`medselect.data.folds`). Strategy ``optuna`` plans a study instead, whose trials are
asked while the sweep runs (:mod:`medselect.sweep.trials`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medselect.config import Experiment, RunConfig, config_hash, fold_configs, run_id
from medselect.data.folds import run_cases
from medselect.errors import ConfigError, NotFound
from medselect.store import RunStatus, Workspace, get_cases, get_run, serialize, upsert_run
from medselect.sweep.jobs import DataPipeline, RunJob
from medselect.sweep.space import expand_space

if TYPE_CHECKING:
    from medselect.sweep.population import PopulationPlan
    from medselect.sweep.trials import StudyPlan

RESUMABLE = (RunStatus.PENDING, RunStatus.INTERRUPTED, RunStatus.RUNNING)


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    config: RunConfig
    status: str  # as stored before this sweep; ``pending`` for a new run


class ExperimentPlan:
    """What a plan that holds its experiment (a study's, a population's) says of itself."""

    experiment: Experiment
    runs: list[PlannedRun]

    @property
    def name(self) -> str:
        return self.experiment.sweep.name

    @property
    def task(self) -> str:
        return self.experiment.task.name

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)


@dataclass(frozen=True)
class SweepPlan:
    """The sweep's runs, and which of them this invocation trains."""

    name: str
    task: str
    dataset_version: str
    runs: list[PlannedRun]
    retry_failed: bool = False
    pipeline: DataPipeline = field(default_factory=DataPipeline)

    @property
    def to_train(self) -> list[PlannedRun]:
        wanted = RESUMABLE + ((RunStatus.FAILED,) if self.retry_failed else ())
        return [r for r in self.runs if r.status in wanted]

    @property
    def run_ids(self) -> set[str]:
        """The runs a progress display follows."""
        return {r.run_id for r in self.runs}

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)

    def jobs(self, workspace: str, url: str | None) -> list[RunJob]:
        """One job per run to train."""
        return [RunJob(r.run_id, workspace, url=url, pipeline=self.pipeline)
                for r in self.to_train]

    def settle(self) -> None:
        """Nothing to settle: every run records its own ending."""


def plan_sweep(
    ws: Workspace, experiment: Experiment, dataset_version: str, *, retry_failed: bool = False
) -> SweepPlan | StudyPlan | PopulationPlan:
    """Expand the experiment's sweep, check it against the data and register its runs; for
    strategy ``optuna``, open its study (:func:`medselect.sweep.trials.plan_study`); for
    ``pbt``, register its population (:func:`medselect.sweep.population.plan_population`).

    Raises:
        ConfigError: a configuration cannot train on this data (names the field and values),
            or Optuna is missing for strategy ``optuna``.
        DataError: the cross-validation folds cannot be made.
    """
    sweep = experiment.sweep
    if sweep.strategy == "optuna":
        return _plan_study(ws, experiment, dataset_version, retry_failed)
    if sweep.strategy == "pbt":
        from medselect.sweep.population import plan_population

        return plan_population(ws, experiment, dataset_version, retry_failed=retry_failed)
    configs = expand_space(
        sweep.strategy, sweep.space.axes(), configs=sweep.config_dicts(),
        samples=sweep.samples, seed=sweep.seed, fixed=sweep.fixed(),
    )
    selection = experiment.ranking.selection
    if selection.folds:
        configs = [fold for config in configs
                   for fold in fold_configs(config, selection.folds, selection.seed)]
    return register_runs(ws, experiment, dataset_version, configs, retry_failed=retry_failed)


def _plan_study(ws: Workspace, experiment: Experiment, dataset_version: str,
                retry_failed: bool) -> StudyPlan:
    try:
        from medselect.sweep.trials import plan_study
    except ModuleNotFoundError as exc:
        if exc.name != "optuna":
            raise
        raise ConfigError("sweep.strategy: optuna needs Optuna: pip install 'medselect[search]' "
                          "(or -e '.[search]')") from None
    return plan_study(ws, experiment, dataset_version, retry_failed=retry_failed)


def register_runs(
    ws: Workspace, experiment: Experiment, dataset_version: str, configs: list[RunConfig],
    *, retry_failed: bool = False,
) -> SweepPlan:
    """Check ``configs`` against the data and register them as runs of the experiment's sweep
    (new ones pending, known ones as they are).

    Raises:
        ConfigError: a configuration cannot train on this data (names the field and values).
        DataError: the cross-validation folds cannot be made.
    """
    sweep = experiment.sweep
    check_all(ws, experiment, dataset_version, configs)
    runs = []
    with ws.begin() as conn:
        serialize(conn, f"task:{experiment.task.name}")  # concurrent sweeps register in turn
        for config in configs:
            rid = run_id(config, dataset_version)
            serialize(conn, f"run:{rid}")  # two sweeps registering one run: one inserts it
            try:
                status = get_run(conn, rid)["status"]
            except NotFound:
                upsert_run(conn, {
                    "id": rid, "task": experiment.task.name, "dataset_version": dataset_version,
                    "sweep": sweep.name, "config": config.model_dump(mode="json"),
                    "config_hash": config_hash(config), "status": RunStatus.PENDING,
                    "details": run_details(experiment, config),
                })
                status = RunStatus.PENDING
            runs.append(PlannedRun(rid, config, status))
    return SweepPlan(sweep.name, experiment.task.name, dataset_version, runs, retry_failed,
                     DataPipeline.of(sweep))


def check_all(ws: Workspace, experiment: Experiment, dataset_version: str,
              configs: list[RunConfig]) -> None:
    """:func:`check_trainable` for every configuration, on its own training cases.

    Raises:
        ConfigError: the first configuration that cannot train (names the field and values).
        DataError: the cross-validation folds cannot be made.
    """
    with ws.connect() as conn:
        cases = get_cases(conn, dataset_version)
    n_train: dict = {}
    for config in configs:
        if config.cv not in n_train:
            n_train[config.cv] = len(run_cases(cases, config.cv)["train"])
        check_trainable(experiment, config, n_train[config.cv])


def check_trainable(experiment: Experiment, config: RunConfig, n_train: int) -> None:
    """Refuse, before any training, a configuration that cannot train on this data."""
    from medselect.tasks import plugin_for_task
    from medselect.train import check_run

    task = experiment.task
    stopping = experiment.sweep.early_stopping
    try:
        if n_train == 0:
            raise ConfigError("the dataset has no training cases")
        check_run(config, plugin_for_task(task, config), task, n_train,
                  early_stopping_metric=stopping.metric if stopping else None)
    except ConfigError as exc:
        where = f"{config.architecture.value}/{config.loss.value}/{config.augmentation.value}"
        where += f" ({config.cv.describe()})" if config.cv else ""
        raise ConfigError(f"sweep: configuration {where}: {exc}") from None


def run_details(experiment: Experiment, config: RunConfig) -> dict:
    """How the run trains beyond its config: augmentation contents, stopping, determinism;
    for a population member, how its population exploits and explores."""
    from medselect.train.augment import describe_preset

    sweep = experiment.sweep
    stopping = sweep.early_stopping
    population = ({"population": sweep.population.model_dump(mode="json") | {"seed": sweep.seed}}
                  if config.population is not None and sweep.population is not None else {})
    return {
        "augmentation_preset": describe_preset(config.augmentation, experiment.task.spatial_dims),
        "early_stopping_metric": stopping.metric if stopping else None,
        "deterministic": sweep.deterministic,
        **population,
    }
