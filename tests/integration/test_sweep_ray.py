"""The Ray executor on a local Ray with 2 CPUs writes the same store as local runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medselect.store import Workspace, get_epoch_metrics, list_runs

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # `ray stop` stops them all


def test_ray_executor_trains_into_the_same_store(experiment_file, tmp_path):
    """In a process of its own, so that what Ray writes to the terminal is seen: stdout holds
    the JSON and nothing else."""
    exp = experiment_file(space="architecture: [unet, segresnet], loss: [dice_ce], epochs: 1")
    ws_dir = tmp_path / "ws"
    result = subprocess.run(
        [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w", str(ws_dir),
         "--executor", "ray", "--workers", "2", "--threads", "1", "--json"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"finished": 2}
    ws = Workspace.open(ws_dir)
    with ws.connect() as conn:
        runs = list_runs(conn)
        assert all(get_epoch_metrics(conn, r["id"]) for r in runs)
    assert {r["status"] for r in runs} == {"finished"}


def test_unreachable_ray_address_fails_before_training(run_cli, experiment_file, tmp_path):
    exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 1")
    result = run_cli("sweep", "run", exp, "-w", tmp_path / "ws", "--executor", "ray",
                     "--address", "127.0.0.1:1")
    assert result.code == 1
    assert "--address" in result.stderr and "127.0.0.1:1" in result.stderr
    ws = Workspace.open(tmp_path / "ws")
    with ws.connect() as conn:
        assert {r["status"] for r in list_runs(conn)} == {"pending"}


def test_a_local_sweep_starts_its_own_ray_beside_a_running_head(experiment_file, tmp_path):
    """A Ray head already running on the machine (another user's, or `ray start --head`) is
    left alone: without --address the sweep starts a Ray of its own on 127.0.0.1."""
    ray_bin = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_ADDRESS": ""}
    subprocess.run([ray_bin, "start", "--head", "--num-cpus", "1", "--node-ip-address",
                    "127.0.0.1", "--include-dashboard", "false"],  # found by ray.init()
                   check=True, capture_output=True, env=env, timeout=180)
    try:
        exp = experiment_file(space="architecture: [unet], loss: [dice_ce], epochs: 1")
        result = subprocess.run(
            [sys.executable, "-m", "medselect.cli", "sweep", "run", str(exp), "-w",
             str(tmp_path / "ws"), "--executor", "ray", "--workers", "1", "--json"],
            capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["counts"] == {"finished": 1}
    finally:
        subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env, timeout=120)
