"""Database engines: SQLite tuned for several writing processes, or any SQLAlchemy URL.

SQLite gets WAL journaling (readers never block the writer), foreign keys and a busy timeout
on every new connection. SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``: a write
transaction starts with ``BEGIN IMMEDIATE`` so it takes the write lock up front and waits for
it (busy timeout) instead of failing with "database is locked" when a read turns into a write.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from medselect.errors import StoreError
from medselect.store.schema import meta

DB_FILENAME = "medselect.db"
BUSY_TIMEOUT_MS = 60_000
REGISTRY_LOCK = "registry"
"""The :func:`serialize` key of every registry write (versions, champions, the audit chain)."""
WRITE_OPTION = "medselect_write"
"""Execution option set on a connection whose next transaction will write."""


def default_url(root: Path) -> sa.URL:
    """SQLite database file inside the workspace folder."""
    return sa.URL.create("sqlite", database=str(root / DB_FILENAME))


def display(url: str | sa.URL) -> str:
    """The URL as it may be shown in a message (password hidden)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def make_engine(url: str | sa.URL) -> sa.Engine:
    """An engine for ``url``; SQLite URLs get the settings described in the module docstring."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, connection_record) -> None:
    dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def serialize(conn: sa.Connection, key: str) -> None:
    """Make write transactions about ``key`` run one after another, until this one ends.

    SQLite needs nothing: its write transactions already take the database's one write lock
    (``BEGIN IMMEDIATE``). PostgreSQL runs them side by side, so a read-then-write (the next
    audit sequence number, the scope's champion, the schema) takes a transaction-scoped
    advisory lock on ``key`` first.
    """
    if conn.dialect.name == "postgresql":
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})


def read_schema_version(conn: sa.Connection) -> str | None:
    """The schema version recorded in ``meta``, or None when there is no medselect schema.

    Raises:
        StoreError: the ``meta`` table exists but records no schema version.
    """
    if not sa.inspect(conn).has_table(meta.name):
        return None
    stmt = sa.select(meta.c.value).where(meta.c.key == "schema_version")
    version = conn.execute(stmt).scalar()
    if version is None:
        raise StoreError(
            f"database {display(conn.engine.url)} has a meta table without a schema_version; "
            "it was not written by medselect, point the workspace at another database"
        )
    return version


def probe_schema_version(url: str | sa.URL) -> str | None:
    """Read the schema version with a bare connection that changes nothing in the database.

    The tuned engine would switch a SQLite file to WAL on connect; a database written by
    another schema version must be left exactly as it is, so it is inspected this way first.

    Raises:
        StoreError: the database cannot be read (not a database, server unreachable, ...).
    """
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return read_schema_version(conn)
    except sa.exc.DBAPIError as exc:
        raise StoreError(f"cannot read the database {display(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
