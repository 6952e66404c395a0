"""Planning cross-validation without training: K fold runs per configuration, the refit's
epochs, and a fold ensemble registered only over finished folds."""

from __future__ import annotations

import pytest

from medselect.config import load_experiment
from medselect.data.importer import import_experiment_data
from medselect.errors import ConfigError, DataError, TrainingError
from medselect.store import Workspace, add_epoch_metrics, get_run, set_run_status
from medselect.sweep import plan_refit, plan_sweep, refit_epochs, register_ensemble

SPACE = "architecture: [unet], loss: [dice_ce, dice], epochs: 3"


@pytest.fixture
def setup(tmp_path, experiment_file):
    """A workspace with the tiny phantom imported, and the experiment with 3 folds."""
    experiment = load_experiment(experiment_file(
        space=SPACE, extra="ranking: {selection: {folds: 3, final: refit}}"))
    ws = Workspace.create(tmp_path / "ws")
    version = import_experiment_data(ws, experiment).version_id
    yield ws, experiment, version
    ws.dispose()


def test_every_configuration_is_planned_once_per_fold(setup):
    ws, experiment, version = setup
    plan = plan_sweep(ws, experiment, version)
    assert len(plan.runs) == 6 and len({r.run_id for r in plan.runs}) == 6
    assert [r.config.cv.fold for r in plan.runs] == [1, 2, 3, 1, 2, 3]
    assert {(r.config.cv.folds, r.config.cv.seed) for r in plan.runs} == {(3, 0)}
    assert [r.run_id for r in plan_sweep(ws, experiment, version).runs] == [
        r.run_id for r in plan.runs]  # idempotent


def test_folds_the_data_cannot_fill_are_refused_before_training(setup, experiment_file):
    ws, _, version = setup
    greedy = load_experiment(experiment_file(
        space=SPACE, name="greedy", extra="ranking: {selection: {folds: 20}}"))
    with pytest.raises(DataError, match=r"ranking\.selection\.folds: 20 folds of \d+ patient"):
        plan_sweep(ws, greedy, version)


def _finish(ws, run_id: str, values: list[float], best: float) -> None:
    with ws.begin() as conn:
        for epoch, value in enumerate(values, start=1):
            add_epoch_metrics(conn, run_id, epoch, {"val_dice": value, "train_loss": 1.0})
        set_run_status(conn, run_id, "running")
        set_run_status(conn, run_id, "finished", best_metric=best,
                       checkpoint_uri=f"runs/{run_id}/best.pt", n_parameters=7)


def test_the_refit_trains_the_median_best_epoch_of_its_folds_without_stopping(setup):
    ws, experiment, version = setup
    plan = plan_sweep(ws, experiment, version)
    folds = plan.runs[:3]
    for run, values in zip(folds, ([0.1, 0.5, 0.3], [0.2, 0.4, 0.6], [0.7, 0.1, 0.1]),
                           strict=True):
        _finish(ws, run.run_id, values, max(values))
    with ws.connect() as conn:
        rows = [get_run(conn, r.run_id) for r in folds]
    assert refit_epochs(ws, experiment, rows) == 2  # best epochs 2, 3, 1
    config = folds[0].config.model_copy(update={"cv": None, "early_stopping_patience": 4})
    [refit] = plan_refit(ws, experiment, version, config, epochs=2).runs
    assert refit.config.epochs == 2 and refit.config.early_stopping_patience is None
    assert refit.config.cv.final == "refit" and refit.status == "pending"
    assert refit.run_id not in {r.run_id for r in plan.runs}


def test_an_ensemble_is_registered_only_over_finished_folds(setup):
    ws, experiment, version = setup
    plan = plan_sweep(ws, experiment, version)
    config = plan.runs[0].config.model_copy(update={"cv": None})
    for run in plan.runs[:2]:
        _finish(ws, run.run_id, [0.4], 0.4)
    with pytest.raises(TrainingError, match=rf"{plan.runs[2].run_id} \(pending\).*sweep run"):
        register_ensemble(ws, experiment, version, config)
    _finish(ws, plan.runs[2].run_id, [0.7], 0.7)
    row = register_ensemble(ws, experiment, version, config, details={"note": "x"})
    assert row["status"] == "finished" and row["n_parameters"] == 21
    assert row["best_metric"] == pytest.approx(0.5) and row["details"]["note"] == "x"
    assert row["details"]["members"] == [r.run_id for r in plan.runs[:3]]
    assert register_ensemble(ws, experiment, version, config)["id"] == row["id"]


def test_a_final_model_needs_an_experiment_that_cross_validates(setup, experiment_file):
    ws, _, version = setup
    plain = load_experiment(experiment_file(space=SPACE, name="plain"))
    config = plan_sweep(ws, plain, version).runs[0].config
    assert config.cv is None
    with pytest.raises(ConfigError, match=r"ranking\.selection\.folds is not set"):
        register_ensemble(ws, plain, version, config)
