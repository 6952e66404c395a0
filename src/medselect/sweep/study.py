"""A sweep's Optuna study, kept in the workspace's own database.

The study of sweep ``s`` on dataset version ``v`` is named ``s@v`` and lives in Optuna's tables
beside medselect's (Optuna's RDB storage on the same SQLite file or PostgreSQL database), so
every ``sweep run`` process and every worker of the workspace, local or on Ray, shares it. The
study records the space and objectives it was made with; a changed sweep section is refused
rather than mixed into it. Trials name their run in the user attribute ``run``; a trial's
values are read from the run's stored curve, so a trial told late (by the next ``sweep run``)
gets exactly what the worker would have told.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import optuna
from optuna.trial import TrialState

from medselect.config.choices import did_you_mean
from medselect.config.search import PARAMETERS, Objective, Pruner, PrunerSpec, Sampler
from medselect.errors import ConfigError
from medselect.store import RunStatus, Workspace, get_epoch_metrics
from medselect.store.engine import BUSY_TIMEOUT_MS
from medselect.sweep.jobs import StudyObjective, StudySpec

RUN_ATTR = "run"
"""User attribute of a trial: the id of the run it proposed."""
IDENTITY_ATTR = "medselect"
"""User attribute of a study: the space and objectives it was made with."""


def study_name(sweep: str, dataset_version: str) -> str:
    """The study of a sweep on one dataset version."""
    return f"{sweep}@{dataset_version}"


@contextmanager
def study_storage(ws: Workspace) -> Iterator[optuna.storages.RDBStorage]:
    """Optuna's storage on the workspace's database. Optuna makes its tables on first use,
    which two processes must not do at once, so opening is serialized (``ws.exclusive``)."""
    url = ws.engine.url
    sqlite = url.get_backend_name() == "sqlite"
    options = {"connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000}} if sqlite else {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trial lines would break --json
    with ws.exclusive("optuna"):
        storage = optuna.storages.RDBStorage(url.render_as_string(hide_password=False),
                                             engine_kwargs=options)
    try:
        yield storage
    finally:
        storage.remove_session()
        storage.engine.dispose()


def open_study(storage: optuna.storages.RDBStorage, spec: StudySpec,
               identity: Mapping[str, Any] | None = None) -> optuna.Study:
    """The study of ``spec``, made on first use when ``identity`` (the space and objectives)
    is given, else loaded.

    Raises:
        ConfigError: the stored study was made with another space or objectives.
    """
    pruner = pruner_of(spec.pruner, spec.max_epochs)
    if identity is None:
        return optuna.load_study(study_name=spec.name, storage=storage, pruner=pruner,
                                 sampler=optuna.samplers.RandomSampler())
    study = optuna.create_study(storage=storage, study_name=spec.name, pruner=pruner,
                                directions=[o.direction for o in spec.objectives],
                                load_if_exists=True)
    stored = study.user_attrs.get(IDENTITY_ATTR)
    if stored is None:
        study.set_user_attr(IDENTITY_ATTR, dict(identity))
    elif stored != identity:
        changed = [key for key in identity if stored.get(key) != identity[key]]
        raise ConfigError(
            f"sweep: the workspace's study {spec.name!r} was made with another "
            f"{' and '.join(changed)}; give the sweep a new name (sweep.name) to start a new "
            "study, or restore the sweep section it was made with")
    return study


def sampler_of(kind: Sampler, seed: int, n_trials: int | None = None
               ) -> optuna.samplers.BaseSampler:
    """The Optuna sampler called ``kind``. TPE starts from random trials, a quarter of the
    ``n_trials`` budget (2 to Optuna's default 10: with its 10 a small budget would be almost
    all random), and lies that running trials did badly (``constant_liar``), so parallel
    workers are steered away from each other's points."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == Sampler.TPE:
            startup = 10 if n_trials is None else min(10, max(2, n_trials // 4))
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                              n_startup_trials=startup)
        if kind == Sampler.CMAES:
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if kind == Sampler.NSGA2:
            return optuna.samplers.NSGAIISampler(seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)


def pruner_of(spec: PrunerSpec, max_epochs: int) -> optuna.pruners.BasePruner:
    """The Optuna pruner of ``spec``; epochs are its steps, ``max_epochs`` Hyperband's most."""
    least = spec.warmup_epochs
    if spec.kind == Pruner.MEDIAN:
        return optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials,
                                           n_warmup_steps=spec.warmup_epochs)
    if spec.kind == Pruner.SUCCESSIVE_HALVING:
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=least,
                                                      reduction_factor=spec.reduction_factor)
    if spec.kind == Pruner.HYPERBAND:
        return optuna.pruners.HyperbandPruner(min_resource=least,
                                              max_resource=max(max_epochs, least + 1),
                                              reduction_factor=spec.reduction_factor)
    return optuna.pruners.NopPruner()


