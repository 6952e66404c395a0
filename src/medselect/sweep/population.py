"""Strategy ``pbt``: one configuration trained by a population under Ray Tune's
``PopulationBasedTraining``.

Each member is a run like any other (stored, evaluated, ranked, gated). Its configuration is
the sweep's one configuration with the member's initial values of the mutations (drawn from
``sweep.seed`` and the member's index) and a :class:`~medselect.config.run.PopulationMember`
naming its population, whose id hashes the shared configuration, the ``population`` section and
the seed; so a member's run id stays content-derived, and the same sweep run again is the same
population. Tune's scheduler runs synchronously (every member reaches a perturbation epoch
before any exploits) and draws with Python's ``random`` seeded from ``sweep.seed``; what it
decided is recorded with each member (:mod:`medselect.sweep.member`). Tune keeps its own state
under ``<workspace>/tune/``; the members' snapshots, which the exploits copy, are in their run
folders.

A population trains together: one stopped part-way (a member interrupted or failed) is not
resumed member by member, and planning says what to do instead.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from medselect.config import Experiment, RunConfig
from medselect.config.population import OPTIMIZER_FIELDS, Mutable, PopulationSpec
from medselect.config.run import PopulationMember
from medselect.config.search import Range
from medselect.errors import ConfigError
from medselect.store import RunStatus, Workspace
from medselect.sweep.executors.base import Executor, Poll, settle_lost_run
from medselect.sweep.jobs import DataPipeline, MemberRef, RunJob
from medselect.sweep.plan import RESUMABLE, ExperimentPlan, PlannedRun, register_runs
from medselect.sweep.space import expand_space

if TYPE_CHECKING:
    from medselect.sweep.executors.ray import RayExecutor

TUNE_FOLDER = "tune"
"""Ray Tune's storage inside the workspace."""


def population_id(experiment: Experiment) -> str:
    """The population of an experiment: a hash of the configuration its members share, its
    ``population`` section and the seed that draws their initial values."""
    sweep = experiment.sweep
    assert sweep.population is not None  # the loader refuses pbt without it
    shared = expand_space("grid", sweep.space.axes(), fixed=sweep.fixed())[0]
    identity = {"config": shared.model_dump(mode="json"),
                "population": sweep.population.model_dump(mode="json"), "seed": sweep.seed}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return f"pbt-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def initial_values(spec: PopulationSpec, seed: int, member: int) -> dict[str, float]:
    """Member ``member``'s first value of every mutation, drawn with ``(seed, member)``:
    uniform in a range (in its logarithm for ``log_uniform``), or one of a list."""
    rng = np.random.default_rng([seed, member])
    values = {}
    for name in sorted(spec.mutations):
        mutation = spec.mutations[name]
        if isinstance(mutation, Range):
            low, high = mutation.bounds
            if mutation.kind == "log_uniform":
                values[name] = float(math.exp(rng.uniform(math.log(low), math.log(high))))
            else:
                values[name] = float(rng.uniform(low, high))
        else:
            values[name] = float(mutation[int(rng.integers(len(mutation)))])
    return values


def member_configs(experiment: Experiment) -> list[RunConfig]:
    """The configuration of every member: the shared one with its initial values."""
    sweep = experiment.sweep
    spec = sweep.population
    assert spec is not None
    shared = expand_space("grid", sweep.space.axes(), fixed=sweep.fixed())[0]
    population = population_id(experiment)
    configs = []
    for member in range(spec.size):
        values = initial_values(spec, sweep.seed, member)
        strength = values.get(Mutable.AUGMENTATION_STRENGTH)
        update = {name: values[name] for name in OPTIMIZER_FIELDS if name in values}
        configs.append(shared.model_copy(update={**update, "population": PopulationMember(
            population=population, member=member, augmentation_strength=strength)}))
    return configs


