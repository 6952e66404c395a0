"""The evaluation engine on untrained networks: rows, files, idempotence and bad input."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from medselect.config import (
    EvaluationSpec,
    RunConfig,
    SplitFractions,
    SplitSpec,
    TaskSpec,
    config_hash,
)
from medselect.data.importer import import_dataset
from medselect.data.readers import read_image
from medselect.data.sources import read_source
from medselect.errors import ConfigError, NotFound
from medselect.evaluate import evaluate_runs, evaluate_runs_on_sets, select_runs
from medselect.evaluate.inference import predict_labels
from medselect.metrics import MEAN_LABEL
from medselect.store import (
    Workspace,
    case_metric_table,
    case_set_members,
    get_evaluation,
    get_predictions,
    set_run_status,
    upsert_run,
)
from medselect.tasks import SegmentationPlugin
from medselect.train import build_network, predict, save_checkpoint

CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage", "tibial_cartilage"]
TASK = TaskSpec(name="knee", classes=CLASSES)
CONFIG = RunConfig(architecture="unet", input_size=(32, 32), depth=2, features=4, batch_size=2)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    workspace = Workspace.create(tmp_path / "ws")
    import_dataset(workspace, TASK, read_source(tiny_phantom / "manifest.csv").records)
    for seed, score in ((0, 0.4), (1, 0.7)):
        register_run(workspace, seed, score)
    yield workspace
    workspace.dispose()


def register_run(ws: Workspace, seed: int, best_metric: float | None) -> str:
    """A finished run whose checkpoint is an untrained network (seeded)."""
    config = CONFIG.model_copy(update={"seed": seed})
    torch.manual_seed(seed)
    network = build_network(config, spatial_dims=2, in_channels=1, out_channels=len(CLASSES))
    run_id = f"run-seed{seed}"
    save_checkpoint(ws.path(f"runs/{run_id}/best.pt"), {
        "model": network.state_dict(), "epoch": 1, "best_metric": best_metric or math.nan,
        "best_epoch": 1, "fingerprint": ""})
    with ws.begin() as conn:
        version = conn.exec_driver_sql("select id from dataset_version").scalar_one()
        upsert_run(conn, {"id": run_id, "task": "knee", "dataset_version": version,
                          "config": config.model_dump(mode="json"),
                          "config_hash": config_hash(config)})
        set_run_status(conn, run_id, "running")
        set_run_status(conn, run_id, "finished", checkpoint_uri=f"runs/{run_id}/best.pt",
                       best_metric=best_metric)
    return run_id


def test_every_model_scores_every_case_and_a_rerun_is_reused(ws):
    report = evaluate_runs(ws, case_set="test")
    assert [o.status for o in report.outcomes] == ["finished", "finished"]
    with ws.connect() as conn:
        members = case_set_members(conn, report.case_set)
        table = case_metric_table(conn, case_set=report.case_set, metrics=["dice", "hd95"])
        predictions = get_predictions(conn, report.outcomes[0].evaluation_id)
        policy = get_evaluation(conn, report.outcomes[0].evaluation_id)["metric_policy"]
    labels = {*CLASSES[1:], MEAN_LABEL}
    for (model, case_id, metric), group in table.groupby(["model", "case_id", "metric"]):
        assert set(group["label"]) == labels, (model, case_id, metric)
    assert len(table) == 2 * len(members) * 2 * len(labels)
    assert policy["metrics"]["hd95"]["direction"] == "lower" and policy["key_metric"] == "dice"
    assert policy["metrics"]["dice"]["empty"] == {"both_empty": 1.0, "pred_empty": 0.0,
                                                  "ref_empty": 0.0}
    for member, row in zip(members, predictions, strict=True):
        saved = read_image(ws.path(row["prediction_uri"]), kind="label")
        case_image = read_image(ws.path(member["image_uris"][0]))
        assert row["status"] == "ok" and saved.spacing == case_image.spacing
        assert saved.shape == case_image.shape and row["prediction_uri"].endswith(".png")
        assert ws.path(row["overlay_uri"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ws.path(row["thumbnail_uri"]).is_file()
    again = evaluate_runs(ws, case_set="test")
    assert [o.status for o in again.outcomes] == ["reused", "reused"]
    assert [o.key_value for o in again.outcomes] == pytest.approx(
        [o.key_value for o in report.outcomes])
    forced = evaluate_runs(ws, case_set="test", runs=["run-seed1"], force=True, overlays=False)
    assert forced.outcomes[0].status == "finished"
    assert forced.outcomes[0].evaluation_id == report.outcomes[1].evaluation_id


def test_the_listed_sets_are_evaluated_in_order_and_reruns_are_reused(ws):
    seen: list[tuple[int, int]] = []
    result = evaluate_runs_on_sets(ws, overlays=False,
                                   on_progress=lambda done, total: seen.append((done, total)))
    assert result.names == ["val", "test"] and result.skipped == []  # the default spec's order
    assert [r.case_set_kind for r in result.reports] == ["val", "test"]
    assert all(o.status == "finished" for r in result.reports for o in r.outcomes)
    pairs = sum(r.n_cases * len(r.outcomes) for r in result.reports)
    assert seen[-1] == (pairs, pairs) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    dumped = result.to_dict()
    assert [(r["name"], r["case_set_kind"]) for r in dumped["reports"]] == [
        ("val", "val"), ("test", "test")]
    assert dumped["task"] == "knee" and dumped["skipped"] == []
    again = evaluate_runs_on_sets(ws, overlays=False)
    assert {o.status for r in again.reports for o in r.outcomes} == {"reused"}
    only = evaluate_runs_on_sets(ws, case_sets=["test"], runs=["run-seed0"], overlays=False)
    assert only.names == ["test"] and [o.status for o in only.reports[0].outcomes] == ["reused"]
    spec = EvaluationSpec(case_sets=["test", "reference"], metrics=["dice"], overlays=False)
    listed = evaluate_runs_on_sets(ws, spec=spec, runs=["run-seed0"])
    assert [r.case_set_kind for r in listed.reports] == ["test", "reference"]


def test_a_missing_val_set_is_skipped_with_a_note(tmp_path, tiny_phantom):
    split = SplitSpec(fractions=SplitFractions(train=0.8, val=0.0, test=0.2))
    with Workspace.create(tmp_path / "novals") as ws:
        import_dataset(ws, TASK, read_source(tiny_phantom / "manifest.csv").records,
                       split=split)
        register_run(ws, 0, 0.5)
        result = evaluate_runs_on_sets(ws, overlays=False)
        assert result.names == ["test"] and [s.name for s in result.skipped] == ["val"]
        assert "has no validation cases" in result.skipped[0].reason
        assert result.to_dict()["skipped"][0]["name"] == "val"
        with pytest.raises(NotFound, match=r"task 'knee' has none of the case sets to "
                                           r"evaluate \(val\): dataset version"):
            evaluate_runs_on_sets(ws, case_sets=["val"], overlays=False)
        with pytest.raises(NotFound, match="has no validation cases"):
            evaluate_runs(ws, case_set="val", overlays=False)  # asked for by name: an error


def test_top_k_takes_the_best_validation_scores(ws):
    register_run(ws, 2, None)
    with ws.connect() as conn:
        best = select_runs(conn, "knee", top=2)
        lowest = select_runs(conn, "knee", top=1, mode="min")
        named = select_runs(conn, "knee", run_ids=["run-seed0", "run-seed2"], top=1)
    assert [r["id"] for r in best] == ["run-seed1", "run-seed0"]
    assert [r["id"] for r in lowest] == ["run-seed0"]
    assert [r["id"] for r in named] == ["run-seed0"]  # a run without a score comes last


def test_named_runs_must_be_finished_runs_of_the_task(ws):
    with ws.begin() as conn:
        set_run_status(conn, "run-seed0", "failed", error="boom")
    with ws.connect() as conn:
        with pytest.raises(ConfigError, match=r"run-seed0.*failed, not finished"):
            select_runs(conn, "knee", run_ids=["run-seed0"])
        with pytest.raises(ConfigError, match="belongs to task 'knee', not 'other'"):
            select_runs(conn, "other", run_ids=["run-seed1"])
        with pytest.raises(NotFound, match="run-nope"):
            select_runs(conn, "knee", run_ids=["run-nope"])


def test_a_corrupt_checkpoint_fails_its_model_and_the_others_go_on(ws):
    ws.path("runs/run-seed0/best.pt").write_bytes(b"not a checkpoint")
    report = evaluate_runs(ws, overlays=False)
    failed, fine = report.outcomes
    assert failed.status == "failed" and fine.status == "finished"
    assert "run 'run-seed0'" in failed.error and "runs/run-seed0/best.pt" in failed.error
    with ws.connect() as conn:
        assert get_evaluation(conn, failed.evaluation_id)["status"] == "failed"
        rows = get_predictions(conn, failed.evaluation_id)
        table = case_metric_table(conn, case_set=report.case_set)
    assert {r["status"] for r in rows} == {"error"} and "best.pt" in rows[0]["error"]
    assert set(table["model"]) == {"run-seed1"}  # a failed evaluation is not ranked


def test_a_case_with_another_channel_count_is_an_error_of_that_case(ws, tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    with ws.connect() as conn:  # a test case: new cases must not be training images
        version = conn.exec_driver_sql("select id from dataset_version").scalar_one()
        image = ws.path(case_set_members(conn, f"{version}-test")[0]["image_uris"][0])
    shutil.copy(image, folder / "one.nii.gz")
    shutil.copy(image, folder / "two_0000.nii.gz")
    shutil.copy(image, folder / "two_0001.nii.gz")
    report = evaluate_runs(ws, runs=["run-seed0"], case_set=folder, overlays=False)
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.n_ok, outcome.n_errors) == ("finished", 1, 1)
    with ws.connect() as conn:
        rows = {r["case_id"]: r for r in get_predictions(conn, outcome.evaluation_id)}
    assert rows["one"]["status"] == "ok"
    assert rows["two"]["status"] == "error"
    assert "case 'two' has 2 image channel(s)" in rows["two"]["error"]
    assert "run 'run-seed0' was trained on 1" in rows["two"]["error"]


def test_an_interrupted_evaluation_is_not_left_finished(ws):
    def interrupt(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate_runs(ws, runs=["run-seed0"], overlays=False, cases_per_batch=1,
                      on_progress=interrupt)
    with ws.connect() as conn:
        evaluations = conn.exec_driver_sql("select status from evaluation").scalars().all()
        n_metrics = conn.exec_driver_sql("select count(*) from case_metric").scalar_one()
    assert evaluations == ["failed"] and n_metrics == 0
    assert evaluate_runs(ws, runs=["run-seed0"], overlays=False).outcomes[0].status == "finished"


def test_batched_prediction_equals_one_case_at_a_time():
    plugin = SegmentationPlugin()
    torch.manual_seed(0)
    network = build_network(CONFIG, spatial_dims=2, in_channels=1, out_channels=3).eval()
    rng = np.random.default_rng(0)
    images = [rng.normal(size=shape).astype(np.float32)
              for shape in ((1, 32, 32), (1, 40, 24), (1, 32, 32), (1, 40, 24), (1, 16, 16))]
    shared: dict = {}
    batched = predict_labels(network, CONFIG, plugin, images, shared=shared)
    again = predict_labels(network, CONFIG, plugin, images, shared=shared)  # cached inputs
    single = predict(network, images, CONFIG, plugin)
    for a, b, c in zip(batched, again, single, strict=True):
        assert a.shape == c.shape and np.array_equal(a, c) and np.array_equal(b, c)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there_stops_every_model_and_leaves_none_running(ws):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        evaluate_runs(ws, device="cuda", overlays=False)
    with ws.connect() as conn:
        statuses = conn.exec_driver_sql("select status from evaluation").scalars().all()
    assert statuses == ["failed", "failed"]
