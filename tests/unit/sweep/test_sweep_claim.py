"""A run is trained by one process at a time, even when two sweeps overlap."""

from __future__ import annotations

import os
import subprocess
import sys

from medselect.store import Workspace, add_dataset_version, get_run, put_task, upsert_run
from medselect.sweep.jobs import RunJob
from medselect.sweep.worker import execute_run, this_worker, worker_alive


def test_worker_alive_knows_live_dead_and_foreign_processes():
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert worker_alive(this_worker(os.getppid()))
    assert not worker_alive(this_worker(int(done.stdout)))  # exited
    assert not worker_alive("another-host:1")  # cannot be checked: taken over
    assert not worker_alive(None)


def test_a_run_held_by_a_live_worker_is_left_alone(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    holder = this_worker(os.getppid())
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "dv-1", "task": "knee"}, [])
        upsert_run(conn, {"id": "run-1", "task": "knee", "dataset_version": "dv-1",
                          "config": {}, "config_hash": "x", "status": "running",
                          "worker": holder})
    outcome = execute_run(RunJob("run-1", str(ws.root)))
    with ws.connect() as conn:
        row = get_run(conn, "run-1")
    assert outcome.status == "running" and holder in outcome.error
    assert row["status"] == "running" and row["worker"] == holder and row["attempts"] == 0
