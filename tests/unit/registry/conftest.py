"""A small workspace for the registry tests: task, frozen reference set, runs, evaluations."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest
from registry_tables import CASES, SITES, TASK, VAL_CASES, VAL_SITES, case_rows

from medselect.store import (
    Workspace,
    add_case_set,
    add_dataset_version,
    put_evaluation,
    put_task,
    replace_case_metrics,
    set_reference_case_set,
    set_run_status,
    upsert_run,
)


@pytest.fixture
def engine(request) -> str | None:
    """The database of ``ws``: SQLite unless a test parametrizes ``engine`` (indirect) with
    ``"postgresql"``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return None
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def ws(tmp_path, engine) -> Iterator[Workspace]:
    """Task "knee" (:data:`TASK`), dataset version "v1" whose 12 test cases (sites A, B) form
    the frozen reference set "ref" and which has 8 validation cases (no case set of them yet:
    see ``selection``); runs "r1".."r4" finished and "rfail" failed, none evaluated yet."""
    workspace = Workspace.create(tmp_path / "ws", engine)
    cases = case_rows(CASES, SITES, "test") + case_rows(VAL_CASES, VAL_SITES, "val")
    with workspace.begin() as conn:
        put_task(conn, "knee", "segmentation", TASK.model_dump(mode="json"))
        add_dataset_version(conn, {"id": "v1", "task": "knee"}, cases)
        add_case_set(conn, {"id": "ref", "name": "reference", "task": "knee",
                            "dataset_version": "v1", "kind": "reference", "frozen": True},
                     CASES)
        set_reference_case_set(conn, "v1", "ref")
        for run in ("r1", "r2", "r3", "r4", "rfail"):
            upsert_run(conn, {"id": run, "task": "knee", "dataset_version": "v1",
                              "config": {}, "config_hash": run})
            set_run_status(conn, run, "running")
            set_run_status(conn, run, "failed" if run == "rfail" else "finished",
                           error="out of memory" if run == "rfail" else None)
    yield workspace
    workspace.dispose()


@pytest.fixture
def evaluate(ws) -> Callable[..., None]:
    """``evaluate("r2", dice=[...], hd95=[...], case_set="ref")`` stores a finished evaluation."""

    def store(run: str, *, case_set: str = "ref", cases: Sequence[str] = CASES,
              **metrics: Sequence[float]) -> None:
        rows = [{"case_id": c, "metric": m, "label": "mean", "value": v}
                for m, values in metrics.items() for c, v in zip(cases, values, strict=True)]
        with ws.begin() as conn:
            put_evaluation(conn, {"id": f"e-{run}-{case_set}", "model_ref": run,
                                  "case_set": case_set, "dataset_version": "v1",
                                  "status": "finished"})
            replace_case_metrics(conn, f"e-{run}-{case_set}", rows)

    return store


@pytest.fixture
def selection(ws) -> str:
    """The selection set "v1-val" of the 8 validation cases of "v1"; returns its id."""
    with ws.begin() as conn:
        add_case_set(conn, {"id": "v1-val", "name": "val", "task": "knee",
                            "dataset_version": "v1", "kind": "val"}, VAL_CASES)
    return "v1-val"
