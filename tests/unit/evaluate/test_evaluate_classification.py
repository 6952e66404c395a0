"""Evaluating classification runs on untrained image-level networks: saliency on overlays only
when overlays are drawn, and sliding windows refused before any work."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from medselect.config import RunConfig, TaskSpec, config_hash
from medselect.data.importer import import_dataset
from medselect.data.loading import load_case
from medselect.data.sources import read_source
from medselect.errors import ConfigError
from medselect.evaluate import TrainedPredictor, evaluate_runs
from medselect.evaluate.predictors import Explained
from medselect.store import (
    Workspace,
    case_set_members,
    get_predictions,
    get_run,
    list_evaluations,
    set_run_status,
    upsert_run,
)
from medselect.tasks import ClassificationPlugin
from medselect.train import build_network, save_checkpoint

TASK = TaskSpec(name="thinning", kind="classification", classes=["normal", "thinning"])
CONFIG = RunConfig(architecture="resnet18", loss="ce", input_size=(32, 32), features=2,
                   batch_size=4)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def ws(tmp_path, tiny_phantom):
    workspace = Workspace.create(tmp_path / "ws")
    import_dataset(workspace, TASK, read_source(tiny_phantom / "manifest.csv").records)
    torch.manual_seed(0)
    network = build_network(CONFIG, spatial_dims=2, in_channels=1, out_channels=2,
                            plugin=ClassificationPlugin())
    save_checkpoint(workspace.path("runs/run-cls/best.pt"), {
        "model": network.state_dict(), "epoch": 1, "best_metric": math.nan, "best_epoch": 1,
        "fingerprint": ""})
    with workspace.begin() as conn:
        version = conn.exec_driver_sql("select id from dataset_version").scalar_one()
        upsert_run(conn, {"id": "run-cls", "task": TASK.name, "dataset_version": version,
                          "config": CONFIG.model_dump(mode="json"),
                          "config_hash": config_hash(CONFIG)})
        set_run_status(conn, "run-cls", "running")
        set_run_status(conn, "run-cls", "finished", checkpoint_uri="runs/run-cls/best.pt")
    yield workspace
    workspace.dispose()


def test_overlays_show_a_saliency_heat_map(ws):
    report = evaluate_runs(ws, case_set="test")
    assert report.outcomes[0].status == "finished" and report.outcomes[0].n_errors == 0
    with ws.connect() as conn:
        rows = get_predictions(conn, report.outcomes[0].evaluation_id)
    assert rows
    for row in rows:
        probabilities = json.loads(ws.path(row["prediction_uri"]).read_text())
        assert list(probabilities) == ["normal", "thinning"]
        assert ws.path(row["overlay_uri"]).read_bytes()[:4] == b"\x89PNG"
        with Image.open(ws.path(row["thumbnail_uri"])) as thumb:  # the image part alone
            rgb = np.asarray(thumb.convert("RGB"), dtype=int)
        assert (rgb[..., 0] - rgb[..., 2] > 60).any()  # tinted red to yellow: the heat map


def test_saliency_only_when_overlays_are_drawn(ws):
    with ws.connect() as conn:
        run = get_run(conn, "run-cls")
        member = case_set_members(conn, f"{run['dataset_version']}-test")[0]
    case = load_case(member, ws.path)
    shown, plain = (TrainedPredictor(ws, run, TASK, device="cpu", saliency=flag)
                    for flag in (True, False))
    for predictor in (shown, plain):
        predictor.load()
    (explained,), (probabilities,) = shown.predict([case], {}), plain.predict([case], {})
    assert isinstance(explained, Explained) and isinstance(probabilities, np.ndarray)
    assert np.allclose(explained.prediction, probabilities)
    assert explained.saliency.shape == case.image.shape[1:]
    evaluate_runs(ws, case_set="test", overlays=False)
    with ws.connect() as conn:
        (evaluation,) = list_evaluations(conn)
        rows = get_predictions(conn, evaluation["id"])
    assert all(row["overlay_uri"] is None for row in rows)


def test_sliding_windows_are_refused_for_an_image_level_task(ws, run_cli):
    with pytest.raises(ConfigError, match="sliding_window: task 'thinning' is classification"):
        evaluate_runs(ws, sliding_window=True)
    refused = run_cli("evaluate", "-w", ws.root, "--sliding-window")
    assert refused.code == 1
    assert "--sliding-window" in refused.stderr and "one answer per image" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    with ws.connect() as conn:
        assert list_evaluations(conn) == []  # refused before any work
