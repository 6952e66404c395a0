"""Several writers on one SQLite workspace wait for each other instead of failing "locked"."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from medselect.store import Workspace, get_run, list_runs, set_run_status, upsert_run


def _run(run_id: str) -> dict:
    return {"id": run_id, "task": "knee", "dataset_version": "v1", "config": {},
            "config_hash": run_id}


def test_a_writer_waits_for_the_one_holding_the_lock(ws, add_version):
    add_version("v1", train=["a"])
    other = Workspace.open(ws.root)  # a second engine, as in another worker process
    holding = threading.Event()

    def first() -> None:
        with ws.begin() as conn:
            upsert_run(conn, _run("r1"))
            holding.set()
            threading.Event().wait(0.3)  # keep the write lock a moment

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait()
    with other.begin() as conn:  # blocks until the first commits, then succeeds
        assert get_run(conn, "r1")["id"] == "r1"  # it began after the first had committed
        upsert_run(conn, _run("r2"))
    thread.join()
    with other.connect() as conn:
        assert [r["id"] for r in list_runs(conn)] == ["r1", "r2"]
    other.dispose()


def test_concurrent_read_then_write_transactions_do_not_error(ws, add_version):
    """Each worker reads then writes in one transaction: the case that fails "database is
    locked" when transactions start deferred."""
    add_version("v1", train=["a"])
    with ws.begin() as conn:
        upsert_run(conn, _run("shared"))

    def worker(index: int) -> None:
        workspace = Workspace.open(ws.root)
        try:
            for step in range(10):
                with workspace.begin() as conn:
                    upsert_run(conn, _run(f"r{index}-{step}"))
                    set_run_status(conn, "shared", "running")
        finally:
            workspace.dispose()

    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(worker, i) for i in range(4)]:
            future.result()
    with ws.connect() as conn:
        assert len(list_runs(conn)) == 41
        assert get_run(conn, "shared")["attempts"] == 40