def study_objectives(objectives: Sequence[Objective], metrics: Mapping[str, str],
                     best_epoch: tuple[str, str]) -> tuple[StudyObjective, ...]:
    """The objectives with their directions: each validation metric's own (``metrics``: name
    -> ``max``/``min``, as the task plugin reports them) unless given; ``parameters`` minimize;
    none given: the metric that picks the best epoch.

    Raises:
        ConfigError: a metric the task does not report per epoch (names the objective).
    """
    if not objectives:
        return (StudyObjective(best_epoch[0], _direction(best_epoch[1])),)
    out = []
    for i, objective in enumerate(objectives):
        mode = "min" if objective.metric == PARAMETERS else metrics.get(objective.metric)
        if mode is None:
            names = [*metrics, PARAMETERS]
            raise ConfigError(
                f"sweep.objectives[{i}].metric: training reports no metric "
                f"{objective.metric!r}; {did_you_mean(objective.metric, names)}choose one of: "
                f"{', '.join(names)}")
        out.append(StudyObjective(objective.metric, objective.direction or _direction(mode)))
    return tuple(out)


def _direction(mode: str) -> str:
    return "maximize" if mode == "max" else "minimize"


def objective_values(conn, run: Mapping[str, Any], spec: StudySpec) -> list[float]:
    """A finished run's value of each objective: validation metrics at its best epoch (the
    epoch ``best.pt`` holds, found again from the stored curve), ``parameters`` from the run."""
    from medselect.train.records import BestTracker

    curve: dict[int, dict[str, float | None]] = {}
    for row in get_epoch_metrics(conn, run["id"]):
        curve.setdefault(row["epoch"], {})[row["name"]] = row["value"]
    metric, mode = spec.best_epoch_metric
    tracker = BestTracker(metric, mode)  # type: ignore[arg-type]
    for epoch in sorted(curve):
        value = curve[epoch].get(metric)
        tracker.update(epoch, math.nan if value is None else value)
    best = curve.get(tracker.best_epoch, {})

    def value_of(name: str) -> float:
        value = run["n_parameters"] if name == PARAMETERS else best.get(name)
        return math.nan if value is None else float(value)

    return [value_of(o.metric) for o in spec.objectives]


def tell_ending(study: optuna.Study, number: int, conn, run: Mapping[str, Any],
                spec: StudySpec) -> bool:
    """Tell trial ``number`` how ``run`` ended (finished: its objective values; pruned;
    failed); False, telling nothing, while the run has not ended. A trial already told is
    left as it is."""
    status = run["status"]
    if status == RunStatus.FINISHED:
        values = objective_values(conn, run, spec)
        state = TrialState.FAIL if any(math.isnan(v) for v in values) else TrialState.COMPLETE
        _tell(study, number, values if state == TrialState.COMPLETE else None, state)
    elif status in (RunStatus.PRUNED, RunStatus.FAILED):
        state = TrialState.PRUNED if status == RunStatus.PRUNED else TrialState.FAIL
        _tell(study, number, None, state)
    else:
        return False
    return True


def _tell(study: optuna.Study, number: int, values: list[float] | None,
          state: TrialState) -> None:
    """``study.tell``; a trial another process told meanwhile is left as that one told it."""
    with suppress(optuna.exceptions.UpdateFinishedTrialError):
        study.tell(number, values, state=state, skip_if_finished=True)
