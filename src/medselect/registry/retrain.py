"""What an upgrade retrains on the new dataset version: the current top k, or the whole sweep.

``upgrade.retrain: top_k`` takes the finished runs of the newest dataset version that has any
(the current generation), evaluates them on that version's selection set (its validation
split; the frozen reference set only when it has none, so the reference set is not looked at
to choose) where needed, orders them by the experiment's ranking there and keeps the first
``top_k`` distinct configurations.
``sweep`` plans the experiment's whole sweep. Either way the runs are registered on the new
dataset version, so their ids differ from the runs they repeat (a run id covers its data).

Example::

    choice = choose_retrain(ws, experiment, exclude_version="dv-new")
    plan = plan_retrain(ws, experiment, "dv-new", choice)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medselect.config import Experiment, RankingSpec, RunConfig, RunOverrides, config_hash
from medselect.errors import ConfigError, RegistryError
from medselect.rank import preference_from_spec
from medselect.registry.backfill import ensure_evaluated
from medselect.registry.candidates import selection_case_set
from medselect.registry.evidence import reference_case_set
from medselect.registry.ordering import rank_models
from medselect.store import RunStatus, Workspace, list_dataset_versions, list_runs
from medselect.sweep import SweepPlan, plan_sweep

__all__ = ["RetrainChoice", "choose_retrain", "plan_retrain", "ranking_spec"]


@dataclass(frozen=True)
class RetrainChoice:
    """The configurations to retrain.

    Attributes:
        mode: ``top_k`` or ``sweep`` (``upgrade.retrain``).
        configs: the chosen configurations, best first (empty for ``sweep``: all of them).
        chosen_from: the runs whose configurations were chosen, best first (``top_k``).
        source_version: the dataset version those runs were trained on.
    """

    mode: str
    configs: tuple[RunConfig, ...] = ()
    chosen_from: tuple[str, ...] = ()
    source_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "chosen_from": list(self.chosen_from),
                "source_version": self.source_version,
                "configs": [c.model_dump(mode="json") for c in self.configs]}


def ranking_spec(experiment: Experiment) -> RankingSpec:
    """The experiment's ranking section; without a metric, ranked by the gate's primary one."""
    spec = experiment.ranking
    if spec.metrics():
        return spec
    primary = experiment.promotion.primary
    return spec.model_copy(update={"metric": primary.metric, "label": primary.label})


def choose_retrain(
    ws: Workspace, experiment: Experiment, *, exclude_version: str, device: str | None = None
) -> RetrainChoice:
    """The configurations ``experiment.upgrade`` asks to retrain.

    Args:
        exclude_version: the upgrade's own dataset version (its runs are the new ones).

    Raises:
        RegistryError: ``top_k`` and no finished run to choose from, or they cannot be
            evaluated or ranked on the selection (or reference) set.
    """
    if experiment.upgrade.retrain == "sweep":
        return RetrainChoice("sweep")
    task = experiment.task
    with ws.connect() as conn:
        order = [v["id"] for v in list_dataset_versions(conn, task.name)]
        runs = [r for r in list_runs(conn, task=task.name, status=RunStatus.FINISHED)
                if r["dataset_version"] != exclude_version and r["dataset_version"] in order]
        reference = reference_case_set(conn, task.name)
    if not runs:
        raise RegistryError(f"task {task.name!r} has no finished run to choose the top "
                            f"{experiment.upgrade.top_k} from; train a sweep first or set "
                            "upgrade.retrain: sweep")
    source = max((r["dataset_version"] for r in runs), key=order.index)
    runs = [r for r in runs if r["dataset_version"] == source]
    spec = ranking_spec(experiment)
    with ws.connect() as conn:
        ranked_on = selection_case_set(conn, task.name, source,
                                       which=spec.selection.case_set) or reference
    metrics = [m for m, _ in preference_from_spec(spec).needs()]
    ids = [r["id"] for r in runs]
    ensure_evaluated(ws, task, ranked_on, ids, metrics=metrics, spec=experiment.evaluation,
                     device=device)
    with ws.connect() as conn:
        ranked = rank_models(conn, task.name, ranked_on, ids, spec)
    by_id = {r["id"]: r for r in runs}
    chosen: dict[str, tuple[str, RunConfig]] = {}
    for run_id in ranked:
        config = RunConfig.model_validate(by_id[run_id]["config"])
        chosen.setdefault(config_hash(config), (run_id, config))
        if len(chosen) == experiment.upgrade.top_k:
            break
    return RetrainChoice("top_k", configs=tuple(c for _, c in chosen.values()),
                         chosen_from=tuple(r for r, _ in chosen.values()), source_version=source)


def plan_retrain(
    ws: Workspace, experiment: Experiment, dataset_version: str, choice: RetrainChoice
) -> SweepPlan:
    """Register the chosen configurations on ``dataset_version``; finished ones are kept.

    Raises:
        ConfigError: a configuration cannot train on this data, or is a population member.
    """
    if choice.mode == "top_k":
        members = [c for c in choice.configs if c.population is not None]
        if members:
            raise ConfigError(
                f"upgrade.retrain: top_k chose a member of population "
                f"{members[0].population.population} (strategy pbt), whose schedule came from "
                "its population and is not a configuration to retrain alone; run `medselect "
                "sweep run EXPERIMENT --executor ray` on the new data to train a population "
                "there, then gate its members with `medselect promote`")
        overrides = [RunOverrides.model_validate(c.model_dump(mode="json"))
                     for c in choice.configs]
        sweep = experiment.sweep.model_copy(
            update={"strategy": "list", "samples": None, "configs": overrides})
        experiment = experiment.model_copy(update={"sweep": sweep})
    return plan_sweep(ws, experiment, dataset_version)
