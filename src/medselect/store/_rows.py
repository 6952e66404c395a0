"""Helpers shared by the data-access modules: rows as dicts, checks with clear messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from medselect.errors import NotFound, StoreError


def as_dict(row: sa.Row) -> dict[str, Any]:
    """A result row as a plain dict keyed by column name."""
    return dict(row._mapping)


def fetch_one(conn: sa.Connection, stmt: sa.Select, what: str, key: object) -> dict[str, Any]:
    """The single row ``stmt`` selects, or :class:`NotFound` naming ``what`` and ``key``."""
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"{what} {key!r} is not in the workspace")
    return as_dict(row)


def fetch_all(conn: sa.Connection, stmt: sa.Select) -> list[dict[str, Any]]:
    return [as_dict(row) for row in conn.execute(stmt)]


def check_choice(value: object, choices: tuple[str, ...], field: str) -> None:
    """Refuse a value outside an enumerated column's choices before the database does."""
    if value not in choices:
        raise StoreError(f"{field} must be one of {list(choices)}, got {value!r}")


def check_columns(table: sa.Table, row: Mapping[str, Any], what: str) -> None:
    """Refuse keys that are not columns of ``table``, naming them and the known ones."""
    unknown = sorted(set(row) - set(table.c.keys()))
    if unknown:
        raise StoreError(
            f"{what}: unknown field(s) {unknown}; {table.name} has {sorted(table.c.keys())}"
        )


def complete_row(table: sa.Table, row: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``row`` with every column of ``table`` present: column defaults, else None.

    Rows inserted together must carry the same keys (SQLAlchemy builds one statement from the
    first row and would silently drop keys that only later rows have), so rows are completed
    here; a required column that is missing is refused with its name.
    """
    check_columns(table, row, what)
    out: dict[str, Any] = {}
    missing = []
    for column in table.c:
        if column.key in row:
            out[column.key] = row[column.key]
        elif column.default is not None:
            default = column.default
            out[column.key] = default.arg(None) if default.is_callable else default.arg
        elif column.nullable:
            out[column.key] = None
        elif column is not table.autoincrement_column:
            missing.append(column.key)
    if missing:
        raise StoreError(f"{what}: missing required field(s) {missing}")
    return out


def rejected(what: str, exc: sa.exc.IntegrityError) -> StoreError:
    """A constraint violation reworded to name the record; the transaction must be rolled back."""
    return StoreError(f"{what} was rejected by the database: {exc.orig}")


def upsert_by_id(
    conn: sa.Connection, table: sa.Table, row: Mapping[str, Any], what: str,
    statuses: tuple[str, ...] | None = None,
) -> str:
    """Insert ``row`` into ``table``, or update the fields it gives; return its ``id``.

    Raises:
        StoreError: no id, an unknown field or status, or a row the database refuses.
    """
    row_id = row.get("id")
    if not row_id:
        raise StoreError(f"{what}: the 'id' field is required")
    what = f"{what} {row_id!r}"
    check_columns(table, row, what)
    if statuses is not None and "status" in row:
        check_choice(row["status"], statuses, f"{what}: status")
    exists = conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is not None
    try:
        if not exists:
            conn.execute(table.insert(), complete_row(table, row, what))
        elif len(row) > 1:
            updates = {k: v for k, v in row.items() if k != "id"}
            conn.execute(table.update().where(table.c.id == row_id).values(updates))
    except sa.exc.IntegrityError as exc:
        raise rejected(what, exc) from exc
    return row_id


def where_given(stmt: sa.Select, table: sa.Table, filters: Mapping[str, Any]) -> sa.Select:
    """``stmt`` narrowed to ``table.c[column] == value`` for every filter that is not None."""
    for column, value in filters.items():
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    return stmt
