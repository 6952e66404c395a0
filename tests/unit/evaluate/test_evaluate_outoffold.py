"""Out-of-fold evaluation on untrained networks: the table holds each train + val case once per
configuration, scored by the fold run that held it out; fold ensembles predict their members'
mean softmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medselect.choose import cv_configurations, fold_case_set_id, fold_means, out_of_fold_table
from medselect.config import (
    RankingSpec,
    RunConfig,
    TaskSpec,
    config_hash,
    fold_configs,
    load_experiment,
    run_id,
)
from medselect.data.folds import case_folds
from medselect.data.importer import import_dataset
from medselect.data.loading import load_case
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.errors import ConfigError, NotFound
from medselect.evaluate import (
    MetricPolicy,
    TrainedPredictor,
    evaluate_folds,
    evaluate_models,
    evaluate_runs,
    select_runs,
)
from medselect.metrics import SET_METRICS, directions
from medselect.rank import rank_table
from medselect.store import (
    Workspace,
    case_metric_table,
    case_set_members,
    get_case_set,
    get_cases,
    get_predictions,
    set_run_status,
    upsert_run,
)
from medselect.sweep import register_ensemble
from medselect.tasks import SegmentationPlugin
from medselect.train import build_network, load_model, predict_logits, save_checkpoint

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)
K = 3
RANKING = RankingSpec(metric="dice", bootstrap_resamples=50,
                      selection={"folds": K, "seed": 0})
CONFIGS = [RunConfig(architecture="unet", input_size=(32, 32), depth=2, features=4,
                     batch_size=2, seed=seed) for seed in (0, 1)]


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    """The tiny phantom, and K finished fold runs (untrained networks) of two configurations,
    except fold 3 of the second, which failed."""
    workspace = Workspace.create(tmp_path / "ws")
    version = import_dataset(workspace, TASK,
                             read_source(tiny_phantom / "manifest.csv").records).version_id
    for i, config in enumerate(CONFIGS):
        for fold in fold_configs(config, K, seed=0):
            failed = i == 1 and fold.cv.fold == 3
            register(workspace, fold, version, status="failed" if failed else "finished")
    yield workspace
    workspace.dispose()


def register(ws: Workspace, config: RunConfig, version: str, status: str = "finished") -> str:
    rid = run_id(config, version)
    torch.manual_seed(int(rid[-6:], 16))
    network = build_network(config, spatial_dims=2, in_channels=1, out_channels=len(CLASSES))
    save_checkpoint(ws.path(f"runs/{rid}/best.pt"), {
        "model": network.state_dict(), "epoch": 1, "best_metric": 0.5, "best_epoch": 1,
        "fingerprint": ""})
    with ws.begin() as conn:
        upsert_run(conn, {"id": rid, "task": "knee", "dataset_version": version,
                          "config": config.model_dump(mode="json"),
                          "config_hash": config_hash(config), "n_parameters": 10})
        set_run_status(conn, rid, "running")
        set_run_status(conn, rid, status, best_metric=0.5, checkpoint_uri=f"runs/{rid}/best.pt"
                       if status == "finished" else None)
    return rid


def _version(ws) -> str:
    with ws.connect() as conn:
        return conn.exec_driver_sql("select id from dataset_version").scalar_one()


def test_each_case_once_per_configuration_from_the_fold_that_held_it_out(ws):
    version = _version(ws)
    reports = evaluate_folds(ws, TASK, RANKING.selection, overlays=False)
    assert [len(r.outcomes) for r in reports] == [2, 2, 1]  # the failed fold run is not scored
    with ws.connect() as conn:
        configurations = cv_configurations(conn, "knee", version, RANKING.selection)
    first = configurations[0]
    # a fold-1 run also scored on fold 2 must not leak into the table
    with ws.connect() as conn:
        fold2 = get_case_set(conn, fold_case_set_id(version, RANKING.selection, 2))
    evaluate_models(ws, TASK, [TrainedPredictor(ws, first.runs[1], TASK)], fold2,
                    MetricPolicy.for_task(TASK, None), overlays=False)

    with ws.connect() as conn:
        table = out_of_fold_table(conn, "knee", RANKING)
        cases = get_cases(conn, version)
    fold_of = case_folds(cases, K, seed=0)
    pooled = {c["case_id"] for c in cases if c["split"] in ("train", "val")}
    assert set(fold_of) == pooled and "test" not in {c["split"] for c in cases
                                                       if c["case_id"] in set(table["case_id"])}
    assert set(table["model"]) == {c.model for c in configurations}
    assert all(m.startswith("cv:") for m in table["model"])
    keys = ["model", "case_id", "metric", "label"]
    assert not table.duplicated(keys).any()
    dice = table[(table["metric"] == "dice") & (table["label"] == "mean")]
    assert set(dice.loc[dice["model"] == first.model, "case_id"]) == pooled
    assert (dice["fold"] == dice["case_id"].map(fold_of)).all()
    with ws.connect() as conn:
        for k in (1, 2, 3):
            held_out = case_metric_table(conn, case_set=fold_case_set_id(version,
                                         RANKING.selection, k), model_refs=[first.runs[k]["id"]],
                                         metrics=["dice"], labels=["mean"])
            mine = dice[(dice["model"] == first.model) & (dice["fold"] == k)]
            np.testing.assert_allclose(mine["value"].to_numpy(), held_out["value"].to_numpy())
    second = configurations[1]
    assert set(dice.loc[dice["model"] == second.model, "fold"]) == {1, 2}  # fold 3 failed
    assert {"patient_id", "site"} <= set(table.columns)

    report = rank_table(table, RANKING, directions(table["metric"]), set_metrics=SET_METRICS)
    rows = {r.model: r for r in report.leaderboard.rows}
    n_patients = len({c["patient_id"] for c in cases if c["case_id"] in pooled})
    assert rows[first.model].n_cases == len(pooled) and rows[first.model].n_patients == n_patients
    assert rows[first.model].n_imputed == 0
    assert rows[second.model].n_imputed == sum(f == 3 for f in fold_of.values())
    means = fold_means(table, "dice")
    assert list(means.columns) == [1, 2, 3] and np.isnan(means.loc[second.model, 3])


def test_fold_runs_are_left_out_of_every_finished_run(ws):
    with ws.connect() as conn, pytest.raises(NotFound, match="only fold runs"):
        select_runs(conn, "knee")


def test_the_table_needs_folds_and_is_empty_before_any_evaluation(ws):
    with ws.connect() as conn:
        assert out_of_fold_table(conn, TASK.name, RANKING).empty
        with pytest.raises(ConfigError, match=r"ranking\.selection\.folds is not set"):
            out_of_fold_table(conn, TASK.name, RankingSpec(metric="dice"))


def test_a_fold_ensemble_predicts_the_argmax_of_its_members_mean_softmax(ws, experiment_file):
    version = _version(ws)
    experiment = load_experiment(experiment_file(
        space="architecture: [unet]", extra="ranking: {selection: {folds: 3}}"))
    row = register_ensemble(ws, experiment, version, CONFIGS[0])
    assert row["status"] == "finished" and row["n_parameters"] == 30
    assert row["config"]["cv"] == {"folds": 3, "seed": 0, "final": "ensemble"}
    assert row["details"]["members"] == [run_id(c, version) for c in fold_configs(CONFIGS[0], K)]
    with ws.connect() as conn:
        assert [r["id"] for r in select_runs(conn, "knee")] == [row["id"]]
    report = evaluate_runs(ws, task=TASK, case_set="test", overlays=False)
    [outcome] = report.outcomes
    assert outcome.model_ref == row["id"] and outcome.n_ok == outcome.n_cases > 0
    plugin = SegmentationPlugin()
    members = [load_model(ws.path(f"runs/{m}/best.pt"), CONFIGS[0], plugin, TASK, device="cpu")
               for m in row["details"]["members"]]
    with ws.connect() as conn:
        member = case_set_members(conn, report.case_set)[0]
        [prediction] = [p for p in get_predictions(conn, outcome.evaluation_id)
                        if p["case_id"] == member["case_id"]]
    case = load_case(member, ws.path)
    logits = [predict_logits(m, [case.image], CONFIGS[0])[0] for m in members]
    softmax = [torch.softmax(torch.from_numpy(x), dim=0) for x in logits]
    expected = torch.stack(softmax).mean(0).argmax(0).numpy()
    saved = read_image(ws.path(prediction["prediction_uri"]), kind="label").array
    agreement = (np.squeeze(saved) == expected).mean()
    assert all((x.argmax(0) != expected).any() for x in logits)  # no member alone predicts it
    assert agreement > 0.99  # resizing softmax or log-softmax back differs at a few edge pixels
