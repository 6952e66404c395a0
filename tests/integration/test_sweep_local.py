"""Sweeps on the local executor: training, records, failure isolation, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from medselect.config import RunConfig, config_hash, load_experiment
from medselect.store import Workspace, get_epoch_metrics, get_run, list_runs, upsert_run

pytestmark = pytest.mark.slow


def test_sweep_trains_records_epochs_and_checkpoints(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet, basic_unet], loss: [dice_ce], epochs: 2")
    ws_dir = tmp_path / "ws"
    result = run_cli("sweep", "run", exp, "-w", ws_dir, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"finished": 2}
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn, sweep="tiny")
        epochs = {r["id"]: get_epoch_metrics(conn, r["id"]) for r in runs}
    for run in runs:
        names = {e["name"] for e in epochs[run["id"]]}
        assert {"train_loss", "val_loss", "val_dice", "learning_rate", "epoch_time_s"} <= names
        assert max(e["epoch"] for e in epochs[run["id"]]) == 2
        assert run["n_parameters"] > 0 and run["details"]["augmentation_preset"] == []
        state = torch.load(ws.path(run["checkpoint_uri"]), weights_only=True)
        assert state["model"] and all(torch.is_tensor(v) for v in state["model"].values())
        assert (ws.path(f"runs/{run['id']}") / "last.pt").is_file()
    again = run_cli("sweep", "run", exp, "-w", ws_dir, "--json")  # idempotent: nothing to train
    assert json.loads(again.stdout)["counts"] == {"finished": 2}
    listed = run_cli("runs", "list", "-w", ws_dir, "--json")
    assert {r["status"] for r in json.loads(listed.stdout)} == {"finished"}


def test_failures_are_isolated(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 1, "
                          "learning_rate: [0.001, 1.0e+30]")
    ws_dir = tmp_path / "ws"
    assert run_cli("data", "synth-knee", "-w", ws_dir, "--no-import").code == 0
    experiment = load_experiment(exp)
    # A configuration that raises inside the worker: its input cannot pass a UNETR's patches.
    # The sweep's own checks refuse it, so it is registered directly, as an older sweep would.
    bad = RunConfig(architecture="unetr", input_size=(20, 20), epochs=1, batch_size=4)
    ws = Workspace.create(ws_dir)
    from medselect.data.importer import import_experiment_data

    version = import_experiment_data(ws, experiment).version_id
    with ws.begin() as conn:
        upsert_run(conn, {"id": "run-raises", "task": "knee", "dataset_version": version,
                          "sweep": "tiny", "config": bad.model_dump(mode="json"),
                          "config_hash": config_hash(bad), "status": "pending"})
    result = run_cli("sweep", "run", exp, "-w", ws_dir, "--json")
    assert result.code == 1 and "1 run(s) failed" in result.stderr  # scripts can tell
    with ws.connect() as conn:
        runs = {r["config"]["learning_rate"]: r for r in list_runs(conn, sweep="tiny")
                if r["id"] != "run-raises"}
        raised = get_run(conn, "run-raises")
    assert runs[0.001]["status"] == "finished"
    assert runs[1e30]["status"] == "failed" and "NaN" in runs[1e30]["error"]
    assert runs[1e30]["traceback"] and "Traceback" in runs[1e30]["traceback"]
    # The directly registered run is not part of the sweep plan, so train it explicitly.
    from medselect.sweep.executors.local import LocalExecutor
    from medselect.sweep.jobs import RunJob

    [outcome] = LocalExecutor(workers=1).run([RunJob("run-raises", str(ws_dir))])
    with ws.connect() as conn:
        raised = get_run(conn, "run-raises")
    assert outcome.status == "failed" and raised["status"] == "failed" and raised["error"]


def test_killed_worker_is_resumed_from_its_last_checkpoint(experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 12")
    ws_dir = tmp_path / "ws"
    cmd = [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
           "--json"]
    sweep = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run, first_epoch = _wait_for_epoch(ws_dir, sweep, epoch=2)
        os.kill(int(run["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        _, err = sweep.communicate(timeout=120)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    assert sweep.returncode == 1 and "1 run(s) interrupted" in err, err  # scripts see it
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        killed = get_run(conn, run["id"])
    assert killed["status"] == "interrupted" and "killed by signal 9" in killed["error"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with ws.connect() as conn:
        resumed = get_run(conn, run["id"])
        epochs = get_epoch_metrics(conn, run["id"])
    assert resumed["status"] == "finished" and resumed["attempts"] == 2
    assert max(e["epoch"] for e in epochs) == 12
    kept = next(e for e in epochs if e["epoch"] == 1 and e["name"] == "epoch_time_s")
    assert kept["value"] == first_epoch  # epoch 1 was not trained again


def _wait_for_epoch(ws_dir, proc, epoch: int, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (ws_dir / "medselect.db").exists():
            try:
                ws = Workspace.open(ws_dir)
                with ws.connect() as conn:
                    for run in list_runs(conn, status="running"):
                        rows = get_epoch_metrics(conn, run["id"])
                        if any(r["epoch"] >= epoch for r in rows) and run["worker"]:
                            first = next(r["value"] for r in rows
                                         if r["epoch"] == 1 and r["name"] == "epoch_time_s")
                            return run, first
                ws.dispose()
            except Exception:  # the database is being created
                pass
        time.sleep(0.2)
    raise AssertionError("no run reached the epoch in time")


def test_two_sweeps_at_once_train_each_run_once(experiment_file, tmp_path, db_url):
    """Two `sweep run` processes on one experiment and one database (SQLite, PostgreSQL):
    both exit 0, every run finishes and was trained by exactly one of them."""
    exp = experiment_file(space="architecture: [unet, segresnet], loss: [dice, dice_ce], "
                                "epochs: 1")
    ws_dir = tmp_path / "ws"
    env = {**os.environ, **({"MEDSELECT_DB_URL": db_url} if db_url else {})}
    cmd = [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
           "--workers", "1", "--threads", "1", "--json"]
    first = subprocess.run([*cmd[:-1], "--help"], capture_output=True, env=env)  # warm imports
    assert first.returncode == 0
    sweeps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env) for _ in range(2)]
    outputs = [s.communicate(timeout=600) for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], [err for _, err in outputs]
    ws = Workspace.open(ws_dir, db_url)
    with ws.connect() as conn:
        runs = list_runs(conn)
    ws.dispose()
    assert len(runs) == 4 and {r["status"] for r in runs} == {"finished"}
    assert {r["attempts"] for r in runs} == {1}
