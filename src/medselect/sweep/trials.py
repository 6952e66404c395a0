"""Strategy ``optuna``: a sweep's trials, asked one at a time as workers free up.

Every trial is a medselect run: its parameters make a RunConfig whose hash is the run id, so a
configuration the study proposes again is the same run, and its stored ending is told to the
new trial without training. Planning first settles trials whose runs ended without the study
hearing of it (a worker killed between the two writes, a claim lost to another process) and
resumes trials whose runs were interrupted; :meth:`StudyPlan.jobs` then asks for new trials
while the budget lasts: ``n_trials`` over the whole study (every process that shares it counts
and asks under one lock), ``timeout`` seconds of this process. The sampler is seeded from
``sweep.seed`` and the number of trials so far, so one process is reproducible and two sharing
a study draw differently.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import optuna
from optuna.trial import TrialState

from medselect.config import Experiment, RunConfig
from medselect.errors import ConfigError
from medselect.store import RunStatus, Workspace, get_run
from medselect.sweep.jobs import DataPipeline, RunJob, StudySpec, TrialRef
from medselect.sweep.plan import (
    RESUMABLE,
    ExperimentPlan,
    PlannedRun,
    check_all,
    register_runs,
)
from medselect.sweep.space import expand_space
from medselect.sweep.study import (
    RUN_ATTR,
    open_study,
    sampler_of,
    study_name,
    study_objectives,
    study_storage,
    tell_ending,
)
from medselect.sweep.suggest import config_of, corner_axes, distributions, max_epochs


@dataclass
class StudyPlan(ExperimentPlan):
    """A sweep's study, and the runs of its trials known so far (``runs`` and ``run_ids``
    grow as :meth:`jobs` asks for trials)."""

    ws: Workspace
    experiment: Experiment
    dataset_version: str
    study: StudySpec
    runs: list[PlannedRun]
    resume: list[tuple[PlannedRun, int]]
    """Runs to train again for their still-running trials (trial numbers)."""
    trials_done: int
    retry_failed: bool = False
    run_ids: set[str] = field(default_factory=set)

    @property
    def to_train(self) -> list[PlannedRun]:
        """The runs known to need training when planned (trials to resume)."""
        return [run for run, _ in self.resume]

    def jobs(self, workspace: str, url: str | None) -> Iterator[RunJob]:
        """The resumed trials' jobs, then one job per new trial, asked only when drawn (so each
        proposal knows the results before it)."""
        pipeline = DataPipeline.of(self.experiment.sweep)
        for run, number in self.resume:
            yield RunJob(run.run_id, workspace, url=url, trial=TrialRef(self.study, number),
                         pipeline=pipeline)
        started = time.monotonic()
        sweep = self.experiment.sweep
        axes = sweep.space.axes()
        space = distributions(axes)
        with study_storage(self.ws) as storage:
            study = open_study(storage, self.study)
            while True:
                with self.ws.exclusive("optuna"):  # counted and asked as one: no overshoot
                    if not self._budget_left(study, started):
                        break
                    asked = len(study.get_trials(deepcopy=False))
                    study.sampler = sampler_of(sweep.sampler, _seed(sweep.seed, asked),
                                               sweep.n_trials)
                    trial = study.ask(space)
                try:
                    config = config_of(axes, trial.params, sweep.fixed())
                    run = register_runs(self.ws, self.experiment, self.dataset_version, [config],
                                        retry_failed=self.retry_failed).runs[0]
                except ConfigError:
                    study.tell(trial, state=TrialState.FAIL)
                    raise
                trial.set_user_attr(RUN_ATTR, run.run_id)
                self._add(run)
                if not self._wanted(run):  # proposed again: the run's ending answers it
                    self._told(study, trial.number, run.run_id)
                    continue
                yield RunJob(run.run_id, workspace, url=url,
                             trial=TrialRef(self.study, trial.number), pipeline=pipeline)

    def settle(self) -> None:
        """Tell every still-running trial whose run has ended how it ended."""
        with study_storage(self.ws) as storage:
            study = open_study(storage, self.study)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if RUN_ATTR in trial.user_attrs:
                    self._told(study, trial.number, trial.user_attrs[RUN_ATTR])

    def _budget_left(self, study: optuna.Study, started: float) -> bool:
        sweep = self.experiment.sweep
        if sweep.timeout is not None and time.monotonic() - started >= sweep.timeout:
            return False
        return sweep.n_trials is None or len(study.get_trials(deepcopy=False)) < sweep.n_trials

    def _wanted(self, run: PlannedRun) -> bool:
        return run.status in RESUMABLE or (self.retry_failed and run.status == RunStatus.FAILED)

    def _told(self, study: optuna.Study, number: int, run_id: str) -> bool:
        with self.ws.connect() as conn:
            return tell_ending(study, number, conn, get_run(conn, run_id), self.study)

    def _add(self, run: PlannedRun) -> None:
        if run.run_id not in self.run_ids:
            self.run_ids.add(run.run_id)
            self.runs.append(run)


def plan_study(ws: Workspace, experiment: Experiment, dataset_version: str, *,
               retry_failed: bool = False) -> StudyPlan:
    """Open (or make) the sweep's study, check the space's extreme configurations against the
    data, settle trials whose runs ended and find those to resume.

    Raises:
        ConfigError: a configuration of the space cannot train on this data, an objective is
            not a metric of the task, or the study was made with another space or objectives.
    """
    sweep = experiment.sweep
    axes = sweep.space.axes()
    corners = expand_space("grid", corner_axes(axes), fixed=sweep.fixed())
    check_all(ws, experiment, dataset_version, corners)
    spec = study_spec(experiment, dataset_version, corners[0])
    identity = {"space": sweep.space.model_dump(mode="json"),
                "objectives": [list(o) for o in spec.objectives]}
    plan = StudyPlan(ws, experiment, dataset_version, spec, [], [], 0, retry_failed)
    with study_storage(ws) as storage:
        with ws.exclusive("optuna"):  # two processes making the study: one makes it
            study = open_study(storage, spec, identity)
        for trial in study.get_trials(deepcopy=False):
            run_id = trial.user_attrs.get(RUN_ATTR)
            if run_id is None:
                continue
            with ws.connect() as conn:
                row = get_run(conn, run_id)
            run = PlannedRun(run_id, RunConfig.model_validate(row["config"]), row["status"])
            plan._add(run)
            if trial.state != TrialState.RUNNING or plan._told(study, trial.number, run_id):
                plan.trials_done += 1
            elif plan._wanted(run):
                plan.resume.append((run, trial.number))
    return plan


def study_spec(experiment: Experiment, dataset_version: str, example: RunConfig) -> StudySpec:
    """The study's name, objectives, best-epoch metric and pruner for this data (``example``:
    a configuration of the space, which picks the task plugin)."""
    from medselect.tasks import plugin_for_task
    from medselect.train.loop import stopping_goal

    sweep = experiment.sweep
    plugin = plugin_for_task(experiment.task, example)
    stopping = sweep.early_stopping
    goal = stopping_goal(plugin, stopping.metric if stopping else None)
    best = (goal.name, goal.mode)
    metrics = {"val_loss": "min", **plugin.metrics}
    return StudySpec(study_name(sweep.name, dataset_version),
                     study_objectives(sweep.objectives, metrics, best), best, sweep.pruner,
                     max_epochs(sweep.space.axes()))


def _seed(seed: int, trials: int) -> int:
    """The sampler's seed before the study's trial number ``trials`` is asked."""
    return int(np.random.SeedSequence([seed, trials]).generate_state(1)[0])
