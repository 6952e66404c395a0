"""A sweep's study in the workspace database: pruning decisions on per-epoch curves, trials told
from their runs' rows, the sweep's counts, and the Pareto front against Optuna's and rank's."""

from __future__ import annotations

import math

import pandas as pd
import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from medselect.config import SearchSpace  # noqa: E402
from medselect.config.search import PrunerSpec  # noqa: E402
from medselect.errors import ConfigError  # noqa: E402
from medselect.rank import pareto_front  # noqa: E402
from medselect.store import (  # noqa: E402
    Workspace,
    add_dataset_version,
    add_epoch_metrics,
    put_task,
    set_run_status,
    upsert_run,
)
from medselect.sweep.jobs import StudyObjective, StudySpec, TrialRef  # noqa: E402
from medselect.sweep.pareto import front_of, study_fronts  # noqa: E402
from medselect.sweep.progress import SweepSnapshot  # noqa: E402
from medselect.sweep.study import (  # noqa: E402
    RUN_ATTR,
    objective_values,
    open_study,
    study_storage,
    tell_ending,
)
from medselect.sweep.trial_report import TrialReport  # noqa: E402
from medselect.train.records import EpochRecord  # noqa: E402

DICE = StudyObjective("val_dice", "maximize")
IDENTITY = {"space": SearchSpace().model_dump(mode="json"), "objectives": [list(DICE)]}


def spec(kind: str = "median", objectives=(DICE,), name: str = "s@dv-1") -> StudySpec:
    return StudySpec(name, tuple(objectives), ("val_dice", "max"),
                     PrunerSpec(kind=kind, startup_trials=2, warmup_epochs=2,
                                reduction_factor=2), max_epochs=8)


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace.create(tmp_path / "ws")
    with workspace.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "dv-1", "task": "knee"}, [])
    yield workspace
    workspace.dispose()


def record(epoch: int, dice: float) -> EpochRecord:
    return EpochRecord(epoch, 0.5, 0.5, {"val_dice": dice}, 1e-3, 0.1)


def finish_trials(study: optuna.Study, curves: list[list[float]]) -> None:
    for curve in curves:
        trial = study.ask()
        for epoch, value in enumerate(curve, start=1):
            trial.report(value, epoch)
            trial.should_prune()  # as the worker does: the halving pruners record rungs here
        study.tell(trial, curve[-1])


def decisions(ws, study_spec: StudySpec, curve: list[float]) -> list[bool]:
    """Whether the worker-side report stops a run with ``curve`` after each epoch (stopping at
    the first yes, as the training loop does)."""
    with study_storage(ws) as storage:
        number = open_study(storage, study_spec).ask().number
    asked = []
    with TrialReport(ws, TrialRef(study_spec, number)) as trial:
        for epoch, value in enumerate(curve, start=1):
            asked.append(trial.should_stop(record(epoch, value)))
            if asked[-1]:
                break
    return asked


def test_the_median_pruner_stops_a_losing_curve_after_the_warm_up(ws):
    median = spec("median")
    with study_storage(ws) as storage:
        finish_trials(open_study(storage, median, IDENTITY), [[0.5, 0.6, 0.7, 0.8]] * 2)
    assert decisions(ws, median, [0.1, 0.2, 0.3, 0.4]) == [False, True]  # epoch 1: warm-up
    assert decisions(ws, median, [0.6, 0.7, 0.8, 0.9]) == [False] * 4


def test_the_halving_pruners_stop_the_worst_at_a_rung(ws):
    for kind in ("successive_halving", "hyperband"):
        halving = spec(kind, name=f"{kind}@dv-1")
        with study_storage(ws) as storage:
            finish_trials(open_study(storage, halving, IDENTITY),
                          [[0.5 + 0.05 * i] * 8 for i in range(6)])
        losing = decisions(ws, halving, [0.01] * 8)
        assert losing[-1] and len(losing) < 8, kind
        assert not any(decisions(ws, halving, [0.99] * 8)), kind


