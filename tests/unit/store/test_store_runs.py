"""Runs and epoch metrics round-trip; the status life cycle stamps times and attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medselect.errors import NotFound, StoreError
from medselect.store import (
    add_epoch_metrics,
    get_epoch_metrics,
    get_run,
    list_runs,
    set_run_status,
    upsert_run,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _run(run_id: str, **extra) -> dict:
    return {
        "id": run_id, "task": "knee", "dataset_version": "v1", "sweep": "s1",
        "config": {"architecture": "unet", "learning_rate": 0.001}, "config_hash": f"c-{run_id}",
        **extra,
    }


@pytest.fixture
def v1(add_version) -> str:
    return add_version("v1", train=["a"], test=["b"])


def test_new_run_round_trips_with_defaults(ws, v1):
    with ws.begin() as conn:
        stored = upsert_run(conn, _run("r1"))
    with ws.connect() as conn:
        assert get_run(conn, "r1") == stored
    assert stored["config"] == {"architecture": "unet", "learning_rate": 0.001}
    assert (stored["status"], stored["attempts"], stored["started_at"]) == ("pending", 0, None)


def test_upsert_updates_only_given_fields(ws, v1):
    with ws.begin() as conn:
        upsert_run(conn, _run("r1"))
        set_run_status(conn, "r1", "running", device="cpu")
        again = upsert_run(conn, {"id": "r1", "sweep": "s2"})
    assert (again["sweep"], again["status"], again["device"]) == ("s2", "running", "cpu")
    assert again["config_hash"] == "c-r1"


def test_upsert_refuses_unknown_and_missing_fields(ws, v1):
    with ws.begin() as conn:
        with pytest.raises(StoreError, match=r"run 'r1': unknown field\(s\) \['colour'\]"):
            upsert_run(conn, _run("r1", colour="red"))
        incomplete = _run("r2")
        del incomplete["config_hash"]
        with pytest.raises(StoreError, match=r"run 'r2': missing .*\['config_hash'\]"):
            upsert_run(conn, incomplete)
        with pytest.raises(StoreError, match="'id' field is required"):
            upsert_run(conn, {"task": "knee"})


def test_status_life_cycle(ws, v1):
    with ws.begin() as conn:
        upsert_run(conn, _run("r1"))
        running = set_run_status(conn, "r1", "running", now=T0, device="cuda:0")
        failed = set_run_status(conn, "r1", "failed", error="CUDA out of memory",
                                traceback="Traceback ...", now=T0 + timedelta(seconds=30))
        retry = set_run_status(conn, "r1", "running", now=T0 + timedelta(minutes=5))
        done = set_run_status(conn, "r1", "finished", checkpoint_uri="runs/r1/best.pt",
                              best_metric=0.91, n_parameters=1234,
                              now=T0 + timedelta(minutes=6, seconds=30))
    assert (running["attempts"], running["started_at"], running["device"]) == (1, T0, "cuda:0")
    assert (failed["error"], failed["duration_s"]) == ("CUDA out of memory", 30.0)
    assert (retry["attempts"], retry["error"], retry["finished_at"]) == (2, None, None)
    assert done["duration_s"] == 90.0
    assert (done["checkpoint_uri"], done["best_metric"], done["n_parameters"]) == (
        "runs/r1/best.pt", 0.91, 1234)
    assert done["device"] == "cuda:0"


def test_status_errors(ws, v1):
    with ws.begin() as conn:
        with pytest.raises(StoreError, match=r"must be one of \['pending', 'running'"):
            set_run_status(conn, "r1", "done")
        with pytest.raises(NotFound, match="run 'r404'"):
            set_run_status(conn, "r404", "running")


def test_list_runs_filters(ws, v1):
    with ws.begin() as conn:
        upsert_run(conn, _run("r1", created_at=T0))
        upsert_run(conn, _run("r2", sweep="s2", created_at=T0 + timedelta(seconds=1)))
        upsert_run(conn, _run("r3", created_at=T0 + timedelta(seconds=2)))
        set_run_status(conn, "r3", "running")
        set_run_status(conn, "r3", "finished")
    with ws.connect() as conn:
        assert [r["id"] for r in list_runs(conn)] == ["r1", "r2", "r3"]
        assert [r["id"] for r in list_runs(conn, task="knee", status="pending")] == ["r1", "r2"]
        assert [r["id"] for r in list_runs(conn, status="finished")] == ["r3"]
        assert [r["id"] for r in list_runs(conn, sweep="s2")] == ["r2"]
        assert list_runs(conn, task="hip") == []


def test_epoch_metrics_round_trip_and_replace(ws, v1):
    with ws.begin() as conn:
        upsert_run(conn, _run("r1"))
        add_epoch_metrics(conn, "r1", 0, {"train_loss": 0.9, "val_dice": 0.5})
        add_epoch_metrics(conn, "r1", 1, {"train_loss": float("nan"), "val_dice": 0.7})
        add_epoch_metrics(conn, "r1", 1, {"val_dice": 0.75})  # a retried attempt
    with ws.connect() as conn:
        rows = get_epoch_metrics(conn, "r1")
        with pytest.raises(NotFound, match="run 'r2'"):
            get_epoch_metrics(conn, "r2")
    assert rows == [
        {"epoch": 0, "name": "train_loss", "value": 0.9},
        {"epoch": 0, "name": "val_dice", "value": 0.5},
        {"epoch": 1, "name": "train_loss", "value": None},
        {"epoch": 1, "name": "val_dice", "value": 0.75},
    ]


def test_a_pruned_run_ends_like_a_finished_one_and_lists_apart(ws, v1):
    with ws.begin() as conn:
        upsert_run(conn, _run("r1"))
        set_run_status(conn, "r1", "running", now=T0)
        pruned = set_run_status(conn, "r1", "pruned", checkpoint_uri="runs/r1/best.pt",
                                best_metric=0.4, now=T0 + timedelta(seconds=12))
        add_epoch_metrics(conn, "r1", 1, {"val_dice": 0.4})
    assert (pruned["status"], pruned["duration_s"], pruned["checkpoint_uri"]) == (
        "pruned", 12.0, "runs/r1/best.pt")
    with ws.connect() as conn:
        assert [r["id"] for r in list_runs(conn, status="pruned")] == ["r1"]
        assert list_runs(conn, status="finished") == []
        assert get_epoch_metrics(conn, "r1")[0]["value"] == 0.4  # its curve is kept