@dataclass
class PopulationPlan(ExperimentPlan):
    """A population's members, and whether this invocation trains them."""

    ws: Workspace
    experiment: Experiment
    dataset_version: str
    population: str
    runs: list[PlannedRun]
    to_train: list[PlannedRun]
    pipeline: DataPipeline

    @property
    def run_ids(self) -> set[str]:
        return {r.run_id for r in self.runs}

    def settle(self) -> None:
        """Nothing to settle: every member records its own ending."""

    def train(self, executor: Executor, workspace: str, url: str | None,
              poll: Poll | None = None) -> None:
        """Train the population under Ray Tune on ``executor`` (the Ray executor).

        Raises:
            ConfigError: the executor is not Ray's.
        """
        if not self.to_train:
            return
        from medselect.sweep.executors.ray import RayExecutor, import_ray, stdout_to_stderr

        if not isinstance(executor, RayExecutor):
            raise ConfigError(
                f"sweep.strategy: pbt trains its population with Ray Tune, not the "
                f"{executor.name!r} executor; run `medselect sweep run EXPERIMENT --executor "
                "ray` (a local Ray on 127.0.0.1, or --address for a cluster)")
        from medselect.sweep.trials import study_spec

        ray = import_ray()
        goal = study_spec(self.experiment, self.dataset_version,
                          self.runs[0].config).best_epoch_metric
        jobs = self._jobs(workspace, url, goal[0], executor)
        with stdout_to_stderr(), executor.session(ray):
            try:
                self._fit(jobs, executor, goal, poll)
            finally:
                for job in jobs:  # a member Tune stopped before it ended resumes nowhere
                    settle_lost_run(job, "the population stopped before this member ended")

    def _jobs(self, workspace: str, url: str | None, metric: str, executor: RayExecutor
              ) -> list[RunJob]:
        sweep = self.experiment.sweep
        assert sweep.population is not None
        device = "cuda" if executor.gpus else "cpu"
        jobs = []
        for run in self.runs:
            values = initial_values(sweep.population, sweep.seed, _member(run.config))
            ref = MemberRef(sweep.population.perturbation_interval, metric, run.config.epochs,
                            tuple(values.items()))
            jobs.append(RunJob(run.run_id, workspace, url=url, threads=executor.threads,
                               device=device, pipeline=self.pipeline, member=ref))
        return jobs

    def _fit(self, jobs: list[RunJob], executor: RayExecutor, goal: tuple[str, str],
             poll: Poll | None) -> None:
        from ray import tune

        from medselect.sweep.member import JOB, MEMBER, train_member

        sweep = self.experiment.sweep
        spec = sweep.population
        assert spec is not None
        metric, mode = goal
        first = dict(jobs[0].member.values)  # type: ignore[union-attr]
        space: dict[str, Any] = {
            MEMBER: tune.grid_search(list(range(len(jobs)))),
            JOB: tune.sample_from(lambda config: jobs[config[MEMBER]]),
            **{name: tune.sample_from(_initial(jobs, name)) for name in first},
        }
        resources = {"cpu": executor.threads, "gpu": executor.gpus}
        tuner = tune.Tuner(
            tune.with_resources(train_member, resources),
            param_space=space,
            tune_config=tune.TuneConfig(
                scheduler=_scheduler(spec, metric, mode), num_samples=1,
                max_concurrent_trials=executor.workers, reuse_actors=False),
            run_config=tune.RunConfig(
                name=f"{sweep.name}@{self.dataset_version}-{self.population}",
                storage_path=str(self.ws.path(TUNE_FOLDER)), verbose=0,
                callbacks=[_progress(poll)] if poll else None,
                failure_config=tune.FailureConfig(max_failures=0)),
        )
        with seeded_random(sweep.seed):
            tuner.fit()