def test_without_a_pruner_nothing_stops_and_several_objectives_report_nothing(ws):
    none = spec("none", name="n@dv-1")
    two = spec("none", objectives=(DICE, StudyObjective("parameters", "minimize")),
               name="two@dv-1")
    with study_storage(ws) as storage:
        open_study(storage, none, IDENTITY)
        open_study(storage, two, {**IDENTITY, "objectives": [list(o) for o in two.objectives]})
    assert decisions(ws, none, [0.0, 0.0, 0.0]) == [False] * 3
    assert decisions(ws, two, [0.0, 0.0]) == [False] * 2


def test_a_study_made_with_another_space_is_refused(ws):
    with study_storage(ws) as storage:
        open_study(storage, spec(), IDENTITY)
        changed = {**IDENTITY, "space": SearchSpace(epochs=[3]).model_dump(mode="json")}
        with pytest.raises(ConfigError, match=r"study 's@dv-1' was made with another space; "
                                              r"give the sweep a new name \(sweep.name\)"):
            open_study(storage, spec(), changed)


def _run(ws, run_id: str, status: str, dice: list[float], params: int = 1000) -> dict:
    with ws.begin() as conn:
        upsert_run(conn, {"id": run_id, "task": "knee", "dataset_version": "dv-1",
                          "config": {}, "config_hash": run_id})
        set_run_status(conn, run_id, "running")
        for epoch, value in enumerate(dice, start=1):
            add_epoch_metrics(conn, run_id, epoch, {"val_dice": value, "val_loss": 1 - epoch / 10})
        return set_run_status(conn, run_id, status, n_parameters=params)


def test_objectives_are_read_at_the_best_epoch_and_endings_told_by_status(ws):
    study_spec = spec("none", objectives=(DICE, StudyObjective("val_loss", "minimize"),
                                          StudyObjective("parameters", "minimize")))
    rows = {status: _run(ws, f"run-{status}", status, [0.2, 0.6, 0.5])
            for status in ("finished", "pruned", "failed", "interrupted")}
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    with ws.connect() as conn:
        # val_loss is lowest at epoch 3, but the kept checkpoint (best val_dice) is epoch 2
        assert objective_values(conn, rows["finished"], study_spec) == [0.6, 0.8, 1000.0]
        told = {}
        for status, row in rows.items():
            number = study.ask().number
            told[status] = tell_ending(study, number, conn, row, study_spec)
    assert told == {"finished": True, "pruned": True, "failed": True, "interrupted": False}
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                      TrialState.RUNNING]
    with ws.connect() as conn:  # told twice (worker and a later sweep): the first stands
        assert tell_ending(study, 0, conn, rows["failed"], study_spec)
    assert study.trials[0].state == TrialState.COMPLETE


def test_pruned_runs_count_as_done_and_apart():
    snapshot = SweepSnapshot(total=5, counts={"finished": 2, "pruned": 2, "running": 1})
    assert snapshot.done == 4


def test_the_pareto_front_is_optunas_best_trials_and_ranks_front(ws):
    objectives = (DICE, StudyObjective("parameters", "minimize"))
    two = spec("none", objectives=objectives, name="mo@dv-1")
    points = {"run-a": (0.9, 5000), "run-b": (0.8, 1000), "run-c": (0.7, 3000),
              "run-d": (0.9, 5000), "run-e": (0.85, 1000)}
    with study_storage(ws) as storage:
        study = open_study(storage, two, {**IDENTITY, "objectives": [list(o) for o in objectives]})
        for run_id, values in [*points.items(), ("run-a", points["run-a"])]:  # run-a twice
            trial = study.ask()
            trial.set_user_attr(RUN_ATTR, run_id)
            study.tell(trial, values)
        front = front_of(study)
        optuna_front = {t.user_attrs[RUN_ATTR] for t in study.best_trials}
    assert {p.run_id for p in front.front} == optuna_front == {"run-a", "run-d", "run-e"}
    assert [p.trials for p in front.points if p.run_id == "run-a"] == [(0, 5)]
    oriented = pd.DataFrame({"dice": [v[0] for v in points.values()],
                             "parameters": [-v[1] for v in points.values()]}, index=list(points))
    assert set(pareto_front(oriented)) == optuna_front  # rank's definition, same numbers
    assert [f.study for f in study_fronts(ws, "mo")] == ["mo@dv-1"]
    assert study_fronts(ws, "other") == []
    assert math.isclose(front.to_dict()["points"][0]["val_dice"], 0.9)
