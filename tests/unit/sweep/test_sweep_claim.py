"""A run is trained by one process at a time, even when two sweeps overlap."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest

from medselect.store import Workspace, add_dataset_version, get_run, put_task, upsert_run
from medselect.sweep.jobs import RunJob, RunOutcome
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


def _claim_all(root: str, run_ids: list[str], start) -> list[str]:
    """In a process of its own: claim every run it can; the ids it claimed."""
    from medselect.sweep.worker import claim_run

    ws = Workspace.open(root)
    try:
        start.wait()
        return [r for r in run_ids if not isinstance(claim_run(ws, r), RunOutcome)]
    finally:
        ws.dispose()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_two_sweeps_claiming_at_once_train_each_run_once(tmp_path, db_url):
    """Two processes race to claim the same 30 runs: every run is claimed exactly once (on
    PostgreSQL, two read-then-write transactions would both claim without the run's lock)."""
    ws = Workspace.create(tmp_path / "ws", db_url)
    run_ids = [f"run-{i:02d}" for i in range(30)]
    with ws.begin() as conn:
        put_task(conn, "knee", "segmentation")
        add_dataset_version(conn, {"id": "dv-1", "task": "knee"}, [])
        for run_id in run_ids:
            upsert_run(conn, {"id": run_id, "task": "knee", "dataset_version": "dv-1",
                              "config": {}, "config_hash": run_id})
    ws.dispose()
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Barrier(2)
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        claims = [pool.submit(_claim_all, str(ws.root), run_ids, start) for _ in range(2)]
        first, second = (c.result(timeout=120) for c in claims)
    assert not set(first) & set(second)
    assert sorted(first + second) == run_ids
    with ws.connect() as conn:
        assert {get_run(conn, r)["attempts"] for r in run_ids} == {1}
    ws.dispose()


def test_a_job_without_url_opens_the_folders_own_database(tmp_path, monkeypatch):
    """A worker pool outlives the command that started it: a MEDSELECT_DB_URL it inherited
    must not redirect a job of another workspace (run_sweep always gives the URL)."""
    ws = Workspace.create(tmp_path / "ws")
    ws.dispose()
    monkeypatch.setenv("MEDSELECT_DB_URL", "postgresql+psycopg://nobody@/elsewhere?host=/nope")
    with RunJob("r", str(tmp_path / "ws")).open_workspace() as opened:
        assert opened.engine.url.database == str(tmp_path / "ws" / "medselect.db")