def plan_population(ws: Workspace, experiment: Experiment, dataset_version: str, *,
                    retry_failed: bool = False) -> PopulationPlan:
    """Register the population's members; train them when none has started, nothing when all
    have ended.

    Raises:
        ConfigError: the configuration cannot train on this data, or the population stopped
            part-way (a member interrupted, or failed with ``retry_failed``): it is not resumed
            member by member, and the message says how to train a new one.
    """
    configs = member_configs(experiment)
    registered = register_runs(ws, experiment, dataset_version, configs)
    runs = registered.runs
    population = population_id(experiment)
    stopped = [r for r in runs if (r.status in RESUMABLE and r.status != RunStatus.PENDING)
               or (retry_failed and r.status == RunStatus.FAILED)]
    if stopped:
        listed = ", ".join(f"{r.run_id} ({r.status})" for r in stopped)
        raise ConfigError(
            f"sweep {experiment.sweep.name!r}: population {population} stopped part-way "
            f"({listed}); its members exploit each other at every perturbation interval, so "
            "one is not trained again alone. Its runs keep their curves and checkpoints; to "
            "train a new population change sweep.seed (or the population section)")
    pending = [r for r in runs if r.status == RunStatus.PENDING]
    to_train = runs if len(pending) == len(runs) else []
    if pending and not to_train:
        raise ConfigError(
            f"sweep {experiment.sweep.name!r}: population {population} has members that "
            f"never started ({', '.join(r.run_id for r in pending)}) beside ones that did; "
            "change sweep.seed to train a new population")
    return PopulationPlan(ws, experiment, dataset_version, population, runs, to_train,
                          registered.pipeline)


def _member(config: RunConfig) -> int:
    assert config.population is not None
    return config.population.member


def _initial(jobs: list[RunJob], name: str) -> Callable[[Any], float]:
    """Tune's initial value of mutation ``name`` for the trial of member ``config[MEMBER]``."""
    from medselect.sweep.member import MEMBER

    def value(config: dict[str, Any]) -> float:
        return dict(jobs[config[MEMBER]].member.values)[name]  # type: ignore[union-attr]

    return value


def _scheduler(spec: PopulationSpec, metric: str, mode: str):
    """Tune's ``PopulationBasedTraining``, synchronous, over epochs, with the mutations as
    Tune domains; explored values are kept within their ranges. A member keeps its own job
    when it copies a donor's configuration."""
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    from medselect.sweep.member import JOB, MEMBER

    class MemberPopulation(PopulationBasedTraining):
        def _get_new_config(self, trial, trial_to_clone):
            config, operations = super()._get_new_config(trial, trial_to_clone)
            return config | {MEMBER: trial.config[MEMBER], JOB: trial.config[JOB]}, operations

    mutations: dict[str, Any] = {}
    for name, mutation in spec.mutations.items():
        if isinstance(mutation, Range):
            low, high = mutation.bounds
            mutations[name] = (tune.loguniform(low, high) if mutation.kind == "log_uniform"
                               else tune.uniform(low, high))
        else:
            mutations[name] = list(mutation)
    bounds = {name: spec.bounds(name) for name in spec.mutations}
    return MemberPopulation(
        time_attr="epoch", metric=metric, mode=mode,
        perturbation_interval=spec.perturbation_interval, hyperparam_mutations=mutations,
        quantile_fraction=spec.quantile_fraction,
        resample_probability=spec.resample_probability,
        custom_explore_fn=_Within(bounds), synch=True)


@dataclass(frozen=True)
class _Within:
    """Tune's explore step multiplies a value by 0.8 or 1.2: keep it within its range."""

    bounds: dict[str, tuple[float, float]]

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        return config | {name: min(max(config[name], low), high)
                         for name, (low, high) in self.bounds.items()}


def _progress(poll: Poll):
    """A Tune callback that lets the caller poll the store while the population trains. Tune
    saves its run configuration with the experiment: the poll (a live database handle) stays
    out of what it saves."""
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self, poll: Poll | None) -> None:
            self.poll = poll

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            if self.poll is not None:
                self.poll()

        def __getstate__(self) -> dict[str, Any]:
            return {"poll": None}

    return Progress(poll)


@contextmanager
def seeded_random(seed: int) -> Iterator[None]:
    """Python's ``random`` (which Tune's scheduler draws from) seeded for the block, and put
    back as it was afterwards."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)

