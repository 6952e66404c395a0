"""Model versions of the registry: one row per version of a model in a task and scope.

Rows only record what :mod:`medselect.registry` decided; the rules (one champion per task and
scope, promotion through the gate, the audit event written with every change) live there.
Version numbers count up from 1 within each task and scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from medselect.errors import StoreError
from medselect.store._rows import (
    check_choice,
    check_columns,
    complete_row,
    fetch_all,
    fetch_one,
    rejected,
    where_given,
)
from medselect.store.schema import MODEL_VERSION_STATUSES, model_version


def add_model_version(conn: sa.Connection, row: Mapping[str, Any]) -> dict[str, Any]:
    """Insert a version, numbered one above the highest of its task and scope; return its row.

    Args:
        row: ``model_version`` columns; ``task``, ``scope``, ``model_ref``, ``status`` and
            ``created_by`` are required, ``id`` and ``version`` are assigned here.

    Raises:
        StoreError: a field is unknown, missing or has a wrong value, or the database refused
            the row (unknown task or dataset version).
    """
    what = f"model version of {row.get('model_ref')!r} in {row.get('task')!r}/{row.get('scope')!r}"
    if "id" in row or "version" in row:
        raise StoreError(f"{what}: 'id' and 'version' are assigned by the store, do not pass them")
    check_choice(row.get("status"), MODEL_VERSION_STATUSES, f"{what}: status")
    top = conn.execute(
        sa.select(sa.func.max(model_version.c.version)).where(
            model_version.c.task == row.get("task"), model_version.c.scope == row.get("scope"))
    ).scalar()
    values = complete_row(model_version, {**row, "version": (top or 0) + 1}, what)
    try:
        new_id = conn.execute(model_version.insert(), values).inserted_primary_key[0]
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    return get_model_version(conn, new_id)


def get_model_version(conn: sa.Connection, version_id: int) -> dict[str, Any]:
    """The row with primary key ``version_id``. Raises: NotFound."""
    stmt = sa.select(model_version).where(model_version.c.id == version_id)
    return fetch_one(conn, stmt, "model version", version_id)


def find_model_version(
    conn: sa.Connection, task: str, scope: str, version: int
) -> dict[str, Any]:
    """Version number ``version`` of ``task`` in ``scope``. Raises: NotFound."""
    stmt = sa.select(model_version).where(
        model_version.c.task == task, model_version.c.scope == scope,
        model_version.c.version == version)
    return fetch_one(conn, stmt, f"version of task {task!r} in scope {scope!r}", version)


def list_model_versions(
    conn: sa.Connection,
    task: str | None = None,
    scope: str | None = None,
    status: str | None = None,
    *,
    model_ref: str | None = None,
) -> list[dict[str, Any]]:
    """Versions ordered by task, scope and version number, filtered by the arguments."""
    if status is not None:
        check_choice(status, MODEL_VERSION_STATUSES, "model version status")
    stmt = sa.select(model_version).order_by(
        model_version.c.task, model_version.c.scope, model_version.c.version)
    filters = {"task": task, "scope": scope, "status": status, "model_ref": model_ref}
    return fetch_all(conn, where_given(stmt, model_version, filters))


def update_model_version(
    conn: sa.Connection, version_id: int, values: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a version's ``status``, ``evidence`` or ``reason``; return its row.

    Raises:
        NotFound: the version is missing.
        StoreError: another field is given, or the status is not a model version status.
    """
    what = f"model version {version_id!r}"
    check_columns(model_version, values, what)
    fixed = sorted(set(values) - {"status", "evidence", "reason"})
    if fixed:
        raise StoreError(f"{what}: only status, evidence and reason can change, got {fixed}")
    if "status" in values:
        check_choice(values["status"], MODEL_VERSION_STATUSES, f"{what}: status")
    get_model_version(conn, version_id)
    if values:
        conn.execute(model_version.update().where(model_version.c.id == version_id)
                     .values(dict(values)))
    return get_model_version(conn, version_id)
