"""Training runs and their per-epoch metrics.

Every function takes a :class:`~sqlalchemy.Connection` first (from ``Workspace.begin()`` for
writes) and returns plain dicts keyed by column name. A run id is deterministic (config hash +
dataset version), so a resumed sweep upserts the same rows instead of adding new ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.jsonsafe import json_number
from medselect.store._rows import (
    check_choice,
    fetch_all,
    fetch_one,
    upsert_by_id,
    where_given,
)
from medselect.store.schema import RUN_STATUSES, epoch_metric, run
from medselect.store.statuses import RunStatus
from medselect.store.timestamps import utcnow


def upsert_run(conn: sa.Connection, run_row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert a run, or update the fields given for an existing one; return its row.

    Args:
        run_row: ``run`` columns. ``id`` is always required; a new run also needs ``task``,
            ``dataset_version``, ``config`` and ``config_hash`` (status starts as pending).
            Fields not given keep their stored values, so re-submitting a run keeps its status.

    Raises:
        StoreError: a field is unknown, missing or refused by the database.
    """
    run_id = upsert_by_id(conn, run, run_row, "run", RUN_STATUSES)
    return get_run(conn, run_id)


def set_run_status(
    conn: sa.Connection,
    run_id: str,
    status: str,
    *,
    error: str | None = None,
    traceback: str | None = None,
    checkpoint_uri: str | None = None,
    best_metric: float | None = None,
    n_parameters: int | None = None,
    device: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move a run through its life cycle and record what is known at that point; return its row.

    ``running`` counts an attempt, stamps ``started_at`` and clears the previous attempt's end;
    ``finished``, ``pruned`` and ``failed`` stamp ``finished_at`` and ``duration_s``. ``error`` and
    ``traceback`` are replaced on every change (cleared unless given); the result fields
    (``checkpoint_uri``, ``best_metric``, ``n_parameters``, ``device``) are written when given.

    Args:
        now: the time to record (aware UTC); defaults to the current time.

    Raises:
        NotFound: the run is missing.
        StoreError: ``status`` is not one of the run statuses.
    """
    check_choice(status, RUN_STATUSES, "run status")
    current = get_run(conn, run_id)
    now = now or utcnow()
    if now.tzinfo is None:
        raise StoreError(f"run {run_id!r}: 'now' must be timezone-aware, got {now.isoformat()}")
    values: dict[str, Any] = {"status": status, "error": error, "traceback": traceback}
    if status == RunStatus.RUNNING:
        values.update(
            started_at=now, finished_at=None, duration_s=None, attempts=run.c.attempts + 1
        )
    elif status in (RunStatus.FINISHED, RunStatus.PRUNED, RunStatus.FAILED):
        started = current["started_at"]
        values.update(
            finished_at=now,
            duration_s=(now - started).total_seconds() if started is not None else None,
        )
    results = {
        "checkpoint_uri": checkpoint_uri,
        "best_metric": best_metric,
        "n_parameters": n_parameters,
        "device": device,
    }
    values.update({k: v for k, v in results.items() if v is not None})
    conn.execute(run.update().where(run.c.id == run_id).values(values))
    return get_run(conn, run_id)


def get_run(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """Raises: NotFound."""
    return fetch_one(conn, sa.select(run).where(run.c.id == run_id), "run", run_id)


def list_runs(
    conn: sa.Connection,
    task: str | None = None,
    status: str | None = None,
    *,
    sweep: str | None = None,
    dataset_version: str | None = None,
) -> list[dict[str, Any]]:
    """Runs in the order they were first stored (ties broken by id), filtered by the arguments."""
    stmt = sa.select(run).order_by(run.c.created_at, run.c.id)
    if status is not None:
        check_choice(status, RUN_STATUSES, "run status")
    filters = {"task": task, "status": status, "sweep": sweep, "dataset_version": dataset_version}
    return fetch_all(conn, where_given(stmt, run, filters))


def add_epoch_metrics(
    conn: sa.Connection, run_id: str, epoch: int, metrics: Mapping[str, float | None]
) -> None:
    """Record one epoch's metrics (``{"val_dice": 0.8, "train_loss": 0.3}``) of a run.

    A value already stored for the same run, epoch and name is replaced (a retried attempt
    trains the epoch again). NaN is stored as NULL.

    Raises:
        NotFound: the run is missing.
    """
    get_run(conn, run_id)
    if not metrics:
        return
    conn.execute(
        epoch_metric.delete().where(
            epoch_metric.c.run == run_id,
            epoch_metric.c.epoch == epoch,
            epoch_metric.c.name.in_(list(metrics)),
        )
    )
    rows = [
        {"run": run_id, "epoch": epoch, "name": name, "value": _number(value)}
        for name, value in metrics.items()
    ]
    conn.execute(epoch_metric.insert(), rows)


def get_epoch_metrics(conn: sa.Connection, run_id: str) -> list[dict[str, Any]]:
    """Rows ``{"epoch", "name", "value"}`` of a run, ordered by epoch then name.

    Raises:
        NotFound: the run is missing.
    """
    get_run(conn, run_id)
    stmt = (
        sa.select(epoch_metric.c.epoch, epoch_metric.c.name, epoch_metric.c.value)
        .where(epoch_metric.c.run == run_id)
        .order_by(epoch_metric.c.epoch, epoch_metric.c.name)
    )
    return fetch_all(conn, stmt)


def _number(value: float | None) -> float | None:
    return None if value is None else json_number(float(value))


def latest_epoch_metrics(
    conn: sa.Connection, run_ids: Sequence[str]
) -> dict[str, tuple[int, dict[str, float | None]]]:
    """``run_id -> (last epoch, {name: value})`` for the runs that recorded any epoch."""
    if not run_ids:
        return {}
    last = (
        sa.select(epoch_metric.c.run, sa.func.max(epoch_metric.c.epoch).label("epoch"))
        .where(epoch_metric.c.run.in_(list(run_ids)))
        .group_by(epoch_metric.c.run)
        .subquery()
    )
    stmt = sa.select(epoch_metric).join(
        last, (epoch_metric.c.run == last.c.run) & (epoch_metric.c.epoch == last.c.epoch)
    )
    out: dict[str, tuple[int, dict[str, float | None]]] = {}
    for row in conn.execute(stmt):
        out.setdefault(row.run, (row.epoch, {}))[1][row.name] = row.value
    return out
